"""Weight matrices in diagonal form, the layout both the network and the MLR's diagonal layout
multiply by: Z W^T as a sum over diagonals of products with one-slot rotations, no transpose."""
from __future__ import annotations

import numpy as np


def diagonal(W: np.ndarray, s: int, p: int) -> np.ndarray:
    """Diagonal s of W (out x in): column c holds W[(c + s) mod p, c], 0 where that row >= out."""
    out, n_in = W.shape
    rows = (np.arange(n_in) + s) % p
    d = np.zeros(n_in)
    ok = rows < out
    d[ok] = W[rows[ok], np.arange(n_in)[ok]]
    return d


def undiagonal(diags: list[np.ndarray], out: int) -> np.ndarray:
    """The out x in matrix of its p diagonals (inverse of :func:`diagonal`)."""
    p, n_in = len(diags), diags[0].shape[0]
    W = np.zeros((out, n_in))
    cols = np.arange(n_in)
    for s, d in enumerate(diags):
        rows = (cols + s) % p
        ok = rows < out
        W[rows[ok], cols[ok]] = d[ok]
    return W
