"""Volley-Revolver packing and the server's evaluation schedule.

Every ciphertext is a row-major grid: slot ``C*r + k`` holds row ``r``, column ``k``;
``C`` is a power of two, ``R = slots // C`` rows. Data rows are samples, so ``Z`` (and
``Y``) take ``B = ceil(n / R)`` ciphertexts; the paper's layout at 32768 slots is
``C = 512``, ``R = 64``, ``B = 2``.

The schedule (all public, derived from the shapes only) decides where each score
lands so that the server never needs an encrypted mask or a per-class rotation:

* scores ``S[i, c] = Z[i] . V[c]`` are reduced over columns by a partial rotation tree
  down to windows of ``p`` columns. Because ``Z`` is zero in columns ``d..C-1``, the
  last ``(C - d)/p + 1`` windows of every row hold exact partial sums, which is where
  the ``K`` classes of one data ciphertext are masked (one plaintext mask each);
* the ``B`` data ciphertexts then sit side by side as blocks of ``K*p`` columns of one
  "score group" ciphertext (a rotation per block), and a short tail tree finishes
  each window's sum in its last column: one cubic sigmoid per group, not per class.

``C`` is the next power of two >= ``d + K - 1`` (the padding must hold K-1 spare
columns); for the paper (d = 401, K = 10) that is the paper's 512.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from hemlr.columns import REFRESH
from hemlr.workloads.schedule import RefreshParams, RowGrid, next_pow2
from hemlr.workloads.schedule import log2 as _log2


@dataclass(frozen=True)
class Schedule(RowGrid, RefreshParams):
    """What both MLR layouts share: the problem's shapes and, from a layout's levels per
    iteration, the depth of the keys and where the state is refreshed. A layout defines
    ``cols`` (columns of a row, a power of two) and refuses (ValueError, naming the shape and
    the remedy) what cannot fit, before any key exists."""

    n: int
    d: int
    K: int
    slots: int
    iterations: int

    def __post_init__(self) -> None:
        if self.K < 2:
            raise ValueError("multiclass training needs K >= 2 classes")
        if self.n < 1 or self.d < 1 or self.iterations < 1:
            raise ValueError("n, d and iterations must be positive")
        self._check_layout()
        if self.refresh not in REFRESH:
            raise ValueError(f"refresh {self.refresh!r} is not allowed; allowed: {', '.join(REFRESH)}")
        if self.refresh != "none":
            if self.max_depth is None:
                raise ValueError(f"refresh: {self.refresh} needs the parameters' max_depth")
            if self.state_rows > self.period_rows:
                raise ValueError(
                    f"the packed weight state needs {self.state_rows} rows of {self.cols} columns, but "
                    f"a refresh period of {self.period_rows * self.cols} slots holds "
                    f"{self.period_rows}; use a larger ring_dim")
        if self.depth > (self.max_depth if self.max_depth is not None else self.depth):
            raise ValueError(
                f"{self.iterations} iterations need multiplicative depth {self.depth}, but the "
                f"parameters hold at most {self.max_depth} levels; use refresh: client or "
                f"bootstrap, a larger ring_dim or fewer iterations")
        self.refreshes  # noqa: B018 (raises when an iteration cannot fit)

    def _check_layout(self) -> None:
        """Raise ValueError when the layout cannot hold the shapes (before the schedule)."""

    @property
    def state_rows(self) -> int:
        """Rows of one refresh period the packed state (W and V) takes."""
        return 2 * self.K

    @cached_property
    def period_rows(self) -> int:
        """Rows after which the packed state repeats (a bootstrap works on that period)."""
        return (self.bootstrap_slots or self.slots) // self.cols



@dataclass(frozen=True)
class Plan(Schedule):
    """The paper's Volley-Revolver layout and its rotation/level schedule."""

    window: int | None = None  # p; None = the largest that needs no per-class rotation

    #: Z*V, score mask, two for the cubic, window mask, times Z*Bbar.
    LEVELS_PER_ITERATION: ClassVar[int] = 6

    def _check_layout(self) -> None:
        if self.cols > self.slots:
            raise ValueError(
                f"a ciphertext of {self.slots} slots cannot hold one row of {self.cols} "
                f"columns (d={self.d}, K={self.K}); use a larger ring_dim")
        if self.rows < self.K:
            raise ValueError(
                f"a ciphertext of {self.slots} slots holds {self.rows} rows of {self.cols} "
                f"columns, too few for the K={self.K} weight rows; use a larger ring_dim")
        p = self.p
        if p < 1 or p & (p - 1) or self.K * p > self.cols - self.d + p or self.K * p > self.cols:
            raise ValueError(
                f"window {p} does not fit: K*p must be <= C - d + p = {self.cols - self.d + p}")

    # ------------------------------------------------------------------ layout
    @cached_property
    def cols(self) -> int:
        return next_pow2(self.d + self.K - 1)

    @cached_property
    def p(self) -> int:
        if self.window is not None:
            return int(self.window)
        limit = (self.cols - self.d) // (self.K - 1)
        limit = min(limit, self.cols // self.K)
        return 1 << _log2(limit) if limit >= 1 else 0

    @cached_property
    def blocks_per_group(self) -> int:
        return self.cols // (self.K * self.p)

    @cached_property
    def n_groups(self) -> int:
        return math.ceil(self.n_data_cts / self.blocks_per_group)

    def group_of(self, b: int) -> tuple[int, int]:
        """(score group, block index inside it) of data ciphertext ``b``."""
        return divmod(b, self.blocks_per_group)

    def window_start(self, b: int, c: int) -> int:
        """First column of the score window of (data ciphertext b, class c)."""
        _, j = self.group_of(b)
        return self.cols - self.p * (c + 1) - self.K * self.p * j

    def score_col(self, b: int, c: int) -> int:
        """Column where S[i, c] of the rows of ciphertext b lands (last of its window)."""
        return self.window_start(b, c) + self.p - 1

    # ------------------------------------------------------------------ schedule
    @cached_property
    def tree_steps(self) -> list[int]:
        """Right-rotation steps reducing a row to windows of p columns (C/2 .. p)."""
        return [-(self.cols >> i) for i in range(1, _log2(self.cols // self.p) + 1)]

    @cached_property
    def tail_steps(self) -> list[int]:
        """Right rotations finishing a window's sum in its last column (1 .. p/2)."""
        return [-(1 << i) for i in range(_log2(self.p))]

    @cached_property
    def spread_steps(self) -> list[int]:
        """Left rotations filling a window with its last column's value (1 .. p/2)."""
        return [1 << i for i in range(_log2(self.p))]

    def replicate_steps(self, b: int, c: int) -> list[int]:
        """Doubling rotations copying window (b, c) over the columns 0..C-1 of its row.

        The window moves left by its start column in total and right by the rest, so
        the copies cover exactly [0, C) and never spill into a neighbouring row.
        """
        left = self.window_start(b, c) // self.p
        steps = []
        for i in range(_log2(self.cols // self.p)):
            t = self.p << i
            steps.append(t if (left >> i) & 1 else -t)
        return steps

    @cached_property
    def block_shift_steps(self) -> list[int]:
        """Left rotation moving block j of a score group into place (0 for j = 0)."""
        return [self.K * self.p * j for j in range(min(self.blocks_per_group, self.n_data_cts))]

    @cached_property
    def rotation_steps(self) -> list[int]:
        """Every rotation step the server uses: the client makes exactly these keys."""
        steps = set(self.tree_steps) | set(self.tail_steps) | set(self.spread_steps)
        steps |= set(self.block_shift_steps) | set(self.rowsum_steps)
        for b in range(self.n_data_cts):
            for c in range(self.K):
                steps |= set(self.replicate_steps(b, c))
        return sorted({self.normalize(s) for s in steps} - {0})

    def state_mask(self, c: int, w: float, v: float) -> np.ndarray:
        """w in row c and v in row K + c of every period: packs class c's weights."""
        grid = np.zeros((self.rows // self.period_rows, self.period_rows, self.cols))
        grid[:, c, :self.d] = w
        grid[:, self.K + c, :self.d] = v
        return grid.ravel()

    def layout(self) -> dict[str, int]:
        """The public shape of the packing, for the report."""
        return {"columns": self.cols, "rows_per_ct": self.rows, "window": self.p}

    def expected_ops_per_iteration(self) -> dict[str, int]:
        """Operation counts of one iteration, from the schedule alone."""
        B, K, G = self.n_data_cts, self.K, self.n_groups
        m = len(self.tree_steps)
        shifted_blocks = sum(1 for b in range(B) if self.group_of(b)[1] > 0)
        rotations = (B * K * m + shifted_blocks + G * len(self.tail_steps)
                     + G * len(self.spread_steps) + B * K * m + K * len(self.rowsum_steps))
        return {"ct_mult": 2 * B * K + 2 * G, "rotation": rotations,
                "pt_mult": B * K + 2 * G + B * K}

    # ------------------------------------------------------------------ masks
    def row_mask(self, row: int) -> np.ndarray:
        m = np.zeros(self.slots)
        m[row * self.cols:(row + 1) * self.cols] = 1.0
        return m

    def column_mask(self, cols: np.ndarray | list[int] | range) -> np.ndarray:
        """1 in the given columns of every row."""
        m = np.zeros((self.rows, self.cols))
        m[:, list(cols)] = 1.0
        return m.ravel()

    def score_mask(self, g: int) -> np.ndarray:
        """1 in the score column of every (b, c) of group g."""
        cols = [self.score_col(b, c) for b in range(self.n_data_cts) if self.group_of(b)[0] == g
                for c in range(self.K)]
        return self.column_mask(cols)

    def window_mask(self, b: int, c: int, exact: bool) -> np.ndarray:
        """Window (b, c): at its final place, or (exact=True) where block 0 computes it."""
        start = self.cols - self.p * (c + 1) if exact else self.window_start(b, c)
        return self.column_mask(range(start, start + self.p))


# ---------------------------------------------------------------------- client packing
def design_matrix(X: np.ndarray) -> np.ndarray:
    """Z = [1, X]: bias column first (algorithm.md section 1)."""
    return np.hstack([np.ones((X.shape[0], 1)), np.asarray(X, dtype=np.float64)])


def bbar_inv(Z: np.ndarray, eps: float = 1e-10) -> np.ndarray:
    """Row-summed simplified fixed Hessian bound of the quadratic gradient."""
    A = np.abs(Z)
    return 1.0 / (eps + 0.25 * (A * A.sum(axis=1, keepdims=True)).sum(axis=0))


def pack_rows(plan: Plan, M: np.ndarray) -> list[np.ndarray]:
    """Rows of M (n x <= C) into B slot vectors, row r of vector b = row b*R + r."""
    out = []
    for b in range(plan.n_data_cts):
        grid = np.zeros((plan.rows, plan.cols))
        chunk = M[b * plan.rows:(b + 1) * plan.rows]
        grid[:chunk.shape[0], :chunk.shape[1]] = chunk
        out.append(grid.ravel())
    return out


def pack_labels(plan: Plan, Y: np.ndarray) -> list[np.ndarray]:
    """One-hot labels in B slot vectors, class c of row r at the column where the
    server's score S[b*R + r, c] lands, so that Y - P needs no rotation."""
    out = []
    for b in range(plan.n_data_cts):
        grid = np.zeros((plan.rows, plan.cols))
        chunk = Y[b * plan.rows:(b + 1) * plan.rows]
        for c in range(plan.K):
            grid[:chunk.shape[0], plan.score_col(b, c)] = chunk[:, c]
        out.append(grid.ravel())
    return out


def pack_replicated(plan: Plan, vec: np.ndarray) -> np.ndarray:
    """A d-vector repeated in every row."""
    grid = np.zeros((plan.rows, plan.cols))
    grid[:, :vec.shape[0]] = vec
    return grid.ravel()


def pack_weights(plan: Plan, W: np.ndarray) -> np.ndarray:
    """The K x d weight block in rows 0..K-1 of one grid (the plan guarantees R >= K)."""
    grid = np.zeros((plan.rows, plan.cols))
    grid[:W.shape[0], :W.shape[1]] = W
    return grid.ravel()


def unpack_replicated(plan: Plan, vec: np.ndarray) -> np.ndarray:
    """Row 0, columns 0..d-1 of a row-replicated grid."""
    return np.asarray(vec)[:plan.d]


def pack_state(plan: Plan, W: np.ndarray, V: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """W in rows 0..K-1, V in rows K..2K-1 of every period, times ``scale``."""
    grid = np.zeros((plan.rows // plan.period_rows, plan.period_rows, plan.cols))
    grid[:, :plan.K, :W.shape[1]] = W * scale
    grid[:, plan.K:2 * plan.K, :V.shape[1]] = V * scale
    return grid.ravel()


def unpack_state(plan: Plan, vec: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(W, V) from the first period of a packed state, divided by ``scale``."""
    grid = np.asarray(vec).reshape(-1, plan.cols)[:2 * plan.K, :plan.d] / scale
    return grid[:plan.K], grid[plan.K:]

