# Stage 2: the feature file of a dataset, cached in features_dir and shared by all runs.
# Rebuilt only when its spec or an input file's content changes (params), or an input is newer,
# never by training jobs. It does not depend on the run's manifest, which would make every new
# run rebuild the cache; instead its script repeats the manifest's input check before the heavy
# work. The cache records a digest of its params (the spec and the inputs' sha256), and a train
# job refuses a cache whose digest is not that of the dataset it trains on (one built for another
# config's dataset of the same name, or copied in), naming it and saying to delete it.


rule features:
    input:
        existing_dataset_files,
    output:
        f"{FEATURES}/{{dataset}}.npz",
    params:
        spec=dataset_spec,
        sha256=input_digests,
    # RegNet extraction is heavy: it must not run beside (and slow down) a timed training job.
    threads: workflow.cores
    resources:
        mem_mb=mem_mb(features_cost),
        runtime=runtime(features_cost),
    log:
        f"{RESULTS}/logs/features/{{dataset}}.log",
    script:
        "../scripts/features.py"
