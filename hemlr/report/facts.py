"""The report's sentences about the run: its name, what ran, on which data, where and when."""
from __future__ import annotations

import pandas as pd

from hemlr.columns import JOB

from .jobs import column, distinct, first_repeat, named_jobs, num, repeat_count


def run_name(df: pd.DataFrame) -> str:
    """The run's name (the config's ``run``; several, comma-separated, if tables were mixed)."""
    return distinct(df, "run")


def _job_ends(df: pd.DataFrame) -> pd.DataFrame:
    """Per run and job, when it ended and started (UTC): a row's ``timestamp`` is written as its
    job finishes (hemlr.provenance), and the job started its whole wall time before
    (``job_wall_s``, Snakemake's benchmark of the job); at its timestamp where that is unknown.
    A timestamp that is no ISO time is unknown."""
    rows = df.assign(_run=column(df, "run").astype(str), _wall=column(df, "job_wall_s"),
                     _end=pd.to_datetime(column(df, "timestamp"), utc=True, format="ISO8601", errors="coerce"))
    jobs = rows.groupby(["_run", *JOB], sort=False).agg(end=("_end", "max"), wall=("_wall", "max"))
    return jobs.assign(start=jobs["end"] - pd.to_timedelta(jobs["wall"].fillna(0.0), unit="s"))


def run_times(df: pd.DataFrame) -> str:
    """When each run of ``df`` ran: its first job's start to its last job's end, prefixed by
    the run's name when ``df`` holds several runs; "unknown" without timestamps."""
    jobs = _job_ends(df).dropna(subset="end")
    if jobs.empty:
        return "unknown"
    spans = jobs.groupby(level="_run", sort=False).agg(start=("start", "min"), end=("end", "max"))
    text = {run: f"{s.start.isoformat(timespec='seconds')} to {s.end.isoformat(timespec='seconds')}"
            for run, s in spans.iterrows()}
    return "; ".join(f"`{run}`: {span}" for run, span in text.items()) if len(text) > 1 else next(iter(text.values()))


def provenance_items(df: pd.DataFrame) -> list[tuple[str, str]]:
    """What produced the numbers: machine, software, code and time, as (label, value)."""
    versions = "; ".join(f"{lib}: {distinct(g, 'library_version')}" for lib, g in df.groupby("library", sort=False))
    return [
        ("Machine", f"{distinct(df, 'hostname')} ({distinct(df, 'platform')})"),
        ("CPU", f"{distinct(df, 'cpu_model')}; {distinct(df, 'cpu_count')} logical CPUs; "
                f"OMP_NUM_THREADS {distinct(df, 'omp_num_threads')}; library workers {distinct(df, 'workers')}"),
        ("Python", f"Python {distinct(df, 'python')}; numpy {distinct(df, 'numpy_version')}; "
                   f"hemlr {distinct(df, 'hemlr_version')}"),
        ("Libraries", versions),
        ("Git commit", distinct(df, "git_commit")),
        ("Run at", run_times(df)),
    ]


def _trainings(job: pd.DataFrame) -> str:
    repeats = repeat_count(job)
    return f"{len(first_repeat(job))} iterations" + (f" x {repeats} repeats" if repeats > 1 else "")


def jobs_line(df: pd.DataFrame) -> str:
    """Every job of the run, by name and dataset, with its iterations and repeats."""
    jobs = named_jobs(df, every_repeat=True)
    return (f"{len(jobs)} training job(s): "
            + ", ".join(f"`{name}` on `{job['dataset'].iloc[0]}` ({_trainings(job)})" for name, job in jobs) + ".")


def dataset_line(rows: pd.DataFrame) -> str:
    """One dataset's source and shape."""
    first = rows.iloc[0]
    return (f"Source `{first.get('dataset_source', '?')}`: {num(first.get('n_train'), '.0f')} training / "
            f"{num(first.get('n_test'), '.0f')} test examples, {num(first.get('n_features'), '.0f')} features, "
            f"{num(first.get('n_classes'), '.0f')} classes.")
