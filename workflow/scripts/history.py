"""Snakemake script: append the run's results table to the results store (rule history)."""
from hemlr.job import atomic_output, logged_failure, start

log = start(snakemake.log[0], snakemake.threads)

import pandas as pd  # noqa: E402

from hemlr.history import append  # noqa: E402

with logged_failure(log, "history", store=snakemake.params.store):
    written = append(snakemake.params.store, pd.read_parquet(snakemake.input[0]))
    with atomic_output(snakemake.output[0]) as tmp, open(tmp, "w") as f:
        f.writelines(f"{path}\t{rows} rows\n" for path, rows in written)
    log.info("%d file(s) appended to %s", len(written), snakemake.params.store)
