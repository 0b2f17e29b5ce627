"""Operation accounting of the common HE interface: what it counts, and by which key.

The interface (backends.base.CKKSBackend) counts every operation by kind, input level and the
width of the parallel_map it ran in; a cost model prices those counts level by level, and the
flat counts of the results table are their sums, so the two never disagree.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

#: Operation kinds the interface counts, in report order.
OP_KINDS: tuple[str, ...] = ("ct_mult", "pt_mult", "scalar_mult", "add", "rotation", "rescale",
                             "bootstrap", "encrypt", "decrypt")

#: Operation kinds counted by level (OpCounts.by_level), finer where the cost differs: a
#: product's rescale is part of it; ``add`` is add or sub, ``add_plain`` encodes a plaintext
#: first; ``hoisted_rotation`` is one step of rotate_many; ``level_align`` brings the
#: shallower input of a binary operation down to the other's level (inside the library's
#: operation); ``map_result`` is one result of parallel_map, which crosses back from a worker
#: process (serialized there, deserialized here) when the map forks.
LEVEL_KINDS: tuple[str, ...] = ("ct_mult", "pt_mult", "scalar_mult", "add", "add_plain", "rotation",
                                "hoisted_rotation", "level_align", "bootstrap", "map_result", "serialize",
                                "deserialize", "encrypt", "decrypt")

#: The OP_KINDS counts each LEVEL_KINDS operation adds to (the by-level counts are the only
#: ones kept; the flat ones are their sums).
_FLAT_OF: dict[str, tuple[str, ...]] = {
    "ct_mult": ("ct_mult", "rescale"), "pt_mult": ("pt_mult", "rescale"),
    "scalar_mult": ("scalar_mult", "rescale"), "add": ("add",), "add_plain": ("add",),
    "rotation": ("rotation",), "hoisted_rotation": ("rotation",), "bootstrap": ("bootstrap",),
    "encrypt": ("encrypt",), "decrypt": ("decrypt",)}


class LevelKey(NamedTuple):
    """What by-level counts are keyed by."""

    kind: str
    #: level of the input ciphertext (of the deeper one, for two)
    level: int
    #: items of the parallel_map it ran in (1: outside one)
    width: int



class OpSnapshot(dict):
    """Operation counts by kind (OP_KINDS), as a dict, plus ``by_level``: the same operations
    by LevelKey (LEVEL_KINDS), which a cost model prices level by level. The flat counts
    are computed from ``by_level``, so the two never disagree."""

    def __init__(self, by_level: Mapping[LevelKey, int] = ()) -> None:
        self.by_level: dict[LevelKey, int] = {k: int(n) for k, n in dict(by_level).items() if n}
        flat = dict.fromkeys(OP_KINDS, 0)
        for key, n in self.by_level.items():
            for kind in _FLAT_OF.get(key[0], ()):
                flat[kind] += n
        super().__init__(flat)


@dataclass
class OpCounts:
    """Operation counters kept by the interface (never by the adapters)."""

    #: LevelKey -> operations
    by_level: Counter = field(default_factory=Counter)
    #: items of the parallel_map running now (1: none); a worker count does not change it
    width: int = 1

    def tally(self, kind: str, level: int, n: int = 1) -> None:
        """Count ``n`` operations of LEVEL_KINDS ``kind`` on an input at ``level``."""
        self.by_level[LevelKey(kind, int(level), self.width)] += n

    def merge(self, other: OpSnapshot) -> None:
        """Add counts made elsewhere (a forked worker's)."""
        self.by_level.update(other.by_level)

    def snapshot(self) -> OpSnapshot:
        return OpSnapshot(self.by_level)

    def since(self, before: OpSnapshot) -> OpSnapshot:
        return OpSnapshot({k: n - before.by_level.get(k, 0) for k, n in self.by_level.items()})

