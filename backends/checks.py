"""Conformance checks every adapter must pass, written once.

Like scikit-learn's ``check_estimator``: each ``check_*`` takes a factory that builds
a fresh (client) adapter with its small ``TEST_PARAMS`` and raises AssertionError on a
violation. Each check declares the kind of adapter it applies to; :func:`checks_for`
selects them by that capability, :func:`check_backend` runs them all, and
``tests/test_conformance.py`` runs every one on every registered adapter.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from .base import (Adapter, CKKSBackend, DepthExceeded, MissingRotationKey, ModelBackend, NoSecretKey,
                   ParameterError)
from .ops import OP_KINDS
from .records import Description, IterationRecord

Factory = Callable[[], Any]
_CHECKS: list[tuple[type[Adapter], Callable[[Factory], None]]] = []


def _applies_to(kind: type[Adapter]) -> Callable:
    def register(check: Callable[[Factory], None]) -> Callable[[Factory], None]:
        _CHECKS.append((kind, check))
        return check
    return register


def checks_for(cls: type[Adapter]) -> list[Callable[[Factory], None]]:
    """The checks that apply to adapters of class ``cls``, in a fixed order."""
    return [check for kind, check in _CHECKS if issubclass(cls, kind)]


def check_backend(factory: Factory) -> None:
    """Run every applicable check on the adapter ``factory`` builds."""
    for check in checks_for(type(factory())):
        check(factory)
DEPTH = 4
STEPS = (1, -1, 4, -8)


def tolerance(he: CKKSBackend) -> float:
    """Absolute error allowed on O(1) values: exact backends get none to speak of."""
    return 1e-12 if he.mode == "exact" else 1e-4


# ------------------------------------------------------------------------- every adapter
@_applies_to(Adapter)
def check_parameters_declared_once(make: Factory) -> None:
    """Defaults come from PARAMS_SCHEMA; unknown and renamed keys are refused by name."""
    he = make()
    cls = type(he)
    props = cls.PARAMS_SCHEMA["properties"]
    assert cls.PARAMS_SCHEMA.get("additionalProperties") is False, "PARAMS_SCHEMA must refuse unknown keys"
    assert "library" not in props, "'library' is the registry's key, not a parameter"
    defaults = {k: v["default"] for k, v in props.items() if "default" in v}
    assert {k: cls.validate_params({})[k] for k in defaults} == defaults, "defaults not filled"
    assert set(he.params) <= set(props), f"params {sorted(he.params)} outside the schema"
    _refused(he, ParameterError, "an unknown parameter", lambda: cls(**{**he.params, "no_such_key": 1}))
    for old, new in cls.RENAMED.items():
        try:
            cls(**{**he.params, old: 1})
        except ParameterError as exc:
            assert old in str(exc) and new.split()[0] in str(exc), str(exc)
        else:
            raise AssertionError(f"{cls.library}: the old key {old!r} was accepted")


@_applies_to(Adapter)
def check_describe(make: Factory) -> None:
    desc = make().describe()
    assert isinstance(desc, Description), "describe() must return a Description"
    assert desc.library == make().library and desc.mode in ("exact", "encrypted", "simulated"), desc
    assert desc.security, "the security level must be stated"
    if desc.mode != "encrypted":
        assert desc.security_bits is None, "only encrypted runs may claim security bits"


# ------------------------------------------------------------------------- CKKS adapters
def _ready(make: Factory, depth: int = DEPTH, steps=STEPS) -> CKKSBackend:
    he = make()
    he.keygen(depth, steps)
    return he


def _vec(he: CKKSBackend, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, he.slots)


def _close(he: CKKSBackend, got: np.ndarray, want: np.ndarray, what: str, scale: float = 1.0) -> None:
    err = float(np.max(np.abs(got - want)))
    assert err <= scale * tolerance(he), f"{he.library}: {what} off by {err:.3g}"


def _refused(he: CKKSBackend, error: type[Exception], what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except error:
        return
    raise AssertionError(f"{he.library}: {what} was allowed")


@_applies_to(CKKSBackend)
def check_slots(make: Factory) -> None:
    he = make()
    assert he.slots >= 8 and he.slots & (he.slots - 1) == 0, "slot count must be a power of two"
    assert he.slots == he.params["ring_dim"] // 2, "slots must be ring_dim / 2"
    assert he.max_depth() >= 14, "TEST_PARAMS must hold the paper workload's 2-iteration depth 14"


@_applies_to(CKKSBackend)
def check_roundtrip(make: Factory) -> None:
    he = _ready(make)
    x = _vec(he, 0)
    _close(he, he.decrypt(he.encrypt(x)), x, "encrypt/decrypt")


@_applies_to(CKKSBackend)
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


@_applies_to(CKKSBackend)
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


@_applies_to(CKKSBackend)
def check_depth_budget(make: Factory) -> None:
    he = _ready(make)
    ct = he.encrypt(_vec(he, 6) * 0.5)
    for _ in range(DEPTH):
        ct = he.mul(ct, ct)
    _refused(he, DepthExceeded, "multiplication beyond the declared depth", lambda: he.mul(ct, ct))
    fresh = make()
    _refused(fresh, ParameterError, "keygen beyond max_depth()",
             lambda: fresh.keygen(fresh.max_depth() + 1, STEPS))


@_applies_to(CKKSBackend)
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


@_applies_to(CKKSBackend)
def check_composed_rotations(make: Factory) -> None:
    """rotation_keys: power_of_two makes keys for signed powers of two only, on the server too;
    every declared step still rotates right, one key switch per power of two, counted."""
    steps = (3, -7, 5)  # 4 - 1, -8 + 1, 4 + 1
    client = type(make())(**{**make().params, "rotation_keys": "power_of_two"})
    client.keygen(DEPTH, steps)
    assert client.keyed_steps == {4, -1, -8, 1}, sorted(client.keyed_steps)
    server = type(client).server_from_bytes(client.public_bytes(), DEPTH, steps, **client.params)
    x = _vec(client, 21)
    ct = server.deserialize(client.serialize(client.encrypt(x)), 0)
    before = server.ops.snapshot()
    outs = [server.rotate(ct, 3), *server.rotate_many(ct, [0, -7, 5])]
    assert server.ops.since(before)["rotation"] == 6, server.ops.since(before)
    for k, out in zip([3, 0, -7, 5], outs):
        got = client.decrypt(client.deserialize(server.serialize(out), out.level))
        _close(client, got, np.roll(x, -k), f"composed rotate({k})", scale=3.0)
    _refused(server, MissingRotationKey, "a step the workload did not declare", lambda: server.rotate(ct, 4))


@_applies_to(CKKSBackend)
def check_counters(make: Factory) -> None:
    he = _ready(make)
    a = he.encrypt(_vec(he, 8))
    b = he.mul_scalar(he.encrypt(_vec(he, 9)), 0.5)
    before = he.ops.snapshot()
    he.rotate(he.mul_plain(he.mul(a, a), np.ones(he.slots)), 1)
    he.rotate_many(he.add(a, b), [0, 1, 4])
    got = he.ops.since(before)
    assert (got["ct_mult"], got["pt_mult"], got["rotation"], got["rescale"], got["add"]) == (1, 1, 3, 2, 1), got
    # by the level of the input, the shallower input of the sum brought down to level 1
    assert got.by_level == {("ct_mult", 0, 1): 1, ("pt_mult", 1, 1): 1, ("rotation", 2, 1): 1,
                            ("add", 1, 1): 1, ("level_align", 1, 1): 1,
                            ("hoisted_rotation", 1, 1): 2}, got.by_level


@_applies_to(CKKSBackend)
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


@_applies_to(CKKSBackend)
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
    # counted with the map's width, each result once as it comes back
    assert got.by_level == {("ct_mult", 0, 3): 3, ("rotation", 1, 3): 3, ("map_result", 1, 3): 3}, got.by_level
    for x, ct in zip(xs, out):
        assert ct.level == 1
        _close(he, he.decrypt(ct), np.roll(x * x, -1), "parallel_map")


@_applies_to(CKKSBackend)
def check_bootstrap(make: Factory) -> None:
    """A bootstrap restores the declared levels and keeps the values, counted; a library
    without bootstrapping refuses the keys for it before any exists."""
    he = make()
    depth = he.bootstrap_depth()
    if depth is None:
        _refused(he, ParameterError, "bootstrapping keys without bootstrapping",
                 lambda: he.keygen(DEPTH, STEPS, bootstrap=True))
        return
    _refused(he, ParameterError, "bootstrapping keys for a chain a bootstrap uses up",
             lambda: he.keygen(depth, STEPS, bootstrap=True))
    total = depth + 2
    he.keygen(total, STEPS, bootstrap=True)
    server = type(he).server_from_bytes(he.public_bytes(), total, STEPS, bootstrap=True, **he.params)
    period = he.bootstrap_slots() or he.slots
    x = np.tile(np.random.default_rng(20).uniform(-0.5, 0.5, period), he.slots // period)
    ct = server.deserialize(he.serialize(he.encrypt(x)), 0)
    for _ in range(total - 1):  # a bootstrap's input keeps one level
        ct = server.mul_scalar(ct, 1.0)
    before = server.ops.snapshot()
    fresh = server.bootstrap(ct)
    assert server.ops.since(before)["bootstrap"] == 1 and fresh.level == depth, fresh.level
    out = server.rotate(server.mul(fresh, fresh), 1)
    _close(he, he.decrypt(he.deserialize(server.serialize(out), out.level)), np.roll(x * x, -1),
           "bootstrap, then a product and a rotation", scale=10.0)


# ------------------------------------------------------------------- whole-model adapters
_N, _F, _K, _T = 24, 4, 3, 2


def _problem() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(_N) % _K
    return 2.0 * np.eye(_K, _F)[y] + rng.normal(0.0, 0.3, (_N, _F)), y


def _records(make: Factory) -> Iterator[IterationRecord]:
    X, y = _problem()
    return make().train(X, y, _K, _T)


@_applies_to(ModelBackend)
def check_model_records(make: Factory) -> None:
    """One record per iteration, scores of every class, known operation kinds, sane traffic."""
    X, _ = _problem()
    records = list(_records(make))
    assert [r.iteration for r in records] == list(range(1, _T + 1)), [r.iteration for r in records]
    for r in records:
        scores = r.decision_function(X[:5])
        assert scores.shape == (5, _K) and np.isfinite(scores).all(), scores.shape
        assert set(r.ops) <= set(OP_KINDS), f"unknown operation kinds {set(r.ops) - set(OP_KINDS)}"
        assert all(w >= 0 and c >= 0 for w, c in r.phases.values()), r.phases
        assert all(c >= 0 and b >= 0 for c, b in [*r.upload.values(), r.download]), r.upload
    if make().describe().mode == "simulated":
        assert all(not r.upload and r.download == (0, 0) for r in records), "simulation sent data"


@_applies_to(ModelBackend)
def check_model_shape_refused(make: Factory) -> None:
    """A shape the parameters cannot train is refused before any work, by name."""
    he = make()
    assert he.shape_problems(_N, _F, _K, _T) == [], he.shape_problems(_N, _F, _K, _T)
    assert he.shape_problems(1, _F, _K, _T), "a single training sample was accepted"

