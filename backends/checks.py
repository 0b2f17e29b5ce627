"""Conformance checks every CKKS adapter must pass, written once.

Like scikit-learn's ``check_estimator``: each ``check_*`` takes a factory that builds
a fresh *client* backend with small parameters and raises AssertionError on a
violation. ``tests/test_conformance.py`` runs them all against every registered
backend whose library is installed.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .base import (CKKSBackend, DepthExceeded, MissingRotationKey, NoSecretKey,
                   ParameterError)

Factory = Callable[[], CKKSBackend]
DEPTH = 4
STEPS = (1, -1, 4, -8)


def tolerance(he: CKKSBackend) -> float:
    """Absolute error allowed on O(1) values: exact backends get none to speak of."""
    return 1e-12 if he.mode == "exact" else 1e-4


def _ready(make: Factory, depth: int = DEPTH, steps=STEPS) -> CKKSBackend:
    he = make()
    he.keygen(depth, steps)
    return he


def _vec(he: CKKSBackend, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, he.slots)


def _close(he: CKKSBackend, got: np.ndarray, want: np.ndarray, what: str) -> None:
    err = float(np.max(np.abs(got - want)))
    assert err <= tolerance(he), f"{he.library}: {what} off by {err:.3g}"


def _refused(he: CKKSBackend, error: type[Exception], what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except error:
        return
    raise AssertionError(f"{he.library}: {what} was allowed")


def check_slots(make: Factory) -> None:
    he = make()
    assert he.slots >= 8 and he.slots & (he.slots - 1) == 0, "slot count must be a power of two"


def check_roundtrip(make: Factory) -> None:
    he = _ready(make)
    x = _vec(he, 0)
    _close(he, he.decrypt(he.encrypt(x)), x, "encrypt/decrypt")


def check_arithmetic(make: Factory) -> None:
    he = _ready(make)
    x, y, m = _vec(he, 1), _vec(he, 2), _vec(he, 3)
    a, b = he.encrypt(x), he.encrypt(y)
    _close(he, he.decrypt(he.add(a, b)), x + y, "add")
    _close(he, he.decrypt(he.sub(a, b)), x - y, "sub")
    _close(he, he.decrypt(he.add_plain(a, m)), x + m, "add_plain")
    _close(he, he.decrypt(he.add_plain(a, 0.25)), x + 0.25, "add_plain scalar")
    _close(he, he.decrypt(he.mul(a, b)), x * y, "mul")
    _close(he, he.decrypt(he.mul_plain(a, m)), x * m, "mul_plain")
    _close(he, he.decrypt(he.mul_scalar(a, -0.37)), -0.37 * x, "mul_scalar")


def check_levels(make: Factory) -> None:
    """Levels grow by one per multiplication; operands at different levels combine."""
    he = _ready(make)
    x, y = _vec(he, 4), _vec(he, 5)
    a, b = he.encrypt(x), he.encrypt(y)
    ab = he.mul(a, b)
    assert he.level(a) == 0 and he.level(ab) == 1
    abb = he.mul(ab, b)  # operands at levels 1 and 0
    assert he.level(abb) == 2
    _close(he, he.decrypt(he.add(abb, a)), x * y * y + x, "add across levels")
    _close(he, he.decrypt(he.mul_scalar(he.mul_plain(abb, y), 2.0)), 2 * x * y ** 3,
           "plain and scalar products at depth")


def check_depth_budget(make: Factory) -> None:
    he = _ready(make)
    ct = he.encrypt(_vec(he, 6) * 0.5)
    for _ in range(DEPTH):
        ct = he.mul(ct, ct)
    _refused(he, DepthExceeded, "multiplication beyond the declared depth", lambda: he.mul(ct, ct))
    fresh = make()
    _refused(fresh, ParameterError, "keygen beyond max_depth()",
             lambda: fresh.keygen(fresh.max_depth() + 1, STEPS))


def check_rotations(make: Factory) -> None:
    he = _ready(make)
    x = _vec(he, 7)
    ct = he.encrypt(x)
    for k in STEPS:
        _close(he, he.decrypt(he.rotate(ct, k)), np.roll(x, -k), f"rotate({k})")
    _close(he, he.decrypt(he.rotate(ct, he.slots - 1)), np.roll(x, 1),
           "rotate(slots - 1) as rotate(-1)")
    many = he.rotate_many(ct, [0, *STEPS])
    for k, r in zip([0, *STEPS], many):
        _close(he, he.decrypt(r), np.roll(x, -k), f"rotate_many({k})")
    _refused(he, MissingRotationKey, "rotation without a declared key", lambda: he.rotate(ct, 2))


def check_counters(make: Factory) -> None:
    he = _ready(make)
    a = he.encrypt(_vec(he, 8))
    before = he.ops.snapshot()
    he.rotate(he.mul_plain(he.mul(a, a), np.ones(he.slots)), 1)
    got = he.ops.since(before)
    assert (got["ct_mult"], got["pt_mult"], got["rotation"], got["rescale"]) == (1, 1, 1, 2), got


def check_serialization_boundary(make: Factory) -> None:
    """The server is built from bytes only, evaluates, and cannot decrypt."""
    client = _ready(make)
    x, y = _vec(client, 9), _vec(client, 10)
    public = client.public_bytes()
    assert isinstance(public, bytes) and public
    server = type(client).server_from_bytes(public, DEPTH, STEPS, **client.params)
    a = server.deserialize(client.serialize(client.encrypt(x)), 0)
    b = server.deserialize(client.serialize(client.encrypt(y)), 0)
    out = server.rotate(server.mul(a, b), 1)
    back = client.deserialize(server.serialize(out), out.level)
    _close(client, client.decrypt(back), np.roll(x * y, -1), "server result")
    _refused(server, NoSecretKey, "decryption on the server side", lambda: server.decrypt(out))


def check_parallel_map(make: Factory) -> None:
    """Forked workers give the same results and their operations are counted."""
    he = _ready(make)
    xs = [_vec(he, 11 + i) for i in range(3)]
    cts = [he.encrypt(x) for x in xs]
    he.workers = 2
    before = he.ops.snapshot()
    out = he.parallel_map(lambda ct: he.rotate(he.mul(ct, ct), 1), cts)
    got = he.ops.since(before)
    assert got["ct_mult"] == 3 and got["rotation"] == 3, got
    for x, ct in zip(xs, out):
        assert ct.level == 1
        _close(he, he.decrypt(ct), np.roll(x * x, -1), "parallel_map")


ALL_CHECKS = [check_slots, check_roundtrip, check_arithmetic, check_levels, check_depth_budget,
              check_rotations, check_counters, check_serialization_boundary, check_parallel_map]
