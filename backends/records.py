"""What a backend reports: its description and one record per training iteration."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .ops import LevelKey, OpSnapshot

@dataclass(frozen=True)
class Description:
    """What a report must say about the backend that ran: library, mode, security, shape."""

    library: str
    #: "exact" (plaintext reference), "encrypted" or "simulated" (nothing encrypted)
    mode: str
    security: str
    security_bits: int | None
    library_version: str
    #: processes or threads the library computes with
    workers: int | None
    #: what a whole-model backend trains instead of the paper's algorithm (None: the paper's)
    algorithm: str | None = None
    ring_dim: int | None = None
    slots: int | None = None
    scale_bits: int | None = None
    first_mod_bits: int | None = None
    #: bits of the full modulus, known once keys exist
    modulus_bits: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class IterationRecord:
    """What one training iteration produced, for CKKS and whole-model backends alike.

    ``phases`` maps a phase name to (wall seconds, CPU seconds) spent in it during this
    iteration; one-off costs (compile, keys, the data upload) belong to the first
    iteration's record, so a job's total is the sum over its records. ``upload`` maps a
    part of the upload to (ciphertexts, bytes); ``download`` is what came back for the
    client to decrypt.
    """

    iteration: int
    #: raw features (m x f) -> class scores (m x K), from the weights decrypted now
    decision_function: Callable[[np.ndarray], np.ndarray]
    phases: dict[str, tuple[float, float]]
    #: server operations of this iteration
    ops: dict[str, int] = field(default_factory=dict)
    #: one-off server operations before the first iteration (CKKS setup)
    setup_ops: dict[str, int] = field(default_factory=dict)
    upload: dict[str, tuple[int, int]] = field(default_factory=dict)
    download: tuple[int, int] = (0, 0)
    #: serialized bytes of the public context and evaluation keys sent to the server
    evalkey_bytes: int = 0
    #: the same, by kind of key
    key_bytes: dict[str, int] = field(default_factory=dict)
    #: the paper's K x (f + 1) weights, bias first (None when the backend trains another model)
    weights: np.ndarray | None = None
    #: levels consumed by the weights after this iteration (CKKS)
    level: int | None = None
    #: state refreshes (bootstraps or client round trips) after this iteration
    refreshes: int = 0

    @property
    def ops_by_level(self) -> dict[LevelKey, int]:
        """``ops`` by LevelKey; empty when the backend does not count by level (whole-model)."""
        return self.ops.by_level if isinstance(self.ops, OpSnapshot) else {}

    @property
    def setup_ops_by_level(self) -> dict[LevelKey, int]:
        """``setup_ops`` by LevelKey (see ops_by_level)."""
        return self.setup_ops.by_level if isinstance(self.setup_ops, OpSnapshot) else {}
