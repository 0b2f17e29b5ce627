"""Diagonal Volley-Revolver packing of the network (nn.md) and its level/rotation schedule.

Every ciphertext is a row-major grid: slot ``w*r + c`` holds row ``r``, column ``c``; ``w`` is
a power of two, ``R = slots // w`` rows. Layers ``l = 0 .. L-1`` (L = hidden layers + 1) map
``in_l`` inputs to ``out_l`` outputs: ``in = (f + 1, h1 + 1, h2 + 1)``, ``out = (h1, h2, K)``,
``p_l = next_pow2(out_l)``.

* Sample-indexed matrices (Z0 = [1, x'], Y, Z_l, A_l = [sigma(Z_l), 1], sigma'(Z_l), D_l): sample
  ``i`` in data ciphertext ``i // R``, row ``i % R``, its columns from column 0. Padded rows and
  columns stay exactly 0 (every mask covers the valid rows only: sigma(0) = 0.5 would leak).
* Weights in diagonal form: ``Wd[l][s]`` (s < p_l) holds in column ``c < in_l`` of EVERY row
  ``W_l[(c + s) mod p_l, c]`` (0 where that row index is >= out_l), zero elsewhere.
* Forward ``Z = A W^T`` (one level): Horner over the diagonals, ``U = A*Wd[p-1]``,
  ``U = A*Wd[s] + rot(U, -1)`` for s = p-2 .. 0, leaves in column c the partial sum of output
  ``c mod p`` over the p input columns ending at c; ``log2 T`` folds ``U += rot(U, p 2^k)``
  (``T = next_pow2(ceil((in + p - 1) / p))`` windows) finish Z[:, o] in column o < p.
* The masked cubic (two levels) gives A_l (and the bias 1 in column out_l), sigma'(Z_l) reuses
  Z_l^2; the output layer gives D_L = (P - Y) / n directly (1/n in its masks, Y/n made once).
* Backward, layer l: D replicated across columns with period p (``log2 T`` rotations), then
  shifted one slot at a time, ``X_s = rot(X_{s-1}, 1)``, so that column c of X_s holds
  ``D[:, (c + s) mod p]``. Then ``sum_s X_s * Wd[s]`` is ``D W`` (no rotation: backprop, then
  ``* sigma'``), and the row sum of ``X_s * (-eta_l g_t A_{l-1})`` is exactly the update of
  ``Wd[l][s]``, already replicated in every row: the weights never need re-expanding between
  iterations.
* The state: every diagonal is a strip of ``in_l`` slots of ONE ciphertext C, placed in bands
  (widest layer first; a band: strips side by side at one column offset in the least-filled
  rows) into the rows of one refresh period (the bootstrap's slot
  period, else the whole ciphertext) and repeated in every period. Packing it costs one level
  (a mask per diagonal, a rotation per distinct column offset); expanding it again after a
  refresh costs one level (a rotation per offset, a mask per diagonal, ``log2`` of the period's
  rows rotations per diagonal to replicate it over every row). The client's upload W0 is C.

Levels on the critical path of an iteration (weights at level r): Z1 r+1, A1 r+3, ..., D_L at
r + 3L, each hidden layer's backprop two more (``D W``, ``* sigma'``), the first layer's gradient
one: ``5L - 1`` = 14 for two hidden layers. The updated W_1 is at r + 14 (W_2, W_3 lower).

When a bootstrap leaves fewer levels than an iteration needs (ring 65536 at 128-bit: 16 of 25
consumed), the live matrices are bootstrapped inside the iteration too, at the latest of the
points after a layer's forward or backward pass that the level arithmetic allows
(:meth:`Plan.inner_refreshes`, the same arithmetic as the server's step): their pieces (a
ciphertext's rows of one bootstrap period, its valid columns) go side by side into as few
ciphertexts as the row width holds, repeated in every period, each piece times a public power of
two the client picks from the exact reference (|values| <= 1/2); after the bootstrap a mask and a
rotation put every piece back (one level).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hemlr.columns import REFRESH
from hemlr.workloads.diagonals import diagonal, undiagonal
from hemlr.workloads.schedule import RefreshParams, RowGrid, next_pow2
from hemlr.workloads.schedule import log2 as _log2


@dataclass(frozen=True)
class Plan(RowGrid, RefreshParams):
    """Shapes, packing and schedule of one training problem; refuses (ValueError, naming the
    shape and the remedy) what cannot fit, from the shapes alone, before any key exists."""

    n: int
    n_features: int
    K: int
    hidden: tuple[int, ...]
    slots: int
    iterations: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.K < 2:
            raise ValueError("multiclass training needs K >= 2 classes")
        if self.n < 1 or self.n_features < 1 or self.iterations < 1:
            raise ValueError("n, n_features and iterations must be positive")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden sizes must be positive integers, got {self.hidden}")
        if self.refresh not in REFRESH:
            raise ValueError(f"refresh {self.refresh!r} is not allowed; allowed: {', '.join(REFRESH)}")
        if self.refresh != "none" and self.max_depth is None:
            raise ValueError(f"refresh: {self.refresh} needs the parameters' max_depth")
        if self.refresh_every is not None and self.refresh_every < 1:
            raise ValueError(f"refresh_every must be >= 1, got {self.refresh_every}")
        # the depth first: it depends on the layers' count only, and is what a run too long hits
        if self.depth > (self.max_depth if self.max_depth is not None else self.depth):
            raise ValueError(
                f"{self.iterations} iterations of the network {self.shape_text} need multiplicative "
                f"depth {self.depth} ({self.LEVELS_PER_ITERATION} per iteration, plus expanding and packing "
                f"the weights), but the parameters hold at most {self.max_depth} levels; use refresh: "
                f"client or bootstrap, a larger ring_dim or fewer iterations")
        self.cols  # noqa: B018 (raises when a row or the state cannot fit)
        self.refreshes  # noqa: B018 (raises when an iteration cannot fit)

    # ------------------------------------------------------------------ shapes
    @property
    def subject(self) -> str:
        return f" of the network {self.shape_text}"

    @property
    def shape_text(self) -> str:
        return " -> ".join(str(d) for d in (self.n_features, *self.hidden, self.K)) + f" (n={self.n})"

    @cached_property
    def n_layers(self) -> int:
        return len(self.hidden) + 1

    @cached_property
    def ins(self) -> tuple[int, ...]:
        """Inputs of each layer, bias included (column 0 of W1, the last column of the others)."""
        return (self.n_features + 1, *(h + 1 for h in self.hidden))

    @cached_property
    def outs(self) -> tuple[int, ...]:
        return (*self.hidden, self.K)

    @cached_property
    def ps(self) -> tuple[int, ...]:
        """Diagonals per layer: the next power of two >= its outputs."""
        return tuple(next_pow2(o) for o in self.outs)

    @cached_property
    def windows(self) -> tuple[int, ...]:
        """T_l: windows of p_l columns a layer's partial sums span (a power of two)."""
        return tuple(next_pow2(math.ceil((i + p - 1) / p)) for i, p in zip(self.ins, self.ps))

    @cached_property
    def period(self) -> int:
        """Slots after which the packed state repeats (a bootstrap works on that period)."""
        if self.refresh == "bootstrap" and self.bootstrap_slots:
            return int(self.bootstrap_slots)
        return self.slots

    @cached_property
    def _layout(self) -> tuple[int, dict[tuple[int, int], tuple[int, int]]]:
        """(w, placement): the narrowest row width that holds every layer's windows and whose
        period rows hold every diagonal strip."""
        need = max(t * p for t, p in zip(self.windows, self.ps))
        if need > self.slots:
            worst = max(range(self.n_layers), key=lambda l: self.windows[l] * self.ps[l])
            raise ValueError(
                f"the network {self.shape_text}: layer {worst + 1} ({self.ins[worst]} inputs, "
                f"{self.outs[worst]} outputs) needs rows of {need} columns, but a ciphertext has "
                f"{self.slots} slots; use a larger ring_dim or smaller hidden sizes")
        w = need
        while w <= self.period:
            placement = self._place(w)
            if placement is not None:
                return w, placement
            w *= 2
        values = sum(p * i for p, i in zip(self.ps, self.ins))
        raise ValueError(
            f"the weight state of the network {self.shape_text} ({values} diagonal values in strips "
            f"of {', '.join(map(str, self.ins))}) does not fit one ciphertext period of {self.period} "
            f"slots in rows of >= {need} columns; use a larger ring_dim"
            + (" or bootstrap_slots" if self.period < self.slots else "") + " or smaller hidden sizes")

    def _place(self, w: int) -> dict[tuple[int, int], tuple[int, int]] | None:
        """(layer, diagonal) -> (row, column offset) in the first ``period // w`` rows, or None
        when the strips do not fit: bands first (few distinct offsets, hence few rotations and
        keys), else first-fit."""
        return self._place_bands(w) or self._place_first_fit(w)

    def _order(self) -> list[tuple[int, int]]:
        """The strips, widest layer first."""
        return [(l, s) for l in sorted(range(self.n_layers), key=lambda l: -self.ins[l])
                for s in range(self.ps[l])]

    def _place_bands(self, w: int) -> dict[tuple[int, int], tuple[int, int]] | None:
        """Each layer's strips side by side in bands: the rows that are least filled, all filled
        alike, take the next strips at one shared column offset."""
        cursor = [0] * (self.period // w)
        out = {}
        for l in sorted(range(self.n_layers), key=lambda l: -self.ins[l]):
            s = 0
            while s < self.ps[l]:
                free = [r for r, c in enumerate(cursor) if c + self.ins[l] <= w]
                if not free:
                    return None
                lowest = min(cursor[r] for r in free)
                for r in [r for r in free if cursor[r] == lowest][:self.ps[l] - s]:
                    out[(l, s)] = (r, lowest)
                    cursor[r] += self.ins[l]
                    s += 1
        return out

    def _place_first_fit(self, w: int) -> dict[tuple[int, int], tuple[int, int]] | None:
        """First-fit decreasing: each strip in the first row with room."""
        cursor = [0] * (self.period // w)
        out = {}
        for l, s in self._order():
            r = next((r for r, c in enumerate(cursor) if c + self.ins[l] <= w), None)
            if r is None:
                return None
            out[(l, s)] = (r, cursor[r])
            cursor[r] += self.ins[l]
        return out

    @cached_property
    def cols(self) -> int:
        return self._layout[0]

    @cached_property
    def placement(self) -> dict[tuple[int, int], tuple[int, int]]:
        """(layer, diagonal) -> (row, column offset) of its strip in the packed state."""
        return self._layout[1]

    @cached_property
    def period_rows(self) -> int:
        return self.period // self.cols

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        """The distinct column offsets of the strips (0 first): one rotation each to pack/expand."""
        return tuple(sorted({o for _, o in self.placement.values()}))

    # ------------------------------------------------------------------ schedule
    @cached_property
    def LEVELS_PER_ITERATION(self) -> int:  # noqa: N802 (a constant of the shape, as mlr's)
        """3 per layer forward, 2 per hidden layer backward (D W, * sigma'), 1 for G_1."""
        return 5 * self.n_layers - 1

    @cached_property
    def inner(self) -> bool:
        """Whether live matrices are bootstrapped inside an iteration: a bootstrap leaves too few
        levels for a whole iteration between two bootstraps of the weights."""
        return (self.refresh == "bootstrap" and self.refresh_every in (None, 1)
                and self.bootstrap_cycle_depth > self.max_depth)

    @cached_property
    def depth(self) -> int:
        if not self.inner:
            return RefreshParams.depth.func(self)
        return self.max_depth

    @cached_property
    def refreshes(self) -> tuple[int, ...]:
        if not self.inner:
            return RefreshParams.refreshes.func(self)
        for first in (True, False):
            self.inner_refreshes(first)  # raises when an iteration cannot fit
        return tuple(range(1, self.iterations))

    @cached_property
    def points(self) -> tuple[tuple[str, int], ...]:
        """Where the live matrices may be refreshed, in program order: after layer l's forward
        pass, after layer l's backward pass (which leaves the delta of layer l - 1)."""
        L = self.n_layers
        return (*(("forward", l) for l in range(L)), *(("backward", l) for l in range(L - 1, 0, -1)))

    def live_at(self, point: tuple[str, int]) -> tuple[tuple[str, int], ...]:
        """The sample-indexed matrices still needed at ``point``: ("A", k) the input of layer k
        (k >= 1; A_0 = the data never needs a refresh), ("S", k) sigma'(Z_k) of hidden layer k,
        ("D", l) the delta at layer l's output."""
        kind, l = point
        if kind == "forward":
            last = l == self.n_layers - 1
            return (*(("A", k) for k in range(1, l + 1 + (not last))),
                    *(("S", k) for k in range(min(l + 1, self.n_layers - 1))),
                    *((("D", l),) if last else ()))
        return (("D", l - 1), *(("A", k) for k in range(1, l)), *(("S", k) for k in range(l - 1)))

    def live_width(self, key: tuple[str, int]) -> int:
        """Columns of a live matrix: an input carries its bias column."""
        kind, k = key
        return self.outs[k - 1] + 1 if kind == "A" else self.outs[k]

    def _pack_levels(self, r: int, points: Sequence[tuple[str, int]]) -> list[int]:
        """The level every bootstrap input of an iteration reaches (each point's pack, then the
        weights' pack), from the weights at level r, refreshing the live matrices at ``points``:
        the level arithmetic of Server.step (a product is one past its deeper operand, an
        activation two past Z, a refreshed matrix one past the bootstrap's output)."""
        L, fresh, w, lv, out = self.n_layers, self.bootstrap_depth + 1, [r] * self.n_layers, {}, []

        def refresh(point: tuple[str, int]) -> None:
            if point in points:
                keys = self.live_at(point)
                out.append(max(lv[k] for k in keys) + 1)
                lv.update({k: fresh for k in keys})

        lv[("A", 0)] = 0  # the data
        for l in range(L):
            z = max(lv[("A", l)], w[l]) + 1
            lv[("D", l) if l == L - 1 else ("A", l + 1)] = z + 2
            if l < L - 1:
                lv[("S", l)] = z + 2
            refresh(("forward", l))
        for l in range(L - 1, -1, -1):
            d, scaled = lv[("D", l)], lv[("A", l)] + 1
            if l:
                lv[("D", l - 1)] = max(max(d, w[l]) + 1, lv[("S", l - 1)]) + 1
            w[l] = max(w[l], max(d, scaled) + 1)
            if l:
                refresh(("backward", l))
        return [*out, max(w) + 1]

    def inner_refreshes(self, first: bool) -> tuple[tuple[str, int], ...]:
        """The points of an iteration (the first, from the upload, or a later one, from a
        bootstrap) where the live matrices are bootstrapped: each at the latest point that
        leaves the rest of the iteration feasible; every bootstrap input keeps one level."""
        if not self.inner:
            return ()
        r = self.start_level if first else self.restart_level
        fits = lambda points: max(self._pack_levels(r, points)) <= self.depth - 1  # noqa: E731
        chosen: list[tuple[str, int]] = []
        for i, point in enumerate(self.points):
            if not fits((*chosen, *self.points[i + 1:])):
                chosen.append(point)
        if not fits(chosen):
            raise ValueError(
                f"an iteration{self.subject} does not fit between bootstraps even with its live "
                f"matrices bootstrapped after every layer: a bootstrap leaves {self.max_depth - self.bootstrap_depth} "
                f"of {self.max_depth} levels; use a larger modulus budget or refresh: client")
        return tuple(chosen)

    def live_groups(self, point: tuple[str, int]) -> list[list[tuple[tuple[str, int], int, int, int]]]:
        """The bootstrapped ciphertexts of ``point``: each a list of pieces (matrix, data
        ciphertext b, period h of its rows, column offset), side by side in the row width, at
        offsets aligned to the largest power of two that needs no more ciphertexts (aligned
        offsets move with few rotation keys, and with the folds' keys when they are composed)."""
        fewest = len(self._groups(point, 1))
        align = next(a for a in (self.cols >> k for k in range(_log2(self.cols) + 1))
                     if len(self._groups(point, a)) == fewest)
        return self._groups(point, align)

    def _groups(self, point: tuple[str, int], align: int) -> list[list[tuple[tuple[str, int], int, int, int]]]:
        groups: list[list] = []
        used: list[int] = []
        for key in self.live_at(point):
            width = -(-self.live_width(key) // align) * align
            for b in range(self.n_data_cts):
                for h in range(self.rows // self.period_rows):
                    g = next((g for g, u in enumerate(used) if u + width <= self.cols), None)
                    if g is None:
                        groups.append([])
                        used.append(0)
                        g = len(groups) - 1
                    groups[g].append((key, b, h, used[g]))
                    used[g] += width
        return groups

    @cached_property
    def _inner_groups(self) -> list[list[tuple[tuple[str, int], int, int, int]]]:
        return [g for first in (True, False) for p in self.inner_refreshes(first) for g in self.live_groups(p)]

    @cached_property
    def period_steps(self) -> list[int]:
        """Whole-period rotations repeating a ciphertext's first period over all of it."""
        return [self.period << k for k in range(_log2(self.rows // self.period_rows))]

    def fold_steps(self, l: int) -> list[int]:
        """Left rotations summing layer l's windows into columns 0..p-1."""
        return [self.ps[l] << k for k in range(_log2(self.windows[l]))]

    def spread_steps(self, l: int) -> list[int]:
        """Right rotations replicating D_l (columns 0..p-1) over the T windows."""
        return [-(self.ps[l] << k) for k in range(_log2(self.windows[l]))]

    @cached_property
    def rotation_steps(self) -> list[int]:
        """Every rotation step the server uses: the client makes exactly these keys."""
        steps: set[int] = set(self.rowsum_steps) | (set(self.replicate_steps) if self.expands else set())
        if max(self.ps) > 1:
            steps |= {1, -1}  # Horner's right shift, the backward's left shift
        for l in range(self.n_layers):
            steps |= set(self.fold_steps(l)) | set(self.spread_steps(l))
        steps |= {-o for o in self.offsets} | ({o for o in self.offsets} if self.expands else set())
        if self._inner_groups:
            steps |= set(self.period_steps) | {o * sign for g in self._inner_groups for *_, o in g for sign in (1, -1)}
        return sorted({self.normalize(s) for s in steps} - {0})

    def layout(self) -> dict[str, int]:
        """The public shape of the packing, for the report."""
        return {"columns": self.cols, "rows_per_ct": self.rows, "data_cts": self.n_data_cts,
                "state_rows": 1 + max(r for r, _ in self.placement.values()),
                "diagonals": sum(self.ps)}

    def expected_ops_per_iteration(self, refreshed: bool = False, first: bool = False) -> dict[str, int]:
        """Operation counts of one iteration (step, then the pack for the client's download or
        the refresh; ``refreshed``: with the refresh's bootstrap and re-expansion; ``first``: the
        first iteration, whose inner refreshes may differ), from the schedule alone, with a key per
        rotation step."""
        B, L, R = self.n_data_cts, self.n_layers, self.rows
        P = sum(self.ps)
        hidden_ps = sum(self.ps[1:])
        folds = sum(_log2(t) for t in self.windows)
        moved = len([o for o in self.offsets if o])
        ct = B * (P + 2 * L) + B * (P + hidden_ps + (L - 1))
        pt = B * (2 * L + (L - 1)) + P
        rot = 2 * B * (P - L + folds) + P * _log2(R) + moved
        out = {"ct_mult": ct, "pt_mult": pt, "scalar_mult": B * L, "rotation": rot,
               "bootstrap": int(refreshed and self.refresh == "bootstrap")}
        if refreshed and self.expands:
            out["pt_mult"] += P
            out["rotation"] += moved + P * _log2(self.period_rows)
        for point in self.inner_refreshes(first):
            for group in self.live_groups(point):
                shifted = sum(1 for *_, o in group if o)
                out["pt_mult"] += 2 * len(group)
                out["rotation"] += 2 * shifted + len(self.period_steps)
                out["bootstrap"] += 1
        return out

    def expected_setup_ops(self) -> dict[str, int]:
        """The server's set-up: Y / n and C0 expanded (where the upload is packed)."""
        P = sum(self.ps)
        moved = len([o for o in self.offsets if o])
        return {"scalar_mult": self.n_data_cts, "pt_mult": P * self.expands,
                "rotation": (moved + P * _log2(self.period_rows)) * self.expands}

    def upload_cts(self) -> dict[str, int]:
        """Ciphertexts of each part of the upload: the weights packed, or one per diagonal."""
        return {"X": self.n_data_cts, "Y": self.n_data_cts, "W0": 1 if self.expands else sum(self.ps)}

    # ------------------------------------------------------------------ masks
    def _grid(self) -> np.ndarray:
        return np.zeros((self.rows, self.cols))

    def act_mask(self, l: int, valid: int, value: float = 1.0) -> np.ndarray:
        """``value`` in columns 0..out_l-1 of the first ``valid`` rows."""
        g = self._grid()
        g[:valid, :self.outs[l]] = value
        return g.ravel()

    def bias_mask(self, l: int, valid: int) -> np.ndarray:
        """1 in column out_l (the bias input of layer l + 1) of the first ``valid`` rows."""
        g = self._grid()
        g[:valid, self.outs[l]] = 1.0
        return g.ravel()

    def piece_mask(self, key: tuple[str, int], h: int, offset: int, value: float) -> np.ndarray:
        """``value`` over a live matrix's columns, from ``offset``, in the rows of period h."""
        g = self._grid()
        g[h * self.period_rows:(h + 1) * self.period_rows, offset:offset + self.live_width(key)] = value
        return g.ravel()

    def strip_mask(self, l: int, row: int, value: float = 1.0) -> np.ndarray:
        """``value`` in columns 0..in_l-1 of row ``row`` of every period."""
        g = np.zeros((self.rows // self.period_rows, self.period_rows, self.cols))
        g[:, row, :self.ins[l]] = value
        return g.ravel()


# ---------------------------------------------------------------------- client packing
def pack_rows(plan: Plan, M: np.ndarray) -> list[np.ndarray]:
    """Rows of M (n x <= w) into B slot vectors, row r of vector b = row b*R + r."""
    out = []
    for b in range(plan.n_data_cts):
        grid = np.zeros((plan.rows, plan.cols))
        chunk = M[b * plan.rows:(b + 1) * plan.rows]
        grid[:chunk.shape[0], :chunk.shape[1]] = chunk
        out.append(grid.ravel())
    return out


def pack_state(plan: Plan, Ws: list[np.ndarray], scale: float = 1.0) -> np.ndarray:
    """The diagonals of W_1..W_L in their strips of every period, times ``scale``."""
    grid = np.zeros((plan.rows // plan.period_rows, plan.period_rows, plan.cols))
    for (l, s), (r, o) in plan.placement.items():
        grid[:, r, o:o + plan.ins[l]] = diagonal(Ws[l], s, plan.ps[l]) * scale
    return grid.ravel()


def working_state(plan: Plan, Ws: list[np.ndarray]) -> list[np.ndarray]:
    """Every diagonal Wd[l][s] of W_1..W_L, in every row at columns 0..in_l-1, layer by layer:
    the server's working form (what the expansion of a packed state gives)."""
    out = []
    for l, W in enumerate(Ws):
        for s in range(plan.ps[l]):
            grid = np.zeros((plan.rows, plan.cols))
            grid[:, :plan.ins[l]] = diagonal(W, s, plan.ps[l])
            out.append(grid.ravel())
    return out


def unpack_state(plan: Plan, vec: np.ndarray, scale: float = 1.0) -> list[np.ndarray]:
    """W_1..W_L from the first period of a packed state, divided by ``scale``."""
    grid = np.asarray(vec)[:plan.period].reshape(plan.period_rows, plan.cols) / scale
    Ws = []
    for l in range(plan.n_layers):
        diags = []
        for s in range(plan.ps[l]):
            r, o = plan.placement[(l, s)]
            diags.append(grid[r, o:o + plan.ins[l]])
        Ws.append(undiagonal(diags, plan.outs[l]))
    return Ws
