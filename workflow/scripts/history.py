"""Snakemake script: append the run's results table to the results store (rule history).

A results table that cannot be read appends nothing and says so; the verdict rule, which reads
the same table, fails the run naming it.
"""
from hemlr.job import atomic_output, logged_failure, start

log = start(snakemake.log[0], snakemake.threads)

import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402

from hemlr.dataset import damaged  # noqa: E402
from hemlr.history import append  # noqa: E402

results, store = snakemake.input[0], snakemake.params.store
with logged_failure(log, "history", store=store):
    try:
        lines = [f"{path}\t{rows} rows\n" for path, rows in append(store, pd.read_parquet(results))]
    except (OSError, ValueError, pa.ArrowException) as exc:
        problem = damaged(results, "cannot read the run's results table, so nothing was appended to the store", exc)
        log.warning("%s", problem)
        lines = [f"nothing appended: {problem}\n"]
    with atomic_output(snakemake.output[0]) as tmp, open(tmp, "w") as f:
        f.writelines(lines)
    log.info("%s: %s", store, "".join(lines).strip())
