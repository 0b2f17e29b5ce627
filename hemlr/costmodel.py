"""The cost model of the server's time, in three parts: :mod:`hemlr.microbenchmark` measures every
CKKS primitive at every level on one backend, :mod:`hemlr.pricing` prices operation counts by
level with such a table (pure arithmetic, so the report can use it), and this module predicts
shapes that never ran, e.g. a workload on all 60,000 MNIST training images, with its command
line:

    python -m hemlr.costmodel workflow/configs/scaling.yaml openfhe_ring_dim~65536 --n 60000 --iterations 2 20

The operation counts come from running the same workload on the plaintext backend that plans
and counts like the real one (the schedule depends on the shapes only); the cost table of a
run (cost_model: true) prices them.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from backends import registry
from backends.base import CKKSBackend
from backends.plaintext import PlaintextBackend
from . import columns as col
from .pricing import PREDICTED, predict
from .session import EncryptedSession, plan_for
from .workloads import DEFAULT, make_workload
from .workloads.base import Workload


def run_depth(workload: Workload, backend: CKKSBackend, iterations: int, refresh: str = "none",
              refresh_every: int | None = None) -> int:
    """Depth of the keys of a run of ``workload`` on ``backend``. It depends on the iterations
    and the refresh only, not on the data's shape: the smallest shape (1 sample, 1 feature,
    2 classes) stands for any."""
    return plan_for(workload, backend, 1, 1, 2, iterations, refresh, refresh_every).depth


def plaintext_twin(backend: CKKSBackend) -> PlaintextBackend:
    """The plaintext backend that plans and counts like ``backend``: its slots, depth bound,
    bootstrap (level left, slot period) and rotation keys (composed rotations count each key
    switch)."""
    # a backend that cannot bootstrap plans with bootstrap depth 0
    bootstrap = {"bootstrap_depth": 0} if backend.bootstrap_depth() is None else {
        "bootstrap_depth": backend.bootstrap_depth(), "bootstrap_slots": backend.bootstrap_slots()}
    return PlaintextBackend(ring_dim=2 * backend.slots, max_depth=backend.max_depth(),
                            rotation_keys=backend.params["rotation_keys"], **bootstrap)


def predict_job(workload: Workload, backend: CKKSBackend, table: pd.DataFrame, n: int, n_features: int,
                n_classes: int, iterations: int, refresh: str = "none", refresh_every: int | None = None,
                workers: Sequence[int | None] = (None,)) -> pd.DataFrame:
    """Predicted server seconds, per iteration, of ``workload`` on ``backend`` training n
    samples of n_features into n_classes, with the costs of ``table`` (measured on that backend
    at the plan's depth), for each of ``workers`` parallel_map processes (None: the table's);
    the counts are made once for all of them.

    The counts come from running the same workload on :func:`plaintext_twin` on zero features
    of that shape (the schedule depends on the shapes only); the twin holds every ciphertext
    as float64 slots, so its memory and time grow with n (docs/design.md estimates them for the
    paper's workload on 60,000 images). One row per iteration: predicted_server_s, refreshes and
    the flat counts; the first row also has predicted_setup_s (the server's setup operations
    and the upload's deserialization, not the loading of its keys) and upload_cts.
    """
    plan = plan_for(workload, backend, n, n_features, n_classes, iterations, refresh, refresh_every)
    depths = set(table["depth"])
    if depths != {plan.depth}:
        raise ValueError(f"the cost table was measured at depth {sorted(depths)}, this job's keys have depth "
                         f"{plan.depth}: costs depend on the depth (the modulus chain); measure at {plan.depth}")
    session = EncryptedSession(workload, plaintext_twin(backend), np.zeros((n, n_features)),
                               np.arange(n) % n_classes, n_classes, iterations, refresh,
                               refresh_every=refresh_every)
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


def _int_at_least(minimum: int, what: str):
    """An argparse ``type=``: an integer >= minimum, else a usage error saying what is allowed."""
    allowed = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed} ({what}), got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {allowed} ({what}), got {value}")
        return value
    return parse


def main(argv: list[str] | None = None) -> None:
    """``python -m hemlr.costmodel``: see the module docstring and ``--help``. Every bad command
    line (config, entries, cost table, shape, a job the backend or the table cannot price) is a
    usage error (exit code 2) that names the argument and what is allowed."""
    from .config import ConfigError, backend_params, load_config, train_jobs, workload_spec

    parser = argparse.ArgumentParser(prog="python -m hemlr.costmodel", description=(
        "Predict the server time of a workload on a backend of a config for a shape that "
        "did not run, from the cost table its run measured (cost_model: true)."))
    parser.add_argument("config", help="the run's config file")
    parser.add_argument("backend", help="a CKKS backend entry of the config (a grid member's full name)")
    parser.add_argument("--workload", default=None, help="a workload entry of the config (default: the paper's)")
    parser.add_argument("--table", help="cost table (default results/<run>/costmodel/<workload>/<backend>.parquet)")
    parser.add_argument("--n", type=_int_at_least(1, "training samples"), default=60000, help="training samples")
    parser.add_argument("--features", type=_int_at_least(1, "features per sample"), default=400)
    parser.add_argument("--classes", type=_int_at_least(2, "a classifier needs 2 classes at least"), default=10)
    parser.add_argument("--iterations", type=_int_at_least(1, "training iterations"), nargs="+", default=[2, 20])
    parser.add_argument("--refresh", choices=col.REFRESH, default=None,
                        help="default: the backend entry's")
    parser.add_argument("--refresh-every", type=_int_at_least(1, "iterations between refreshes"), default=None,
                        help="iterations between refreshes (default: the backend entry's); sets the depth, "
                             "which must be the cost table's")
    parser.add_argument("--workers", type=_int_at_least(1, "parallel_map processes"), nargs="+", default=[None],
                        help="parallel_map processes (default: the table's)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        parser.error(f"argument config: {exc}")
    ckks = [name for name, e in config["backends"].items()
            if issubclass(registry.backend_class(e["library"]), CKKSBackend)]
    if args.backend not in ckks:
        what = ("is not a CKKS backend (no cost model)" if args.backend in config["backends"]
                else "is not a backend entry")
        parser.error(f"argument backend: {args.backend!r} {what} of {args.config}; "
                     f"allowed: {', '.join(ckks) or 'none (the config has no CKKS backend entry)'}")
    entry = config["backends"][args.backend]
    workload_name = args.workload or DEFAULT
    if workload_name not in config["workloads"]:
        parser.error(f"argument --workload: {workload_name!r} is not a workload entry of {args.config}; "
                     f"allowed: {', '.join(config['workloads'])}")
    table_path = Path(args.table) if args.table else Path("results", config["run"], "costmodel", workload_name,
                                                          f"{args.backend}.parquet")
    if not table_path.exists():
        if args.table:
            made = "a run with `cost_model: true` makes one (results/<run>/costmodel/<workload>/<backend>.parquet)"
        elif not config["cost_model"]:
            made = (f"a run with `cost_model: true` makes it, and {args.config} has cost_model: false; "
                    "or give --table")
        elif (workload_name, args.backend) not in {(w, b) for _, w, b in train_jobs(config)}:
            made = (f"a run with `cost_model: true` makes it for the workloads and backends its experiments "
                    f"train, and {args.config} trains no {workload_name} on {args.backend}; or give --table")
        else:
            made = f"a run of {args.config} (cost_model: true) makes it; run it first, or give --table"
        parser.error(f"argument --table: no cost table at {table_path}: {made}")
    try:
        # pyarrow opens the file itself: a Python file object's buffers released by arrow's
        # threads while the interpreter exits (on a usage error) can abort it
        from pyarrow import fs
        table = pd.read_parquet(table_path.resolve(), filesystem=fs.LocalFileSystem())
    except (OSError, ValueError) as exc:
        parser.error(f"argument --table: cannot read {table_path} as a cost table: {exc}")
    missing = {"kind", "level", "seconds", "depth", "map_workers"} - set(table.columns)
    if missing or table.empty:
        parser.error(f"argument --table: {table_path} is not a cost table of hemlr.microbenchmark "
                     f"({f'no column {sorted(missing)}' if missing else 'no rows'})")
    backend = registry.make_backend(backend_params(config, args.backend))
    workload = make_workload(workload_spec(config, workload_name))
    refresh, refresh_every = args.refresh or entry["refresh"], args.refresh_every or entry["refresh_every"]
    # Every job is planned before any is predicted (a prediction at a large n takes long).
    entrys = " (the backend entry's)"
    shape = (f"--n {args.n} --features {args.features} --classes {args.classes} "
             f"--refresh {refresh}{'' if args.refresh else entrys}"
             + (f" --refresh-every {refresh_every}{'' if args.refresh_every else entrys}" if refresh_every else ""))
    depths = sorted({int(d) for d in table["depth"]})
    for iterations in args.iterations:
        try:
            plan = plan_for(workload, backend, args.n, args.features, args.classes, iterations, refresh,
                            refresh_every)
        except ValueError as exc:
            parser.error(f"--iterations {iterations} {shape}: {workload_name} cannot run so on "
                         f"{args.backend}: {exc}")
        if depths != [plan.depth]:
            parser.error(f"--iterations {iterations} {shape}: the keys of this job have depth {plan.depth}, the cost "
                         f"table {table_path} was measured at depth {depths} (costs depend on the depth); predict "
                         f"the iterations, --refresh and --refresh-every of the run that measured it, or measure "
                         f"at depth {plan.depth}")
    lines = []
    for iterations in args.iterations:
        try:
            jobs = predict_job(workload, backend, table, args.n, args.features, args.classes, iterations,
                               refresh, refresh_every, args.workers)
        except ValueError as exc:
            parser.error(f"--iterations {iterations} {shape}: cannot predict it from {table_path}: {exc}")
        for workers, job in jobs.groupby("map_workers", sort=False):
            lines.append({"iterations": iterations, "map_workers": workers,
                          "server s (iterations)": job[PREDICTED].sum(), "server s / iteration": job[PREDICTED].mean(),
                          "server setup s": job["predicted_setup_s"].iloc[0],
                          "uploaded cts": int(job["upload_cts"].iloc[0]),
                          "refreshes": job["refreshes"].sum()})
    print(f"{args.backend} ({backend.library}, ring {2 * backend.slots}), n = {args.n}:")
    print(pd.DataFrame(lines).to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main()
