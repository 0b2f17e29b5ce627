"""The MLR in diagonal form (``layout: diagonal``): the paper's algorithm (reference.py) on the
network's packing (../nn2h/plan.py) with no hidden layer, in far fewer rotations.

Samples are rows of ``C = T p`` column grids (``p = next_pow2(K)`` diagonals, ``T`` windows of p
columns covering the d inputs), ``R = slots // C`` rows per ciphertext, ``B = ceil(n / R)`` data
ciphertexts. V and W are held by their p diagonals, each replicated over every row (the
working form). Per iteration, from V at level v:

* ``S = Z V^T`` (level v + 1): ``sum_s rot(Z, -s) * rot(V_s, -s)`` folded over the T windows.
  The data are constant, so the server rotates Z (and Z * Bbar_inv) once at set-up; an
  iteration rotates only the p diagonals (shared by every data ciphertext) and the folds;
* ``E = (1 + gamma)(Y - sig3(S))`` in the valid rows and classes (v + 3), spread over the
  windows, so that column c holds E[:, c mod p];
* the quadratic gradient's diagonal s, already replicated over every row (v + 4):
  ``rowsum(rot(sum_b E_b * rot(Z_b Bbar_inv, -s), s))``; its column c holds
  ``(1 + gamma) Bbar_inv[c] sum_i E[i, (c + s) mod p] Z[i, c]``: no transpose, no expansion;
* ``V <- W + Q``; ``W <- (1 - eta) V + eta V_prev`` waits for the next iteration, or rides on
  the masks that pack the state (W's diagonals in rows 0..p-1, V's in rows p..2p-1).

Four levels per iteration where the paper's layout takes six; rotations per iteration:
``2 (p - 1) + 2 B log2 T + p log2 R``, for example 150 at the paper's shape and ring 32768.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from backends.base import Ciphertext, CKKSBackend
from hemlr.workloads.base import Upload
from hemlr.workloads.diagonals import diagonal, undiagonal
from hemlr.workloads.schedule import log2, next_pow2

from .plan import Schedule, pack_replicated, pack_rows
from .program import BBAR_EXPONENT, Client, NAGState
from .reference import SIG3_A, SIG3_B, nag_constants


@dataclass(frozen=True)
class DiagonalPlan(Schedule):
    """Shapes, layout and schedule of the diagonal layout."""

    #: Z V^T, the cubic (two), the gradient's product; the NAG mix rides on the next update
    LEVELS_PER_ITERATION: ClassVar[int] = 4

    def _check_layout(self) -> None:
        if self.cols > self.slots:
            raise ValueError(
                f"a ciphertext of {self.slots} slots cannot hold one row of {self.cols} columns "
                f"({self.windows} windows of {self.p} for d={self.d}, K={self.K}); use a larger ring_dim")
        if self.state_rows > self.rows:
            raise ValueError(
                f"the weights' {self.state_rows} diagonals need {self.state_rows} rows of {self.cols} "
                f"columns, a ciphertext of {self.slots} slots holds {self.rows}; use a larger ring_dim")

    @cached_property
    def p(self) -> int:
        """Diagonals of a weight matrix: the next power of two >= K."""
        return next_pow2(self.K)

    @cached_property
    def windows(self) -> int:
        """T: windows of p columns the partial sums span (a power of two)."""
        return next_pow2(math.ceil((self.d + self.p - 1) / self.p))

    @cached_property
    def cols(self) -> int:
        return self.windows * self.p

    @property
    def state_rows(self) -> int:
        return 2 * self.p

    @cached_property
    def fold_steps(self) -> list[int]:
        """Left rotations summing the windows into columns 0..p-1."""
        return [self.p << k for k in range(log2(self.windows))]

    @cached_property
    def spread_steps(self) -> list[int]:
        """Right rotations replicating columns 0..p-1 over the windows."""
        return [-(self.p << k) for k in range(log2(self.windows))]

    @cached_property
    def rotation_steps(self) -> list[int]:
        """Every rotation step the server uses: the client makes exactly these keys."""
        steps = {s for k in range(1, self.p) for s in (k, -k)}
        steps |= set(self.fold_steps) | set(self.spread_steps) | set(self.rowsum_steps)
        if self.expands:
            steps |= set(self.replicate_steps)
        return sorted({self.normalize(s) for s in steps} - {0})

    def layout(self) -> dict[str, int]:
        """The public shape of the packing, for the report."""
        return {"columns": self.cols, "rows_per_ct": self.rows, "diagonals": self.p}

    def expected_ops_per_iteration(self) -> dict[str, int]:
        """Operation counts of one iteration, from the schedule alone."""
        B, p, folds = self.n_data_cts, self.p, log2(self.windows)
        return {"ct_mult": B * (2 * p + 2), "pt_mult": 3 * B,
                "rotation": 2 * (p - 1) + 2 * B * folds + p * log2(self.rows)}

    # ------------------------------------------------------------------ masks
    def score_mask(self, valid: int, value: float) -> np.ndarray:
        """``value`` in the class columns 0..K-1 of the first ``valid`` rows."""
        grid = np.zeros((self.rows, self.cols))
        grid[:valid, :self.K] = value
        return grid.ravel()

    def state_mask(self, s: int, w: float, v: float) -> np.ndarray:
        """w in row s and v in row p + s of every period: packs diagonal s of W and of V."""
        grid = np.zeros((self.rows // self.period_rows, self.period_rows, self.cols))
        grid[:, s, :self.d] = w
        grid[:, self.p + s, :self.d] = v
        return grid.ravel()


# ---------------------------------------------------------------------- client packing
def working_form(plan: DiagonalPlan, W: np.ndarray) -> list[np.ndarray]:
    """The p diagonals of W (K x d), each replicated over every row."""
    return [pack_replicated(plan, diagonal(W, s, plan.p)) for s in range(plan.p)]


def pack_state(plan: DiagonalPlan, W: np.ndarray, V: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """W's diagonals in rows 0..p-1, V's in rows p..2p-1 of every period, times ``scale``."""
    grid = np.zeros((plan.rows // plan.period_rows, plan.period_rows, plan.cols))
    for s in range(plan.p):
        grid[:, s, :plan.d] = diagonal(W, s, plan.p) * scale
        grid[:, plan.p + s, :plan.d] = diagonal(V, s, plan.p) * scale
    return grid.ravel()


def unpack_state(plan: DiagonalPlan, vec: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(W, V) from the first period of a packed state, divided by ``scale``."""
    grid = np.asarray(vec)[:plan.period_rows * plan.cols].reshape(plan.period_rows, plan.cols) / scale
    return tuple(undiagonal(list(grid[first:first + plan.p, :plan.d]), plan.K) for first in (0, plan.p))


class DiagonalClient(Client):
    """The paper layout's client with the diagonal layout's packing."""

    def _upload_vectors(self, Z: np.ndarray, Y: np.ndarray, bbar: np.ndarray,
                        W0: np.ndarray) -> dict[str, list[np.ndarray]]:
        plan = self.plan
        return {"Z": pack_rows(plan, Z), "Y": pack_rows(plan, Y), "Bbar_inv": [pack_replicated(plan, bbar)],
                # V0 = W0: the packed state, or V0's diagonals in the working form
                "W0": [pack_state(plan, W0, W0)] if plan.expands else working_form(plan, W0)}

    def _unpack_state(self, vec: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        return unpack_state(self.plan, vec, scale)

    def _state_vectors(self, state: tuple[np.ndarray, np.ndarray], scale: float) -> list[np.ndarray]:
        """(W, V) packed, or as 2p working diagonals where the plan does not expand."""
        if self.plan.expands:
            return [pack_state(self.plan, *state, scale)]
        return [v for M in state for v in working_form(self.plan, M)]

    def decrypt_weights(self, blobs: list[bytes], level: int) -> np.ndarray:
        """The packed W (one ciphertext) -> the K x d weight matrix."""
        return self.decrypt_state(blobs[0], level, 1.0)[0]


class DiagonalServer(NAGState):
    """Runs the iterations on ciphertexts deserialized from the client's bytes."""

    def __init__(self, he: CKKSBackend, plan: DiagonalPlan, upload: Upload) -> None:
        self.he = he
        self.plan = plan
        cts = {k: [he.deserialize(b, 0) for b in v] for k, v in upload.cts.items()}
        bbar = cts["Bbar_inv"][0]
        # Z and Z * Bbar_inv rotated once for every diagonal: the data never change, so an
        # iteration rotates only the weights' diagonals and the sums
        self.Zrot = self._rotations(cts["Z"])
        self.ZBrot = self._rotations(he.parallel_map(lambda z: he.mul(z, bbar), cts["Z"]))
        self.Y = cts["Y"]
        self.bbar_unscale = 2.0 ** -upload.meta[BBAR_EXPONENT]
        self.W: list[Ciphertext] = []
        self.V: list[Ciphertext] = []
        self.V_prev: list[Ciphertext] = []
        self.load_state(cts["W0"], 1.0)
        self.t, self.eta = 0, 0.0

    def _rotations(self, cts: list[Ciphertext]) -> list[list[Ciphertext]]:
        """[rot(ct, -s) for s = 0..p-1] of each ciphertext."""
        p = self.plan.p
        flat = self.he.parallel_map(lambda i: self.he.rotate(cts[i // p], -(i % p)) if i % p else cts[i // p],
                                    range(len(cts) * p))
        return [flat[i:i + p] for i in range(0, len(flat), p)]

    def _tree(self, ct: Ciphertext, steps: list[int]) -> Ciphertext:
        for s in steps:
            ct = self.he.add(ct, self.he.rotate(ct, s))
        return ct

    def _residual(self, b: int, Vrot: list[Ciphertext], c: float) -> Ciphertext:
        """c (Y - sig3(S)) of data ciphertext b, spread over the windows."""
        he, plan = self.he, self.plan
        S = self._tree(he.add_many([he.mul(z, v) for z, v in zip(self.Zrot[b], Vrot)]), plan.fold_steps)
        valid = plan.valid_rows(b)
        s2 = he.mul(S, S)
        cubic = he.mul(s2, he.mul_plain(S, plan.score_mask(valid, -c * SIG3_B)))
        linear = he.mul_plain(S, plan.score_mask(valid, -c * SIG3_A))
        e = he.add(he.add(cubic, linear), he.mul_plain(self.Y[b], plan.score_mask(valid, c)))
        return self._tree(he.add_plain(e, plan.score_mask(valid, -0.5 * c)), plan.spread_steps)

    def _gradient(self, s: int, E: list[Ciphertext]) -> Ciphertext:
        """Diagonal s of (1 + gamma) Bbar_inv (Y - P)^T Z, replicated over every row."""
        he = self.he
        q = he.add_many([he.mul(e, zb[s]) for e, zb in zip(E, self.ZBrot)])
        return self._tree(he.rotate(q, s) if s else q, self.plan.rowsum_steps)

    def step(self) -> None:
        """One iteration: V <- W + the quadratic gradient at V (the NAG mix that gives the new W
        waits for finish_weights(), or is folded into pack_state())."""
        he, plan = self.he, self.plan
        self.t += 1
        self.eta, gamma = nag_constants(self.t, plan.n)
        c = (1.0 + gamma) * self.bbar_unscale
        Vrot = [self.V[0]] + [he.rotate(v, -s) for s, v in enumerate(self.V) if s]
        E = he.parallel_map(lambda b: self._residual(b, Vrot, c), range(plan.n_data_cts))
        Q = he.parallel_map(lambda s: self._gradient(s, E), range(plan.p))
        self.V_prev, self.V = self.V, [he.add(w, q) for w, q in zip(self.W, Q)]

    def load_state(self, cts: list[Ciphertext], scale: float) -> None:
        """W and V from a packed state divided by ``scale`` (one level), or from their working
        diagonals (W's, then V's; at the start V0's alone, W0 = V0)."""
        he, plan = self.he, self.plan
        if not plan.expands:
            self.W, self.V = list(cts[:plan.p]), list(cts[-plan.p:])
            return

        def row(r: int) -> Ciphertext:
            mask = plan.state_mask(r, 1.0 / scale, 0.0) if r < plan.p else plan.state_mask(r - plan.p, 0.0, 1.0 / scale)
            return self._tree(he.mul_plain(cts[0], mask), plan.replicate_steps)

        rows = he.parallel_map(row, range(2 * plan.p))
        self.W, self.V = rows[:plan.p], rows[plan.p:]

    def export_weights(self) -> tuple[list[bytes], int]:
        """W packed into one ciphertext (the NAG mix on its masks) and its level."""
        C = self.pack_state(1.0)
        return [self.he.serialize(C)], C.level
