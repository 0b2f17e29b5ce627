"""The network's range check before any key exists (as the MLR's, hemlr/workloads/mlr/ranges.py).

What is checked is what breaks. The first iteration's pre-activations must lie where the cubic
is trusted: later growth beyond it is the model's own (nn.md) and the results report it per
layer. Every iteration's largest ciphertext value, the pre-activations' square Z * Z (the
cubic's first product) or a weight, must stay below what the last level holds.
"""
from __future__ import annotations

import numpy as np

from ..bounds import SIGMOID_BOUND, finite_abs, headroom_problems, nonfinite_problems
from .reference import NNParams, NNStep, train_reference


def range_problems(X: np.ndarray, y: np.ndarray, n_classes: int, iterations: int, dataset: str,
                   headroom_bits: int | None, params: NNParams) -> list[str]:
    """Why training the network on (X, y) for ``iterations`` would leave the cubic's range in its
    first iteration, or what a ciphertext's last level holds in any (empty: it would not).
    ``headroom_bits``: the backend's first_mod_bits - scale_bits (None: no ciphertext bound)."""
    X = np.asarray(X, dtype=np.float64)
    problems = nonfinite_problems(X, dataset)
    if problems:
        return problems
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is one of the findings
        steps = train_reference(X, y, n_classes, iterations if headroom_bits is not None else 1, params)
    out = []
    for layer, Z in enumerate(steps[0].Zs, start=1):
        Z = finite_abs(Z)
        i, c = np.unravel_index(Z.argmax(), Z.shape)
        if Z[i, c] > SIGMOID_BOUND:
            out.append(f"dataset {dataset!r}: the first iteration's pre-activations of layer {layer} "
                       f"reach |z| = {Z[i, c]:.3g} (training row {i}, unit {c}), beyond the cubic "
                       f"sigmoid's range |z| <= {SIGMOID_BOUND:g} (its fit interval; past 16.6 the "
                       f"cubic has the wrong sign and training diverges); rescale (or correct) the "
                       f"features: the client standardises each one, but an extreme value still "
                       f"dominates its row")
            break
    if headroom_bits is not None:
        out += headroom_problems(map(_largest_weight, steps), iterations, dataset, headroom_bits,
                                 "use a larger first_mod_bits - scale_bits, fewer iterations or "
                                 "smaller learning rates")
    return out


def _largest_weight(step: NNStep) -> tuple[float, str]:
    """The largest |W| of a reference step, and its layer."""
    layer, value = max(enumerate((float(finite_abs(W).max()) for W in step.Ws), start=1), key=lambda lv: lv[1])
    return value, f"W{layer}"
