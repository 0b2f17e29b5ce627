"""Evaluation metrics of class scores (algorithm.md section 3), for every workload."""
from __future__ import annotations

import numpy as np


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    """Share of rows whose argmax score is the label (first index wins ties)."""
    return float(np.mean(np.argmax(scores, axis=1) == y))


def _log_likelihood(scores: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per sample, sum_c ln|sigma(z_ic) - 1 + y_ic| with one-hot y and the exact logistic.

    ln sigma(z) = -log(1 + e^-z) and ln(1 - sigma(z)) = -log(1 + e^z), computed with
    logaddexp so large |z| neither overflows nor gives log(0).
    """
    Y = np.eye(n_classes)[y]
    return -(Y * np.logaddexp(0.0, -scores) + (1 - Y) * np.logaddexp(0.0, scores)).sum(axis=1)


def sle_loss(scores: np.ndarray, y: np.ndarray, n_classes: int) -> float:
    """The paper's "SLE": sum_i sum_c ln|sigma(z_ic) - 1 + y_ic|, exact logistic, summed."""
    return float(_log_likelihood(scores, y, n_classes).sum())


def bce_loss(scores: np.ndarray, y: np.ndarray, n_classes: int) -> float:
    """Binary cross-entropy summed over classes, mean over samples:
    (1/n) sum_i sum_c -(y_ic ln p_ic + (1 - y_ic) ln(1 - p_ic)), p = logistic(z), one-hot y.

    The SLE is the log-likelihood of the same K per-class logistic models, so this equals
    -sle_loss / n: a loss to minimise (its gradient is the one the algorithm follows) whose
    mean over samples compares train and test sets of different sizes, as the sum cannot.
    """
    return float(-_log_likelihood(scores, y, n_classes).mean())
