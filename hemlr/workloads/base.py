"""What a workload (a training algorithm) declares, and the programs it hands the session.

A workload is one module or small subpackage of ``hemlr/workloads/`` holding one concrete
:class:`Workload` subclass; :mod:`hemlr.workloads` finds it by scanning. It owns everything
about its algorithm: its parameters (``PARAMS_SCHEMA``, grid-able like any parameter), its
exact reference, its plan from the shapes (depth, rotation steps, refresh points, uploads),
its client and server programs over the common HE interface, and what its decrypted weights
score. :class:`hemlr.session.EncryptedSession` runs any workload on any CKKS adapter; it never
knows the workload's shapes, and the workload never asks which library runs it.
"""
from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from backends import schema
from backends.base import Ciphertext, CKKSBackend

#: Weights as the client decrypts them: one array, or several (one per layer).
Weights = Any


class WorkloadError(ValueError):
    """Workload parameters refused (the message names the key and what is allowed)."""


@dataclass
class Upload:
    """The encrypted data crossing the client -> server boundary, in the order the client
    sends it, with public metadata (the keys cross before it, as the client's public bytes)."""

    cts: dict[str, list[bytes]] = field(default_factory=dict)
    #: public facts the server needs (e.g. a power-of-two prescaling), never data
    meta: dict[str, Any] = field(default_factory=dict)

    def parts(self) -> dict[str, tuple[int, int]]:
        """part -> (ciphertexts, serialized bytes)."""
        return {k: (len(v), sum(map(len, v))) for k, v in self.cts.items()}


class Plan(Protocol):
    """What the session needs of a workload's plan; the plan derives it from the shapes alone
    and refuses (ValueError) what cannot fit before any key exists."""

    iterations: int
    #: "none", "client" or "bootstrap" (hemlr.columns.REFRESH)
    refresh: str
    #: multiplicative depth of the keys
    depth: int
    #: every rotation step the server uses: the client makes exactly these keys
    rotation_steps: Sequence[int]
    #: iterations after which the state is refreshed (never after the last one)
    refreshes: tuple[int, ...]

    def layout(self) -> dict[str, int]:
        """The public shape of the packing, for the report (columns, rows, ...)."""


def publish_keys(he: CKKSBackend, plan: Plan) -> bytes:
    """The client's keys for exactly the plan's depth and rotation steps (and bootstrapping when
    the plan bootstraps); returns the public bytes the server is built from."""
    he.keygen(plan.depth, plan.rotation_steps, bootstrap=plan.refresh == "bootstrap")
    return he.public_bytes()


class Client(Protocol):
    """The data owner: keys, packing, encryption, decryption (holds the secret key)."""

    def keygen(self) -> bytes:
        """Keys for exactly the plan's depth and rotation steps; returns the public bytes."""

    def encrypt_upload(self, X: np.ndarray, y: np.ndarray) -> Upload: ...

    def decrypt_weights(self, blobs: list[bytes], level: int) -> Weights: ...

    def decrypt_state(self, blob: bytes, level: int, scale: float) -> tuple[Weights, Any]:
        """A packed state -> (the weights, the whole state to re-encrypt)."""

    def encrypt_state(self, state: Any, scale: float) -> list[bytes]:
        """The state freshly encrypted, packed (times ``scale``) or, where the plan does not
        expand, in the server's working form (unscaled): the client's refresh."""


class Server(Protocol):
    """The evaluating side, built from the client's bytes only (no secret key)."""

    def step(self) -> None:
        """One training iteration."""

    def finish_weights(self) -> None:
        """Complete the iteration's weights when no refresh follows."""

    def export_weights(self) -> tuple[list[bytes], int]:
        """The serialized weights and their level, for the client."""

    def pack_state(self, scale: float) -> Ciphertext:
        """The whole state in one bootstrappable ciphertext, times ``scale``."""

    def load_state(self, cts: list[Ciphertext], scale: float) -> None:
        """Continue from a refreshed state: one packed ciphertext, divided by ``scale`` and
        expanded, or, where the plan does not expand, the working form itself."""


class ReferenceStep(Protocol):
    """One iteration of a workload's exact reference."""

    #: the weights, in the form the client decrypts them
    weights: Weights
    #: the largest |input| of the activation in this iteration (its design range is the report's)
    max_abs_score: float
    #: the largest |value| of the state a refresh after this iteration packs (a bootstrap's input,
    #: once scaled by the public power of two of state_bound, must stay below 1)
    state_max_abs: float


class Workload(abc.ABC):
    """A training algorithm the harness runs on every backend that can run it."""

    #: the value of ``workload:`` in a config's workload entry
    name: ClassVar[str]
    #: what it trains, for the report
    title: ClassVar[str]
    #: draft-7 JSON schema of its parameters (defaults filled in): the one place they are declared
    PARAMS_SCHEMA: ClassVar[dict] = {"type": "object", "additionalProperties": False, "properties": {}}
    #: small parameters the workload checks run with (every adapter's tiny test ring must hold them)
    TEST_PARAMS: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)
        problems = self.param_problems(self.params)
        if problems:
            raise WorkloadError(f"workload {self.name}: " + "; ".join(problems))

    @classmethod
    def param_problems(cls, params: dict[str, Any], prefix: Sequence[Any] = (),
                       extra_keys: Sequence[str] = ()) -> list[str]:
        """Check ``params`` in place (defaults filled); one message per problem."""
        return schema.problems(params, cls.PARAMS_SCHEMA, prefix, extra_keys)

    # ------------------------------------------------------------------ the algorithm
    @abc.abstractmethod
    def reference(self, X: np.ndarray, y: np.ndarray, n_classes: int, iterations: int) -> list[ReferenceStep]:
        """The exact algorithm in numpy, one step per iteration."""

    @abc.abstractmethod
    def scores(self, weights: Weights, X: np.ndarray) -> np.ndarray:
        """Class scores (m x K) of raw features X (m x f) under ``weights``; argmax predicts."""

    def drift(self, weights: Weights, reference: Weights) -> tuple[float, float]:
        """max |weights - reference| over every weight, and that over max |reference|."""
        got, want = _flat(weights), _flat(reference)
        diff = float(np.abs(got - want).max())
        return diff, diff / float(np.abs(want).max())

    def reference_columns(self, step: ReferenceStep) -> dict[str, float]:
        """Facts of one reference iteration the results table carries beside the drift (none
        by default)."""
        return {}

    def data_problems(self, X: np.ndarray, y: np.ndarray, n_classes: int, iterations: int,
                      dataset: str, headroom_bits: int | None) -> list[str]:
        """Why the data would leave what the activation or a ciphertext holds (empty: it would not);
        ``headroom_bits``: the backend's (None: no modulus bound)."""
        return []

    # ------------------------------------------------------------------ under encryption
    @abc.abstractmethod
    def plan(self, backend: CKKSBackend, n: int, n_features: int, n_classes: int, iterations: int,
             refresh: str, refresh_every: int | None) -> Plan:
        """The plan of a run on ``backend``'s capabilities (slots, depth bound, bootstrap);
        ValueError naming the shape and the remedy when it cannot run there."""

    @abc.abstractmethod
    def client(self, he: CKKSBackend, plan: Plan) -> Client: ...

    @abc.abstractmethod
    def server(self, he: CKKSBackend, plan: Plan, upload: Upload) -> Server: ...


def _flat(weights: Weights) -> np.ndarray:
    arrays = weights if isinstance(weights, (list, tuple)) else [weights]
    return np.concatenate([np.ravel(np.asarray(w, dtype=np.float64)) for w in arrays])
