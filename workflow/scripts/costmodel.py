"""Snakemake script: one CKKS backend entry's primitives timed at every level (rule costmodel)."""
from hemlr.job import atomic_output, logged_failure, start

log = start(snakemake.log[0], snakemake.threads)

from backends import registry  # noqa: E402  (after start: threads)
from hemlr.microbenchmark import microbenchmark  # noqa: E402
from hemlr.costmodel import run_depth  # noqa: E402
from hemlr.workloads import make_workload  # noqa: E402

backend, spec, depth_of = snakemake.wildcards.backend, dict(snakemake.params.spec), dict(snakemake.params.depth_of)
workload = dict(snakemake.params.workload)
with logged_failure(log, "costmodel", backend=backend, parameters=spec, workload=workload, **depth_of):
    he = registry.make_backend(spec)
    depth = run_depth(make_workload(workload), he, depth_of["iterations"], depth_of["refresh"],
                      depth_of["refresh_every"])
    log.info("timing the primitives of %s at levels 0..%d", backend, depth)
    table = microbenchmark(he, depth, bootstrap=depth_of["refresh"] == "bootstrap")
    table.insert(0, "backend", backend)
    table.insert(0, "workload", snakemake.wildcards.workload)
    with atomic_output(snakemake.output[0]) as tmp:
        table.to_parquet(tmp, index=False)
    log.info("%d costs written to %s", len(table), snakemake.output[0])
