"""Snakemake script: check a dataset's inputs and write its manifest (rule data_manifest)."""
import json

from _job import start

log = start(snakemake.log[0], snakemake.threads)

from hemlr.config import dataset_manifest  # noqa: E402  (after start: import path)

manifest = dataset_manifest(snakemake.wildcards.dataset, snakemake.params.spec)
with open(snakemake.output[0], "w") as f:
    json.dump(manifest, f, indent=2, sort_keys=True)
log.info("inputs of %s checked: %s", snakemake.wildcards.dataset, json.dumps(manifest))
