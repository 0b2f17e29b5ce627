"""Exact plaintext reference backend: float64 slot vectors, no noise, no cryptography.

It behaves like a CKKS library where it matters for a workload: a fixed slot count,
rotations only by declared steps, multiplications only up to the declared depth, and
a client/server split through bytes. That lets a workload's rotation-key and depth
budget be tested without any cryptography.
"""
from __future__ import annotations

import io
import json
from typing import Any, ClassVar, Sequence

import numpy as np

from .base import ROTATION_KEYS_PARAM, BackendError, Ciphertext, CKKSBackend, Resources
from .records import Description


class PlaintextBackend(CKKSBackend):
    library: ClassVar[str] = "plaintext"
    mode: ClassVar[str] = "exact"
    PARAMS_SCHEMA: ClassVar[dict] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "ring_dim": {"type": "integer", "enum": [2 ** k for k in range(4, 18)], "default": 32768,
                         "description": "ring dimension to mimic (slots = ring_dim / 2)"},
            "max_depth": {"type": "integer", "minimum": 1, "default": 64,
                          "description": "largest multiplicative depth accepted"},
            "bootstrap_depth": {"type": "integer", "minimum": 0, "default": 16,
                                "description": "level an (exact) bootstrap leaves, as OpenFHE's "
                                               "sparse-secret [3, 3] bootstrap does"},
            "bootstrap_slots": {"type": ["integer", "null"], "minimum": 8, "default": None,
                                "description": "slot period a bootstrap works on (null: all); "
                                               "OpenFHE's documented setting bootstraps 16384"},
            "rotation_keys": ROTATION_KEYS_PARAM,
        },
    }
    TEST_PARAMS: ClassVar[dict] = {"ring_dim": 2048}
    # 0.7 GB, 0.01 s per iteration (digits, docs/results.md)
    RESOURCES: ClassVar[Resources] = Resources(mb=700, mb_per_ring=0, setup_s=0, iteration_s=0.05)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._slots = int(self.params["ring_dim"]) // 2

    @property
    def slots(self) -> int:
        return self._slots

    def max_depth(self) -> int:
        return int(self.params["max_depth"])

    def bootstrap_depth(self) -> int:
        return int(self.params["bootstrap_depth"])

    def bootstrap_slots(self) -> int | None:
        return self.params["bootstrap_slots"]

    def _bootstrap(self, ct: Ciphertext) -> np.ndarray:
        # Exact, but as demanding as a real bootstrap: what would break one is refused.
        x = ct.raw
        period = self.bootstrap_slots() or self.slots
        if np.abs(x).max() >= 1.0:
            raise BackendError(f"plaintext: bootstrap input reaches {np.abs(x).max():.3g}; it must "
                               "stay below 1 (scale it down by a public constant)")
        if not np.array_equal(x, np.tile(x[:period], self.slots // period)):
            raise BackendError(f"plaintext: bootstrap input does not repeat every {period} slots")
        return x.copy()

    def describe(self) -> Description:
        return Description(library=self.library, mode=self.mode, security="none (plaintext)",
                           security_bits=None, library_version="", workers=1,
                           ring_dim=2 * self._slots, slots=self._slots)

    # client
    def _keygen(self, depth: int, steps: Sequence[int], bootstrap: bool) -> None:
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
