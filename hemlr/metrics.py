"""Evaluation metrics of algorithm.md section 3."""
from __future__ import annotations

import numpy as np

from .packing import design_matrix


def linear_scores(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Class scores Z W^T with Z = [1, X]."""
    return design_matrix(X) @ W.T


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    """Share of rows whose argmax score is the label (first index wins ties)."""
    return float(np.mean(np.argmax(scores, axis=1) == y))


def sle_loss(scores: np.ndarray, y: np.ndarray, n_classes: int) -> float:
    """The paper's "SLE": sum_i sum_c ln|sigma(z_ic) - 1 + y_ic|, exact logistic, summed.

    ln sigma(z) = -log(1 + e^-z) and ln(1 - sigma(z)) = -log(1 + e^z), computed with
    logaddexp so large |z| neither overflows nor gives log(0).
    """
    Y = np.eye(n_classes)[y]
    return float(-(Y * np.logaddexp(0.0, -scores) + (1 - Y) * np.logaddexp(0.0, scores)).sum())
