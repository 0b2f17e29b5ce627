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
from hemlr.config import backend_iterations, backend_params, backend_repeats, backend_training, train_jobs
from hemlr.dataset import file_record
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

TRAIN_TABLE = f"{RESULTS}/train/{{dataset}}/{{backend}}.parquet"
TRAIN_BENCHMARK = f"{RESULTS}/benchmarks/{{dataset}}/{{backend}}.tsv"
VERDICT = f"{REPORTS}/verdict.txt"
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
# cost_model: true: one table of the primitives' costs per CKKS backend entry of the jobs.
COSTMODEL_TABLE = f"{RESULTS}/costmodel/{{backend}}.parquet"
COSTMODEL_TABLES = [COSTMODEL_TABLE.format(backend=b) for b in dict.fromkeys(b for _, b in JOBS)
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
    dataset=_names("datasets"),
    backend=_names("backends"),


# Cheap bookkeeping that needs no cluster node.
localrules:
    all,
    data_manifest,
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
def _sha256(path):
    return file_record(path, count_rows=False)["sha256"]


def input_digests(wildcards):
    """sha256 of each existing input file of the dataset, as a params entry: Snakemake's
    params trigger then re-runs the stages reading them when their content changes although
    their mtime did not (cp -p, rsync -a and tar x keep mtimes). Each file is hashed once per
    DAG build (per snakemake process)."""
    return {path: _sha256(path) for path in existing_dataset_files(wildcards)}


# ------------------------------------------------------------------------------ resources
# mem_mb and runtime (minutes) of every job, for SLURM's --mem and -t (workflow/profiles/slurm)
# and for --resources. Generous estimates from the README's "Measured here" (2-core EPYC VM)
# until a cost model replaces them: peak RSS and seconds grow about linearly with ring_dim
# (TenSEAL 8.6 -> 16.4 GB, OpenFHE 4.1 -> 6.3 GB, TenSEAL key generation + server setup
# 73 -> 168 s from ring 32768 to 65536, authors' features).
MEMORY_MARGIN = 1.25  # peak RSS repeats well; keeps the largest job (16.4 GB) within a 24 GB node
TIME_MARGIN = 3  # machines differ by +-40% between runs, cluster cores may be slower
MIN_RUNTIME = 10  # minutes: start-up and imports, whatever the job
# library: (MB, MB per 32768 of ring_dim), (setup s, s per iteration) at ring 32768
CKKS_COST = {
    "plaintext": ((700, 0), (0, 0.05)),  # 0.7 GB, 0.01 s per iteration
    "tenseal": ((800, 7800), (75, 45)),  # 8.6 GB; 41 + 32 s, 68 + 22 s with 1 process
    "openfhe": ((1900, 2200), (20, 35)),  # 4.1 GB; 7 + 11 s, 44.6 + 22.5 s
}


def train_cost(wildcards):
    """(peak MB, seconds) of one train job, before margins: its repeats run one after the
    other, each from fresh keys (memory is one session's: the last is freed first)."""
    mb, seconds = _session_cost(wildcards)
    return mb, seconds * backend_repeats(config, wildcards.backend)


def _session_cost(wildcards):
    spec = backend_params(config, wildcards.backend)
    iterations = backend_iterations(config, wildcards.backend)
    if spec["library"] == "concrete":
        # 2.6 GB at 4 components (memory beyond that not measured: assumed to grow with the
        # circuit); one 10-class step ~100 s at 4 components, ~250 s at 8, 11-13 min at 16,
        # 17-23 min at 32; simulation 1.3 s per step at 8 components.
        components = spec["n_components"]
        if spec["mode"] == "simulate":
            return 800 + 100 * components, 20 + 0.5 * components * iterations
        return 1000 + 400 * components, 20 + 45 * components * iterations
    # An adapter without measurements is charged like the most expensive one.
    (mb, mb_per_ring), (setup_s, iteration_s) = CKKS_COST.get(spec["library"], CKKS_COST["tenseal"])
    rings = spec.get("ring_dim", 32768) / 32768
    return mb + mb_per_ring * rings, (setup_s + iteration_s * iterations) * rings


def costmodel_cost(wildcards):
    """(peak MB, seconds) of one backend's microbenchmark: one session's keys, and a few samples
    of each primitive at each level, about two iterations' operations; twice that when the
    adapter forks (workers), which is timed again in concurrent processes."""
    mb, _ = train_cost(wildcards)
    spec = backend_params(config, wildcards.backend)
    _, (setup_s, iteration_s) = CKKS_COST.get(spec["library"], CKKS_COST["tenseal"])
    passes = 2 if spec["library"] == "tenseal" else 1
    return mb, passes * (setup_s + 2 * iteration_s) * spec.get("ring_dim", 32768) / 32768


def features_cost(wildcards):
    # RegNet over the MNIST images on CPU (not measured here: a guess); the other sources
    # only read a file or two.
    return (4000, 3600) if dataset_spec(wildcards)["source"] == "mnist_regnet" else (1000, 60)


def light_cost(wildcards):
    return 1000, 60  # manifests and the report: pandas and matplotlib on small tables


def mem_mb(cost):
    """The mem_mb resource of a rule whose ``cost(wildcards)`` is (MB, seconds)."""
    return lambda wildcards: math.ceil(MEMORY_MARGIN * cost(wildcards)[0] / 100) * 100


def runtime(cost):
    """The runtime resource (minutes) of a rule whose ``cost(wildcards)`` is (MB, seconds)."""
    return lambda wildcards: max(MIN_RUNTIME, math.ceil(TIME_MARGIN * cost(wildcards)[1] / 60))
