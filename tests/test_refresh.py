"""Training past the depth wall: the refresh schedule (client round trips, bootstraps) on
the exact backend, then on tiny insecure rings of the real libraries."""
from __future__ import annotations

import numpy as np
import pytest

from backends.plaintext import PlaintextBackend
from hemlr.config import ConfigError, validate_config
from hemlr.workloads.mlr.plan import Plan
from hemlr.workloads.mlr.reference import train_oracle
from hemlr.session import open_session

from .conftest import make_factory


def problem(T: int, n: int = 37, f: int = 6, K: int = 3):
    rng = np.random.default_rng(0)
    X, y = rng.uniform(0, 3, (n, f)), rng.permutation(np.arange(n) % K)
    return X, y, K, train_oracle(X, y, K, T)


@pytest.mark.parametrize("refresh, params, depth, refreshes", [
    # 14 levels hold 2 iterations of 6 and the pack for the client (13), from the working form
    # the client uploads at the start and after each round trip (no expansion level)
    ("client", {"max_depth": 14}, 13, (2, 4, 6, 8)),
    # 25 levels: 3 iterations from the setup; a bootstrap leaves 16, one iteration fits
    ("bootstrap", {"max_depth": 25, "bootstrap_depth": 16, "bootstrap_slots": 256}, 25, (3, 4, 5, 6, 7, 8, 9)),
])
def test_exact_refresh_schedule_equals_the_oracle(refresh, params, depth, refreshes) -> None:
    X, y, K, oracle = problem(10)
    session = open_session(PlaintextBackend(ring_dim=1024, **params), X, y, K, 10, refresh)
    records = list(session)
    assert session.plan.depth == depth and session.plan.refreshes == refreshes
    for rec, step in zip(records, oracle):
        assert np.abs(rec.weights - step.W).max() < 1e-9
    assert [r.iteration for r in records if r.refreshes] == list(refreshes)
    assert sum(r.ops["bootstrap"] for r in records) == (len(refreshes) if refresh == "bootstrap" else 0)
    round_trips = [r.upload["refresh"] for r in records if "refresh" in r.upload]
    assert len(round_trips) == (len(refreshes) if refresh == "client" else 0)
    # the client re-uploads W and V row-replicated: 2K ciphertexts, no expansion on the server
    assert all(cts == 2 * K and size > 0 for cts, size in round_trips)
    phase = "refresh" if refresh == "client" else "bootstrap"
    assert all((phase in r.phases) == bool(r.refreshes) for r in records)


def test_refresh_every_trades_depth_for_refreshes() -> None:
    X, y, K, _ = problem(6)
    plan = open_session(PlaintextBackend(ring_dim=1024), X, y, K, 6, "client", refresh_every=1).plan
    assert (plan.depth, plan.refreshes) == (7, (1, 2, 3, 4, 5))


def test_the_exact_bootstrap_refuses_what_would_break_a_real_one() -> None:
    he = PlaintextBackend(ring_dim=64, bootstrap_depth=2, bootstrap_slots=16)
    he.keygen(6, [1], bootstrap=True)
    big = he.mul_scalar(he.encrypt(np.full(32, 1.5)), 1.0)
    with pytest.raises(Exception, match="below 1"):
        he.bootstrap(big)
    with pytest.raises(Exception, match="repeat every 16"):
        he.bootstrap(he.encrypt(np.arange(32) / 64))


def test_no_refresh_with_too_many_iterations_names_the_key() -> None:
    with pytest.raises(ValueError, match="use refresh: client or bootstrap"):
        Plan(37, 7, 3, 512, 3, max_depth=14)
    cfg = {"datasets": {"d": {"source": "digits"}}, "iterations": 3,
           "backends": {"t": {"library": "tenseal", "ring_dim": 32768}},
           "experiments": [{"datasets": ["d"], "backends": ["t"]}]}
    with pytest.raises(ConfigError, match="use refresh: client or bootstrap"):
        validate_config(cfg)
    cfg["backends"]["t"]["refresh"] = "client"
    assert validate_config(cfg)["backends"]["t"]["refresh"] == "client"


def test_tenseal_refuses_bootstrap_before_any_key() -> None:
    make_factory("tenseal")
    cfg = {"datasets": {"d": {"source": "digits"}}, "iterations": 3,
           "backends": {"t": {"library": "tenseal", "ring_dim": 32768, "refresh": "bootstrap"}},
           "experiments": [{"datasets": ["d"], "backends": ["t"]}]}
    with pytest.raises(ConfigError, match="refresh: bootstrap is not available on tenseal"):
        validate_config(cfg)


@pytest.mark.slow
@pytest.mark.parametrize("library", ["tenseal", "openfhe"])
def test_client_refresh_on_tiny_rings_stays_with_the_oracle(library: str) -> None:
    rng = np.random.default_rng(3)
    X, y = rng.uniform(0, 1, (16, 7)), rng.integers(0, 4, 16)
    oracle = train_oracle(X, y, 4, 4)
    records = list(open_session(make_factory(library)(), X, y, 4, 4, "client", refresh_every=1))
    assert sum(r.refreshes for r in records) == 3
    for rec, step in zip(records, oracle):
        assert np.abs(rec.weights - step.W).max() < 1e-4


@pytest.mark.slow
def test_openfhe_bootstraps_past_its_depth() -> None:
    """INSECURE ring 1024: one cycle of 3 iterations, a bootstrap, a 4th iteration."""
    rng = np.random.default_rng(3)
    X, y = rng.uniform(0, 1, (16, 7)), rng.integers(0, 4, 16)
    oracle = train_oracle(X, y, 4, 4)
    session = open_session(make_factory("openfhe")(), X, y, 4, 4, "bootstrap", refresh_every=1)
    records = list(session)
    assert session.plan.refreshes == (3,) and session.plan.depth < 2 + 6 * 4
    assert sum(r.ops["bootstrap"] for r in records) == 1 and records[-1].level > session.plan.depth - 8
    for rec, step in zip(records, oracle):
        assert np.abs(rec.weights - step.W).max() < 1e-4
    assert "INSECURE" in session.describe().security
