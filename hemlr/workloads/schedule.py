"""What every workload's plan shares: slot arithmetic (rows and windows are powers of two, so
that rotation trees halve them exactly) and the parameters of how a state gets its levels back."""
from __future__ import annotations

import math
from dataclasses import dataclass


def next_pow2(x: int) -> int:
    """The smallest power of two >= x (1 for x <= 1)."""
    return 1 << max(0, math.ceil(math.log2(max(1, x))))


def log2(x: int) -> int:
    """log2 of a power of two."""
    return int(math.log2(x))


@dataclass(frozen=True, kw_only=True)
class RefreshParams:
    """How a plan's state gets its levels back, by keyword after the plan's own shapes."""

    #: "none", "client" (a round trip to the client, who re-encrypts the state) or "bootstrap"
    #: (on the server): hemlr.columns.REFRESH
    refresh: str = "none"
    #: the largest total depth the parameters hold (None: unbounded, refresh none only)
    max_depth: int | None = None
    #: levels a bootstrap leaves consumed (its output level) and the slot period it works on
    bootstrap_depth: int = 0
    bootstrap_slots: int | None = None
    #: iterations between refreshes (None: as many as the parameters' depth holds); fewer
    #: means a smaller depth, hence faster operations, and more refreshes
    refresh_every: int | None = None

    @property
    def expands(self) -> bool:
        """Whether the server expands a packed state into the weights' working form (one level
        and rotations). With client refresh it does not: the client holds the weights in the
        clear and uploads them (at the start and after every round trip) in the working form
        itself, which costs more bytes per round trip and saves the server a level and every
        expansion rotation."""
        return self.refresh != "client"

    @property
    def start_level(self) -> int:
        """Level of the working weights the first iteration starts from."""
        return int(self.expands)

    @property
    def restart_level(self) -> int:
        """Level of the working weights after a refresh: a bootstrap's output (or a fresh
        encryption), then the expansion where there is one."""
        return (self.bootstrap_depth if self.refresh == "bootstrap" else 0) + self.start_level
