"""The paper's quadratic-gradient NAG over the common HE interface: client and server programs.

Written once against :class:`backends.base.CKKSBackend`; it never asks which library
it runs on. The client holds the secret key, packs and encrypts; the server is built
from the client's bytes only and runs the iterations; weights travel back as bytes.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from backends.base import Ciphertext, CKKSBackend
from hemlr.workloads.base import Upload, publish_keys

from . import plan as packing
from .plan import Plan
from .reference import SIG3_A, SIG3_B, W_INIT, nag_constants

#: the upload's parts, in the order the client sends them
UPLOAD_NAMES = ("Z", "Y", "Bbar_inv", "W0")
#: Bbar_inv travels as Bbar_inv * 2^BBAR_EXPONENT (public metadata of the upload): its entries
#: (~1e-6 at the paper's shape) would otherwise sit near the encryption noise of a 2^40 scale.
#: The exponent reveals the order of magnitude of Bbar_inv, nothing more.
BBAR_EXPONENT = "bbar_exponent"


def bbar_upload(Z: np.ndarray) -> tuple[np.ndarray, int]:
    """(Bbar_inv * 2^e, e): what the client uploads of Bbar_inv, and the public exponent."""
    bbar = packing.bbar_inv(Z)
    # A feature that is zero in every training row has Bbar_inv = 1/eps = 1e10 but a
    # gradient of exactly 0: sending 0 leaves every product unchanged and keeps the
    # ciphertext in range (1e10 overflows a CKKS scale).
    bbar[~Z.any(axis=0)] = 0.0
    exponent = max(0, math.ceil(-math.log2(bbar.max())))
    return bbar * 2.0 ** exponent, exponent


class Client:
    """Data owner: keys, packing, encryption, decryption (the paper's layout; a layout of its
    own overrides the packing hooks)."""

    def __init__(self, backend: CKKSBackend, plan: Plan) -> None:
        self.he = backend
        self.plan = plan

    def keygen(self) -> bytes:
        return publish_keys(self.he, self.plan)

    def encrypt_upload(self, X: np.ndarray, y: np.ndarray) -> Upload:
        plan = self.plan
        Z = packing.design_matrix(X)
        bbar, exponent = bbar_upload(Z)
        vectors = self._upload_vectors(Z, np.eye(plan.K)[y], bbar, np.full((plan.K, plan.d), W_INIT))
        up = Upload(meta={BBAR_EXPONENT: exponent})
        for name in UPLOAD_NAMES:
            up.cts[name] = [self.he.serialize(self.he.encrypt(v)) for v in vectors[name]]
        return up

    def _upload_vectors(self, Z: np.ndarray, Y: np.ndarray, bbar: np.ndarray,
                        W0: np.ndarray) -> dict[str, list[np.ndarray]]:
        """The slot vectors of each part of the upload (UPLOAD_NAMES)."""
        plan = self.plan
        return {"Z": packing.pack_rows(plan, Z), "Y": packing.pack_labels(plan, Y),
                "Bbar_inv": [packing.pack_replicated(plan, bbar)],
                "W0": ([packing.pack_weights(plan, W0)] if plan.expands
                       else [packing.pack_replicated(plan, w) for w in W0])}

    def _unpack_state(self, vec: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        return packing.unpack_state(self.plan, vec, scale)

    def _state_vectors(self, state: tuple[np.ndarray, np.ndarray], scale: float) -> list[np.ndarray]:
        """(W, V) packed, or as 2K row-replicated rows where the plan does not expand."""
        if self.plan.expands:
            return [packing.pack_state(self.plan, *state, scale)]
        return [packing.pack_replicated(self.plan, row) for M in state for row in M]

    def decrypt_state(self, blob: bytes, level: int, scale: float) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """A packed state -> (W, the state (W, V)), each K x d."""
        W, V = self._unpack_state(self.he.decrypt(self.he.deserialize(blob, level)), scale)
        return W, (W, V)

    def encrypt_state(self, state: tuple[np.ndarray, np.ndarray], scale: float) -> list[bytes]:
        """(W, V) freshly encrypted, in the plan's upload form: the client's refresh."""
        return [self.he.serialize(self.he.encrypt(v)) for v in self._state_vectors(state, scale)]

    def decrypt_weights(self, blobs: list[bytes], level: int) -> np.ndarray:
        """K row-replicated weight ciphertexts -> the K x d weight matrix."""
        rows = [packing.unpack_replicated(self.plan, self.he.decrypt(self.he.deserialize(b, level)))
                for b in blobs]
        return np.vstack(rows)


class NAGState:
    """What both layouts' servers do with the NAG's weights W and look-ahead V, lists of
    ciphertexts (the paper's rows, or diagonals) that the plan's ``state_mask(i, w, v)`` packs
    into rows i and i + len(V) of every period."""

    he: CKKSBackend
    plan: Any
    W: list[Ciphertext]
    V: list[Ciphertext]
    V_prev: list[Ciphertext]
    eta: float

    def finish_weights(self) -> None:
        """W <- (1 - eta) V + eta V_prev (one level)."""
        he, eta = self.he, self.eta
        self.W = [he.add(he.mul_scalar(v, 1.0 - eta), he.mul_scalar(v_old, eta))
                  for v, v_old in zip(self.V, self.V_prev)]

    def pack_state(self, scale: float) -> Ciphertext:
        """W and V of every period in one ciphertext, times ``scale``, in one level: the NAG
        mix of W rides on the masks."""
        he, plan, eta = self.he, self.plan, self.eta
        parts = []
        for i, (v, v_old) in enumerate(zip(self.V, self.V_prev)):
            parts.append(he.mul_plain(v, plan.state_mask(i, (1.0 - eta) * scale, scale)))
            parts.append(he.mul_plain(v_old, plan.state_mask(i, eta * scale, 0.0)))
        return he.add_many(parts)


class Server(NAGState):
    """Runs the iterations on ciphertexts deserialized from the client's bytes."""

    def __init__(self, he: CKKSBackend, plan: Plan, upload: Upload) -> None:
        self.he = he
        self.plan = plan
        cts = {k: [he.deserialize(b, 0) for b in v] for k, v in upload.cts.items()}
        # Undoes the client's power-of-two prescaling of Bbar_inv inside a 0/1 mask the
        # gradient multiplies by anyway: exact in CKKS, no extra level.
        self.bbar_unscale = 2.0 ** -upload.meta[BBAR_EXPONENT]
        self._setup(cts)

    # ------------------------------------------------------------------ setup
    def _setup(self, cts: dict[str, list[Ciphertext]]) -> None:
        he, plan = self.he, self.plan
        bbar = cts["Bbar_inv"][0]
        self.Z = cts["Z"]
        # Z * Bbar_inv once: the quadratic-gradient scaling then rides on the gradient
        # product instead of costing a level and K multiplications per iteration.
        self.ZB = [he.mul(z, bbar) for z in self.Z]
        self.Yg = [he.add_many([cts["Y"][b] for b in range(plan.n_data_cts)
                                if plan.group_of(b)[0] == g]) for g in range(plan.n_groups)]
        w0 = cts["W0"]
        self.V = ([self._tree(he.mul_plain(w0[0], plan.row_mask(c)), plan.rowsum_steps) for c in range(plan.K)]
                  if plan.expands else w0)
        self.W = list(self.V)  # W0 = V0
        self.V_prev: list[Ciphertext] = []
        self._E: list[Ciphertext] = []  # scaled residuals of the current iteration
        self.t, self.eta = 0, 0.0

    def _tree(self, ct: Ciphertext, steps: list[int]) -> Ciphertext:
        for s in steps:
            ct = self.he.add(ct, self.he.rotate(ct, s))
        return ct

    # ------------------------------------------------------------------ iteration
    def _masked_score(self, bc: tuple[int, int]) -> Ciphertext:
        """Window (b, c) of S = Z V^T: product, partial column sums, one mask."""
        b, c = bc
        he, plan = self.he, self.plan
        partial = self._tree(he.mul(self.Z[b], self.V[c]), plan.tree_steps)
        return he.mul_plain(partial, plan.window_mask(b, c, exact=True))

    def scores(self) -> list[Ciphertext]:
        """S = Z V^T, one ciphertext per score group (score of (b, c) in score_col)."""
        he, plan = self.he, self.plan
        pairs = [(b, c) for b in range(plan.n_data_cts) for c in range(plan.K)]
        windows = he.parallel_map(self._masked_score, pairs)
        groups: list[list[Ciphertext]] = [[] for _ in range(plan.n_groups)]
        for b in range(plan.n_data_cts):
            block = he.add_many(windows[b * plan.K:(b + 1) * plan.K])
            g, j = plan.group_of(b)
            groups[g].append(he.rotate(block, plan.block_shift_steps[j]))
        return [self._tree(he.add_many(blocks), plan.tail_steps) for blocks in groups]

    def residual(self, S: Ciphertext, g: int, scale: float) -> Ciphertext:
        """scale * (Y - sig3(S)) in the score columns, zero elsewhere (masks folded in)."""
        he, plan = self.he, self.plan
        mask = plan.score_mask(g)
        s2 = he.mul(S, S)
        cubic = he.mul(s2, he.mul_plain(S, -scale * SIG3_B * mask))
        linear = he.mul_plain(S, -scale * SIG3_A * mask)
        e = he.add(he.add(cubic, linear), he.mul_scalar(self.Yg[g], scale))
        return he.add_plain(e, -scale * 0.5 * mask)

    def step(self) -> None:
        """One iteration: V <- W + the quadratic gradient at V. The NAG mix that gives the
        new W waits for finish_weights(), or is folded into pack_state()."""
        he, plan = self.he, self.plan
        self.t += 1
        self.eta, gamma = nag_constants(self.t, plan.n)
        scale = 1.0 + gamma
        self._E = [self._tree(self.residual(S, g, scale), plan.spread_steps)
                   for g, S in enumerate(self.scores())]
        Q = he.parallel_map(self._gradient, range(plan.K))
        self.V_prev, self.V = self.V, [he.add(w, q) for w, q in zip(self.W, Q)]

    def load_state(self, cts: list[Ciphertext], scale: float) -> None:
        """W and V, row-replicated again, from a packed state (one level), divided by ``scale``,
        or uploaded row-replicated (W's K rows, then V's)."""
        he, plan = self.he, self.plan
        if not plan.expands:
            self.W, self.V = list(cts[:plan.K]), list(cts[plan.K:])
            return
        self.W, self.V = ([self._tree(he.mul_plain(cts[0], plan.row_mask(r) / scale), plan.rowsum_steps)
                           for r in rows] for rows in (range(plan.K), range(plan.K, 2 * plan.K)))

    def _gradient(self, c: int) -> Ciphertext:
        """Row c of (1 + gamma) * Bbar_inv * (Y - P)^T Z, replicated in every row."""
        he, plan = self.he, self.plan
        terms = []
        for b in range(plan.n_data_cts):
            g, _ = plan.group_of(b)
            e = he.mul_plain(self._E[g], self.bbar_unscale * plan.window_mask(b, c, exact=False))
            terms.append(he.mul(self._tree(e, plan.replicate_steps(b, c)), self.ZB[b]))
        return self._tree(he.add_many(terms), plan.rowsum_steps)

    def export_weights(self) -> tuple[list[bytes], int]:
        """Serialized W_t (K ciphertexts) and their level, for the client."""
        level = max(w.level for w in self.W)
        return [self.he.serialize(w) for w in self.W], level
