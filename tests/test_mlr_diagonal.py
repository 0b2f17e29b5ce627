"""The MLR's diagonal layout (hemlr/workloads/mlr/diagonal.py): the paper's algorithm, exact on
the plaintext backend under every refresh, its planned counts equal to the counted ones, and far
fewer rotations and levels than the paper's layout at the paper's shape."""
from __future__ import annotations

import numpy as np
import pytest

from backends.plaintext import PlaintextBackend
from hemlr.session import open_session
from hemlr.workloads import make_workload
from hemlr.workloads.mlr.diagonal import DiagonalPlan
from hemlr.workloads.mlr.plan import Plan
from hemlr.workloads.mlr.reference import train_oracle

DIAGONAL = make_workload({"workload": "mlr", "layout": "diagonal"})
PAPER = make_workload({"workload": "mlr"})


def problem(n: int, f: int, K: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # scores Z V0^T within the cubic's range at any width
    return rng.uniform(0, 18 / f, (n, f)), rng.permutation(np.arange(n) % K)


@pytest.mark.parametrize("refresh, params, depth, refreshes", [
    # 4 levels per iteration from the expanded upload, one to pack W for the client
    ("none", {}, 1 + 4 * 6 + 1, ()),
    # the client uploads the working form: 14 levels hold 3 iterations and the pack
    ("client", {"max_depth": 14}, 13, (3,)),
    # 25 levels: a bootstrap leaves 16, one iteration fits (16 + expand + 4 + pack + spare =
    # 23: two spare levels are not kept); 5 iterations from the setup
    ("bootstrap", {"max_depth": 25, "bootstrap_depth": 16, "bootstrap_slots": 256}, 23, (5,)),
])
def test_exact_training_equals_the_oracle(refresh: str, params: dict, depth: int, refreshes: tuple) -> None:
    X, y = problem(37, 6, 3)
    session = open_session(PlaintextBackend(ring_dim=1024, **params), X, y, 3, 6, refresh, workload=DIAGONAL)
    records = list(session)
    assert (session.plan.depth, session.plan.refreshes) == (depth, refreshes)
    for rec, step in zip(records, train_oracle(X, y, 3, 6)):
        np.testing.assert_allclose(rec.weights, step.W, rtol=0, atol=1e-12)
    trips = [rec.upload["refresh"][0] for rec in records if "refresh" in rec.upload]
    p = session.plan.p
    # the client re-uploads W's and V's working diagonals; V0's alone at the start
    assert trips == [2 * p] * len(refreshes if refresh == "client" else ())
    assert records[0].upload["W0"][0] == (p if refresh == "client" else 1)


@pytest.mark.parametrize("n, f, K, slots", [(37, 6, 3, 512), (100, 30, 10, 2048), (128, 400, 10, 16384)])
def test_planned_counts_equal_the_counted_ones(n: int, f: int, K: int, slots: int) -> None:
    X, y = problem(n, f, K)
    session = open_session(PlaintextBackend(ring_dim=2 * slots), X, y, K, 2, workload=DIAGONAL)
    first, second = list(session)
    planned = session.plan.expected_ops_per_iteration()
    # a record also holds the pack of W for the client: one plaintext mask per diagonal, twice
    pack = {"ct_mult": 0, "rotation": 0, "pt_mult": 2 * session.plan.p}
    assert {k: second.ops[k] - pack[k] for k in planned} == planned


def test_at_the_papers_shape_a_third_of_the_rotations_and_two_levels_less() -> None:
    """n = 128, d = 401, K = 10 at ring 32768 (the plans alone, no training)."""
    paper, diagonal = Plan(128, 401, 10, 16384, 2), DiagonalPlan(128, 401, 10, 16384, 2)
    assert paper.expected_ops_per_iteration()["rotation"] == 539
    assert diagonal.expected_ops_per_iteration()["rotation"] == 150 <= 539 / 3
    assert (paper.depth, diagonal.depth) == (14, 10)
    assert diagonal.LEVELS_PER_ITERATION == paper.LEVELS_PER_ITERATION - 2
    # more keys: one per one-slot shift each way
    assert (len(paper.rotation_steps), len(diagonal.rotation_steps)) == (26, 45)


def test_what_cannot_fit_is_refused_naming_the_shape() -> None:
    with pytest.raises(ValueError, match=r"cannot hold one row of 512 columns \(32 windows of 16 for d=401, K=10\)"):
        DiagonalPlan(128, 401, 10, 256, 2)
    with pytest.raises(ValueError, match="the weights' 32 diagonals need 32 rows"):
        DiagonalPlan(128, 401, 10, 8192, 2)


def test_both_layouts_train_the_same_weights() -> None:
    X, y = problem(50, 8, 4, seed=3)
    he = PlaintextBackend(ring_dim=4096)
    paper, diagonal = (list(open_session(he, X, y, 4, 3, workload=w)) for w in (PAPER, DIAGONAL))
    for a, b in zip(paper, diagonal):
        np.testing.assert_allclose(a.weights, b.weights, rtol=0, atol=1e-12)
