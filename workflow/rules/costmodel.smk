# Stage 3b, when the config says `cost_model: true`: every CKKS backend entry's primitives timed
# at every level of the depth of its run of a workload (hemlr.microbenchmark), once per
# (workload, backend) and cached until the entries change; the report prices each job's operation
# counts with its table.


rule costmodel:
    output:
        COSTMODEL_TABLE,
    params:
        spec=lambda wildcards: backend_params(config, wildcards.backend),
        workload=lambda wildcards: workload_spec(config, wildcards.workload),
        # what sets the keys' depth; repeats and the tolerance do not change a cost
        depth_of=lambda wildcards: {k: v for k, v in backend_training(config, wildcards.backend).items()
                                    if k in ("iterations", "refresh", "refresh_every")},
    # Timed like a training job: no other job beside it.
    threads: workflow.cores
    resources:
        mem_mb=mem_mb(costmodel_cost),
        runtime=runtime(costmodel_cost),
    log:
        f"{RESULTS}/logs/costmodel/{{workload}}/{{backend}}.log",
    script:
        "../scripts/costmodel.py"
