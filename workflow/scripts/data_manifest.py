"""Snakemake script: check a dataset's inputs and write its manifest (rule data_manifest)."""
import json

from hemlr.job import start

log = start(snakemake.log[0], snakemake.threads)

from hemlr import sources  # noqa: E402

name = snakemake.wildcards.dataset
manifest = sources.source(snakemake.params.spec, name).manifest(name)
with open(snakemake.output[0], "w") as f:
    json.dump(manifest, f, indent=2, sort_keys=True)
log.info("inputs of %s checked: %s", name, json.dumps(manifest))
