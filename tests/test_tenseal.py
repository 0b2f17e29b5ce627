"""TenSEAL adapter: rotations, precision at mixed levels, key/depth refusals, the
client/server boundary and an end-to-end run of the encoded trainer (tiny rings)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from backends.base import BackendError, DepthExceeded, MissingRotationKey, NoSecretKey, ParameterError
from backends.tenseal_ckks import TenSEALBackend

pytestmark = pytest.mark.skipif(TenSEALBackend.unavailable_reason() is not None,
                                reason=str(TenSEALBackend.unavailable_reason()))

SMALL = TenSEALBackend.TEST_PARAMS  # N = 8192, INSECURE, 1 process
DEPTH = 4
STEPS = [1, -1, 3, -5, 64, -1024]
#: arithmetic noise at N = 8192, 40-bit scale is ~3e-8; a rotation adds up to ~1e-6
#: (key switching with a 60-bit first prime as large as the special prime)
TOL, ROT_TOL = 1e-6, 1e-5


@pytest.fixture(scope="module")
def he() -> TenSEALBackend:
    backend = TenSEALBackend(**SMALL)
    backend.keygen(DEPTH, STEPS)
    return backend


@pytest.fixture(scope="module")
def vecs(he: TenSEALBackend) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.uniform(-2, 2, he.slots), rng.uniform(-2, 2, he.slots)


def close(he: TenSEALBackend, ct, ref: np.ndarray, tol: float = TOL) -> None:
    assert np.max(np.abs(he.decrypt(ct) - ref)) < tol


@pytest.mark.parametrize("step", STEPS)
def test_rotation_matches_np_roll(he, vecs, step):
    x, _ = vecs
    close(he, he.rotate(he.encrypt(x), step), np.roll(x, -step), ROT_TOL)


def test_rotation_equivalent_steps_share_a_key(he, vecs):
    x, _ = vecs
    close(he, he.rotate(he.encrypt(x), he.slots - 1), np.roll(x, 1), ROT_TOL)


def test_galois_elements():
    he = TenSEALBackend(**SMALL)
    two_n = 2 * he.N
    assert he._galois_element(1) == 3
    assert he._galois_element(-1) == pow(3, he.N // 2 - 1, two_n)
    assert he._galois_element(5) * he._galois_element(-5) % two_n == pow(3, he.N // 2, two_n)


def test_ops_at_mixed_levels(he, vecs):
    x, y = vecs
    cx = he.encrypt(x)                                   # level 0
    cy = he.mul_scalar(he.mul_scalar(he.encrypt(y), 0.5), -3.0)   # level 2
    yy = -1.5 * y
    assert (cx.level, cy.level) == (0, 2)
    close(he, he.add(cx, cy), x + yy)
    close(he, he.sub(cx, cy), x - yy)
    close(he, he.sub(cy, cx), yy - x)
    prod = he.mul(cx, cy)
    assert prod.level == 3
    close(he, prod, x * yy)
    close(he, he.mul(cy, cy), yy * yy, 1e-5)
    close(he, he.mul_plain(cy, x), yy * x)
    close(he, he.mul_plain(cx, (x > 0).astype(float)), x * (x > 0))
    close(he, he.mul_scalar(cx, 0.0128), 0.0128 * x)
    close(he, he.add_plain(cy, x), yy + x)
    close(he, he.add_plain(prod, 0.5), x * yy + 0.5)
    close(he, he.rotate(cy, -1), np.roll(yy, 1), ROT_TOL)
    close(he, he.add(he.rotate(prod, 3), cx), np.roll(x * yy, -3) + x, ROT_TOL)


def test_exactly_zero_results(he, vecs):
    x, _ = vecs
    cx = he.encrypt(x)
    close(he, he.sub(cx, cx), 0.0)
    close(he, he.mul_scalar(cx, 0.0), 0.0)
    close(he, he.mul_plain(cx, np.zeros(he.slots)), 0.0)
    close(he, he.mul_plain(cx, np.full(he.slots, 1e-20)), 0.0)  # rounds to a zero plaintext


def test_scales_stay_near_two_to_scale_bits(he):
    assert len(he._scales) == DEPTH + 1
    assert all(abs(math.log2(s) - he.scale_bits) < 1e-3 for s in he._scales)


def test_full_depth_then_refusal(he, vecs):
    x, _ = vecs
    ct = he.encrypt(x * 0.5)
    for _ in range(DEPTH):
        ct = he.mul(ct, ct)
    assert ct.level == DEPTH
    close(he, ct, (x * 0.5) ** (2 ** DEPTH), 1e-5)
    with pytest.raises(DepthExceeded):
        he.mul(ct, ct)
    with pytest.raises(DepthExceeded):
        he.mul_scalar(ct, 2.0)


def test_undeclared_rotation_refused(he, vecs):
    x, _ = vecs
    with pytest.raises(MissingRotationKey):
        he.rotate(he.encrypt(x), 2)


def test_serialization_round_trip(he, vecs):
    x, y = vecs
    ct = he.mul(he.encrypt(x), he.encrypt(y))
    back = he.deserialize(he.serialize(ct), ct.level)
    close(he, back, x * y)


def test_server_from_public_bytes(he, vecs):
    x, y = vecs
    public = he.public_bytes()
    server = TenSEALBackend.server_from_bytes(public, DEPTH, STEPS, **SMALL)
    # no secret key anywhere in the server object, nor in the bytes it was built from
    assert server._secret_key is None and server._decryptor is None
    from tenseal import sealapi
    held = [v for v in vars(server).values() if isinstance(v, (sealapi.SecretKey, sealapi.Decryptor,
                                                              sealapi.KeyGenerator))]
    assert held == []
    from backends.tenseal_ckks import _save
    assert _save(he._secret_key)[16:80] not in public  # SEAL's serialized key, past the header
    cx = server.deserialize(he.serialize(he.encrypt(x)), 0)
    with pytest.raises(NoSecretKey):
        server.decrypt(cx)
    with pytest.raises(NoSecretKey):
        server.encrypt(x)
    with pytest.raises(NoSecretKey):
        server.public_bytes()
    out = server.rotate(server.mul(cx, server.deserialize(he.serialize(he.encrypt(y)), 0)), -1)
    close(he, he.deserialize(server.serialize(out), out.level), np.roll(x * y, 1), ROT_TOL)
    assert server.key_sizes() == he.key_sizes()
    assert set(he.key_sizes()) == {"galois_keys", "relin_keys", "public_context"}
    assert min(he.key_sizes().values()) > 0


def test_server_refuses_mismatched_parameters(he):
    public = he.public_bytes()
    with pytest.raises(ParameterError, match="N="):
        TenSEALBackend.server_from_bytes(public, DEPTH, STEPS, **{**SMALL, "ring_dim": 16384})
    with pytest.raises(BackendError, match="Galois"):
        TenSEALBackend.server_from_bytes(public, DEPTH, [1, 2], **SMALL)
    with pytest.raises(ParameterError, match="levels"):
        TenSEALBackend.server_from_bytes(public, DEPTH + 1, STEPS, **SMALL)


@pytest.mark.parametrize("params, reason", [
    ({"ring_dim": 4096}, "ring_dim: 4096 is not allowed; allowed values: 8192, 16384, 32768, 65536"),
    ({"ring_dim": 1000}, "ring_dim: 1000 is not allowed"),
    ({"scale_bits": 70}, "scale_bits: 70 is greater than the maximum of 60"),
    ({"scale_bits": 10}, "scale_bits: 10 is less than the minimum of 20"),
    ({"scale_bits": 50, "first_mod_bits": 40}, "first_mod_bits 40 must be at least scale_bits 50"),
    ({"security": "80"}, "security: '80' is not allowed; allowed values: 128, none"),
    ({"workers": 0}, "workers: 0 is less than the minimum of 1"),
    ({"slots": 8}, "slots: this key was renamed; use ring_dim"),
    ({"poly_modulus_degree": 8192}, "poly_modulus_degree: this key was renamed; use ring_dim"),
    ({"processes": 2}, "processes: this key was renamed; use workers"),
])
def test_bad_parameters_refused_at_construction(params, reason):
    with pytest.raises(ParameterError, match=reason):
        TenSEALBackend(**params)


def test_depth_beyond_128_bit_bound_refused_before_keys():
    he = TenSEALBackend(ring_dim=16384, scale_bits=40)
    assert he.max_depth() == 7  # (438 - 2*60) // 40 with SEAL's tc128 bound
    with pytest.raises(ParameterError, match="depth 10"):
        he.keygen(10, [1])
    assert he._ctx is None and he.depth is None
    with pytest.raises(BackendError):
        he.encrypt(np.zeros(he.slots))


def test_insecure_parameters_are_reported():
    insecure = TenSEALBackend(**SMALL).describe()
    assert insecure.security_bits is None and "INSECURE" in insecure.security
    secure = TenSEALBackend(ring_dim=8192).describe()
    assert secure.security_bits == 128 and secure.security == "128-bit (SEAL tc128)"
    assert TenSEALBackend(ring_dim=8192).max_depth() == 2
    assert TenSEALBackend(**{**SMALL, "ring_dim": 65536}).max_depth() == 62
    # beyond SEAL's table the N = 32768 bound (881 bits) is applied: (881 - 120) // 40 levels
    big = TenSEALBackend(ring_dim=65536)
    assert big.max_depth() == 19 and "conservative" in big.describe().security


def test_describe(he):
    d = he.describe()
    assert d.ring_dim == 8192 and d.slots == 4096 and d.scale_bits == 40 and d.first_mod_bits == 60
    assert 2 * 60 + DEPTH * 40 - 1 <= d.modulus_bits <= 2 * 60 + DEPTH * 40
    assert d.library_version.startswith("tenseal 0.3.16")
    assert he.workers == 1 and d.workers == 1


def test_schema_defaults():
    props = TenSEALBackend.PARAMS_SCHEMA["properties"]
    assert TenSEALBackend.PARAMS_SCHEMA["additionalProperties"] is False
    defaults = {k: v["default"] for k, v in props.items() if "default" in v}
    assert defaults == {"ring_dim": 32768, "scale_bits": 40, "first_mod_bits": 60,
                        "security": 128, "workers": None, "rotation_keys": "per_step"}


def test_workers_default_to_the_jobs_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert TenSEALBackend(**{**SMALL, "workers": None}).workers == 3
