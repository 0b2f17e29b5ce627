"""Snakemake script: one training job, dataset x backend -> tidy parquet table (rule train)."""
from hemlr.job import atomic_output, logged_failure, start

log = start(snakemake.log[0], snakemake.threads)

from hemlr import sources  # noqa: E402  (after start: threads)
from hemlr.dataset import build_record, load_dataset  # noqa: E402
from hemlr.experiment import run_experiment  # noqa: E402

backend, spec = snakemake.wildcards.backend, dict(snakemake.params.spec)
workload, workload_spec = snakemake.wildcards.workload, dict(snakemake.params.workload)
training = dict(snakemake.params.training)  # iterations, refresh, ..., tolerance
iterations = training["iterations"]
dataset = snakemake.wildcards.dataset
with logged_failure(log, "train", dataset=dataset, workload=workload_spec, backend=backend,
                    parameters=spec, **training):
    # The cache must be of the dataset this job trains on: its spec and its input files' content
    # now, as the features rule records them (a cache shared by runs or copied in may not be).
    dataset_spec = snakemake.config["datasets"][dataset]
    wanted = build_record(dataset_spec, sources.source(dataset_spec, dataset).input_digests())
    ds = load_dataset(snakemake.input[0], built_from=wanted)
    log.info("training %s on %s for %d iterations with %s, workload %s %s", ds.name, backend, iterations, spec,
             workload, workload_spec)
    table = run_experiment(ds, backend, spec, run=snakemake.params.run, workload_name=workload,
                           workload_spec=workload_spec, **training)
    with atomic_output(snakemake.output[0]) as tmp:
        table.to_parquet(tmp, index=False)
    log.info("%d rows written to %s", len(table), snakemake.output[0])
