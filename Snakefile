"""hemlr-bench: MLR training under homomorphic encryption, benchmarked end to end.

Stages, one file each under workflow/rules/ (shared names and input functions in common.smk):
data manifests -> cached features -> one training job per (dataset, backend) pair of the
configured experiments (and, with `cost_model: true`, one microbenchmark per CKKS backend) ->
merged report of the run.

    snakemake --cores all --configfile config.yaml
    snakemake --profile workflow/profiles/slurm --configfile config.yaml --cores 16   (on SLURM)
    snakemake --configfile config.yaml --report reports/<run>/snakemake-report.html  (needs internet)
"""
import os

from hemlr.config import ConfigError, validate_config

# The embedded default applies only without --configfile: Snakemake would otherwise merge
# both files, putting the default's datasets and backends into every named config.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config.yaml")


# hemlr's validation (the schema plus each backend adapter's parameters) stops a bad config
# before any job, naming the key path and what is allowed there.
try:
    _validated = validate_config(config)
except ConfigError as exc:
    raise WorkflowError(f"invalid configuration (schema: workflow/schemas/config.schema.yaml):\n{exc}") from None
# In place, so that scripts and --report see the defaults too.
config.clear()
config.update(_validated)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/costmodel.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        list(REPORT_FILES.values()),
        VERDICT,
        HISTORY,
    default_target: True
