"""The encoded trainer on the exact plaintext backend equals the oracle; its schedule
keeps the promised depth and rotation-key budget."""
from __future__ import annotations

import numpy as np
import pytest

from backends.base import DepthExceeded, MissingRotationKey
from backends.plaintext import PlaintextBackend
from hemlr.oracle import train_oracle
from hemlr.packing import Plan
from hemlr.trainer import Client, Server

SHAPES = [  # (n, features, K, slots, iterations)
    (37, 6, 3, 512, 2),      # nothing a power of two, 2 score groups
    (50, 20, 5, 256, 3),     # 7 data ciphertexts, 3 score groups
    (20, 7, 4, 64, 2),       # d = 8, tiny ring
    (128, 400, 10, 16384, 2),  # the paper's shape at ring 32768: 4 data ciphertexts
    (128, 400, 10, 32768, 2),  # the paper's layout at ring 65536: 2 data ciphertexts
]


def _problem(n: int, f: int, K: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 3, (n, f))
    y = rng.permutation(np.arange(n) % K)
    return X, y


def run_plain(X, y, K, slots, iterations, server_steps=None, run=True):
    plan = Plan(len(y), X.shape[1] + 1, K, slots, iterations)
    client = Client(PlaintextBackend(slots=slots), plan)
    public = client.keygen()
    upload = client.encrypt_upload(X, y, public)
    he = PlaintextBackend.server_from_bytes(
        public, plan.depth, plan.rotation_steps if server_steps is None else server_steps, slots=slots)
    server = Server(he, plan, upload)
    Ws = []
    for _ in server.iterate() if run else ():
        blobs, level = server.export_weights()
        Ws.append(client.decrypt_weights(blobs, level))
    return plan, server, Ws


@pytest.mark.parametrize("n,f,K,slots,iterations", SHAPES)
def test_encoded_trainer_equals_oracle(n, f, K, slots, iterations) -> None:
    X, y = _problem(n, f, K)
    plan, server, Ws = run_plain(X, y, K, slots, iterations)
    for W, step in zip(Ws, train_oracle(X, y, K, iterations)):
        assert np.max(np.abs(W - step.W)) < 1e-9
    assert max(w.level for w in server.W) == plan.depth


def test_paper_layout_uploads_six_ciphertexts() -> None:
    X, y = _problem(128, 400, 10)
    plan = Plan(128, 401, 10, 32768, 2)
    client = Client(PlaintextBackend(slots=32768), plan)
    upload = client.encrypt_upload(X, y, client.keygen())
    assert (plan.cols, plan.rows) == (512, 64)
    assert upload.counts() == {"Z": 2, "Y": 2, "Bbar_inv": 1, "W0": 1}


def test_schedule_budget_at_ring_32768() -> None:
    """Per iteration at 16384 slots: <= 8 levels, <= 600 rotations, counted == planned."""
    X, y = _problem(128, 400, 10)
    plan, server, _ = run_plain(X, y, 10, 16384, 1, run=False)
    assert Plan.LEVELS_PER_ITERATION <= 8
    planned = plan.expected_ops_per_iteration()
    assert planned["rotation"] <= 600
    he = server.he
    before = he.ops.snapshot()
    server.step()
    got = he.ops.since(before)
    assert {k: got[k] for k in planned} == planned


def test_missing_rotation_key_is_refused() -> None:
    X, y = _problem(20, 7, 4)
    plan = Plan(20, 8, 4, 64, 2)
    with pytest.raises(MissingRotationKey):
        run_plain(X, y, 4, 64, 2, server_steps=plan.rotation_steps[1:])


def test_depth_beyond_keys_is_refused() -> None:
    X, y = _problem(20, 7, 4)
    plan = Plan(20, 8, 4, 64, 2)
    client = Client(PlaintextBackend(slots=64), plan)
    public = client.keygen()
    upload = client.encrypt_upload(X, y, public)
    he = PlaintextBackend.server_from_bytes(public, plan.depth - 1, plan.rotation_steps, slots=64)
    server = Server(he, plan, upload)
    server.step()
    with pytest.raises(DepthExceeded):
        server.step()


def test_plan_refuses_a_ring_too_small() -> None:
    with pytest.raises(ValueError, match="cannot hold one row"):
        Plan(128, 401, 10, 256, 2)


def test_feature_constant_zero_in_training_is_harmless() -> None:
    """Bbar_inv = 1/eps for an all-zero feature column must not reach the ciphertexts."""
    X, y = _problem(20, 7, 4)
    X[:, 2] = 0.0
    plan = Plan(20, 8, 4, 64, 2)
    client = Client(PlaintextBackend(slots=64), plan)
    upload = client.encrypt_upload(X, y, client.keygen())
    assert client.he.deserialize(upload.cts["Bbar_inv"][0], 0).raw.max() < 10.0
    _, _, Ws = run_plain(X, y, 4, 64, 2)
    assert np.max(np.abs(Ws[-1] - train_oracle(X, y, 4, 2)[-1].W)) < 1e-9
