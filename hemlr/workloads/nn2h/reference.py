"""Exact reference of the two-hidden-layer network (nn.md, "The model"), in float64 numpy.

Written the obvious way on plain matrices, independent of any packing, so that the encrypted
program can be checked against it. The activation of all three layers is the MLR paper's cubic;
the gradient is the exact one of the loss whose derivative in z3 is sigma(z3) - y (nn.md), so the
output rule delta = p - y holds under the cubic (tests/test_nn2h_reference.py checks it with
PyTorch autograd).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Z0 = [1, x']: the bias of W1 is its column 0, the MLR's design matrix
from hemlr.workloads.mlr.plan import design_matrix
from hemlr.workloads.mlr.reference import SIG3_A, SIG3_B, sig3

#: the cubic turns at |z| = sqrt(-a1 / (3 a3)) ~ 9.615: beyond it sigma' < 0 and the deltas flip sign
MONOTONE_LIMIT = math.sqrt(-SIG3_A / (3 * SIG3_B))
#: floor of the per-feature scale: constant features would otherwise divide by ~0
MIN_SCALE = 0.1


def sig3_prime(z: np.ndarray) -> np.ndarray:
    """Derivative of the cubic itself, not sigma(1 - sigma): it is the function computed, and
    under encryption it reuses Z^2 (no extra product on the critical path)."""
    return SIG3_A + 3 * SIG3_B * z ** 2


def standardizer(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mu, s): mean and population std per feature over the training rows, s floored at 0.1.

    Unscaled RegNet features never trained (nn.md), so the client standardises before encrypting.
    """
    return X_train.mean(axis=0), np.maximum(X_train.std(axis=0), MIN_SCALE)


def standardize(X: np.ndarray, mu: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The training rows' transform, applied alike to training and evaluation rows."""
    return (X - mu) / s


def init_weights(n_features: int, n_classes: int, hidden: Sequence[int] = (32, 16),
                 seed: int = 0) -> list[np.ndarray]:
    """[W1, W2, W3] by nn.md's rule, so that anyone can reproduce a run from the seed.

    One ``default_rng(seed)`` draws W_l ~ U(-a, a), a = sqrt(6 / (in_l + out_l)) (Glorot), of
    size (out_l, in_l) for l = 1, 2, 3 in that order; then the bias column is zeroed: column 0 of
    W1, the last column of W2 and W3 (A_l = [sigma(Z_l), 1]).
    """
    rng = np.random.default_rng(seed)
    outs = [*hidden, n_classes]
    ins = [n_features + 1] + [h + 1 for h in hidden]
    Ws = []
    for l, (n_in, n_out) in enumerate(zip(ins, outs)):
        a = math.sqrt(6 / (n_in + n_out))
        W = rng.uniform(-a, a, size=(n_out, n_in))
        W[:, 0 if l == 0 else -1] = 0.0
        Ws.append(W)
    return Ws


@dataclass(frozen=True)
class NNParams:
    """Training parameters of nn.md's runs (defaults: its reference values and accuracies)."""

    hidden: tuple[int, ...] = (32, 16)
    #: per-layer learning rates eta_1..eta_3
    rates: tuple[float, ...] = (8.0, 8.0, 2.0)
    #: g_t = 1 / (1 + (t - 1) / decay)
    decay: float = 30.0
    seed: int = 0

    def gain(self, t: int) -> float:
        """g_t of iteration t = 1, 2, ...: the rates decay harmonically."""
        return 1.0 / (1.0 + (t - 1) / self.decay)


def forward(Ws: Sequence[np.ndarray], Z0: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Zs = [Z1, Z2, Z3] (pre-activations), As = [A1, A2, P] with A_l = [sigma(Z_l), 1], P = sigma(Z3)."""
    Zs: list[np.ndarray] = []
    As: list[np.ndarray] = []
    A = Z0
    for l, W in enumerate(Ws):
        Z = A @ W.T
        A = sig3(Z) if l == len(Ws) - 1 else np.hstack([sig3(Z), np.ones((Z.shape[0], 1))])
        Zs.append(Z)
        As.append(A)
    return Zs, As


def gradients(Ws: Sequence[np.ndarray], Z0: np.ndarray,
              Y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, np.ndarray]]:
    """(Gs, Zs): the exact gradients [G1, G2, G3] of J = (1/n) sum l(z3, y), l' = sigma(z3) - y.

    D3 = (P - Y) / n; D_l = (D_{l+1} W_{l+1} without its bias column) * sigma'(Z_l);
    G_l = D_l^T A_{l-1} with A_0 = Z0; with every matrix the encrypted program may bootstrap
    inside the iteration, by hemlr.workloads.nn2h.plan's keys: "A1".. (the inputs of layers
    1..), "S0".. (sigma'(Z) of the hidden layers), "D0".. (the deltas). Not autograd of BCE(sigma(z3), y), which would carry an
    extra sigma' / (sigma (1 - sigma)) (nn.md).
    """
    Zs, As = forward(Ws, Z0)
    inputs = [Z0, *As[:-1]]
    live = {**{f"A{k}": A for k, A in enumerate(inputs) if k},
            **{f"S{k}": sig3_prime(Z) for k, Z in enumerate(Zs[:-1])}}
    D = (As[-1] - Y) / Z0.shape[0]
    Gs = []
    for l in reversed(range(len(Ws))):
        live[f"D{l}"] = D
        Gs.append(D.T @ inputs[l])
        if l:
            D = (D @ Ws[l][:, :-1]) * sig3_prime(Zs[l - 1])
    return Gs[::-1], Zs, live


@dataclass
class NNStep:
    """One iteration: the weights after its update, its gradients, its pre-activations."""

    Ws: list[np.ndarray]
    Gs: list[np.ndarray]
    #: [Z1, Z2, Z3] of this iteration's forward pass (before the update)
    Zs: list[np.ndarray]
    #: max |value| of each matrix the program may bootstrap inside the iteration (gradients' keys)
    live_max_abs: dict[str, float]

    @property
    def weights(self) -> list[np.ndarray]:
        return self.Ws

    @property
    def state_max_abs(self) -> float:
        """Plain GD carries no momentum: the state a refresh packs is the three weight matrices."""
        return max(float(np.abs(W).max()) for W in self.Ws)

    @property
    def max_abs_z_per_layer(self) -> list[float]:
        return [float(np.abs(Z).max()) for Z in self.Zs]

    @property
    def max_abs_score(self) -> float:
        """Largest |z| entering the cubic in any layer: the report's cubic-range note reads it."""
        return max(self.max_abs_z_per_layer)

    @property
    def share_beyond_monotone(self) -> list[float]:
        """Per layer, the share of |z| > MONOTONE_LIMIT: the model does run the cubic beyond
        [-8, 8] (nn.md: max |z| ~16 / 10 / 7 by iteration 20), and nn.md asks to report how much."""
        return [float(np.mean(np.abs(Z) > MONOTONE_LIMIT)) for Z in self.Zs]


def train_reference(X: np.ndarray, y: np.ndarray, n_classes: int, iterations: int,
                    params: NNParams = NNParams()) -> list[NNStep]:
    """Full-batch GD on the standardised training rows, W_l <- W_l - eta_l g_t G_l; one NNStep
    per iteration. Evaluation rows take ``standardizer(X)`` of these same rows (see ``scores``)."""
    Z0 = design_matrix(standardize(X, *standardizer(X)))
    Y = np.eye(n_classes)[y]
    Ws = init_weights(X.shape[1], n_classes, params.hidden, params.seed)
    steps = []
    for t in range(1, iterations + 1):
        Gs, Zs, live = gradients(Ws, Z0, Y)
        g = params.gain(t)
        Ws = [W - eta * g * G for W, G, eta in zip(Ws, Gs, params.rates)]
        steps.append(NNStep(Ws, Gs, Zs, {k: float(np.abs(M).max()) for k, M in live.items()}))
    return steps


def scores(Ws: Sequence[np.ndarray], X: np.ndarray, mu: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Class scores Z3 of raw rows X; predict by argmax of Z3, not of sigma(Z3): the cubic is
    not monotone beyond MONOTONE_LIMIT, so sigma could reorder the classes."""
    return forward(Ws, design_matrix(standardize(X, mu, s)))[0][-1]
