"""The textbook oracle against the authors' logged run (algorithm.md section 4)."""
from __future__ import annotations

import numpy as np
import pytest

from hemlr.sources.features_csv import load_features_csv
from hemlr.workloads.mlr.plan import bbar_inv, design_matrix
from hemlr.workloads.mlr.reference import nag_constants, sig3, train_oracle


def test_schedule_constants() -> None:
    eta1, gamma1 = nag_constants(1, 128)
    eta2, gamma2 = nag_constants(2, 128)
    assert eta1 == pytest.approx(0.98990102, abs=1e-8)
    assert eta2 == pytest.approx(-6.1794e-5, rel=1e-4)
    assert (gamma1, gamma2) == (1 / 128, 1 / 256)


def test_sig3_is_the_published_cubic() -> None:
    z = np.array([-8.0, 0.0, 3.0])
    assert np.allclose(sig3(z), 0.5 + 0.10679534503216294 * z - 0.00038503259805075 * z ** 3)


def test_bbar_inv_formula() -> None:
    Z = design_matrix(np.array([[1.0, 2.0], [0.5, 0.0]]))
    # row sums of |Z|: 4, 1.5 -> column k: 0.25 * sum_i |Z_ik| * rowsum_i
    expected = 1 / (1e-10 + 0.25 * np.array([4 + 1.5, 4 + 0.75, 8 + 0]))
    assert np.allclose(bbar_inv(Z), expected)


def _first512(reference_csv):
    """Rows 0..127 are the paper's training set (first128), 128..511 held out."""
    return load_features_csv("first512", str(reference_csv("REGNET_X_400MF_MNIST_TRAININGfirst512.csv")),
                             train_rows=(0, 128), test_rows=(128, 512))


def test_oracle_reproduces_published_iteration_one(reference_csv) -> None:
    ds = _first512(reference_csv)
    step = train_oracle(ds.X_train, ds.y_train, 10, 1)[0]
    assert np.allclose(step.S[0], 3.411492, atol=1e-5)
    assert step.P[0, 0] == pytest.approx(0.849044, abs=1e-6)
    assert step.G[0, 0] == pytest.approx(-87.18937, abs=1e-4)
    assert step.Q[0, 0] == pytest.approx(-0.0111529, abs=1e-7)
    assert np.allclose(step.W[0, :4], [0.0126865, 0.0126871, 0.0127276, 0.0126751], atol=1e-6)


def test_oracle_learns_on_reference_features(reference_csv) -> None:
    """Plaintext reference of algorithm.md section 6: ~0.47 held-out accuracy at 10 iterations."""
    ds = _first512(reference_csv)
    W = train_oracle(ds.X_train, ds.y_train, 10, 10)[-1].W
    acc = np.mean(np.argmax(design_matrix(ds.X_test) @ W.T, axis=1) == ds.y_test)
    assert 0.40 <= acc <= 0.55
