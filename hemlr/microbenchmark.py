"""The microbenchmark: every CKKS primitive timed at every level, on the server side of a run.

It measures only; :mod:`hemlr.pricing` prices operation counts with its table.
"""
from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from multiprocessing import connection

import numpy as np
import pandas as pd

from backends.base import CKKSBackend
from . import columns as col
from .pricing import MAP_WALL
from .provenance import provenance

#: kinds microbenchmark() times (map_result is priced from serialize and deserialize)
TIMED_KINDS: tuple[str, ...] = ("ct_mult", "pt_mult", "scalar_mult", "add", "add_plain", "rotation",
                                "hoisted_rotation", "level_align", "serialize", "deserialize", "bootstrap")
#: seconds a round of the concurrent microbenchmark waits for its other processes
_BARRIER_TIMEOUT_S = 600


def microbenchmark(backend: CKKSBackend, depth: int, levels: Iterable[int] | None = None, *,
                   samples: int = 5, hoisted_steps: int = 4, bootstrap: bool = False,
                   seed: int = 0) -> pd.DataFrame:
    """Wall seconds of each primitive of ``backend`` (a fresh client adapter, given keys of
    ``depth`` here) on the server built from its published bytes, at each of ``levels``
    (default: every level 0..depth; products, which consume a level, stop at depth - 1).

    Each time is the median of ``samples`` calls after one warm-up call, the samples taken
    in rounds over every (kind, level), through the public interface: its bookkeeping, the
    adapter's encoding, relinearisation and rescaling included, as a workload pays them.
    ``hoisted_rotation`` is one step of a rotate_many over ``hoisted_steps`` steps;
    ``level_align`` at level l is a sum of a level-1 (at l = 1: level-0) and a level-l input
    less a sum of two level-l inputs, at least 0: a workload's most frequent shallower
    inputs are its uploaded data and products with it, at levels 0 and 1, and bringing one down costs OpenFHE a
    rescale at its own level, TenSEAL one next to the deeper input's (its ``_at``). Inputs above
    level 0 are products' outputs, as most of a workload's are (unrescaled where the library
    rescales lazily). ``bootstrap`` (only when asked: its keys are large) is timed at level
    depth - 1, where a refreshed state is. A level left out is interpolated by
    the pricing.

    When the backend's parallel_map forks (map_workers > 1), every primitive but the
    bootstrap (which no map runs) is timed again in map_workers processes at once, as the
    items of such a map run (pricing uses those for the operations inside maps), and whole
    forked maps are timed (:func:`_map_walls`).

    One row per (kind, level, processes): kind, level, processes (1, or map_workers for the
    concurrent timing), seconds, n (samples, pooled over the processes), then what was
    measured (library, ring_dim, depth, params, map_workers: the processes parallel_map
    spreads over, workers: the library's own) and where (hemlr.provenance).
    """
    levels = sorted(set(range(depth + 1) if levels is None else levels))
    if not levels or levels[0] < 0 or levels[-1] > depth:
        raise ValueError(f"levels {levels} must lie in 0..{depth}")
    steps = list(range(1, hoisted_steps + 1))
    backend.keygen(depth, steps, bootstrap=bootstrap)
    # Timed where a workload runs them: on a server built from the published bytes, on
    # ciphertexts deserialized there, as a workload's inputs are.
    he = type(backend).server_from_bytes(backend.public_bytes(), depth, steps, bootstrap=bootstrap,
                                         **backend.params)
    rng = np.random.default_rng(seed)
    period = (he.bootstrap_slots() or he.slots) if bootstrap else he.slots

    def chain() -> list:
        # one ciphertext per level; |values| < 1 and periodic, as a bootstrap's input must be
        fresh = backend.encrypt(np.tile(rng.uniform(-0.5, 0.5, period), he.slots // period))
        cts = [he.deserialize(backend.serialize(fresh), 0)]
        for _ in range(depth):
            cts.append(he.mul_scalar(cts[-1], 1.0))
        return cts

    xs, ys = chain(), chain()
    mask = rng.uniform(-1.0, 1.0, he.slots)
    blobs = {level: he.serialize(xs[level]) for level in levels}
    calls: dict[tuple[str, int], Callable[[], object]] = {}
    for level in levels:
        x, y = xs[level], ys[level]
        calls.update({
            ("add", level): lambda x=x, y=y: he.add(x, y),
            ("add_plain", level): lambda x=x: he.add_plain(x, mask),
            ("rotation", level): lambda x=x: he.rotate(x, 1),
            ("hoisted_rotation", level): lambda x=x: he.rotate_many(x, steps),
            ("serialize", level): lambda x=x: he.serialize(x),
            ("deserialize", level): lambda level=level: he.deserialize(blobs[level], level)})
        if level > 0:
            calls["add_mixed", level] = lambda y=y, level=level: he.add(xs[min(level - 1, 1)], y)
        if level < depth:
            calls.update({("ct_mult", level): lambda x=x, y=y: he.mul(x, y),
                          ("pt_mult", level): lambda x=x: he.mul_plain(x, mask),
                          ("scalar_mult", level): lambda x=x: he.mul_scalar(x, 0.5)})
        if bootstrap and level == depth - 1:
            calls["bootstrap", level] = lambda x=x: he.bootstrap(x)
    for call in calls.values():
        call()  # warm-up: first-call allocations, lazily built tables
    rows = []
    for processes in sorted({1, he.workers}):
        timed = calls if processes == 1 else {key: c for key, c in calls.items() if key[0] != "bootstrap"}
        times = _rounds(timed, samples) if processes == 1 else _concurrent_rounds(timed, samples, processes)
        seconds = {key: float(np.median(t)) for key, t in times.items()}
        for level in levels:
            seconds["hoisted_rotation", level] /= len(steps)
            if level > 0:
                seconds["level_align", level] = max(0.0, seconds.pop(("add_mixed", level)) - seconds["add", level])
        rows += [{"kind": kind, "level": level, "processes": processes, "seconds": s, "n": samples * processes}
                 for (kind, level), s in seconds.items()]
    if he.workers > 1:
        rows += _map_walls(he, xs, ys, mask, levels, samples)
    desc = backend.describe()
    about = {"library": desc.library, "ring_dim": desc.ring_dim, "depth": depth,
             "params": ", ".join(f"{k}={v}" for k, v in sorted(he.params.items())),
             "map_workers": he.workers, "workers": desc.workers, **provenance()}
    return pd.DataFrame([{**row, **about} for row in rows])


Timings = dict[tuple[str, int], list[float]]


def _map_walls(he: CKKSBackend, xs: Sequence, ys: Sequence, mask: np.ndarray, levels: Sequence[int],
               samples: int) -> list[dict]:
    """MAP_WALL rows, by the results' level: the wall seconds (median of ``samples``) of one
    forked parallel_map of map_workers items, each a product, a rotation and a plaintext
    product (a typical map item's first steps) on the inputs ``xs`` and ``ys`` at a level of ``levels``,
    with the operations it ran (``ops``). Beyond those operations a map pays for forking this
    process, each fresh worker's first operations touching memory for the first time
    (copy-on-write and page faults) and the pool's teardown: the pricing derives that fixed
    cost from these rows."""
    rows = []
    for level in (lv for lv in levels if lv + 2 < len(xs)):
        x, y = xs[level], ys[level]
        walls = []
        for _ in range(samples):
            before = he.ops.snapshot()
            start = time.perf_counter()
            out = he.parallel_map(lambda _, x=x, y=y: he.mul_plain(he.rotate(he.mul(x, y), 1), mask),
                                  range(he.workers))
            walls.append(time.perf_counter() - start)
            ops = he.ops.since(before).by_level
        rows.append({"kind": MAP_WALL, "level": out[0].level, "processes": he.workers,
                     "seconds": float(np.median(walls)), "n": samples, "ops": col.ops_json(ops)})
    return rows


def _rounds(calls: Mapping[tuple[str, int], Callable[[], object]], samples: int,
            barrier: threading.Barrier | None = None) -> Timings:
    """Wall seconds of ``samples`` calls of each of ``calls``, taken in rounds over all of them
    so that a slow spell of the machine spreads over every (kind, level) instead of biasing a
    few; each round starts at ``barrier`` when one is given."""
    times: Timings = {key: [] for key in calls}
    for _ in range(samples):
        if barrier is not None:
            barrier.wait()
        for key, call in calls.items():
            start = time.perf_counter()
            call()
            times[key].append(time.perf_counter() - start)
    return times


def _concurrent_rounds(calls: Mapping[tuple[str, int], Callable[[], object]], samples: int,
                       processes: int) -> Timings:
    """:func:`_rounds` in ``processes`` forked copies of this process at once, as the items of a
    forked parallel_map run: the copies contend for the cores' caches and memory bandwidth,
    by an amount that depends on the machine. Each round starts in all copies together; the
    samples of all copies are pooled."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(processes, timeout=_BARRIER_TIMEOUT_S)
    children, pipes = [], []
    for _ in range(processes):
        receive, send = ctx.Pipe(duplex=False)
        child = ctx.Process(target=lambda send=send: send.send(_rounds(calls, samples, barrier)), daemon=True)
        child.start()
        send.close()  # so that receive() sees the end of a child that died
        children.append(child)
        pipes.append(receive)
    results, pending = [], list(pipes)
    while pending:
        for pipe in connection.wait(pending):
            pending.remove(pipe)
            try:
                results.append(pipe.recv())
            except EOFError:
                barrier.abort()  # the others wait for the dead one at their next round
                for child in children:
                    child.join()
                raise RuntimeError("a process of the concurrent microbenchmark died (exit codes "
                                   f"{[child.exitcode for child in children]}); its error is above") from None
    for child in children:
        child.join()
    return {key: [t for result in results for t in result[key]] for key in calls}


