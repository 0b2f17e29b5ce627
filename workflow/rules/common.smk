# Shared by every stage: the run's paths, the job list, wildcard constraints and the input
# functions. Included first by the Snakefile, after the config has been validated.
import mimetypes
import os
import re

from hemlr.config import backend_iterations, backend_params, train_jobs
from hemlr.sources import source


report: "../report/workflow.rst"


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
    # Only configured names match: no slash, and no job for a name that is not in the config.
    return "|".join(re.escape(name) for name in config[section])


wildcard_constraints:
    dataset=_names("datasets"),
    backend=_names("backends"),


# Cheap bookkeeping that needs no cluster node.
localrules:
    all,
    data_manifest,
    report,


def dataset_spec(wildcards):
    return config["datasets"][wildcards.dataset]


def existing_dataset_files(wildcards):
    """The dataset's input files that exist, for Snakemake to watch (a change re-runs the
    chain); a missing one is left to the data_manifest job, whose message names it and says
    how to provide it."""
    return [str(path) for path in source(dataset_spec(wildcards)).files() if os.path.isfile(path)]

