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
    """The plaintext backend that plans and counts like ``backend``: its slots, depth bound and
    bootstrap (level left, slot period)."""
    # a backend that cannot bootstrap plans with bootstrap depth 0
    bootstrap = {"bootstrap_depth": 0} if backend.bootstrap_depth() is None else {
        "bootstrap_depth": backend.bootstrap_depth(), "bootstrap_slots": backend.bootstrap_slots()}
    return PlaintextBackend(ring_dim=2 * backend.slots, max_depth=backend.max_depth(), **bootstrap)


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


def main(argv: list[str] | None = None) -> None:
    """``python -m hemlr.costmodel``: see the module docstring and ``--help``."""
    from .config import backend_params, load_config, workload_spec

    parser = argparse.ArgumentParser(prog="python -m hemlr.costmodel", description=(
        "Predict the server time of a workload on a backend of a config for a shape that "
        "did not run, from the cost table its run measured (cost_model: true)."))
    parser.add_argument("config", help="the run's config file")
    parser.add_argument("backend", help="a backend entry of the config (a grid member's full name)")
    parser.add_argument("--workload", default=None, help="a workload entry of the config (default: the paper's)")
    parser.add_argument("--table", help="cost table (default results/<run>/costmodel/<workload>/<backend>.parquet)")
    parser.add_argument("--n", type=int, default=60000, help="training samples")
    parser.add_argument("--features", type=int, default=400)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--iterations", type=int, nargs="+", default=[2, 20])
    parser.add_argument("--refresh", choices=col.REFRESH, default=None,
                        help="default: the backend entry's")
    parser.add_argument("--refresh-every", type=int, default=None,
                        help="iterations between refreshes (default: the backend entry's); sets the depth, "
                             "which must be the cost table's")
    parser.add_argument("--workers", type=int, nargs="+", default=[None],
                        help="parallel_map processes (default: the table's)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    entry = config["backends"][args.backend]
    workload_name = args.workload or DEFAULT
    table = pd.read_parquet(args.table or Path("results", config["run"], "costmodel", workload_name,
                                               f"{args.backend}.parquet"))
    backend = registry.make_backend(backend_params(config, args.backend))
    workload = make_workload(workload_spec(config, workload_name))
    lines = []
    for iterations in args.iterations:
        jobs = predict_job(workload, backend, table, args.n, args.features, args.classes, iterations,
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
    main()
