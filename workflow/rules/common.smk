# Shared by every stage: the run's paths, the job list, wildcard constraints, the input
# functions, the inputs' digests and every rule's resources. Included first by the Snakefile,
# after the config has been validated.
import functools
import math
import mimetypes
import os
import re
from pathlib import Path

from backends import registry
from backends.base import CKKSBackend
from hemlr.config import (SECTIONS, backend_iterations, backend_params, backend_repeats, backend_training,
                          train_jobs, workload_spec)
from hemlr.grids import scaling_axes
from hemlr.sources import source


report: "../report/workflow.rst"


# Lets --report embed results.parquet as a binary download instead of guessing text/plain.
mimetypes.add_type("application/vnd.apache.parquet", ".parquet")

RUN = config["run"]
RESULTS = f"results/{RUN}"
REPORTS = f"reports/{RUN}"
FEATURES = config["features_dir"]
JOBS = train_jobs(config)

TRAIN_TABLE = f"{RESULTS}/train/{{dataset}}/{{workload}}/{{backend}}.parquet"
TRAIN_BENCHMARK = f"{RESULTS}/benchmarks/{{dataset}}/{{workload}}/{{backend}}.tsv"
VERDICT = f"{REPORTS}/verdict.txt"
# history_dir: the run's rows appended to the results store once its report exists
HISTORY_MARKER = f"{RESULTS}/history.txt"
HISTORY = [HISTORY_MARKER] if config["history_dir"] else []
REPORT_FILES = {
    "parquet": f"{REPORTS}/results.parquet",
    "csv": f"{REPORTS}/results.csv",
    "summary": f"{REPORTS}/summary.md",
    "accuracy": f"{REPORTS}/accuracy.png",
    "phases": f"{REPORTS}/time_per_phase.png",
    "html": f"{REPORTS}/report.html",
}
# Log-log plots of the server time against n and the ring, when the run's grids vary them.
SCALING_PLOTS = {f"scaling_{axis}": f"{REPORTS}/scaling_{axis}.png" for axis in scaling_axes(config)}
REPORT_FILES.update(SCALING_PLOTS)
# cost_model: true: one table of the primitives' costs per (workload, CKKS backend entry) of the
# jobs (the workload sets the keys' depth).
COSTMODEL_TABLE = f"{RESULTS}/costmodel/{{workload}}/{{backend}}.parquet"
COSTMODEL_TABLES = [COSTMODEL_TABLE.format(workload=w, backend=b) for w, b in dict.fromkeys((w, b) for _, w, b in JOBS)
                    if config["cost_model"]
                    and issubclass(registry.backend_class(config["backends"][b]["library"]), CKKSBackend)]


def _blocking_file(directory):
    """The first part of ``directory`` that exists but is not a directory, or None."""
    path = Path(directory)
    return next((p for p in (*reversed(path.parents), path) if p.exists() and not p.is_dir()), None)


# A file where a run's directory must be would fail every job that writes there, each with
# a traceback; one message before any job instead.
for _directory in dict.fromkeys((RESULTS, REPORTS, FEATURES)):
    _file = _blocking_file(_directory)
    if _file is not None:
        raise WorkflowError(
            f"{_file} is a file, but this run writes its outputs under {_directory}/: move or remove "
            f"{_file}, or choose another `run:` (or `features_dir:`) in the config")


def _names(section):
    # Only configured names match: no slash, and no job for a name that is not in the config.
    return "|".join(re.escape(name) for name in config[section])


wildcard_constraints:
    **{section[:-1]: _names(section) for section in SECTIONS},


# Cheap bookkeeping that needs no cluster node.
localrules:
    all,
    data_manifest,
    history,
    report,
    verdict,


def dataset_spec(wildcards):
    return config["datasets"][wildcards.dataset]


def existing_dataset_files(wildcards):
    """The dataset's input files that exist, for Snakemake to watch (a change re-runs the
    chain); a missing one is left to the data_manifest job, whose message names it and says
    how to provide it."""
    return [str(path) for path in source(dataset_spec(wildcards)).files() if os.path.isfile(path)]


@functools.cache
def _digests(dataset):
    return source(config["datasets"][dataset]).input_digests()


def input_digests(wildcards):
    """sha256 of each existing input file of the dataset (Source.input_digests, what a features
    cache records), as a params entry: Snakemake's params trigger then re-runs the stages
    reading them when their content changes although their mtime did not (cp -p, rsync -a and
    tar x keep mtimes). Each dataset's files are hashed once per DAG build (per snakemake
    process)."""
    return _digests(wildcards.dataset)


# ------------------------------------------------------------------------------ resources
# mem_mb and runtime (minutes) of every job, for SLURM's --mem and -t (workflow/profiles/slurm)
# and for --resources: each adapter declares its own estimate (Adapter.resources), each source
# its features' (Source.resources); here only the margins.
MEMORY_MARGIN = 1.25  # peak RSS repeats well; keeps the largest job (16.4 GB) within a 24 GB node
TIME_MARGIN = 3  # machines differ by +-40% between runs, cluster cores may be slower
MIN_RUNTIME = 10  # minutes: start-up and imports, whatever the job


def _adapter(wildcards):
    return registry.backend_class(config["backends"][wildcards.backend]["library"])


def train_cost(wildcards):
    """(peak MB, seconds) of one train job, before margins: its repeats run one after the
    other, each from fresh keys (memory is one session's: the last is freed first)."""
    spec = backend_params(config, wildcards.backend)
    mb, seconds = _adapter(wildcards).resources(spec, backend_iterations(config, wildcards.backend))
    return mb, seconds * backend_repeats(config, wildcards.backend)


def costmodel_cost(wildcards):
    """(peak MB, seconds) of one backend's microbenchmark: one session's keys."""
    spec = backend_params(config, wildcards.backend)
    return train_cost(wildcards)[0], _adapter(wildcards).microbenchmark_seconds(spec)


def features_cost(wildcards):
    return source(dataset_spec(wildcards)).resources()


def light_cost(wildcards):
    return 1000, 60  # manifests and the report: pandas and matplotlib on small tables


def mem_mb(cost):
    """The mem_mb resource of a rule whose ``cost(wildcards)`` is (MB, seconds)."""
    return lambda wildcards: math.ceil(MEMORY_MARGIN * cost(wildcards)[0] / 100) * 100


def runtime(cost):
    """The runtime resource (minutes) of a rule whose ``cost(wildcards)`` is (MB, seconds)."""
    return lambda wildcards: max(MIN_RUNTIME, math.ceil(TIME_MARGIN * cost(wildcards)[1] / 60))
