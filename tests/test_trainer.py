"""The encoded trainer on the exact plaintext backend equals the oracle; its schedule
keeps the promised depth and rotation-key budget."""
from __future__ import annotations

import numpy as np
import pytest

from backends.base import DepthExceeded, MissingRotationKey
from backends.plaintext import PlaintextBackend
from hemlr.workloads.mlr.plan import Plan
from hemlr.workloads.mlr.reference import train_oracle
from hemlr.session import open_session
from hemlr.workloads.mlr.program import Client, Server

SHAPES = [  # (n, features, K, slots, iterations)
    (37, 6, 3, 512, 2),      # nothing a power of two, 2 score groups
    (50, 20, 5, 256, 3),     # 7 data ciphertexts, 3 score groups
    (20, 7, 4, 64, 2),       # d = 8, tiny ring
    (128, 400, 10, 16384, 2),  # the paper's shape at ring 32768: 4 data ciphertexts
    (128, 400, 10, 32768, 2),  # the paper's layout at ring 65536: 2 data ciphertexts
]


def _problem(n: int, f: int, K: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    # Features of up to 3, or less where many of them would push the first scores past the
    # cubic sigmoid's range |S| <= 8 (the session refuses such data).
    X = rng.uniform(0, min(3.0, 300.0 / f), (n, f))
    y = rng.permutation(np.arange(n) % K)
    return X, y


def run_plain(X, y, K, slots, iterations):
    """The session on the exact backend: (plan, one record per iteration)."""
    session = open_session(PlaintextBackend(ring_dim=2 * slots), X, y, K, iterations)
    return session.plan, list(session)


def faulty_server(X, y, K, slots, iterations, depth=None, steps=None):
    """A server whose keys differ from what the plan declared (fault injection)."""
    plan = Plan(len(y), X.shape[1] + 1, K, slots, iterations)
    client = Client(PlaintextBackend(ring_dim=2 * slots), plan)
    public = client.keygen()
    upload = client.encrypt_upload(X, y)
    he = PlaintextBackend.server_from_bytes(public, plan.depth if depth is None else depth,
                                            plan.rotation_steps if steps is None else steps,
                                            ring_dim=2 * slots)
    return Server(he, plan, upload)


@pytest.mark.parametrize("n,f,K,slots,iterations", SHAPES)
def test_encoded_trainer_equals_oracle(n, f, K, slots, iterations) -> None:
    X, y = _problem(n, f, K)
    plan, records = run_plain(X, y, K, slots, iterations)
    for rec, step in zip(records, train_oracle(X, y, K, iterations)):
        assert np.max(np.abs(rec.weights - step.W)) < 1e-9
    assert records[-1].level == plan.depth


def test_paper_layout_uploads_six_ciphertexts() -> None:
    X, y = _problem(128, 400, 10)
    plan = Plan(128, 401, 10, 32768, 2)
    client = Client(PlaintextBackend(ring_dim=65536), plan)
    client.keygen()
    upload = client.encrypt_upload(X, y)
    assert (plan.cols, plan.rows) == (512, 64)
    assert {part: cts for part, (cts, _) in upload.parts().items()} == {"Z": 2, "Y": 2, "Bbar_inv": 1, "W0": 1}


def test_schedule_budget_at_ring_32768() -> None:
    """Per iteration at 16384 slots: <= 8 levels, <= 600 rotations, counted == planned."""
    X, y = _problem(128, 400, 10)
    plan, (record,) = run_plain(X, y, 10, 16384, 1)
    assert Plan.LEVELS_PER_ITERATION <= 8
    planned = plan.expected_ops_per_iteration()
    assert planned["rotation"] <= 600
    assert {k: record.ops[k] for k in planned} == planned


def test_missing_rotation_key_is_refused() -> None:
    X, y = _problem(20, 7, 4)
    plan = Plan(20, 8, 4, 64, 2)
    with pytest.raises(MissingRotationKey):
        faulty_server(X, y, 4, 64, 2, steps=plan.rotation_steps[1:]).step()


def test_depth_beyond_keys_is_refused() -> None:
    X, y = _problem(20, 7, 4)
    plan = Plan(20, 8, 4, 64, 2)
    server = faulty_server(X, y, 4, 64, 2, depth=plan.depth - 1)
    server.step()
    server.finish_weights()
    with pytest.raises(DepthExceeded):
        server.step()
        server.finish_weights()


def test_plan_refuses_a_ring_too_small() -> None:
    with pytest.raises(ValueError, match="cannot hold one row"):
        Plan(128, 401, 10, 256, 2)


def test_feature_constant_zero_in_training_is_harmless() -> None:
    """Bbar_inv = 1/eps for an all-zero feature column must not reach the ciphertexts."""
    X, y = _problem(20, 7, 4)
    X[:, 2] = 0.0
    plan = Plan(20, 8, 4, 64, 2)
    client = Client(PlaintextBackend(ring_dim=128), plan)
    client.keygen()
    upload = client.encrypt_upload(X, y)
    assert client.he.deserialize(upload.cts["Bbar_inv"][0], 0).raw.max() < 10.0
    _, records = run_plain(X, y, 4, 64, 2)
    assert np.max(np.abs(records[-1].weights - train_oracle(X, y, 4, 2)[-1].W)) < 1e-9
