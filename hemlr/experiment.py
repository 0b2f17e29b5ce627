"""One train job: a dataset x a backend setting -> a tidy table, one row per iteration.

CKKS backends run the encoded trainer through a real client/server byte boundary;
whole-model backends (Concrete ML) train themselves. Both give the same columns.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from backends import registry
from backends.base import CKKSBackend, ModelBackend
from backends.measure import timed

from . import metrics
from .data import Dataset
from .oracle import train_oracle
from .provenance import peak_rss_mb, provenance
from .trainer import UPLOAD_NAMES, open_session

PAPER_ALGORITHM = "quadratic-gradient NAG, cubic sigmoid (Chiang 2023, paper mode)"
OP_KINDS = ("ct_mult", "pt_mult", "scalar_mult", "rotation", "rescale", "bootstrap")


def _phase_columns(phases: dict[str, tuple[float, float]]) -> dict[str, float]:
    out = {}
    for name, (wall, cpu) in phases.items():
        out[f"time_{name}_s"] = wall
        out[f"cpu_{name}_s"] = cpu
    return out


def _eval_columns(ds: Dataset, train_scores: np.ndarray, test_scores: np.ndarray) -> dict[str, float]:
    return {
        "train_accuracy": metrics.accuracy(train_scores, ds.y_train),
        "test_accuracy": metrics.accuracy(test_scores, ds.y_test) if len(ds.y_test) else np.nan,
        "sle_loss": metrics.sle_loss(train_scores, ds.y_train, ds.n_classes),
        "test_sle_loss": (metrics.sle_loss(test_scores, ds.y_test, ds.n_classes)
                          if len(ds.y_test) else np.nan),
    }


def run_experiment(ds: Dataset, backend_name: str, backend_spec: dict[str, Any],
                   iterations: int, run: str) -> pd.DataFrame:
    """Train ``ds`` on backend setting ``backend_name`` and measure every iteration.

    ``backend_spec`` is a validated config entry (``library`` plus parameters); an
    ``iterations`` key in it overrides the workflow-wide ``iterations``.
    """
    spec = dict(backend_spec)
    iterations = int(spec.pop("iterations", iterations))
    cls = registry.backend_class(spec["library"])
    runner = _run_model if issubclass(cls, ModelBackend) else _run_ckks
    rows = runner(ds, spec, iterations)
    common = {
        "run": run, "dataset": ds.name, "dataset_source": ds.source, "dataset_note": ds.note,
        "backend": backend_name, "n_train": len(ds.y_train), "n_test": len(ds.y_test),
        "n_features": ds.X_train.shape[1], "n_classes": ds.n_classes,
        "iterations_planned": iterations, **provenance(),
    }
    return pd.DataFrame([{**common, **row} for row in rows])


def _run_ckks(ds: Dataset, spec: dict[str, Any], iterations: int) -> list[dict[str, Any]]:
    params = {k: v for k, v in spec.items() if k != "library"}
    client_he: CKKSBackend = registry.make_backend(spec)
    once: dict[str, tuple[float, float]] = {}
    session = open_session(client_he, ds.X_train, ds.y_train, ds.n_classes, iterations,
                           timer=lambda name: timed(once, name))
    plan, server, upload = session.plan, session.server, session.upload
    server_he = server.he
    setup_ops = server_he.ops.snapshot()  # the server's counters start at its setup
    oracle = train_oracle(ds.X_train, ds.y_train, ds.n_classes, iterations)

    desc = client_he.describe()
    run_cols: dict[str, Any] = {
        "library": client_he.library, "mode": client_he.mode, "algorithm": PAPER_ALGORITHM,
        "ring_dim": desc.get("ring_dim"), "slots": client_he.slots,
        "scale_bits": desc.get("scale_bits"), "depth": plan.depth,
        "modulus_bits": desc.get("modulus_bits"), "security_bits": desc.get("security_bits"),
        "security": desc.get("security"), "library_version": desc.get("library_version", ""),
        "threads": desc.get("threads", client_he.workers), "columns": plan.cols,
        "rows_per_ct": plan.rows, "window": plan.p, "rotation_keys": len(plan.rotation_steps),
        "params": ", ".join(f"{k}={v}" for k, v in sorted(params.items())),
    }
    # One-off measurements belong to the row of iteration 1, when they happened: every
    # measured column of a job's rows then sums to the job's total.
    one_off: dict[str, Any] = {
        "upload_cts": sum(upload.counts().values()), "upload_bytes": sum(upload.sizes().values()),
        "evalkey_bytes": len(upload.public),
        **{f"upload_cts_{k}": upload.counts()[k] for k in UPLOAD_NAMES},
        **{f"upload_bytes_{k}": upload.sizes()[k] for k in UPLOAD_NAMES},
        **{f"keybytes_{k}": v for k, v in client_he.key_sizes().items()},
        **{f"setup_{k}": setup_ops[k] for k in OP_KINDS},
        **_phase_columns(once),
    }
    rows = []
    for step in oracle:
        phases: dict[str, tuple[float, float]] = {}
        ops0 = server_he.ops.snapshot()
        with timed(phases, "iteration"):
            server.step()
        ops = server_he.ops.since(ops0)
        with timed(phases, "decrypt"):
            W, blobs = session.weights()
        with timed(phases, "eval"):
            evals = _eval_columns(ds, metrics.linear_scores(ds.X_train, W),
                                  metrics.linear_scores(ds.X_test, W))
        rows.append({
            **run_cols, **(one_off if server.t == 1 else dict.fromkeys(one_off, 0)),
            "iteration": server.t, **evals,
            "max_abs_w_diff_oracle": float(np.abs(W - step.W).max()),
            "oracle_test_accuracy": (metrics.accuracy(metrics.linear_scores(ds.X_test, step.W),
                                                      ds.y_test) if len(ds.y_test) else np.nan),
            "level_after": max(w.level for w in server.W), "download_cts": len(blobs),
            "download_bytes": sum(map(len, blobs)),
            **{k: ops[k] for k in OP_KINDS}, **_phase_columns(phases),
            "peak_rss_mb": peak_rss_mb(),
        })
    return rows


def _run_model(ds: Dataset, spec: dict[str, Any], iterations: int) -> list[dict[str, Any]]:
    backend: ModelBackend = registry.make_backend(spec)
    desc = backend.describe()
    params = {k: v for k, v in spec.items() if k != "library"}
    run_cols = {
        "library": backend.library, "mode": backend.mode, "algorithm": backend.algorithm,
        "security_bits": desc.get("security_bits"), "security": desc.get("security"),
        "library_version": desc.get("library_version", ""), "threads": desc.get("threads"),
        "params": ", ".join(f"{k}={v}" for k, v in sorted(params.items())),
    }
    rows = []
    for it in backend.train(ds.X_train, ds.y_train, ds.n_classes, iterations):
        phases = dict(it.phases)
        with timed(phases, "eval"):
            evals = _eval_columns(ds, it.decision_function(ds.X_train),
                                  it.decision_function(ds.X_test))
        rows.append({
            **run_cols, "iteration": it.iteration, **evals, "max_abs_w_diff_oracle": np.nan,
            "upload_cts": it.upload_cts, "upload_bytes": it.upload_bytes,
            "download_cts": it.download_cts, "download_bytes": it.download_bytes,
            "evalkey_bytes": it.evalkey_bytes,
            **{k: it.ops.get(k, 0) for k in OP_KINDS}, **_phase_columns(phases),
            "peak_rss_mb": peak_rss_mb(),
        })
    return rows
