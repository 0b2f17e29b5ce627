#!/usr/bin/env python3
"""Snakemake 7 cluster-status for SLURM without job accounting: prints running, success or failed.

Asks `scontrol show job -o ID`; once slurmctld has purged the job (MinJobAge after its end, or
after a restart) reads its final state from the jobcomp file (JobCompType=jobcomp/filetxt).
Always exits 0: a non-zero exit makes Snakemake abandon the whole run.
"""
from __future__ import annotations

import re
import subprocess
import sys

# Job states of a job that may still run (squeue(1), JOB STATE CODES); COMPLETED is success,
# every other state is final and a failure (FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, ...).
ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_FED",
          "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"}


def _scontrol(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["scontrol", *args], capture_output=True, text=True, timeout=60)


def _state(record: str) -> str | None:
    match = re.search(r"\bJobState=(\S+)", record)
    return match.group(1) if match else None


def _from_jobcomp(jobid: str) -> str | None:
    config = _scontrol("show", "config").stdout
    kind = re.search(r"^JobCompType\s*=\s*(\S+)", config, re.MULTILINE)
    where = re.search(r"^JobCompLoc\s*=\s*(\S+)", config, re.MULTILINE)
    if not (kind and where and kind.group(1) == "jobcomp/filetxt"):
        return None
    try:
        with open(where.group(1)) as f:
            records = [line for line in f if line.startswith(f"JobId={jobid} ")]
    except OSError:
        return None
    return _state(records[-1]) if records else None


def status(jobid: str) -> str:
    try:
        shown = _scontrol("show", "job", "-o", jobid)
        if shown.returncode == 0:
            state = _state(shown.stdout)
        elif "Invalid job id" in shown.stderr:
            state = _from_jobcomp(jobid)
        else:
            print(f"status.py: scontrol failed, asking again later: {shown.stderr.strip()}", file=sys.stderr)
            return "running"
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"status.py: scontrol failed, asking again later: {exc}", file=sys.stderr)
        return "running"
    if state is None:
        print(f"status.py: job {jobid} is unknown to scontrol and to the jobcomp file", file=sys.stderr)
        return "failed"
    # A state may carry a suffix, e.g. "CANCELLED+" or "CANCELLED by 0".
    state = state.rstrip("+")
    return "success" if state == "COMPLETED" else "running" if state in ACTIVE else "failed"


if __name__ == "__main__":
    # sbatch --parsable prints "ID" or "ID;CLUSTER"
    print(status(sys.argv[1].split(";")[0]))
