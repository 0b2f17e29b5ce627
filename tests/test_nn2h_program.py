"""The nn2h slot program (plan, client, server) on the exact plaintext backend: it equals the
numpy reference to 1e-12 every iteration, its operation counts are the plan's, and what the
parameters cannot hold is refused before any key exists."""
from __future__ import annotations

import math

import numpy as np
import pytest

from backends.base import DepthExceeded, MissingRotationKey
from backends.plaintext import PlaintextBackend
from hemlr.session import EncryptedSession, job_problems
from hemlr.workloads.mlr.plan import design_matrix
from hemlr.workloads.nn2h import plan as packing
from hemlr.workloads.nn2h.plan import Plan
from hemlr.workloads.nn2h.program import Client, NNWeights, Server, live_scales
from hemlr.workloads.nn2h.reference import (NNParams, init_weights, scores, standardize, standardizer,
                                            train_reference)
from hemlr.workloads.nn2h.workload import TwoHiddenLayerNN

SHAPES = [  # (n, features, classes, hidden, ring_dim, iterations)
    (16, 7, 4, (32, 16), 2048, 3),   # the generic checks' problem: one data ciphertext
    (37, 5, 3, (6, 5), 256, 3),      # nothing a power of two, 10 data ciphertexts
    (20, 9, 2, (3, 7), 512, 2),      # K = 2, a narrow first hidden layer
    (50, 12, 5, (8, 4), 1024, 1),    # rows of several samples, a partial last ciphertext
    (5, 3, 3, (2, 2), 128, 2),       # tiny
]


def _problem(n: int, f: int, K: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative features with a class signal and one constant feature (its scale floors)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % K)
    X = np.abs(rng.normal(size=(n, f))) + 0.5 * (np.arange(f) % K == y[:, None])
    X[:, min(1, f - 1)] = 2.0
    return X, y


def _session(X, y, K, hidden, ring, iterations, backend=None, **training):
    workload = TwoHiddenLayerNN(hidden=list(hidden))
    he = backend or PlaintextBackend(ring_dim=ring)
    return workload, EncryptedSession(workload, he, X, y, K, iterations, **training)


def _assert_equal(got: NNWeights, want: list[np.ndarray], what: str) -> None:
    for l, (G, W) in enumerate(zip(got.Ws, want)):
        assert G.shape == W.shape
        rel = np.abs(G - W).max() / np.abs(W).max()
        assert rel <= 1e-12, f"{what}: W{l + 1} drifts {rel:.3g}"
        np.testing.assert_allclose(G, W, rtol=1e-12, atol=1e-12 * np.abs(W).max())


def _counts(ops, kinds) -> dict[str, int]:
    return {k: ops[k] for k in kinds}


@pytest.mark.parametrize("n, f, K, hidden, ring, iterations", SHAPES,
                         ids=[f"n{s[0]}-f{s[1]}-K{s[2]}-h{s[3][0]}x{s[3][1]}-ring{s[4]}" for s in SHAPES])
def test_plaintext_program_equals_reference(n, f, K, hidden, ring, iterations) -> None:
    X, y = _problem(n, f, K)
    workload, session = _session(X, y, K, hidden, ring, iterations)
    plan = session.plan
    reference = train_reference(X, y, K, iterations, NNParams(hidden=hidden))
    planned = plan.expected_ops_per_iteration()
    records = list(session)
    assert [r.iteration for r in records] == list(range(1, iterations + 1))
    for rec, step in zip(records, reference):
        _assert_equal(rec.weights, step.Ws, f"iteration {rec.iteration}")
        assert _counts(rec.ops, planned) == planned, rec.iteration
        assert rec.level == 2 + plan.LEVELS_PER_ITERATION * rec.iteration  # expanded, t iterations, packed
        assert rec.download[0] == 1  # the weights come back packed in one ciphertext
    assert records[-1].level == plan.depth
    setup = plan.expected_setup_ops()
    assert _counts(records[0].setup_ops, setup) == setup


@pytest.mark.parametrize("refresh, every, backend", [
    ("client", 1, {}),
    ("client", 2, {}),
    ("bootstrap", 1, {"bootstrap_depth": 5, "bootstrap_slots": 256}),  # the state repeats every 256 slots
    ("bootstrap", None, {"max_depth": 40, "bootstrap_depth": 5}),
])
def test_refresh_equals_reference(refresh, every, backend) -> None:
    n, f, K, hidden, iterations = 24, 6, 3, (8, 4), 5
    X, y = _problem(n, f, K)
    he = PlaintextBackend(ring_dim=1024, **backend)
    workload, session = _session(X, y, K, hidden, 1024, iterations, backend=he, refresh=refresh,
                                 refresh_every=every, state_bound=2.0)
    plan = session.plan
    assert plan.refreshes, "a refresh test that never refreshes proves nothing"
    reference = train_reference(X, y, K, iterations, NNParams(hidden=hidden))
    records = list(session)
    for rec, step in zip(records, reference):
        _assert_equal(rec.weights, step.Ws, f"{refresh} iteration {rec.iteration}")
        refreshed = rec.iteration in plan.refreshes
        assert rec.refreshes == int(refreshed)
        planned = plan.expected_ops_per_iteration(refreshed)
        assert _counts(rec.ops, planned) == planned, rec.iteration
    assert [r.iteration for r in records if r.refreshes] == list(plan.refreshes)
    if every == 1:
        # after the first cycle (which starts from the fresh upload) one iteration per refresh
        assert all(b - a == 1 for a, b in zip(plan.refreshes, plan.refreshes[1:]))



def test_a_state_beyond_one_period_is_refused_by_name() -> None:
    """The default network on the checks' problem (7 -> 32 -> 16 -> 4) has 852 diagonal weight
    values, more than the 512 slots of ring 1024 (hence nn2h's TEST_PARAMS); the plan says so by name."""
    with pytest.raises(ValueError, match=r"7 -> 32 -> 16 -> 4 .*852 diagonal values.*512 slots.*larger ring_dim"):
        Plan(16, 7, 4, (32, 16), 512, 3, refresh="bootstrap", max_depth=64, bootstrap_depth=14,
             bootstrap_slots=512, refresh_every=1)
    Plan(16, 7, 4, (32, 16), 1024, 3, refresh="bootstrap", max_depth=64, bootstrap_depth=14, refresh_every=1)


# ---------------------------------------------------------------- refusals before any key
def test_depth_is_refused_before_keygen() -> None:
    he = PlaintextBackend(ring_dim=2048, max_depth=40)
    problems = job_problems(he, 16, 7, 4, 3, workload=TwoHiddenLayerNN())
    assert problems and "need multiplicative depth 44" in problems[0] and "at most 40" in problems[0], problems
    assert "refresh: client or bootstrap" in problems[0]
    assert he.depth is None
    with pytest.raises(ValueError, match="depth"):
        _session(*_problem(16, 7, 4), 4, (32, 16), 2048, 3, backend=he)
    assert he.depth is None
    # what fits: 2 iterations (depth 30), or client refresh
    assert not job_problems(he, 16, 7, 4, 2, workload=TwoHiddenLayerNN())
    assert not job_problems(he, 16, 7, 4, 3, refresh="client", workload=TwoHiddenLayerNN())


def test_bootstrap_needing_more_than_the_parameters_is_refused() -> None:
    # two iterations per bootstrap cannot bootstrap inside them
    with pytest.raises(ValueError, match=r"a bootstrap leaves 14 of 30 levels; one iteration .* needs 17"):
        Plan(16, 7, 4, (32, 16), 1024, 3, refresh="bootstrap", max_depth=30, bootstrap_depth=16, refresh_every=2)
    # 4 levels after a bootstrap: not even one layer's forward pass and a pack
    with pytest.raises(ValueError, match=r"does not fit between bootstraps even with its live matrices "
                                         r"bootstrapped after every layer: a bootstrap leaves 4 of 20 levels"):
        Plan(16, 7, 4, (32, 16), 1024, 3, refresh="bootstrap", max_depth=20, bootstrap_depth=16)


@pytest.mark.parametrize("n, f, K, hidden, ring, backend, first, later", [
    # one data ciphertext, rows of two periods: the live pieces need several ciphertexts
    (16, 7, 4, (32, 16), 4096, {"max_depth": 14, "bootstrap_depth": 5, "bootstrap_slots": 1024},
     (("backward", 2),), (("forward", 1), ("backward", 2))),
    # 10 data ciphertexts, the period is the whole ciphertext: a refresh after every layer's forward
    (37, 5, 3, (6, 5), 512, {"max_depth": 12, "bootstrap_depth": 4},
     (("forward", 2),), (("forward", 0), ("forward", 1), ("backward", 2))),
], ids=["two-periods", "ten-cts"])
def test_bootstrap_inside_the_iteration_equals_reference(n, f, K, hidden, ring, backend, first, later) -> None:
    """When a bootstrap leaves fewer levels than an iteration needs, the live matrices are
    bootstrapped inside it, at the points the plan's level arithmetic places; the program stays
    exact and its counts are the plan's."""
    X, y = _problem(n, f, K)
    he = PlaintextBackend(ring_dim=ring, **backend)
    workload, session = _session(X, y, K, hidden, ring, 3, backend=he, refresh="bootstrap", state_bound=2.0)
    plan = session.plan
    assert plan.inner and plan.depth == backend["max_depth"] and plan.refreshes == (1, 2)
    assert (plan.inner_refreshes(True), plan.inner_refreshes(False)) == (first, later)
    for rec, step in zip(session, train_reference(X, y, K, 3, NNParams(hidden=hidden))):
        _assert_equal(rec.weights, step.Ws, f"iteration {rec.iteration}")
        planned = plan.expected_ops_per_iteration(rec.iteration in plan.refreshes, first=rec.iteration == 1)
        assert _counts(rec.ops, planned) == planned, rec.iteration
        assert planned["bootstrap"] > (rec.iteration in plan.refreshes)


def test_live_scales_keep_every_bootstrap_input_within_half() -> None:
    """The client's public powers of two: each live matrix times its scale stays within 1/2 and
    above 1/4 at its peak (no precision given away), small deltas scaled up."""
    X, y = _problem(37, 5, 3)
    plan = Plan(37, 5, 3, (6, 5), 256, 3, refresh="bootstrap", max_depth=12, bootstrap_depth=4)
    scales = live_scales(X, y, plan, NNParams(hidden=(6, 5)))
    peaks = {}
    for step in train_reference(X, y, 3, 3, NNParams(hidden=(6, 5))):
        for k, v in step.live_max_abs.items():
            peaks[k] = max(peaks.get(k, 0.0), v)
    assert set(scales) == {"A1", "A2", "S0", "S1", "D0", "D1", "D2"}
    for k, scale in scales.items():
        assert 0.25 < peaks[k] * scale <= 0.5 and math.log2(scale).is_integer(), (k, scale)
    assert scales["D2"] > 1  # the output deltas are ~1/n


def test_row_too_wide_is_refused() -> None:
    with pytest.raises(ValueError, match=r"layer 1 \(401 inputs, 32 outputs\) needs rows of 512 columns, but a "
                                         r"ciphertext has 256 slots; use a larger ring_dim"):
        Plan(128, 400, 10, (32, 16), 256, 1)


# ---------------------------------------------------------------- the paper's shape
def test_paper_shape_plan() -> None:
    """400 -> 32 -> 16 -> 10, n = 128, ring 65536: nn.md's layout and its per-iteration counts."""
    plan = Plan(128, 400, 10, (32, 16), 32768, 3)
    assert (plan.cols, plan.rows, plan.n_data_cts, plan.ps) == (512, 64, 2, (32, 16, 16))
    assert plan.LEVELS_PER_ITERATION == 14 and plan.depth == 44 and plan.refreshes == ()
    assert plan.expected_ops_per_iteration() == {
        "ct_mult": 336, "pt_mult": 80, "scalar_mult": 6, "rotation": 656, "bootstrap": 0}
    assert plan.upload_cts() == {"X": 2, "Y": 2, "W0": 1}
    # OpenFHE's documented bootstrap (16384 slots): the state in 32 rows, 2 column offsets
    boot = Plan(128, 400, 10, (32, 16), 32768, 3, refresh="bootstrap", max_depth=40, bootstrap_depth=16,
                bootstrap_slots=16384, refresh_every=1)
    assert boot.layout()["state_rows"] == 32 and boot.offsets == (0, 401)
    assert boot.depth == 16 + 3 + 14
    assert boot.expected_ops_per_iteration(refreshed=True) == {
        "ct_mult": 336, "pt_mult": 144, "scalar_mult": 6, "rotation": 657 + 1 + 64 * 5, "bootstrap": 1}
    # 128-bit: 25 levels, a bootstrap leaves 9: nn.md's three bootstraps per iteration, the live
    # matrices after the second layer's forward pass and after the output layer's backward pass
    secure = Plan(128, 400, 10, (32, 16), 32768, 3, refresh="bootstrap", max_depth=25, bootstrap_depth=16,
                  bootstrap_slots=16384)
    assert secure.inner and secure.depth == 25 and secure.refreshes == (1, 2)
    assert secure.inner_refreshes(True) == ()  # the upload's 24 levels hold the first iteration
    assert secure.inner_refreshes(False) == (("forward", 1), ("backward", 2))
    # A1 | A2 | S0 | S1 of both data ciphertexts and both periods, at offsets of 16: one ciphertext
    [group] = secure.live_groups(("forward", 1))
    assert len(group) == 16 and all(o % 16 == 0 for *_, o in group)
    assert secure.expected_ops_per_iteration(refreshed=True)["bootstrap"] == 3
    # 23 levels (4 digits, make nn): after every forward pass and the middle layer's backward pass
    lean = Plan(128, 400, 10, (32, 16), 32768, 3, refresh="bootstrap", max_depth=23, bootstrap_depth=16,
                bootstrap_slots=16384)
    assert lean.inner_refreshes(False) == (("forward", 0), ("forward", 1), ("forward", 2), ("backward", 1))
    assert lean.expected_ops_per_iteration(refreshed=True)["bootstrap"] == 5


def test_paper_shape_runs_on_plaintext() -> None:
    X, y = _problem(128, 400, 10)
    workload, session = _session(X, y, 10, (32, 16), 65536, 1)
    (rec,) = list(session)
    _assert_equal(rec.weights, train_reference(X, y, 10, 1)[0].Ws, "paper shape")
    assert {k: n for k, (n, _) in rec.upload.items()} == {"X": 2, "Y": 2, "W0": 1}


# ---------------------------------------------------------------- the client
def test_client_standardises_and_scores() -> None:
    n, f, K, hidden = 20, 6, 3, (5, 4)
    X, y = _problem(n, f, K)
    plan = Plan(n, f, K, hidden, 256, 1)
    client = Client(PlaintextBackend(ring_dim=512), plan, NNParams(hidden=hidden))
    client.keygen()
    upload = client.encrypt_upload(X, y)
    mu, s = standardizer(X)
    np.testing.assert_array_equal(client.mu, mu)
    np.testing.assert_array_equal(client.s, s)
    sent = np.concatenate([client.he.decrypt(client.he.deserialize(b, 0)).reshape(plan.rows, plan.cols)
                           for b in upload.cts["X"]])
    np.testing.assert_array_equal(sent[:n, :f + 1], design_matrix(standardize(X, mu, s)))
    assert not sent[n:].any() and not sent[:, f + 1:].any()
    # the initial state: the seed's weights, packed
    C0 = client.he.decrypt(client.he.deserialize(upload.cts["W0"][0], 0))
    for got, want in zip(packing.unpack_state(plan, C0), init_weights(f, K, hidden, 0)):
        np.testing.assert_array_equal(got, want)
    # decrypt_state / encrypt_state mirror each other, at any public scale
    Ws = [np.random.default_rng(l).normal(size=W.shape) for l, W in enumerate(init_weights(f, K, hidden))]
    [blob] = client.encrypt_state(Ws, 0.25)
    weights, state = client.decrypt_state(blob, 0, 0.25)
    for a, b, c in zip(weights.Ws, state, Ws):
        np.testing.assert_allclose(a, c, rtol=1e-15)
        np.testing.assert_allclose(b, c, rtol=1e-15)
    workload = TwoHiddenLayerNN(hidden=list(hidden))
    np.testing.assert_allclose(workload.scores(weights, X), scores(Ws, X, mu, s))


def test_a_client_refreshing_client_uploads_the_working_diagonals() -> None:
    """With client refresh the client sends every diagonal row-replicated (at the start and
    after each round trip): the server never expands, so no level and no rotation for it."""
    n, f, K, hidden = 20, 6, 3, (5, 4)
    X, y = _problem(n, f, K)
    plan = Plan(n, f, K, hidden, 256, 3, refresh="client", max_depth=16)
    assert not plan.expands and plan.depth == 15 and plan.refreshes == (1, 2)
    assert plan.expected_setup_ops() == {"scalar_mult": plan.n_data_cts, "pt_mult": 0, "rotation": 0}
    client = Client(PlaintextBackend(ring_dim=512), plan, NNParams(hidden=hidden))
    client.keygen()
    upload = client.encrypt_upload(X, y)
    assert len(upload.cts["W0"]) == sum(plan.ps) == plan.upload_cts()["W0"]
    Ws = init_weights(f, K, hidden, 0)
    sent = [client.he.decrypt(client.he.deserialize(b, 0)).reshape(plan.rows, plan.cols)
            for b in upload.cts["W0"]]
    for grid, want in zip(sent, packing.working_state(plan, Ws)):
        np.testing.assert_array_equal(grid.ravel(), want)
    l, s = 1, 2  # one diagonal, checked against its definition: the same in every row
    row = sent[plan.ps[0] + s][:, :plan.ins[l]]
    assert (row == packing.diagonal(Ws[l], s, plan.ps[l])).all()
    assert len(client.encrypt_state(Ws, 1.0)) == sum(plan.ps)


def test_diagonals_round_trip() -> None:
    W = np.arange(15.0).reshape(3, 5) + 1
    diags = [packing.diagonal(W, s, 4) for s in range(4)]
    assert diags[1].tolist() == [W[1, 0], W[2, 1], 0.0, W[0, 3], W[1, 4]]
    np.testing.assert_array_equal(packing.undiagonal(diags, 3), W)


# ---------------------------------------------------------------- keys the plan declared
def _server(plan: Plan, X, y, depth=None, steps=None) -> Server:
    client = Client(PlaintextBackend(ring_dim=2 * plan.slots), plan, NNParams(hidden=plan.hidden))
    public = client.keygen()
    upload = client.encrypt_upload(X, y)
    he = PlaintextBackend.server_from_bytes(public, plan.depth if depth is None else depth,
                                            plan.rotation_steps if steps is None else steps,
                                            ring_dim=2 * plan.slots)
    return Server(he, plan, upload, NNParams(hidden=plan.hidden))


def test_missing_rotation_key_and_depth_are_refused() -> None:
    X, y = _problem(20, 7, 4)
    plan = Plan(20, 7, 4, (8, 4), 512, 2)
    with pytest.raises(MissingRotationKey):
        _server(plan, X, y, steps=[s for s in plan.rotation_steps if s != -1]).step()
    server = _server(plan, X, y, depth=plan.depth - 1)
    server.step()
    server.step()  # the last iteration fits, its pack does not
    with pytest.raises(DepthExceeded):
        server.export_weights()


@pytest.mark.parametrize("hidden", [(5,), (5, 3, 6), (1, 1)], ids=["one-hidden", "three-hidden", "p1"])
def test_program_is_generic_in_the_layers(hidden) -> None:
    """The plan and programs take any number of hidden layers (5L - 1 levels per iteration)."""
    n, f, K, iterations = 30, 4, 3, 2
    X, y = _problem(n, f, K)
    params = NNParams(hidden=hidden, rates=(8.0,) * len(hidden) + (2.0,))
    plan = Plan(n, f, K, hidden, 512, iterations)
    assert plan.LEVELS_PER_ITERATION == 5 * (len(hidden) + 1) - 1
    client = Client(PlaintextBackend(ring_dim=1024), plan, params)
    public = client.keygen()
    upload = client.encrypt_upload(X, y)
    he = PlaintextBackend.server_from_bytes(public, plan.depth, plan.rotation_steps, ring_dim=1024)
    server = Server(he, plan, upload, params)
    for t, step in enumerate(train_reference(X, y, K, iterations, params), start=1):
        before = he.ops.snapshot()
        server.step()
        blobs, level = server.export_weights()
        planned = plan.expected_ops_per_iteration()
        assert _counts(he.ops.since(before), planned) == planned
        assert level == 2 + plan.LEVELS_PER_ITERATION * t
        _assert_equal(client.decrypt_weights(blobs, level), step.Ws, f"{hidden} iteration {t}")


def test_the_results_and_the_report_carry_the_share_beyond_the_monotone_range(tmp_path) -> None:
    """nn.md asks to report how much of each layer runs the cubic beyond its monotone range."""
    import numpy as np

    from hemlr import columns as col
    from hemlr.dataset import Dataset
    from hemlr.experiment import run_experiment
    from hemlr.report.markdown import write_summary
    from hemlr.report.tables import merge_tables
    from hemlr.workloads.nn2h.reference import MONOTONE_LIMIT, train_reference

    rng = np.random.default_rng(0)
    X, y = rng.normal(0, 3, (40, 6)), np.arange(40) % 3
    ds = Dataset("toy", X[:24], y[:24], X[24:], y[24:], 3, "test", "toy")
    params = {"hidden": [8, 4], "rates": [80, 80, 20]}  # large steps: layer 2 leaves the range at once
    table = run_experiment(ds, "p", {"library": "plaintext", "ring_dim": 4096}, 2, "unit", workload_name="net",
                           workload_spec={"workload": "nn2h", **params})
    steps = train_reference(ds.X_train, ds.y_train, 3, 2, TwoHiddenLayerNN(**params).nn_params)
    for layer in (1, 2, 3):
        want = [float(np.mean(np.abs(s.Zs[layer - 1]) > MONOTONE_LIMIT)) for s in steps]
        assert table[col.beyond_monotone(layer)].tolist() == want
    assert table[col.beyond_monotone(2)].iloc[-1] == 0.25
    bench = tmp_path / "b.tsv"
    bench.write_text("s\tmax_rss\tcpu_time\n1.0\t100\t1.0\n")
    table.to_parquet(tmp_path / "t.parquet")
    write_summary(merge_tables([tmp_path / "t.parquet"], [bench]), tmp_path / "summary.md")
    text = (tmp_path / "summary.md").read_text()
    assert r"share of layer 3's \|z\| beyond the cubic's monotone range (exact, final)" in text  # | escaped
