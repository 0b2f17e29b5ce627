"""Range checks before any key exists: will training stay where the cubic sigmoid and CKKS work?

Out-of-range data does not fail loudly by itself: the cubic sigmoid diverges and the oracle
with it, TenSEAL decrypts wrapped-around weights as if nothing happened, OpenFHE stops with a
bare C++ error. :func:`range_problems` says why from the plaintext data alone (the oracle runs
in milliseconds), so that a job can be refused before keys are generated.

What is checked is what breaks. The scores feed the sigmoid. The values a ciphertext holds at
the last level, where only 2^(first_mod_bits - scale_bits) of modulus is left above the scale,
are the weights; the features themselves are used only at early levels (huge features whose
scores stay small train to the oracle's weights, docs/results.md), so a bound on them would
refuse jobs that run.
"""
from __future__ import annotations

import numpy as np

from ..bounds import SIGMOID_BOUND, finite_abs, headroom_problems, nonfinite_problems
from .reference import train_oracle

_REMEDY = "set `standardize: true` on the dataset, or rescale (or correct) the features"


def range_problems(X: np.ndarray, y: np.ndarray, n_classes: int, iterations: int, dataset: str,
                   headroom_bits: int | None = None) -> list[str]:
    """Why training (X, y) for ``iterations`` would leave the cubic sigmoid's range or what a
    ciphertext's last level holds (empty: it would not).

    The sigmoid bound applies to the first iteration's scores S = Z V0^T: later growth is
    the algorithm's own (the paper's features leave [-8, 8] at iteration 38, and exact runs
    that long are wanted). ``headroom_bits``: the backend's first_mod_bits - scale_bits
    (CKKSBackend.headroom_bits); when given, the oracle's weights W_t, V_t of every iteration
    must stay below 2^(headroom_bits - MARGIN_BITS). None (plaintext): no ciphertext bound.
    """
    X = np.asarray(X, dtype=np.float64)
    problems = nonfinite_problems(X, dataset)
    if problems:
        return problems
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is one of the findings
        steps = train_oracle(X, y, n_classes, iterations if headroom_bits is not None else 1)
    out = []
    S = finite_abs(steps[0].S)
    i, c = np.unravel_index(S.argmax(), S.shape)
    if S[i, c] > SIGMOID_BOUND:
        j = int(np.abs(X[i]).argmax())  # V0 is constant: the row's largest feature dominates
        out.append(f"dataset {dataset!r}: the first iteration's scores S = Z V0^T reach "
                   f"|S| = {S[i, c]:.3g} (training row {i}, class {c}; its largest feature is "
                   f"feature {j} (0-based) = {X[i, j]:.3g}), beyond the cubic sigmoid's "
                   f"range |S| <= {SIGMOID_BOUND:g} (its fit interval; past 16.6 the cubic has the "
                   f"wrong sign and training diverges); {_REMEDY}")
    if headroom_bits is not None:
        out += headroom_problems(map(_largest_weight, steps), iterations, dataset, headroom_bits, _REMEDY)
    return out


def _largest_weight(step) -> tuple[float, str]:
    """The largest |W| or |V| of an oracle step, and where it is."""
    W = np.maximum(finite_abs(step.W), finite_abs(step.V))
    c, k = np.unravel_index(W.argmax(), W.shape)
    return float(W[c, k]), f"class {c}, " + ("the bias" if k == 0 else f"feature {k - 1} (0-based)")
