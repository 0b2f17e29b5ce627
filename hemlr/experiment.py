"""One train job: a dataset x a workload x a backend setting -> a tidy table, one row per
repeat x iteration.

Each repeat opens a session on the adapter (the workload's programs through a real
client/server byte boundary on CKKS; a whole-model library's own training otherwise),
evaluates every iteration's record against the workload's exact reference and turns it into
a row, in one place.
"""
from __future__ import annotations

import functools
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from backends import registry
from backends.measure import timed
from backends.ops import OP_KINDS
from backends.records import IterationRecord

from . import columns as col
from . import metrics
from .dataset import Dataset
from .provenance import machine_load, peak_rss_mb, provenance
from .session import open_session
from .workloads import make_workload
from .workloads.base import ReferenceStep, Workload

log = logging.getLogger(__name__)


def _eval_columns(ds: Dataset, rec: IterationRecord) -> dict[str, float]:
    train, test = rec.decision_function(ds.X_train), rec.decision_function(ds.X_test)
    has_test = len(ds.y_test) > 0
    return {
        "train_accuracy": metrics.accuracy(train, ds.y_train),
        "test_accuracy": metrics.accuracy(test, ds.y_test) if has_test else np.nan,
        "sle_loss": metrics.sle_loss(train, ds.y_train, ds.n_classes),
        "test_sle_loss": metrics.sle_loss(test, ds.y_test, ds.n_classes) if has_test else np.nan,
        "bce_loss": metrics.bce_loss(train, ds.y_train, ds.n_classes),
        "test_bce_loss": metrics.bce_loss(test, ds.y_test, ds.n_classes) if has_test else np.nan,
    }


def _oracle_columns(ds: Dataset, workload: Workload, rec: IterationRecord,
                    oracle: ReferenceStep | None) -> dict[str, float]:
    """How far the decrypted weights are from the workload's exact reference (not for a
    whole-model backend, which trains another model)."""
    if rec.weights is None or oracle is None:
        return {"max_abs_w_diff_oracle": np.nan, "rel_w_diff_oracle": np.nan, "oracle_test_accuracy": np.nan,
                "oracle_max_abs_score": np.nan}
    diff, rel = workload.drift(rec.weights, oracle.weights)
    return {"max_abs_w_diff_oracle": diff, "rel_w_diff_oracle": rel,
            "oracle_max_abs_score": oracle.max_abs_score, **workload.reference_columns(oracle),
            "oracle_test_accuracy": (metrics.accuracy(workload.scores(oracle.weights, ds.X_test), ds.y_test)
                                     if len(ds.y_test) else np.nan)}


def _row(ds: Dataset, workload: Workload, rec: IterationRecord, oracle: ReferenceStep | None) -> dict[str, Any]:
    """The measured columns of one iteration (the one place records become columns)."""
    phases = dict(rec.phases)
    with timed(phases, "eval"):
        evals = _eval_columns(ds, rec)
    unknown = set(phases) - set(col.PHASES)
    if unknown:
        raise ValueError(f"phases {sorted(unknown)} are not among {col.PHASES}")
    return {
        "iteration": rec.iteration, **evals, **_oracle_columns(ds, workload, rec, oracle),
        "level_after": rec.level, "refreshes": rec.refreshes,
        "upload_cts": sum(c for c, _ in rec.upload.values()),
        "upload_bytes": sum(b for _, b in rec.upload.values()),
        **{col.upload_cts(part): c for part, (c, _) in rec.upload.items()},
        **{col.upload_bytes(part): b for part, (_, b) in rec.upload.items()},
        "download_cts": rec.download[0], "download_bytes": rec.download[1],
        "evalkey_bytes": rec.evalkey_bytes,
        **{col.key_bytes(kind): b for kind, b in rec.key_bytes.items()},
        **{col.setup_op(k): v for k, v in rec.setup_ops.items()},
        **{k: rec.ops.get(k, 0) for k in OP_KINDS},
        col.OPS_BY_LEVEL: col.ops_json(rec.ops_by_level), col.OPS_BY_LEVEL_SETUP: col.ops_json(rec.setup_ops_by_level),
        **{col.wall(p): phases[p][0] for p in col.PHASES if p in phases},
        **{col.cpu(p): phases[p][1] for p in col.PHASES if p in phases},
        "peak_rss_mb": peak_rss_mb(),
    }


def _train_once(ds: Dataset, workload: Workload, backend_name: str, backend_spec: dict[str, Any],
                iterations: int, refresh: str, state_bound: float, refresh_every: int | None, range_check: str,
                repeat: int, repeats: int,
                oracle: Callable[[], list[ReferenceStep]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One whole training from fresh keys: its rows, and what its session says of itself."""
    load_before = machine_load()  # another busy process makes every time of the repeat suspect
    session = open_session(registry.make_backend(backend_spec), ds.X_train, ds.y_train,
                           ds.n_classes, iterations, refresh, state_bound, refresh_every, ds.name, workload,
                           range_check)
    rows = []
    depth = session.layout().get("depth")
    which = f"repeat {repeat + 1} of {repeats}, " if repeats > 1 else ""
    start = time.perf_counter()
    # A bar on a terminal; one line per iteration in the job's log.
    for rec in tqdm(session, total=iterations, desc=backend_name, unit="it", disable=None):
        step = oracle()[rec.iteration - 1] if rec.weights is not None else None  # the workload's own model only
        rows.append({col.REPEAT: repeat, **_row(ds, workload, rec, step)})
        elapsed = time.perf_counter() - start
        log.info("%siteration %d of %d: test accuracy %.4f, elapsed %.0f s, about %.0f s left%s",
                 which, rec.iteration, iterations, rows[-1]["test_accuracy"], elapsed,
                 elapsed / rec.iteration * (iterations - rec.iteration),
                 f", {depth - rec.level} levels left" if depth and rec.level is not None else "")
    load_after = machine_load()
    desc = session.describe()
    return rows, {**desc.as_dict(), "algorithm": desc.algorithm or workload.title, **session.layout(),
                  **{f"{k}_before": v for k, v in load_before.items()},
                  **{f"{k}_after": v for k, v in load_after.items()}}


def run_experiment(ds: Dataset, backend_name: str, backend_spec: dict[str, Any],
                   iterations: int, run: str, refresh: str = "none",
                   state_bound: float = 1.0, refresh_every: int | None = None,
                   tolerance: float = 1e-3, repeats: int = 1, workload_name: str | None = None,
                   workload_spec: dict[str, Any] | None = None, range_check: str = "refuse") -> pd.DataFrame:
    """Train workload ``workload_name`` (``workload_spec``: ``workload`` plus its parameters;
    default: the paper's) on ``ds`` with backend setting ``backend_name`` and measure every
    iteration.

    ``backend_spec`` is what the adapter receives: ``library`` plus its parameters;
    ``refresh``, ``refresh_every`` and ``state_bound`` say how a CKKS run trains past its
    depth. The whole training runs ``repeats`` times, one after the other, each in a new
    session from fresh keys; the rows of each carry its ``repeat`` (0, 1, ...). A job whose
    weights drift from the exact reference by more than ``tolerance`` (max |W - W_oracle| /
    max |W_oracle|, at any iteration of any repeat) is marked ``failed``.
    """
    if repeats < 1:
        raise ValueError(f"repeats: {repeats}; a job trains at least once")
    workload = make_workload(workload_spec)
    # The exact reference is deterministic: computed once, at the first record that needs it.
    oracle = functools.cache(functools.partial(workload.reference, ds.X_train, ds.y_train, ds.n_classes,
                                               iterations))
    trainings = []
    for repeat in range(repeats):
        trainings.append(_train_once(ds, workload, backend_name, backend_spec, iterations, refresh, state_bound,
                                     refresh_every, range_check, repeat, repeats, oracle))
        gc.collect()  # the finished session's keys go before the next keygen: memory is sized for one
    params = {k: v for k, v in backend_spec.items() if k != "library"}
    job = {
        "run": run, "dataset": ds.name, "dataset_source": ds.source, "dataset_note": ds.note,
        "paper_data": ds.paper_data, "workload": workload_name or workload.name, "workload_kind": workload.name,
        "workload_params": ", ".join(f"{k}={v}" for k, v in sorted(workload.params.items())),
        "backend": backend_name, "n_train": len(ds.y_train),
        "n_test": len(ds.y_test), "n_features": ds.X_train.shape[1], "n_classes": ds.n_classes,
        "iterations_planned": iterations, "range_check": range_check,
        "params": ", ".join(f"{k}={v}" for k, v in sorted(params.items())), **provenance(),
    }
    table = pd.DataFrame([{**job, **about, **row} for rows, about in trainings for row in rows])
    if "depth" in table:
        table["levels_left"] = table["depth"] - table["level_after"]
    table["tolerance"] = tolerance
    table["failed"] = bool((table["rel_w_diff_oracle"] > tolerance).any())
    # Every measured column exists on every row (0 where nothing happened in that
    # iteration, e.g. one-off costs after the first), so sums over a job's rows work.
    counts = [c for c in table.columns if c.startswith(("upload_", "keybytes_", "setup_"))]
    table[counts] = table[counts].fillna(0).astype("int64")
    times = [f(p) for p in col.PHASES for f in (col.wall, col.cpu) if f(p) in table]
    table[times] = table[times].fillna(0.0)
    return table
