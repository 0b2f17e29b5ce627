"""Snakemake script: check a dataset's inputs and write its manifest (rule data_manifest)."""
import json

from hemlr.job import atomic_output, logged_failure, start

log = start(snakemake.log[0], snakemake.threads)

from hemlr import sources  # noqa: E402

name = snakemake.wildcards.dataset
with logged_failure(log, "data_manifest", dataset=name, spec=dict(snakemake.params.spec)):
    manifest = sources.source(snakemake.params.spec, name).manifest(name)
    with atomic_output(snakemake.output[0]) as tmp, open(tmp, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    log.info("inputs of %s checked: %s", name, json.dumps(manifest))
