"""A cost model of the server's time: every CKKS primitive timed at every level, priced by the
schedule's operation counts.

:func:`microbenchmark` times the primitives the interface counts by level
(``backends.base.LEVEL_KINDS``) on one backend with keys of a run's depth; :func:`predict`
prices a set of counts (an ``ops_by_level`` cell of the results table) with such a table;
:func:`predict_job` predicts a job that did not run, e.g. the paper's algorithm on all 60,000
MNIST training images, from the counts of the same trainer on the plaintext backend, which
counts exactly like a ring of that size.

    python -m hemlr.costmodel workflow/configs/scaling.yaml openfhe_ring_dim~65536 --n 60000 --iterations 2 20
"""
from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from multiprocessing import connection
from pathlib import Path

import numpy as np
import pandas as pd

from backends import registry
from backends.base import CKKSBackend, LevelKey
from backends.plaintext import PlaintextBackend

from . import columns as col
from .provenance import provenance
from .trainer import EncryptedSession, plan_for

#: kinds microbenchmark() times (map_result is priced from serialize and deserialize)
TIMED_KINDS: tuple[str, ...] = ("ct_mult", "pt_mult", "scalar_mult", "add", "add_plain", "rotation",
                                "hoisted_rotation", "level_align", "serialize", "deserialize", "bootstrap")
#: the fixed cost of one forked parallel_map (timed when the backend forks), by its results' level
MAP_OVERHEAD = "map_overhead"
#: kinds that consume a level: they need one left
PRODUCTS = ("ct_mult", "pt_mult", "scalar_mult")
#: phases that make up the server's time of an iteration
SERVER_PHASES = ("iteration", "refresh", "bootstrap")
#: relative error beyond which the report flags a prediction
TOLERANCE = 0.25
PREDICTED = "predicted_server_s"
#: seconds a round of the concurrent microbenchmark waits for its other processes
_BARRIER_TIMEOUT_S = 600


def run_depth(backend: CKKSBackend, iterations: int, refresh: str = "none",
              refresh_every: int | None = None) -> int:
    """Depth of the keys of a run on ``backend`` (Plan.depth). It depends on the iterations
    and the refresh only, not on the data's shape: the smallest shape (1 sample, 1 column,
    2 classes) stands for any."""
    return plan_for(backend, 1, 1, 2, iterations, refresh, refresh_every).depth


def microbenchmark(backend: CKKSBackend, depth: int, levels: Iterable[int] | None = None, *,
                   samples: int = 5, hoisted_steps: int = 4, bootstrap: bool = False,
                   seed: int = 0) -> pd.DataFrame:
    """Wall seconds of each primitive of ``backend`` (a fresh client adapter, given keys of
    ``depth`` here) on the server built from its published bytes, at each of ``levels``
    (default: every level 0..depth; products, which consume a level, stop at depth - 1).

    Each time is the median of ``samples`` calls after one warm-up call, the samples taken
    in rounds over every (kind, level), through the public interface: its bookkeeping, the
    adapter's encoding, relinearisation and rescaling included, as the trainer pays them.
    ``hoisted_rotation`` is one step of a rotate_many over ``hoisted_steps`` steps;
    ``level_align`` at level l is a sum of a level-1 (at l = 1: level-0) and a level-l input
    less a sum of two level-l inputs, at least 0: the trainer's most frequent shallower
    inputs are Z and Z x Bbar, at levels 0 and 1, and bringing one down costs OpenFHE a
    rescale at its own level, TenSEAL one next to the deeper input's (its ``_at``). Inputs above
    level 0 are products' outputs, as most of the trainer's are (unrescaled where the library
    rescales lazily). ``bootstrap`` (only when asked: its keys are large) is timed at level
    depth - 1, where the trainer's state is. A level left out is interpolated by
    :func:`predict`.

    When the backend's parallel_map forks (map_workers > 1), every primitive but the
    bootstrap (which no map runs) is timed again in map_workers processes at once, as the
    items of such a map run; :func:`predict` prices the operations inside maps with those.

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
    # Timed where the trainer runs them: on a server built from the published bytes, on
    # ciphertexts deserialized there, as the trainer's inputs are.
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
        rows += _map_overheads(he, xs, ys, mask, levels, samples,
                               pd.DataFrame(rows).assign(map_workers=he.workers, library=he.library))
    desc = backend.describe()
    about = {"library": desc.library, "ring_dim": desc.ring_dim, "depth": depth,
             "params": ", ".join(f"{k}={v}" for k, v in sorted(he.params.items())),
             "map_workers": he.workers, "workers": desc.workers, **provenance()}
    return pd.DataFrame([{**row, **about} for row in rows])


Timings = dict[tuple[str, int], list[float]]


def _map_overheads(he: CKKSBackend, xs: Sequence, ys: Sequence, mask: np.ndarray, levels: Sequence[int],
                   samples: int, costs: pd.DataFrame) -> list[dict]:
    """MAP_OVERHEAD rows, by the results' level: what a forked parallel_map costs beyond its
    operations as :func:`predict` prices them at ``costs`` (the table so far). Each of its
    map_workers items is a score window's first steps (a product, a rotation, a plaintext
    product) on the inputs ``xs`` and ``ys`` at a level of ``levels``. The rest is forking
    this process, each fresh worker's first operations paying for the memory they touch
    first (copy-on-write and page faults: 35,000-45,000 minor faults and 0.5-1.1 s more for
    a worker's first item at ring 65536, measured), and the pool's teardown. Median of
    ``samples`` maps, at least 0."""
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
        work = predict(he.ops.since(before).by_level, costs)
        rows.append({"kind": MAP_OVERHEAD, "level": out[0].level, "processes": he.workers,
                     "seconds": max(0.0, float(np.median(walls)) - work), "n": samples})
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
    forked parallel_map run: the copies contend for the cores' caches and memory bandwidth
    (on this 2-vCPU machine little: a median 1.01x the single-process cost, 0.85-1.2x over
    the primitives and levels, measured). Each round starts in all copies together; the
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


def _costs(table: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """kind -> (measured levels, seconds), levels ascending."""
    return {kind: (g["level"].to_numpy(float), g["seconds"].to_numpy(float))
            for kind, g in table.sort_values("level").groupby("kind")}


def predict(ops_by_level: Mapping[LevelKey, int] | str, table: pd.DataFrame, workers: int | None = None) -> float:
    """Predicted seconds of the operations ``ops_by_level`` (a LevelKey mapping, or an
    ``ops_by_level`` cell of the results table) at the costs of ``table`` (microbenchmark's).

    The sum over operations of count x the kind's cost at the input's level, linearly
    interpolated between measured levels and held constant beyond them. The items of a
    parallel_map of width m run on ``workers`` processes (default: the table's map_workers)
    in rounds: m // workers full rounds, then one of the rest. An operation of a round of
    several items costs what the table measured in concurrent processes (its rows with
    processes > 1; this machine's contention is assumed for other process counts, and
    without such rows the single-process cost), one alone what it measured alone. So each
    of the map's operations costs (m // w x concurrent + [m % w > 1] x concurrent
    + [m % w = 1] x alone) / m. When such a map forks (workers > 1, m > 1), each result adds
    a serialization there (spread likewise) and a deserialization here, and the map its
    MAP_OVERHEAD at its results' level (forking, fresh workers' first touch of memory,
    teardown; 0 where the table has none). Assumes equal items. Raises ValueError naming the
    kinds the table has no cost for.
    """
    ops = col.ops_from_json(ops_by_level) if isinstance(ops_by_level, str) else ops_by_level
    w = int(workers or table["map_workers"].iloc[0])
    # tables cached before the concurrent timing existed were measured alone
    processes = table["processes"] if "processes" in table else pd.Series(1, index=table.index)
    alone, together = _costs(table[processes == 1]), _costs(table[processes > 1])
    forks = w > 1
    crossing = forks and any(kind == "map_result" and width > 1 for kind, _, width in ops)
    needed = {kind for kind, _, _ in ops if kind != "map_result"}
    needed |= {"serialize", "deserialize"} if crossing else set()
    missing = needed - set(alone)
    if missing:
        raise ValueError(f"the cost table ({table['library'].iloc[0]}, levels "
                         f"{table['level'].min()}..{table['level'].max()}) has no cost for {sorted(missing)}")

    def at(kind: str, level: int, width: int = 1) -> float:
        """Cost of one of a map's ``width`` items' operation, per item (see above)."""
        if not forks or width == 1:
            return float(np.interp(level, *alone[kind]))
        concurrent = float(np.interp(level, *together.get(kind, alone[kind])))
        full, rest = divmod(width, w)
        last = 0.0 if rest == 0 else concurrent if rest > 1 else float(np.interp(level, *alone[kind]))
        return (full * concurrent + last) / width

    total = 0.0
    for (kind, level, width), n in ops.items():
        if kind != "map_result":
            total += n * at(kind, level, width)
        elif forks and width > 1:
            # n / width maps of width results each, each with its fixed cost where measured
            overhead = float(np.interp(level, *together[MAP_OVERHEAD])) if MAP_OVERHEAD in together else 0.0
            total += n * (at("serialize", level, width) + at("deserialize", level) + overhead / width)
    return total


def server_seconds(df: pd.DataFrame) -> pd.Series:
    """Measured server seconds of each row: the wall time of its SERVER_PHASES."""
    return sum(df[col.wall(p)].fillna(0.0) for p in SERVER_PHASES if col.wall(p) in df)


def with_predictions(df: pd.DataFrame, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``df`` with a PREDICTED column: each row's server seconds from its ops_by_level at the
    costs of its backend's table (``tables``: backend name -> microbenchmark table); NaN
    for backends without a table and rows without by-level counts."""
    counts = df[col.OPS_BY_LEVEL] if col.OPS_BY_LEVEL in df else pd.Series(None, index=df.index, dtype=object)
    predicted = [predict(c, tables[b]) if b in tables and isinstance(c, str) and c != "[]" else np.nan
                 for b, c in zip(df["backend"], counts)]
    return df.assign(**{PREDICTED: predicted})


def plaintext_twin(backend: CKKSBackend) -> PlaintextBackend:
    """The plaintext backend that plans and counts like ``backend``: its slots, depth bound and
    bootstrap (level left, slot period)."""
    # a backend that cannot bootstrap plans with bootstrap depth 0 (plan_for)
    bootstrap = {"bootstrap_depth": 0} if backend.bootstrap_depth() is None else {
        "bootstrap_depth": backend.bootstrap_depth(), "bootstrap_slots": backend.bootstrap_slots()}
    return PlaintextBackend(ring_dim=2 * backend.slots, max_depth=backend.max_depth(), **bootstrap)


def predict_job(backend: CKKSBackend, table: pd.DataFrame, n: int, n_features: int, n_classes: int,
                iterations: int, refresh: str = "none", refresh_every: int | None = None,
                workers: Sequence[int | None] = (None,)) -> pd.DataFrame:
    """Predicted server seconds, per iteration, of the paper's algorithm on ``backend``
    training n samples of n_features into n_classes, with the costs of ``table`` (measured
    on that backend at the plan's depth), for each of ``workers`` parallel_map processes
    (None: the table's); the counts are made once for all of them.

    The counts come from running the same trainer on :func:`plaintext_twin` on zero features
    of that shape (the schedule depends on the shapes only). What that costs, estimated (not
    measured) for n = 60,000, 400 features, 10 classes at ring 32768: 1875 data ciphertexts
    of 16384 doubles; the scores keep B x K = 18,750 windows alive at once (2.5 GB), the
    upload, Z and Z x Bbar another 1 GB, so about 4 GB; some 500,000 numpy operations on
    128 kB per iteration, some 30 s (ring 65536: half the ciphertexts, twice their size,
    about the same). One row per iteration: predicted_server_s, refreshes and the flat counts; the
    first row also has predicted_setup_s (the server's setup operations and the upload's
    deserialization, not the loading of its keys) and upload_cts.
    """
    plan = plan_for(backend, n, n_features + 1, n_classes, iterations, refresh, refresh_every)
    depths = set(table["depth"])
    if depths != {plan.depth}:
        raise ValueError(f"the cost table was measured at depth {sorted(depths)}, this job's keys have depth "
                         f"{plan.depth}: costs depend on the depth (the modulus chain); measure at {plan.depth}")
    session = EncryptedSession(plaintext_twin(backend), np.zeros((n, n_features)), np.arange(n) % n_classes,
                               n_classes, iterations, refresh, refresh_every=refresh_every)
    assert session.plan == plan, "the plaintext twin plans differently from the backend"
    records = list(session)
    rows = []
    for w in workers:
        for rec in records:
            rows.append({"map_workers": int(w or table["map_workers"].iloc[0]), "iteration": rec.iteration,
                         PREDICTED: predict(rec.ops_by_level, table, w),
                         "refreshes": rec.refreshes, **{k: rec.ops[k] for k in col.OP_LABELS}})
            if rec.iteration == 1:
                rows[-1].update(predicted_setup_s=predict(rec.setup_ops_by_level, table, w),
                                upload_cts=sum(c for c, _ in rec.upload.values()))
    return pd.DataFrame(rows).assign(n=n, library=backend.library, ring_dim=2 * backend.slots, depth=plan.depth)


def _main(argv: list[str] | None = None) -> None:
    from .config import backend_params, load_config

    parser = argparse.ArgumentParser(prog="python -m hemlr.costmodel", description=(
        "Predict the server time of the paper's algorithm on a backend of a config for a shape that "
        "did not run, from the cost table its run measured (cost_model: true)."))
    parser.add_argument("config", help="the run's config file")
    parser.add_argument("backend", help="a backend entry of the config (a grid member's full name)")
    parser.add_argument("--table", help="cost table (default results/<run>/costmodel/<backend>.parquet)")
    parser.add_argument("--n", type=int, default=60000, help="training samples")
    parser.add_argument("--features", type=int, default=400)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--iterations", type=int, nargs="+", default=[2, 20])
    parser.add_argument("--refresh", choices=["none", "client", "bootstrap"], default=None,
                        help="default: the backend entry's")
    parser.add_argument("--refresh-every", type=int, default=None,
                        help="iterations between refreshes (default: the backend entry's); sets the depth, "
                             "which must be the cost table's")
    parser.add_argument("--workers", type=int, nargs="+", default=[None],
                        help="parallel_map processes (default: the table's)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    entry = config["backends"][args.backend]
    table = pd.read_parquet(args.table or Path("results", config["run"], "costmodel", f"{args.backend}.parquet"))
    backend = registry.make_backend(backend_params(config, args.backend))
    lines = []
    for iterations in args.iterations:
        jobs = predict_job(backend, table, args.n, args.features, args.classes, iterations,
                           args.refresh or entry["refresh"], args.refresh_every or entry["refresh_every"], args.workers)
        for workers, job in jobs.groupby("map_workers", sort=False):
            lines.append({"iterations": iterations, "map_workers": workers,
                          "server s (iterations)": job[PREDICTED].sum(), "server s / iteration": job[PREDICTED].mean(),
                          "server setup s": job["predicted_setup_s"].iloc[0],
                          "uploaded cts": int(job["upload_cts"].iloc[0]),
                          "refreshes": job["refreshes"].sum()})
    print(f"{args.backend} ({backend.library}, ring {2 * backend.slots}), n = {args.n}:")
    print(pd.DataFrame(lines).to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    _main()
