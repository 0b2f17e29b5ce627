"""Checks every workload must pass on every backend that can run it, written once.

Like backends/checks.py for adapters: each ``check_*`` takes a workload and a factory of fresh
client adapters (with their small TEST_PARAMS) and raises AssertionError on a violation. Each
declares the capability it needs of the backend; :func:`checks_for` selects them by it, and
``tests/test_workloads.py`` runs every one for every workload on every registered adapter.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from backends.base import Adapter, CKKSBackend, ModelBackend

from .session import job_problems, open_session, plan_for
from .workloads.base import Workload

Factory = Callable[[], Any]
Check = Callable[[Workload, Factory], None]
_CHECKS: list[tuple[Callable[[type[Adapter]], bool], Check]] = []
#: a small problem every workload's plan fits on every adapter's TEST_PARAMS
N, F, K, ITERATIONS = 16, 7, 4, 2


def _needs(capability: Callable[[type[Adapter]], bool]) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        _CHECKS.append((capability, check))
        return check
    return register


def _ckks(cls: type[Adapter]) -> bool:
    return issubclass(cls, CKKSBackend)


def _bootstraps(cls: type[Adapter]) -> bool:
    return _ckks(cls) and cls.bootstrap_depth is not CKKSBackend.bootstrap_depth


def checks_for(cls: type[Adapter]) -> list[Check]:
    """The checks that apply to a workload on adapters of class ``cls``, in a fixed order."""
    return [check for needs, check in _CHECKS if needs(cls)]


def _problem() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.uniform(0, 1, (N, F)), np.arange(N) % K


def _tolerance(he: CKKSBackend) -> float:
    """Largest relative drift from the reference: none to speak of on an exact backend."""
    return 1e-12 if he.mode == "exact" else 1e-3


def _schedule(training: dict[str, Any]) -> dict[str, Any]:
    """The keys of a training that the plan reads."""
    return {k: v for k, v in training.items() if k in ("refresh", "refresh_every")}


def _iterations(workload: Workload, he: CKKSBackend, **training: Any) -> int:
    """ITERATIONS, or with a refresh the fewest iterations (from ITERATIONS) whose plan refreshes
    at least once: a refresh check that never refreshes proves nothing."""
    if training.get("refresh", "none") == "none":
        return ITERATIONS
    for iterations in range(ITERATIONS, 4 * ITERATIONS):
        if plan_for(workload, he, N, F, K, iterations, **_schedule(training)).refreshes:
            return iterations
    raise AssertionError(f"{workload.name} on {he.library} {training}: no refresh within {4 * ITERATIONS} iterations")


def _follows_reference(workload: Workload, make: Factory, **training: Any) -> None:
    X, y = _problem()
    he = make()
    iterations = _iterations(workload, he, **training)
    reference = workload.reference(X, y, K, iterations)
    records = list(open_session(he, X, y, K, iterations, workload=workload, **training))
    assert [r.iteration for r in records] == list(range(1, iterations + 1)), [r.iteration for r in records]
    for rec, ref in zip(records, reference):
        _, rel = workload.drift(rec.weights, ref.weights)
        assert rel <= _tolerance(he), f"{workload.name} on {he.library} {training}: iteration {rec.iteration} " \
                                      f"drifts {rel:.3g} from the reference"
        scores = rec.decision_function(X)
        assert scores.shape == (N, K) and np.allclose(scores, workload.scores(rec.weights, X)), scores.shape
    refreshes = sum(r.refreshes for r in records)
    assert refreshes == len(plan_for(workload, he, N, F, K, iterations, **_schedule(training)).refreshes), refreshes


@_needs(lambda cls: True)
def check_reference_is_deterministic(workload: Workload, make: Factory) -> None:
    """Anyone with the data (and the workload's seed) reproduces the exact reference."""
    X, y = _problem()
    first, again = workload.reference(X, y, K, 2), workload.reference(X, y, K, 2)
    assert len(first) == 2 and all(workload.drift(a.weights, b.weights)[0] == 0 for a, b in zip(first, again))
    assert all(np.isfinite(step.max_abs_score) for step in first)


@_needs(_ckks)
def check_follows_the_reference(workload: Workload, make: Factory) -> None:
    """The client and server programs, through real bytes, compute the reference's weights."""
    _follows_reference(workload, make)


@_needs(_ckks)
def check_client_refresh_follows_the_reference(workload: Workload, make: Factory) -> None:
    """A round trip to the client after every iteration changes nothing but the levels."""
    _follows_reference(workload, make, refresh="client", refresh_every=1)


@_needs(_bootstraps)
def check_bootstrap_follows_the_reference(workload: Workload, make: Factory) -> None:
    """A bootstrap after every iteration keeps the weights (the adapter's own bootstrap error
    aside), with the state bound the reference says the state needs."""
    X, y = _problem()
    bound = max(step.state_max_abs for step in workload.reference(X, y, K, 4 * ITERATIONS))
    _follows_reference(workload, make, refresh="bootstrap", refresh_every=1, state_bound=max(1.0, 1.01 * bound))


@_needs(_ckks)
def check_depth_is_refused_before_any_key(workload: Workload, make: Factory) -> None:
    """Iterations the parameters cannot hold without a refresh are refused by the plan, by name."""
    he = make()
    problems = job_problems(he, N, F, K, 10_000, workload=workload)
    assert problems and "depth" in problems[0], problems
    assert he.depth is None, "keys were made for a job the plan refuses"


@_needs(lambda cls: issubclass(cls, ModelBackend))
def check_whole_model_stands_in_only_where_declared(workload: Workload, make: Factory) -> None:
    """A whole-model backend trains its own model: it runs a workload only if it declares it."""
    he = make()
    problems = job_problems(he, N, F, K, 2, workload=workload)
    declared = workload.name in he.WORKLOADS
    assert not problems if declared else any(workload.name in p for p in problems), problems
