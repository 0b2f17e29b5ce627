"""Snakemake script: fail the run when a job drifted beyond the tolerance (rule verdict)."""
from hemlr.job import atomic_output, start

log = start(snakemake.log[0], snakemake.threads)

import pandas as pd  # noqa: E402

from hemlr.columns import JOB  # noqa: E402

df = pd.read_parquet(snakemake.input[0])
failed = sorted(df.loc[df["failed"].eq(True), JOB].drop_duplicates().itertuples(index=False))
if failed:
    jobs = ", ".join(f"{workload} on {backend} on {dataset}" for dataset, workload, backend in failed)
    log.error("FAILED: %s drifted from the exact reference beyond the tolerance %g; see summary.md",
              jobs, df["tolerance"].max())
    raise SystemExit(1)
with atomic_output(snakemake.output[0]) as tmp:
    with open(tmp, "w") as f:
        f.write(f"{df[JOB].drop_duplicates().shape[0]} jobs within the tolerance "
                f"{df['tolerance'].max():g}\n")
