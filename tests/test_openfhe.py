"""OpenFHE adapter: rotations, precision, key/depth limits, the client/server boundary,
threads, and the encoded trainer end to end. Small INSECURE rings (HEStd_NotSet) keep
the file fast; the 128-bit checks only build contexts, never keys."""
from __future__ import annotations

import numpy as np
import pytest

from backends import openfhe_ckks
from backends.base import (BackendError, DepthExceeded, MissingRotationKey, NoSecretKey,
                           ParameterError)

if openfhe_ckks.OpenFHEBackend.unavailable_reason():
    pytest.skip(openfhe_ckks.OpenFHEBackend.unavailable_reason(), allow_module_level=True)

import openfhe  # noqa: E402

from backends.openfhe_ckks import OpenFHEBackend  # noqa: E402

SMALL = OpenFHEBackend.TEST_PARAMS  # N = 1024, INSECURE, 2 threads, 50-bit scales
DEPTH = 4
STEPS = [1, -1, 3, -5, 64]
TOL = 1e-6


def _client(**over) -> OpenFHEBackend:
    he = OpenFHEBackend(**{**SMALL, **over})
    he.keygen(DEPTH, STEPS)
    return he


def _vec(he: OpenFHEBackend, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, he.slots)


def _err(he: OpenFHEBackend, ct, want: np.ndarray) -> float:
    return float(np.abs(he.decrypt(ct) - want).max())


@pytest.fixture(scope="module")
def he() -> OpenFHEBackend:
    return _client()


def test_rotation_is_left_like_np_roll(he):
    x = _vec(he, 0)
    ct = he.encrypt(x)
    prod = he.mul(ct, ct)  # degree-2 (not yet rescaled) ciphertext
    for k in STEPS:
        assert _err(he, he.rotate(ct, k), np.roll(x, -k)) < TOL
        assert _err(he, he.rotate(prod, k), np.roll(x * x, -k)) < TOL
    assert _err(he, he.rotate(ct, he.slots - 1), np.roll(x, 1)) < TOL  # same key as -1
    hoisted = he.rotate_many(prod, [0, *STEPS])
    for k, r in zip([0, *STEPS], hoisted):
        assert r.level == prod.level
        assert np.abs(he.decrypt(r) - he.decrypt(he.rotate(prod, k))).max() < TOL


def test_fixedmanual_rescales_after_every_product():
    """FIXEDMANUAL: the adapter rescales at once, so a product carries one tower fewer into
    the rotations and additions after it; levels and values agree with FLEXIBLEAUTO's."""
    manual, auto = _client(scaling="FIXEDMANUAL"), _client()
    x, m = _vec(manual, 4), _vec(manual, 5)
    for he in (manual, auto):
        ct = he.encrypt(x)
        out = he.rotate(he.mul_scalar(he.mul_plain(he.mul(ct, ct), m), 0.5), 3)
        assert out.level == 3
        assert _err(he, out, np.roll(x * x * m * 0.5, -3)) < 1e-5
        raw = out.raw  # OpenFHE's own view: rescaled (degree 1) only under FIXEDMANUAL
        assert raw.GetNoiseScaleDeg() == (1 if he is manual else 2)
        assert raw.GetLevel() + raw.GetNoiseScaleDeg() - 1 == out.level


def test_precision_at_mixed_levels(he):
    x, y, m = _vec(he, 1), _vec(he, 2), _vec(he, 3)
    a, b = he.encrypt(x), he.encrypt(y)
    ab = he.mul(a, b)                   # level 1
    abm = he.mul_plain(ab, m)           # level 2
    ab3 = he.mul_scalar(abm, -0.37)     # level 3
    assert (ab.level, abm.level, ab3.level) == (1, 2, 3)
    cases = {
        "add": (he.add(ab3, a), -0.37 * x * y * m + x),
        "sub": (he.sub(b, abm), y - x * y * m),
        "mul": (he.mul(abm, b), x * y * y * m),
        "mul_plain": (he.mul_plain(ab, y), x * y * y),
        "mul_scalar": (he.mul_scalar(ab, 2.5), 2.5 * x * y),
        "add_plain": (he.add_plain(ab, m), x * y + m),
        "add_plain scalar": (he.add_plain(abm, 0.25), x * y * m + 0.25),
    }
    for name, (ct, want) in cases.items():
        assert _err(he, ct, want) < TOL, name


def test_undeclared_rotation_step_is_refused(he):
    ct = he.encrypt(_vec(he, 4))
    with pytest.raises(MissingRotationKey):
        he.rotate(ct, 2)
    with pytest.raises(MissingRotationKey):
        he.rotate_many(ct, [1, 2])
    # and OpenFHE itself has no key for it either (keys were made for the steps only)
    with pytest.raises(RuntimeError):
        he._rotate(ct, 2)


def test_depth_is_exact_and_enforced(he):
    x = _vec(he, 5) * 0.9
    ct, want = he.encrypt(x), x.copy()
    for _ in range(DEPTH):  # exactly DEPTH sequential products fit (no off-by-one)
        ct, want = he.mul(ct, ct), want * want
    assert ct.level == DEPTH and _err(he, ct, want) < TOL
    with pytest.raises(DepthExceeded):
        he.mul(ct, ct)
    with pytest.raises(DepthExceeded):
        he.mul_scalar(ct, 2.0)


def test_ciphertext_serialization_roundtrip(he):
    x = _vec(he, 6)
    ct = he.mul(he.encrypt(x), he.encrypt(x))
    back = he.deserialize(he.serialize(ct), ct.level)
    assert back.level == 1 and _err(he, back, x * x) < TOL
    assert _err(he, he.add(back, he.encrypt(x)), x * x + x) < TOL


def test_server_from_bytes_has_no_secret_key(he):
    public = he.public_bytes()
    secret = openfhe.Serialize(he._sk, openfhe.BINARY)
    assert secret[-4096:] not in public  # the key's coefficients never leave the client
    server = OpenFHEBackend.server_from_bytes(public, DEPTH, STEPS, **SMALL)
    assert server._sk is None
    assert not any(isinstance(v, openfhe.PrivateKey) for v in vars(server).values())
    x = _vec(he, 7)
    a = server.deserialize(he.serialize(he.encrypt(x)), 0)
    ct = server.rotate(server.mul(a, a), 3)
    with pytest.raises(NoSecretKey):
        server.decrypt(ct)
    with pytest.raises(NoSecretKey):
        server.public_bytes()
    back = he.deserialize(server.serialize(ct), ct.level)
    assert _err(he, back, np.roll(x * x, -3)) < TOL
    sizes = server.key_sizes()
    assert sizes == he.key_sizes() and min(sizes.values()) > 0


def test_server_refuses_missing_rotation_keys(he):
    with pytest.raises(BackendError, match="lack rotation keys"):
        OpenFHEBackend.server_from_bytes(he.public_bytes(), DEPTH, [*STEPS, 7], **SMALL)


def test_two_client_server_runs_in_one_process():
    runs = []
    for seed in (8, 9):
        client = _client()
        x = _vec(client, seed)
        server = OpenFHEBackend.server_from_bytes(client.public_bytes(), DEPTH, STEPS, **SMALL)
        ct = server.deserialize(client.serialize(client.encrypt(x)), 0)
        out = server.rotate(server.mul(ct, ct), -5)
        back = client.deserialize(server.serialize(out), out.level)
        assert _err(client, back, np.roll(x * x, 5)) < TOL
        runs.append((client, server, ct, x))
    # The first pair still works after the second server reset OpenFHE's global state.
    client, server, ct, x = runs[0]
    out = server.mul_plain(server.rotate(ct, 1), x)
    again = server.deserialize(client.serialize(client.encrypt(x)), 0)
    out = server.add(out, again)
    back = client.deserialize(server.serialize(out), out.level)
    assert _err(client, back, np.roll(x, -1) * x + x) < TOL
    assert _err(client, client.mul(client.encrypt(x), client.encrypt(x)), x * x) < TOL


@pytest.mark.parametrize("params, reason", [
    ({"ring_dim": 1000}, "ring_dim: 1000 is not allowed; allowed values: 1024, 2048"),
    ({"scale_bits": 60}, "scale_bits: 60 is greater than the maximum of 59"),
    ({"first_mod_bits": 40}, r"first_mod_bits \(40\) must exceed scale_bits \(40\)"),
    ({"workers": 0}, "workers: 0 is less than the minimum of 1"),
    ({"threads": 2}, "threads: this key was renamed; use workers"),
    ({"security": "HEStd_80"}, "security: 'HEStd_80' is not allowed; allowed values: 128, 192, 256, none"),
    ({"colour": "blue"}, "colour: unknown key"),
    ({"ring_dim": 4096, "security": 128}, "cannot hold a single"),
    ({"bootstrap_iterations": 2}, "bootstrap_iterations 2 needs bootstrap_precision"),
    ({"bootstrap_iterations": 3}, "bootstrap_iterations: 3 is not allowed; allowed values: 1, 2"),
])
def test_bad_parameters_refused_in_init(params, reason):
    with pytest.raises(ParameterError, match=reason):
        OpenFHEBackend(**params)


def test_depth_beyond_security_limit_refused_before_encryption():
    he = OpenFHEBackend(ring_dim=16384)
    assert he.max_depth() == 5
    with pytest.raises(ParameterError, match="depth 14.*at most 5"):
        he.keygen(14, [1])
    assert he._cc is None and he.ops.snapshot()["encrypt"] == 0


def test_a_depth_the_digits_cannot_split_is_refused_at_validation():
    """Within the bound, 6 digits cannot split 13 levels' 14 towers: the job is refused from the
    shapes (job_problems), naming the digit counts that split it, before any key exists."""
    from hemlr.session import job_problems

    he = OpenFHEBackend(ring_dim=1024, security="none", num_large_digits=6)
    assert he.max_depth() >= 15 and he.depth_problem(15) is None
    message = he.depth_problem(13)
    assert message.startswith("openfhe: depth 13 (14 towers) cannot be split into num_large_digits 6 ")
    assert "num_large_digits 1, 2, 3, 4, 5, 7 split it" in message
    # the MLR with client refresh needs 13 levels for 2 iterations
    assert job_problems(he, 8, 4, 2, 2, "client") == [message]
    with pytest.raises(ParameterError, match="cannot be split"):
        he.keygen(13, [1])
    assert he._cc is None


def test_max_depth_at_paper_ring_is_fast():
    import time

    openfhe_ckks._MAX_DEPTH_CACHE.clear()
    t = time.process_time()  # CPU time: robust to a busy machine
    he = OpenFHEBackend(ring_dim=32768)
    assert he.max_depth() == 14  # the 2-iteration trainer's depth fits 128-bit security
    assert time.process_time() - t < 2.0
    assert OpenFHEBackend(ring_dim=32768, num_large_digits=6).max_depth() == 16
    desc = he.describe()
    assert desc.security == "128-bit (HEStd_128_classic)" and desc.security_bits == 128


def test_describe_flags_insecure_parameters(he):
    desc = he.describe()
    assert desc.security_bits is None and "INSECURE" in desc.security
    assert desc.slots == 512 and desc.ring_dim == 1024 and desc.workers == 2
    assert desc.modulus_bits > 200
    assert desc.library_version == "1.6.1.0.22.4"


def test_threads_do_not_change_results():
    rng = np.random.default_rng(10)
    x, y = rng.uniform(-1, 1, 512), rng.uniform(-1, 1, 512)
    outs = []
    for threads in (1, 2):
        he = _client(workers=threads)
        a, b = he.encrypt(x), he.encrypt(y)
        out = he.rotate(he.mul_plain(he.mul(a, b), y), 3)
        outs.append(he.decrypt(out))
        assert he.describe().workers == threads
    want = np.roll(x * y * y, -3)
    assert np.abs(outs[0] - want).max() < TOL and np.abs(outs[0] - outs[1]).max() < TOL


def test_meta_bootstrapping_takes_one_level_more_and_keeps_the_values():
    """bootstrap_iterations 2 (OpenFHE's iterative bootstrap): its output sits one level lower
    than a single bootstrap's and still holds the values."""
    single = OpenFHEBackend(**SMALL)
    meta = OpenFHEBackend(**{**SMALL, "bootstrap_iterations": 2, "bootstrap_precision": 10})
    assert meta.bootstrap_depth() == single.bootstrap_depth() + 1
    total = meta.bootstrap_depth() + 2
    x = np.random.default_rng(3).uniform(-0.5, 0.5, meta.slots)
    library_levels = []
    for he in (single, meta):
        he.keygen(total, [], bootstrap=True)
        server = OpenFHEBackend.server_from_bytes(he.public_bytes(), total, [], bootstrap=True, **he.params)
        ct = server.deserialize(he.serialize(he.encrypt(x)), 0)
        for _ in range(total - 1):
            ct = server.mul_scalar(ct, 1.0)
        out = server.bootstrap(ct)
        assert out.level == he.bootstrap_depth()
        assert _err(he, he.deserialize(server.serialize(out), out.level), x) < 1e-4
        library_levels.append(out.raw.GetLevel())
    # OpenFHE's own level: the second pass ran (its correction costs the extra level)
    assert library_levels[1] == library_levels[0] + 1, library_levels


def test_network_bootstraps_inside_the_iteration(monkeypatch):
    """nn2h when a bootstrap leaves fewer levels than an iteration needs (the bound pinned at 22
    levels, INSECURE ring 1024, [2, 2]: 8 left): the second iteration bootstraps its live
    matrices on the real library too, and stays within the tolerance of the exact reference."""
    from hemlr.session import EncryptedSession
    from hemlr.workloads.nn2h.reference import NNParams, train_reference
    from hemlr.workloads.nn2h.workload import TwoHiddenLayerNN

    rng = np.random.default_rng(1)
    y = rng.permutation(np.arange(20) % 3)
    X = np.abs(rng.normal(size=(20, 5))) + 0.5 * (np.arange(5) % 3 == y[:, None])
    he = OpenFHEBackend(**SMALL)
    monkeypatch.setattr(he, "max_depth", lambda: 22)
    session = EncryptedSession(TwoHiddenLayerNN(hidden=[6, 5]), he, X, y, 3, 2, refresh="bootstrap", state_bound=2.0)
    plan = session.plan
    assert plan.inner and plan.depth == 22 and not plan.inner_refreshes(True) and plan.inner_refreshes(False)
    first, second = list(session)
    assert first.ops["bootstrap"] == 1 and second.ops["bootstrap"] > 0
    want = train_reference(X, y, 3, 2, NNParams(hidden=(6, 5)))[-1].Ws
    for got, W in zip(second.weights.Ws, want):
        assert np.abs(got - W).max() / np.abs(W).max() < 1e-3


def test_a_first_prime_too_far_above_the_scale_is_refused_before_the_bootstrapping_keys():
    """OpenFHE's bootstrap throws at its first call when first_mod_bits - scale_bits exceeds the
    setup's correction factor; the adapter refuses it at key generation, naming the bound."""
    he = OpenFHEBackend(**{**SMALL, "first_mod_bits": 60, "scale_bits": 40})
    with pytest.raises(ParameterError, match=r"first_mod_bits - scale_bits = 20 exceeds the bootstrap's "
                                             r"correction factor 12 .* use first_mod_bits <= 52"):
        he.keygen(he.bootstrap_depth() + 2, [1], bootstrap=True)
