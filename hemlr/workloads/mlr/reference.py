"""Textbook oracle: the paper's training on plain numpy matrices (algorithm.md section 2).

Deliberately written the obvious way, independent of the packing, so that the encoded
trainer can be checked against it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .plan import bbar_inv, design_matrix

#: least-squares cubic fit of the logistic on [-8, 8] (no clipping)
SIG3_A = 0.10679534503216294
SIG3_B = -0.00038503259805075
#: paper mode: W0 = V0 = 0.0128 everywhere (not zero)
W_INIT = 0.0128
ALPHA0 = 0.01


def sig3(z: np.ndarray) -> np.ndarray:
    return 0.5 + SIG3_A * z + SIG3_B * z ** 3


def nag_constants(t: int, n: int) -> tuple[float, float]:
    """(eta_t, gamma_t) of iteration t = 1, 2, ... for n samples."""
    a0 = ALPHA0
    a1 = (1 + math.sqrt(1 + 4 * a0 ** 2)) / 2
    for _ in range(t - 1):
        a0, a1 = a1, (1 + math.sqrt(1 + 4 * a1 ** 2)) / 2
    return (1 - a0) / a1, 1.0 / (t * n)


@dataclass
class OracleStep:
    """Intermediate values of one iteration (for cross-checks against the paper's log)."""

    S: np.ndarray
    P: np.ndarray
    G: np.ndarray
    Q: np.ndarray
    W: np.ndarray
    V: np.ndarray

    @property
    def weights(self) -> np.ndarray:
        return self.W

    @property
    def state_max_abs(self) -> float:
        """The packed state is W and V."""
        return float(max(np.abs(self.W).max(), np.abs(self.V).max()))

    @property
    def max_abs_score(self) -> float:
        """Largest |S|: past 8 the cubic sigmoid no longer approximates the logistic."""
        return float(np.abs(self.S).max())


def linear_scores(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Class scores Z W^T with Z = [1, X]."""
    return design_matrix(X) @ W.T


def train_oracle(X: np.ndarray, y: np.ndarray, n_classes: int, iterations: int) -> list[OracleStep]:
    """Run the paper's quadratic-gradient NAG; one OracleStep per iteration."""
    Z = design_matrix(X)
    n, d = Z.shape
    Y = np.eye(n_classes)[y]
    B = bbar_inv(Z)
    W = np.full((n_classes, d), W_INIT)
    V = W.copy()
    steps = []
    for t in range(1, iterations + 1):
        eta, gamma = nag_constants(t, n)
        S = Z @ V.T
        P = sig3(S)
        G = (Y - P).T @ Z
        Q = G * B
        T = W + (1 + gamma) * Q
        W = (1 - eta) * T + eta * V
        V = T
        steps.append(OracleStep(S, P, G, Q, W.copy(), V.copy()))
    return steps
