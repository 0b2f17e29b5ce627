"""Snakemake script: fail the run when a job drifted beyond the tolerance (rule verdict).

A results table that cannot be read fails the rule too, with its own message: a damaged report
says nothing about the jobs. Without Snakemake (tests) only the functions are defined.
"""
from pathlib import Path

from hemlr.job import atomic_output, start


class Drifted(Exception):
    """Jobs drifted from the exact reference beyond the tolerance: the run FAILED."""


def verdict(results: str) -> str:
    """The verdict.txt line of the results table at ``results`` when every job kept within the
    tolerance; Drifted naming the jobs that did not; DataError naming the file when it cannot be
    read or is no results table."""
    import pandas as pd
    import pyarrow as pa

    from hemlr.columns import JOB
    from hemlr.dataset import damaged

    try:
        df = pd.read_parquet(results)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise damaged(results, "cannot read the run's results table, so there is no verdict (this says nothing "
                               "about the jobs)", exc) from exc
    missing = [c for c in (*JOB, "failed", "tolerance") if c not in df]
    if missing:
        raise damaged(results, "not a results table, so there is no verdict (this says nothing about the jobs)",
                      f"no column {', '.join(missing)}")
    failed = sorted(df.loc[df["failed"].eq(True), JOB].drop_duplicates().itertuples(index=False))
    if failed:
        jobs = ", ".join(f"{workload} on {backend} on {dataset}" for dataset, workload, backend in failed)
        raise Drifted(f"FAILED: {jobs} drifted from the exact reference beyond the tolerance "
                      f"{df['tolerance'].max():g}; see summary.md")
    return f"{df[JOB].drop_duplicates().shape[0]} jobs within the tolerance {df['tolerance'].max():g}\n"


if "snakemake" in globals():
    log = start(snakemake.log[0], snakemake.threads)
    # Snakemake deletes a job's outputs before running it; so does the script, so that no
    # earlier verdict.txt outlives a verdict that fails however the script was run.
    Path(snakemake.output[0]).unlink(missing_ok=True)
    try:
        text = verdict(snakemake.input[0])
    except Drifted as exc:
        log.error("%s", exc)
        raise SystemExit(1) from None
    except ValueError as exc:  # DataError: the table, not the jobs
        log.error("NO VERDICT: %s", exc)
        raise SystemExit(1) from None
    with atomic_output(snakemake.output[0]) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
