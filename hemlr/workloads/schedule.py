"""What every workload's plan shares: slot arithmetic (rows and windows are powers of two, so
that rotation trees halve them exactly), the parameters of how a state gets its levels back and,
from a plan's levels per iteration, the depth of its keys and where it refreshes."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar


def next_pow2(x: int) -> int:
    """The smallest power of two >= x (1 for x <= 1)."""
    return 1 << max(0, math.ceil(math.log2(max(1, x))))


def log2(x: int) -> int:
    """log2 of a power of two."""
    return int(math.log2(x))


class RowGrid:
    """Slot arithmetic of a plan whose ciphertexts are row-major grids, a sample per row: slot
    ``cols * r + c`` holds row r, column c. The plan has ``n``, ``slots``, ``cols`` (a power of
    two) and ``period_rows`` (rows after which a packed state repeats)."""

    n: int
    slots: int
    cols: int
    period_rows: int

    @cached_property
    def rows(self) -> int:
        return self.slots // self.cols

    @cached_property
    def n_data_cts(self) -> int:
        return math.ceil(self.n / self.rows)

    def valid_rows(self, b: int) -> int:
        """Samples in data ciphertext b."""
        return min(self.rows, self.n - b * self.rows)

    @cached_property
    def rowsum_steps(self) -> list[int]:
        """Whole-row rotations summing all rows (cyclic: rows * cols = slots)."""
        return [self.cols << k for k in range(log2(self.rows))]

    @cached_property
    def replicate_steps(self) -> list[int]:
        """Whole-row rotations copying a row of every period over the period's rows."""
        return [self.cols << k for k in range(log2(self.period_rows))]

    def normalize(self, step: int) -> int:
        """A rotation step as the keys name it: in (-slots/2, slots/2]."""
        s = int(step) % self.slots
        return s - self.slots if s > self.slots // 2 else s


@dataclass(frozen=True, kw_only=True)
class RefreshParams:
    """How a plan's state gets its levels back, by keyword after the plan's own shapes, and the
    schedule that follows from the plan's ``iterations`` (a field of its own) and
    ``LEVELS_PER_ITERATION``."""

    #: levels one iteration consumes on the critical path of the state (the plan's)
    LEVELS_PER_ITERATION: ClassVar[int]

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

    @property
    def subject(self) -> str:
        """What a refusal names after "iteration" (e.g. " of the network 400 -> 32 -> 10")."""
        return ""

    @property
    def bootstrap_cycle_depth(self) -> int:
        """Levels a bootstrap and one iteration after it need: the bootstrap's, then expand,
        the iteration's, pack, and one spare for the bootstrap's input."""
        return self.bootstrap_depth + 3 + self.LEVELS_PER_ITERATION

    @cached_property
    def depth(self) -> int:
        """Total multiplicative depth of the keys.

        A cycle of k iterations from the working weights at level r needs r + Lk + 1 levels: L
        per iteration, then one to pack the state (for the client, for a refresh, or before a
        bootstrap, which also needs one spare level). Without refresh: r = 1 (the upload
        expanded), k = T. Client refresh: r = 0 (the client uploads the working form), the
        most iterations per round trip the parameters hold. Bootstrap: r = bootstrap_depth + 1,
        the most iterations between bootstraps the parameters hold, or fewer when the run needs
        fewer.
        """
        lpi = self.LEVELS_PER_ITERATION
        if self.refresh == "none":
            return self.start_level + lpi * self.iterations + 1
        k = self.refresh_every
        if self.refresh == "client":
            k = min(self.iterations, k or (self.max_depth - self.start_level - 1) // lpi)
            if k < 1:
                raise ValueError(
                    f"one iteration{self.subject} needs depth {self.start_level + lpi + 1} between client "
                    f"refreshes, the parameters hold {self.max_depth}; use a larger ring_dim or a larger "
                    f"modulus budget")
            return self.start_level + lpi * k + 1
        if self.bootstrap_cycle_depth > self.max_depth:
            raise ValueError(
                f"a bootstrap leaves {self.max_depth - self.bootstrap_depth} of {self.max_depth} levels; "
                f"one iteration{self.subject} between bootstraps needs {self.bootstrap_cycle_depth - self.bootstrap_depth} (expand, {lpi}, pack, one "
                f"spare for the bootstrap); use a larger ring_dim, a larger modulus budget or refresh: client")
        if k:
            return self.bootstrap_cycle_depth + lpi * (k - 1)
        # The most iterations between bootstraps the parameters hold, and no level more (nor
        # more than the run needs): every level costs time in every operation.
        held = (self.max_depth - self.bootstrap_cycle_depth) // lpi
        return min(self.bootstrap_cycle_depth + lpi * held, max(self.bootstrap_cycle_depth, 2 + lpi * self.iterations))

    @cached_property
    def refreshes(self) -> tuple[int, ...]:
        """Iterations after which the state is refreshed (never after the last one).

        The packed state may use every level for a client, all but one for a bootstrap
        (OpenFHE rescales its input first); the last weights may use every level.
        """
        lpi = self.LEVELS_PER_ITERATION
        pack_limit = self.depth - (self.refresh == "bootstrap")
        out, level = [], self.start_level  # the working weights of the upload
        for t in range(1, self.iterations + 1):
            level += lpi
            limit = self.depth if t == self.iterations else pack_limit
            if level + 1 > limit:
                raise ValueError(f"iteration {t}{self.subject} needs level {level + 1}, the keys hold "
                                 f"{limit}; use refresh: client or bootstrap")
            following = self.depth if t + 1 == self.iterations else pack_limit
            if t < self.iterations and level + lpi + 1 > following:
                out.append(t)
                level = self.restart_level
        return tuple(out)
