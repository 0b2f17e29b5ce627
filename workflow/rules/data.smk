# Stage 1: a manifest per dataset and run that proves its inputs exist and records what they
# are (paths, sha256, row counts, versions); it fails with a message naming what is missing and
# how to provide it. The report lists it under each dataset.


rule data_manifest:
    input:
        # Watching the named files re-runs the chain when one of them changes.
        existing_dataset_files,
    output:
        f"{RESULTS}/data/{{dataset}}.json",
    params:
        spec=dataset_spec,
        # Content, not mtime: a copy that kept an old mtime still re-runs the chain.
        sha256=input_digests,
    resources:
        mem_mb=mem_mb(light_cost),
        runtime=runtime(light_cost),
    log:
        f"{RESULTS}/logs/data/{{dataset}}.log",
    script:
        "../scripts/data_manifest.py"
