"""Wall and CPU time of a block of code, shared by the runner and the adapters."""
from __future__ import annotations

import resource
import time
from contextlib import contextmanager
from typing import Iterator


def cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (forked workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@contextmanager
def timed(phases: dict[str, tuple[float, float]], name: str) -> Iterator[None]:
    """Add (wall seconds, CPU seconds) of the block to ``phases[name]`` (phases may recur)."""
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    yield
    wall, cpu = phases.get(name, (0.0, 0.0))
    phases[name] = (wall + time.perf_counter() - wall0, cpu + cpu_seconds() - cpu0)
