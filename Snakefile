"""hemlr-bench: MLR training under homomorphic encryption, benchmarked end to end.

Stages (one rule file each): data manifests -> cached features -> one training job per
(dataset, backend) pair of the configured experiments -> merged report of the run.

    snakemake --cores all --configfile config.yaml
    snakemake --configfile config.yaml --report reports/<run>/report.html
"""
import mimetypes
import os
import re
import sys

# Import the project's own packages from any --directory (and without an install).
sys.path.insert(0, workflow.basedir)

from hemlr.config import (ConfigError, backend_iterations, backend_params, dataset_files,
                          train_jobs, validate_config)

# The embedded default applies only without --configfile: Snakemake would otherwise merge
# both files, putting the default's datasets and backends into every named config.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config.yaml")


try:
    _validated = validate_config(config)
except ConfigError as exc:
    raise WorkflowError(f"invalid configuration (schema: workflow/schemas/config.schema.yaml):\n{exc}") from None
# In place, so that scripts and --report see the defaults too.
config.clear()
config.update(_validated)

report: "workflow/report/workflow.rst"


# Lets --report embed results.parquet as a binary download instead of guessing text/plain.
mimetypes.add_type("application/vnd.apache.parquet", ".parquet")

RUN = config["run"]
RESULTS = f"results/{RUN}"
REPORTS = f"reports/{RUN}"
FEATURES = config["features_dir"]
JOBS = train_jobs(config)

TRAIN_TABLE = f"{RESULTS}/train/{{dataset}}/{{backend}}.parquet"
TRAIN_BENCHMARK = f"{RESULTS}/benchmarks/{{dataset}}/{{backend}}.tsv"
REPORT_FILES = {
    "parquet": f"{REPORTS}/results.parquet",
    "csv": f"{REPORTS}/results.csv",
    "summary": f"{REPORTS}/summary.md",
    "accuracy": f"{REPORTS}/accuracy.png",
    "phases": f"{REPORTS}/time_per_phase.png",
}


def _names(section):
    # Only configured names match: no '/', and no job for a name that is not in the config.
    return "|".join(re.escape(name) for name in config[section])


wildcard_constraints:
    dataset=_names("datasets"),
    backend=_names("backends"),


def dataset_spec(wildcards):
    return config["datasets"][wildcards.dataset]


def existing_dataset_files(wildcards):
    return dataset_files(dataset_spec(wildcards))


localrules:
    all,
    data_manifest,
    report,


rule all:
    input:
        list(REPORT_FILES.values()),


include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
