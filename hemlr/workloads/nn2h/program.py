"""The network's client and server programs over the common HE interface (plan.py: the packing).

Written once against :class:`backends.base.CKKSBackend`. The client standardises X with the
training rows' statistics, keeps (mu, s) for scoring, initialises the weights from the seed and
uploads Z0 = [1, x'], Y and the packed initial state C0; the server expands C0 into the
row-replicated diagonals once and then updates them in place, iteration after iteration; the
weights travel back packed in one ciphertext (the same C a refresh sends or bootstraps).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from backends.base import Ciphertext, CKKSBackend
from hemlr.workloads.base import Upload, publish_keys
from hemlr.workloads.mlr.plan import design_matrix
from hemlr.workloads.mlr.reference import SIG3_A, SIG3_B

from . import plan as packing
from .plan import Plan
from .reference import NNParams, init_weights, standardize, standardizer, train_reference

#: the upload's parts, in the order the client sends them
UPLOAD_NAMES = ("X", "Y", "W0")


@dataclass(frozen=True)
class NNWeights:
    """What the client decrypts: the weight matrices and the standardisation that scores need."""

    Ws: tuple[np.ndarray, ...]
    mu: np.ndarray
    s: np.ndarray


class Client:
    """Data owner: keys, standardisation, packing, encryption, decryption."""

    def __init__(self, backend: CKKSBackend, plan: Plan, params: NNParams = NNParams()) -> None:
        self.he = backend
        self.plan = plan
        self.params = params
        self.mu: np.ndarray | None = None
        self.s: np.ndarray | None = None

    def keygen(self) -> bytes:
        return publish_keys(self.he, self.plan)

    def encrypt_upload(self, X: np.ndarray, y: np.ndarray) -> Upload:
        plan = self.plan
        self.mu, self.s = standardizer(np.asarray(X, dtype=np.float64))
        Z0 = design_matrix(standardize(X, self.mu, self.s))
        Y = np.eye(plan.K)[y]
        Ws = init_weights(plan.n_features, plan.K, plan.hidden, self.params.seed)
        vectors = {"X": packing.pack_rows(plan, Z0), "Y": packing.pack_rows(plan, Y),
                   "W0": [packing.pack_state(plan, Ws)] if plan.expands else packing.working_state(plan, Ws)}
        up = Upload()
        for name in UPLOAD_NAMES:
            up.cts[name] = [self.he.serialize(self.he.encrypt(v)) for v in vectors[name]]
        if plan.inner:
            up.meta["live_scales"] = live_scales(X, y, plan, self.params)
        return up

    def _weights(self, Ws: Sequence[np.ndarray]) -> NNWeights:
        return NNWeights(tuple(Ws), self.mu, self.s)

    def decrypt_weights(self, blobs: list[bytes], level: int) -> NNWeights:
        """The packed state C -> the weights (with the standardisation)."""
        vec = self.he.decrypt(self.he.deserialize(blobs[0], level))
        return self._weights(packing.unpack_state(self.plan, vec))

    def decrypt_state(self, blob: bytes, level: int, scale: float) -> tuple[NNWeights, list[np.ndarray]]:
        """A packed state -> (the weights, the state [W_1, .., W_L] to re-encrypt)."""
        Ws = packing.unpack_state(self.plan, self.he.decrypt(self.he.deserialize(blob, level)), scale)
        return self._weights(Ws), Ws

    def encrypt_state(self, state: list[np.ndarray], scale: float) -> list[bytes]:
        """[W_1, .., W_L] freshly encrypted, packed or as the working diagonals: the client's refresh."""
        vectors = ([packing.pack_state(self.plan, state, scale)] if self.plan.expands
                   else packing.working_state(self.plan, state))
        return [self.he.serialize(self.he.encrypt(v)) for v in vectors]


def live_scales(X: np.ndarray, y: np.ndarray, plan: Plan, params: NNParams) -> dict[str, float]:
    """The public powers of two the matrices bootstrapped inside an iteration are multiplied by
    before it (and divided by after): from the exact reference the client runs on its own data,
    each keeps its matrix within 1/2 at every iteration (a bootstrap takes |values| < 1, and its
    error is absolute: small deltas are scaled up)."""
    peaks: dict[str, float] = {}
    for step in train_reference(X, y, plan.K, plan.iterations, params):
        for k, v in step.live_max_abs.items():
            peaks[k] = max(peaks.get(k, 0.0), v)
    return {k: 2.0 ** math.floor(math.log2(0.5 / v)) if v > 0 else 1.0 for k, v in peaks.items()}


class Server:
    """Runs the iterations on ciphertexts deserialized from the client's bytes."""

    def __init__(self, he: CKKSBackend, plan: Plan, upload: Upload, params: NNParams = NNParams()) -> None:
        self.he = he
        self.plan = plan
        self.params = params
        cts = {k: [he.deserialize(b, 0) for b in v] for k, v in upload.cts.items()}
        self.X = cts["X"]
        # D_L = (P - Y) / n: Y / n once (off the critical path, which starts at the weights)
        self.Yn = [he.mul_scalar(y, 1.0 / plan.n) for y in cts["Y"]]
        self._masks: dict[tuple, np.ndarray] = {}
        self.scales = {(k[0], int(k[1:])): v for k, v in upload.meta.get("live_scales", {}).items()}
        self.load_state(cts["W0"], 1.0)
        self.t = 0

    # ------------------------------------------------------------------ helpers
    def _mask(self, kind: str, *key) -> np.ndarray:
        k = (kind, *key)
        if k not in self._masks:
            plan = self.plan
            if kind == "act":
                l, valid, value = key
                self._masks[k] = plan.act_mask(l, valid, value)
            elif kind == "const":  # the cubic's 0.5 (scaled), and the bias column of hidden layers
                l, valid, c = key
                m = plan.act_mask(l, valid, 0.5 * c)
                self._masks[k] = m if l == plan.n_layers - 1 else m + plan.bias_mask(l, valid)
            elif kind == "piece":
                self._masks[k] = plan.piece_mask(*key)
            else:
                l, row, value = key
                self._masks[k] = plan.strip_mask(l, row, value)
        return self._masks[k]

    def _tree(self, ct: Ciphertext, steps: Sequence[int]) -> Ciphertext:
        for s in steps:
            ct = self.he.add(ct, self.he.rotate(ct, s))
        return ct

    # ------------------------------------------------------------------ state
    def _expand(self, C: Ciphertext, scale: float) -> list[list[Ciphertext]]:
        """Wd[l][s], replicated over every row at columns 0..in_l-1, from a packed state
        divided by ``scale`` (one level)."""
        he, plan = self.he, self.plan
        moved = {o: he.rotate(C, o) for o in plan.offsets}

        def one(ls: tuple[int, int]) -> Ciphertext:
            l, s = ls
            r, o = plan.placement[ls]
            strip = he.mul_plain(moved[o], self._mask("strip", l, r, 1.0 / scale))
            return self._tree(strip, plan.replicate_steps)

        keys = [(l, s) for l in range(plan.n_layers) for s in range(plan.ps[l])]
        flat = iter(he.parallel_map(one, keys))
        return [[next(flat) for _ in range(plan.ps[l])] for l in range(plan.n_layers)]

    def pack_state(self, scale: float) -> Ciphertext:
        """Every diagonal in its strip of every period, times ``scale``, in one level."""
        he, plan = self.he, self.plan
        by_offset: dict[int, list[Ciphertext]] = {}
        for (l, s), (r, o) in plan.placement.items():
            by_offset.setdefault(o, []).append(he.mul_plain(self.Wd[l][s], self._mask("strip", l, r, scale)))
        return he.add_many([he.rotate(he.add_many(parts), -o) for o, parts in sorted(by_offset.items())])

    def load_state(self, cts: list[Ciphertext], scale: float) -> None:
        """Continue from a packed state divided by ``scale`` (one level), or from the working
        diagonals themselves, layer by layer."""
        if self.plan.expands:
            self.Wd = self._expand(cts[0], scale)
            return
        flat = iter(cts)
        self.Wd = [[next(flat) for _ in range(p)] for p in self.plan.ps]

    def finish_weights(self) -> None:
        """Nothing left: the update is applied in step()."""

    def export_weights(self) -> tuple[list[bytes], int]:
        """The weights packed into one ciphertext (a copy: the diagonals stay), and its level."""
        C = self.pack_state(1.0)
        return [self.he.serialize(C)], C.level

    def _refresh_live(self, live: dict[tuple[str, int], list[Ciphertext]], point: tuple[str, int],
                      points: Sequence[tuple[str, int]]) -> None:
        """Bootstrap the live matrices of ``point`` when the plan refreshes there: their pieces
        scaled into one ciphertext per group, repeated in every period, bootstrapped, put back."""
        if point not in points:
            return
        he, plan = self.he, self.plan
        fresh: dict[tuple[str, int], list[Ciphertext | None]] = {}
        for group in plan.live_groups(point):
            parts = [he.rotate(he.mul_plain(live[key][b], self._mask("piece", key, h, 0, self.scales[key])), -o)
                     for key, b, h, o in group]
            out = he.bootstrap(self._tree(he.add_many(parts), plan.period_steps))
            for key, b, h, o in group:
                piece = he.rotate(he.mul_plain(out, self._mask("piece", key, h, o, 1 / self.scales[key])), o)
                got = fresh.setdefault(key, [None] * plan.n_data_cts)
                got[b] = piece if got[b] is None else he.add(got[b], piece)
        live.update(fresh)

    # ------------------------------------------------------------------ iteration
    def _linear(self, l: int, A: Ciphertext) -> Ciphertext:
        """Z = A W_l^T of one data ciphertext, Z[:, o] in column o < p_l (one level)."""
        he, Wd = self.he, self.Wd[l]
        U = he.mul(A, Wd[-1])
        for s in range(len(Wd) - 2, -1, -1):
            U = he.add(he.mul(A, Wd[s]), he.rotate(U, -1))
        return self._tree(U, self.plan.fold_steps(l))

    def _activation(self, l: int, b: int, Z: Ciphertext) -> tuple[Ciphertext, Ciphertext | None]:
        """(A_l, sigma'(Z_l)) of a hidden layer, ((P - Y) / n, None) of the output layer, with
        the masks of the valid rows and columns folded into the coefficients (two levels)."""
        he, plan = self.he, self.plan
        last = l == plan.n_layers - 1
        valid = plan.valid_rows(b)
        c = 1.0 / plan.n if last else 1.0
        z2 = he.mul(Z, Z)
        cube = he.mul(z2, he.mul_plain(Z, self._mask("act", l, valid, SIG3_B * c)))
        lin = he.mul_plain(Z, self._mask("act", l, valid, SIG3_A * c))
        act = he.add_plain(he.add(cube, lin), self._mask("const", l, valid, c))
        if last:
            return he.sub(act, self.Yn[b]), None
        slope = he.add_plain(he.mul_plain(z2, self._mask("act", l, valid, 3 * SIG3_B)),
                             self._mask("act", l, valid, SIG3_A))
        return act, slope

    def step(self) -> None:
        """One iteration: forward, backward, and W_l <- W_l - eta_l g_t G_l on the diagonals."""
        he, plan, params = self.he, self.plan, self.params
        self.t += 1
        gain = params.gain(self.t)
        B, L = plan.n_data_cts, plan.n_layers
        points = plan.inner_refreshes(self.t == 1)
        # the plan's keys: ("A", k) the input of layer k (A_0 = Z0), ("S", k) sigma'(Z_k) of
        # hidden layer k, ("D", l) the delta at layer l's output
        live: dict[tuple[str, int], list[Ciphertext]] = {("A", 0): self.X}
        for l in range(L):
            Zs = he.parallel_map(lambda b, l=l: self._linear(l, live[("A", l)][b]), range(B))
            outs = [self._activation(l, b, Z) for b, Z in enumerate(Zs)]
            if l == L - 1:  # the output layer's "activation" is D_L = (P - Y) / n
                live[("D", l)] = [a for a, _ in outs]
            else:
                live[("A", l + 1)], live[("S", l)] = [a for a, _ in outs], [s for _, s in outs]
            self._refresh_live(live, ("forward", l), points)
        # backward, from the output layer down
        for l in range(L - 1, -1, -1):
            D, p = live.pop(("D", l)), plan.ps[l]
            shifted = []  # shifted[b][s]: column c holds D[:, (c + s) mod p]
            for d in D:
                x = self._tree(d, plan.spread_steps(l))
                chain = [x]
                for _ in range(p - 1):
                    x = he.rotate(x, 1)
                    chain.append(x)
                shifted.append(chain)
            scaled = [he.mul_scalar(a, -params.rates[l] * gain) for a in live[("A", l)]]
            Wd = self.Wd[l]
            if l:
                slope = live[("S", l - 1)]

                def backprop(b: int) -> Ciphertext:
                    E = he.add_many([he.mul(shifted[b][s], Wd[s]) for s in range(p)])
                    return he.mul(E, slope[b])

                live[("D", l - 1)] = he.parallel_map(backprop, range(B))

            def update(s: int) -> Ciphertext:
                Q = he.add_many([he.mul(shifted[b][s], scaled[b]) for b in range(B)])
                return he.add(Wd[s], self._tree(Q, plan.rowsum_steps))

            self.Wd[l] = he.parallel_map(update, range(p))
            if l:
                self._refresh_live(live, ("backward", l), points)
