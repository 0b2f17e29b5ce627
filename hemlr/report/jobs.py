"""The report's vocabulary for the results table: jobs, their names and warning marks, their
time per iteration, and numbers spelled for a table cell.

Every table, figure and warning of the report reads the table through these, so that a job
is grouped, named, timed and marked the same way in summary.md, report.html and the plots.
"""
from __future__ import annotations

import numbers
from os import PathLike

import numpy as np
import pandas as pd

from hemlr import columns as col
from hemlr import pricing

#: a file path, as the report's writers take it
Pathish = str | PathLike

#: a job's values of hemlr.columns.JOB: (dataset, workload, backend)
JobKey = tuple[str, str, str]


def column(df: pd.DataFrame, name: str) -> pd.Series:
    """``df[name]``, or NaN on every row: tables of some libraries and of older runs lack some
    columns (no refresh phase, no repeat column), and a missing value reads as "-"."""
    return df[name] if name in df else pd.Series(np.nan, index=df.index, dtype=float)


# ------------------------------------------------------------------------------------ jobs


def first_repeat(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of each job's first training (tables from before repeats trained once)."""
    return df[column(df, col.REPEAT).fillna(0).eq(0)]


def repeat_count(job: pd.DataFrame) -> int:
    """How many times the job trained, each time from fresh keys."""
    return max(1, column(job, col.REPEAT).nunique())


def jobs(df: pd.DataFrame, every_repeat: bool = False) -> list[tuple[JobKey, pd.DataFrame]]:
    """The JOB groups in table order, rows sorted by repeat and iteration; only the first
    repeat's rows unless ``every_repeat`` (the side-by-side tables and the plots show one
    training; the repeats table and the warnings see them all)."""
    rows = df if every_repeat else first_repeat(df)
    order = [col.REPEAT, "iteration"] if col.REPEAT in rows else ["iteration"]
    return [(key, g.sort_values(order)) for key, g in rows.groupby(col.JOB, sort=False)]


def several_workloads(rows: pd.DataFrame) -> bool:
    """Whether ``rows`` hold more than one workload: only then does a name say which."""
    return rows["workload"].nunique() > 1


def job_name(workload: str, backend: str, several: bool) -> str:
    """A job's (or a grid's) name among rows of ``several`` workloads or of one: the backend,
    prefixed ``workload / `` only where the backend alone is ambiguous."""
    return f"{workload} / {backend}" if several else str(backend)


def named_jobs(rows: pd.DataFrame, every_repeat: bool = False) -> list[tuple[str, pd.DataFrame]]:
    """:func:`jobs` of ``rows`` with their :func:`job_name` (unique within one dataset)."""
    several = several_workloads(rows)
    return [(job_name(w, b, several), job) for (_, w, b), job in jobs(rows, every_repeat)]


# ------------------------------------------------------------------------------- warnings


def simulated(last: pd.Series) -> bool:
    """Whether the job whose final row is ``last`` encrypted nothing."""
    return str(last.get("mode")) == "simulated"


def insecure(last: pd.Series) -> bool:
    """No stated security level on parameters that are meant to protect something."""
    return pd.isna(last.get("security_bits")) and str(last.get("mode")) != "exact"


def failed(job: pd.DataFrame) -> bool:
    """Whether the job drifted from the exact reference beyond the run's tolerance."""
    return "failed" in job and bool(job["failed"].eq(True).any())


def job_label(name: str, job: pd.DataFrame) -> str:
    """The job's name with its warnings, e.g. ``concrete-sim [SIMULATED]``: a reader sees
    them wherever its numbers are."""
    last = job.iloc[-1]
    marks = [mark for mark, on in (("FAILED", failed(job)), ("SIMULATED", simulated(last)),
                                   ("INSECURE", insecure(last))) if on]
    return " ".join([name, *(f"[{mark}]" for mark in marks)])


# ----------------------------------------------------------------------------------- time


def phases_in(df: pd.DataFrame) -> list[str]:
    """The phases of hemlr.columns.PHASES that the table timed."""
    return [p for p in col.PHASES if col.wall(p) in df]


def per_iteration(job: pd.DataFrame, name: str) -> float:
    """Column ``name`` averaged over the job's rows, a row without a value counting 0 (a
    refresh or a bootstrap happens on some iterations: its cost is spread over all of them);
    NaN when no row has one."""
    values = column(job, name)
    return float(values.fillna(0.0).mean()) if values.notna().any() else np.nan


def server_time(job: pd.DataFrame) -> float:
    """The server's whole work per iteration, the report's one server time:
    hemlr.pricing.server_seconds (its SERVER_PHASES: iteration, refresh, bootstrap)
    averaged over the job's rows like :func:`per_iteration`; NaN when the job timed none of
    those phases."""
    if not any(column(job, col.wall(p)).notna().any() for p in pricing.SERVER_PHASES):
        return np.nan
    return float(pricing.server_seconds(job).mean())


def server_cpu(job: pd.DataFrame) -> float:
    """The CPU seconds of :func:`server_time`'s phases per iteration; NaN when none was timed."""
    return float(pd.Series([per_iteration(job, col.cpu(p)) for p in pricing.SERVER_PHASES]).sum(min_count=1))


def total(job: pd.DataFrame, name: str) -> float:
    """The sum of column ``name`` over the job's rows (one-off costs sit in the first
    iteration's row); NaN when no row has a value."""
    return float(job[name].sum()) if name in job and job[name].notna().any() else np.nan


# ------------------------------------------------------------------------------ spelling


def num(value: object, fmt: str = ".4g") -> str:
    """A number in ``fmt``, text as it is, a missing value as "-"."""
    if value is None or pd.isna(value):
        return "-"
    return format(value, fmt) if isinstance(value, numbers.Number) else str(value)


def size(n: object) -> str:
    """A byte count in B, kB, MB or GB, three significant digits."""
    if n is None or pd.isna(n):
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def distinct(df: pd.DataFrame, name: str, none: str = "unknown") -> str:
    """The distinct non-empty values of a column, in table order, comma-separated; ``none``
    when there is none."""
    values = [str(v) for v in dict.fromkeys(column(df, name).dropna()) if str(v) != ""]
    return ", ".join(values) if values else none


def suffixes(df: pd.DataFrame, prefix: str) -> list[str]:
    """What follows ``prefix`` in the table's column names, in column order."""
    return [c[len(prefix):] for c in df.columns if c.startswith(prefix)]
