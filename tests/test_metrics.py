"""hemlr.metrics: the losses against direct numpy computations on known scores."""
from __future__ import annotations

import numpy as np
import pytest

from hemlr import metrics

SCORES = np.array([[2.0, -1.0, 0.5], [-3.0, 4.0, 0.0], [0.25, 0.25, -2.0], [1.5, -0.5, 3.0]])
LABELS = np.array([0, 1, 2, 2])


def direct_bce(scores: np.ndarray, y: np.ndarray, n_classes: int) -> float:
    """sum_c -(y ln p + (1 - y) ln(1 - p)), p = 1 / (1 + e^-s), written as log(1 + e^-s) and
    log(1 + e^s), then the mean over samples."""
    Y = np.eye(n_classes)[y]
    per_entry = np.where(Y == 1, np.log(1 + np.exp(-scores)), np.log(1 + np.exp(scores)))
    return float(per_entry.sum(axis=1).mean())


def test_bce_matches_the_direct_formula_on_known_scores():
    assert metrics.bce_loss(SCORES, LABELS, 3) == pytest.approx(direct_bce(SCORES, LABELS, 3), rel=1e-12)


def test_bce_by_hand_is_summed_over_classes_and_averaged_over_samples():
    # zero scores: p = 1/2 for each of the K classes, ln 2 each, whatever the label
    assert metrics.bce_loss(np.zeros((5, 4)), np.arange(5) % 4, 4) == pytest.approx(4 * np.log(2))


def test_bce_is_the_negated_sle_per_sample():
    n = len(LABELS)
    assert metrics.bce_loss(SCORES, LABELS, 3) == pytest.approx(-metrics.sle_loss(SCORES, LABELS, 3) / n, rel=1e-12)


def test_bce_stays_finite_where_the_direct_formula_overflows():
    scores = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    with np.errstate(over="ignore"):
        assert np.isinf(direct_bce(scores, np.array([0, 0]), 2))
    # every class confidently right: no loss; confidently wrong: |s| = 1000 per class
    assert metrics.bce_loss(scores, np.array([0, 1]), 2) == pytest.approx(0.0, abs=1e-300)
    assert metrics.bce_loss(scores, np.array([1, 0]), 2) == pytest.approx(2000.0)
