"""Snakemake script: one training job, dataset x backend -> tidy parquet table (rule train)."""
from hemlr.job import start

log = start(snakemake.log[0], snakemake.threads)

from hemlr.dataset import load_dataset  # noqa: E402  (after start: threads)
from hemlr.experiment import run_experiment  # noqa: E402

ds = load_dataset(snakemake.input[0])
backend = snakemake.wildcards.backend
log.info("training %s on %s for %d iterations with %s", ds.name, backend, snakemake.params.iterations,
         snakemake.params.spec)
table = run_experiment(ds, backend, dict(snakemake.params.spec), snakemake.params.iterations,
                       snakemake.params.run)
table.to_parquet(snakemake.output[0], index=False)
log.info("%d rows written to %s", len(table), snakemake.output[0])
