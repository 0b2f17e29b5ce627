"""Exact plaintext reference backend: float64 slot vectors, no noise, no cryptography.

It behaves like a CKKS library where it matters for the trainer: a fixed slot count,
rotations only by declared steps, multiplications only up to the declared depth, and
a client/server split through bytes. That lets the trainer's rotation-key and depth
budget be tested without any cryptography.
"""
from __future__ import annotations

import io
import json
from typing import Any, ClassVar, Sequence

import numpy as np

from .base import Ciphertext, CKKSBackend, ParameterError


class PlaintextBackend(CKKSBackend):
    library: ClassVar[str] = "plaintext"
    mode: ClassVar[str] = "exact"
    PARAMS_SCHEMA: ClassVar[dict] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "library": {"const": "plaintext"},
            "slots": {"type": "integer", "enum": [2 ** k for k in range(3, 17)], "default": 16384,
                      "description": "slot count to mimic (CKKS ring dimension / 2)"},
            "max_depth": {"type": "integer", "minimum": 1, "default": 64,
                          "description": "largest multiplicative depth accepted"},
        },
    }

    def __init__(self, slots: int = 16384, max_depth: int = 64, **params: Any) -> None:
        params.pop("library", None)
        if params:
            raise ParameterError(f"plaintext: unknown parameters {sorted(params)}")
        if slots < 2 or slots & (slots - 1):
            raise ParameterError(f"plaintext: slots must be a power of two, got {slots}")
        super().__init__(slots=slots, max_depth=max_depth)
        self._slots = int(slots)
        self._max_depth = int(max_depth)

    @property
    def slots(self) -> int:
        return self._slots

    def max_depth(self) -> int:
        return self._max_depth

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "ring_dim": 2 * self._slots, "scale_bits": None,
                "security_bits": None, "security": "none (plaintext)"}

    # client
    def _keygen(self, depth: int, steps: Sequence[int]) -> None:
        pass

    def _encrypt(self, values: np.ndarray) -> np.ndarray:
        return values.copy()

    def _decrypt(self, ct: Ciphertext) -> np.ndarray:
        return ct.raw

    def _public_bytes(self) -> bytes:
        return json.dumps({"slots": self._slots}).encode()

    def _load_public(self, data: bytes) -> None:
        self._slots = int(json.loads(data)["slots"])

    # serialization
    def _serialize(self, ct: Ciphertext) -> bytes:
        buf = io.BytesIO()
        np.save(buf, ct.raw, allow_pickle=False)
        return buf.getvalue()

    def _deserialize(self, data: bytes) -> np.ndarray:
        return np.load(io.BytesIO(data), allow_pickle=False)

    # evaluation
    def _add(self, a: Ciphertext, b: Ciphertext) -> np.ndarray:
        return a.raw + b.raw

    def _sub(self, a: Ciphertext, b: Ciphertext) -> np.ndarray:
        return a.raw - b.raw

    def _add_plain(self, a: Ciphertext, values: np.ndarray) -> np.ndarray:
        return a.raw + values

    def _mul(self, a: Ciphertext, b: Ciphertext) -> np.ndarray:
        return a.raw * b.raw

    def _mul_plain(self, a: Ciphertext, values: np.ndarray) -> np.ndarray:
        return a.raw * values

    def _mul_scalar(self, a: Ciphertext, value: float) -> np.ndarray:
        return a.raw * value

    def _rotate(self, a: Ciphertext, step: int) -> np.ndarray:
        return np.roll(a.raw, -step)
