#!/usr/bin/env python3
"""Snakemake 7 cluster-status for SLURM without job accounting: prints running, success or failed.

Asks `scontrol show job -o ID`; once slurmctld has purged the job (MinJobAge after its end, or
after a restart) reads its final state from the jobcomp file (JobCompType=jobcomp/filetxt).
While the controller does not answer (down, restarting, busy) the job counts as running and is
asked about again later. An scontrol that cannot be used (not on PATH, not executable, or
failing otherwise) makes the job failed, with the reason on stderr: answering running would
make Snakemake wait for it forever.
Exits 0 whenever it prints a state: a non-zero exit makes Snakemake abandon the whole run.
Without a job id it prints its usage on stderr and exits 2.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

USAGE = ("usage: status.py JOBID\n"
         "Prints the state of the SLURM job JOBID (as `sbatch --parsable` printed it: ID or ID;CLUSTER): "
         "running, success or failed (Snakemake's cluster-status).")

# Job states of a job that may still run (squeue(1), JOB STATE CODES); COMPLETED is success,
# every other state is final and a failure (FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, ...).
ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_FED",
          "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"}

# scontrol's errors while the controller cannot answer for now (slurm_errno.c): ask again later.
TRANSIENT = ("Unable to contact slurm controller", "Socket timed out on send/recv operation",
             "Zero Bytes were transmitted or received", "Communication connection failure",
             "Message send failure", "Message receive failure", "backup controller in standby mode",
             "Resource temporarily unavailable")


class AskLater(Exception):
    """The controller does not answer now: the job counts as running."""


class Unusable(Exception):
    """scontrol cannot say: the job counts as failed (it would otherwise count as running forever)."""


def _executable() -> str:
    """The scontrol on PATH; Unusable naming why there is none."""
    found = shutil.which("scontrol")
    if found:
        return found
    search = os.environ.get("PATH", os.defpath)
    present = [p for p in (Path(d or ".") / "scontrol" for d in search.split(os.pathsep)) if p.is_file()]
    if present:
        raise Unusable(f"{present[0]} is not executable (no executable scontrol on PATH)")
    raise Unusable(f"scontrol not found on PATH ({search})")


def _scontrol(*args: str) -> subprocess.CompletedProcess:
    command = _executable()
    try:
        return subprocess.run([command, *args], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as exc:
        raise AskLater(f"`scontrol {' '.join(args)}` did not answer within {exc.timeout:g} s") from exc
    except OSError as exc:
        raise Unusable(f"cannot run {command}: {exc.strerror or exc}") from exc


def _failure(shown: subprocess.CompletedProcess) -> Exception:
    """AskLater or Unusable for a failed scontrol command."""
    said = shown.stderr.strip() or shown.stdout.strip() or "no message"
    if any(marker in said for marker in TRANSIENT):
        return AskLater(said)
    how = f"exit code {shown.returncode}" if shown.returncode > 0 else f"signal {-shown.returncode}"
    return Unusable(f"`scontrol {' '.join(shown.args[1:])}` failed ({how}): {said}")


def _state(record: str) -> str | None:
    match = re.search(r"\bJobState=(\S+)", record)
    return match.group(1) if match else None


def _from_jobcomp(jobid: str) -> str | None:
    shown = _scontrol("show", "config")
    if shown.returncode != 0:
        raise _failure(shown)
    config = shown.stdout
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
            if state is None:
                print(f"status.py: `scontrol show job -o {jobid}` printed no JobState: {shown.stdout.strip()!r}",
                      file=sys.stderr)
                return "failed"
        elif "Invalid job id" in shown.stderr:
            state = _from_jobcomp(jobid)
        else:
            raise _failure(shown)
    except AskLater as exc:
        print(f"status.py: scontrol failed, asking again later: {exc}", file=sys.stderr)
        return "running"
    except Unusable as exc:
        print(f"status.py: cannot ask SLURM about job {jobid}, counting it as failed: {exc}", file=sys.stderr)
        return "failed"
    if state is None:
        print(f"status.py: job {jobid} is unknown to scontrol and to the jobcomp file", file=sys.stderr)
        return "failed"
    # A state may carry a suffix, e.g. "CANCELLED+" or "CANCELLED by 0".
    state = state.rstrip("+")
    return "success" if state == "COMPLETED" else "running" if state in ACTIVE else "failed"


def main(argv: list[str]) -> int:
    # sbatch --parsable prints "ID" or "ID;CLUSTER"
    jobid = argv[0].split(";")[0].strip() if len(argv) == 1 else ""
    if not jobid:
        problem = ("no job id given" if not argv else f"expected one job id, got {len(argv)} arguments"
                   if len(argv) > 1 else f"no job id in {argv[0]!r}")
        print(f"status.py: {problem}\n{USAGE}", file=sys.stderr)
        return 2
    print(status(jobid))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
