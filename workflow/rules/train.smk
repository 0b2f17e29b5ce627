# Stage 3: one training job per (dataset, workload, backend) triple of the experiments' cross products.


rule train:
    input:
        f"{FEATURES}/{{dataset}}.npz",
    output:
        TRAIN_TABLE,
    params:
        spec=lambda wildcards: backend_params(config, wildcards.backend),
        workload=lambda wildcards: workload_spec(config, wildcards.workload),
        training=lambda wildcards: backend_training(config, wildcards.backend),
        run=RUN,
    # Every job reports timings: each takes all cores, so no two jobs run side by side and
    # slow each other down (on a cluster: --cores is each job's CPUs).
    threads: workflow.cores
    resources:
        mem_mb=mem_mb(train_cost),
        runtime=runtime(train_cost),
    benchmark:
        TRAIN_BENCHMARK
    log:
        f"{RESULTS}/logs/train/{{dataset}}/{{workload}}/{{backend}}.log",
    script:
        "../scripts/train.py"
