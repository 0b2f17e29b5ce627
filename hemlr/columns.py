"""Column names of the tidy results table, defined once for the runner and the report.

One row per job x repeat x iteration. Measurement columns hold what happened during that
row's iteration; one-off costs (compile, keys, the data upload) belong to the first
iteration's row of each repeat, so a repeat's total is the sum over its rows.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import NamedTuple

#: phases a job is timed in, in the order they happen
PHASES: tuple[str, ...] = ("compile", "keygen", "encrypt", "server_setup", "iteration", "decrypt",
                           "refresh", "bootstrap", "eval")

#: operation counts (flat columns, backends.ops.OP_KINDS) the summary shows per iteration, with their labels
OP_LABELS: dict[str, str] = {"ct_mult": "ct x ct", "pt_mult": "ct x pt", "rotation": "rotations",
                             "rescale": "rescales", "bootstrap": "bootstraps"}

#: values of the ``refresh`` column (and key): how a CKKS run gets its levels back. none: it
#: does not (the depth bounds the iterations); client: a round trip to the client, who
#: re-encrypts the state (interactive); bootstrap: on the server
REFRESH: tuple[str, ...] = ("none", "client", "bootstrap")

#: where every completed run's rows accumulate (hemlr.history; the config's history_dir default)
HISTORY_STORE = "results/history"

#: the job a row belongs to
JOB = ["dataset", "workload", "backend"]
#: the workload of rows written before the workload column existed: the paper's MLR, the only
#: algorithm then
LEGACY_WORKLOAD = "mlr"
#: a workload's parameters (the results' workload_params) in rows written before it had any:
#: the values that reproduce what it did then
LEGACY_WORKLOAD_PARAMS = {"mlr": "layout=paper"}
#: backend parameters added since runs were first recorded, with the value that reproduces what
#: runs did before them: a row's params (key=value, ...) without one reads as that value (a
#: library without the parameter reads so on both sides of a comparison alike)
LEGACY_BACKEND_PARAMS = {"rotation_keys": "per_step"}

#: the row's server operations by kind, level and width (backends.ops.LevelKey), as JSON (ops_json)
OPS_BY_LEVEL = "ops_by_level"
#: the same for the server's setup, on the first row of each repeat ("[]" on the others)
OPS_BY_LEVEL_SETUP = "ops_by_level_setup"

#: which of the job's repeats (0, 1, ...: whole trainings, each from fresh keys) a row belongs to
REPEAT = "repeat"


def wall(phase: str) -> str:
    """Wall seconds spent in ``phase`` during the row's iteration."""
    return f"time_{phase}_s"


def cpu(phase: str) -> str:
    """CPU seconds (own process and reaped workers) spent in ``phase``."""
    return f"cpu_{phase}_s"


#: prefix of the beyond_monotone columns
BEYOND_MONOTONE = "oracle_beyond_monotone_l"


def beyond_monotone(layer: int) -> str:
    """Share of layer ``layer``'s pre-activations (1-based) in the exact reference's iteration
    that lie beyond the cubic's monotone range, where it no longer orders its inputs."""
    return f"{BEYOND_MONOTONE}{layer}"


def setup_op(kind: str) -> str:
    """Server operations of ``kind`` before the first iteration."""
    return f"setup_{kind}"


def upload_cts(part: str) -> str:
    return f"upload_cts_{part}"


def upload_bytes(part: str) -> str:
    return f"upload_bytes_{part}"


def key_bytes(kind: str) -> str:
    return f"keybytes_{kind}"


class OpsKey(NamedTuple):
    """A by-level count's key as the table stores it: the fields of backends.ops.LevelKey,
    which the report wing may not import."""

    kind: str
    level: int
    width: int


def ops_json(by_level: Mapping[tuple[str, int, int], int]) -> str:
    """By-level operation counts as the text of an OPS_BY_LEVEL cell: a sorted JSON list of
    records {kind, level, width, n}, so that the table stays flat."""
    return json.dumps([{**OpsKey(*key)._asdict(), "n": int(n)} for key, n in sorted(by_level.items())])


def ops_from_json(text: str) -> dict[OpsKey, int]:
    """The counts of an OPS_BY_LEVEL cell (ops_json's inverse)."""
    return {OpsKey(*(r[k] for k in OpsKey._fields)): r["n"] for r in json.loads(text)}
