"""What every workload's range check shares: the cubic sigmoid's trusted interval, the bits a
ciphertext's last level keeps free, and the refusal of non-finite features."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

#: |z| the cubic sigmoid is trusted on: its least-squares fit interval [-8, 8]. There its
#: error is at most 0.16; beyond, it peaks at |z| = 9.6, and past 16.6 it sits on the
#: wrong side of 0.5, so the gradient pushes the wrong way and training diverges.
SIGMOID_BOUND = 8.0
#: bits kept below 2^headroom_bits: one for the centred residue range (|v| < 2^(h-1)
#: decrypts), the rest for the last products' noise and the scale's drift from 2^scale_bits.
MARGIN_BITS = 4


def nonfinite_problems(X: np.ndarray, dataset: str) -> list[str]:
    """The first non-finite training feature, named by row and feature (empty: none)."""
    bad = ~np.isfinite(X)
    if not bad.any():
        return []
    i, j = np.argwhere(bad)[0]
    return [f"dataset {dataset!r}: the training features hold {int(bad.sum())} non-finite "
            f"value(s) (NaN or inf), the first at training row {i}, feature {j} (0-based): "
            f"{X[i, j]}; remove or impute them before training"]


def finite_abs(M: np.ndarray) -> np.ndarray:
    """|M| with overflowed entries (inf, NaN) as inf, so that they count as out of range."""
    return np.where(np.isfinite(M), np.abs(M), np.inf)


def headroom_problems(peaks: Iterable[tuple[float, str]], iterations: int, dataset: str,
                      headroom_bits: int, remedy: str) -> list[str]:
    """The first iteration whose largest weight reaches 2^(headroom_bits - MARGIN_BITS), what the
    last level holds (empty: none does); ``peaks``: per iteration, that weight and where it is."""
    limit = 2.0 ** (headroom_bits - MARGIN_BITS)
    for t, (value, where) in enumerate(peaks, start=1):
        if value >= limit:
            return [f"dataset {dataset!r}: the weights reach |W| = {value:.3g} after iteration {t} of "
                    f"{iterations} ({where}), beyond the ciphertext bound 2^{headroom_bits - MARGIN_BITS} "
                    f"= {limit:g}: the last level holds values below 2^{headroom_bits} "
                    f"(first_mod_bits - scale_bits); {remedy}"]
    return []
