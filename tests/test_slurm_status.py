"""workflow/profiles/slurm/status.py against a stand-in scontrol that answers like SLURM 22.05
(.ci/slurm-test checks the script on a real SLURM)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

STATUS = Path(__file__).resolve().parents[1] / "workflow" / "profiles" / "slurm" / "status.py"
RECORD = ("JobId=7 JobName=hemlr-train UserId=root(0) GroupId=root(0) Priority=1 Nice=0 Account=(null) "
          "QOS=(null) JobState={} Reason=None Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 ExitCode=0:0")
JOBCOMP = ("JobId={} UserId=root(0) GroupId=root(0) Name=hemlr-train JobState={} Partition=ci "
           "TimeLimit=10 StartTime=2026-12-01T08:55:00 EndTime=2026-12-01T08:55:05 NodeList=vm NodeCnt=1 "
           "ProcCnt=2 WorkDir=/tmp ExitCode=0:0\n")


def status(tmp_path: Path, jobid: str, show_job: tuple[int, str, str], jobcomp: str | None = None) -> str:
    """status.py's answer when `scontrol show job` gives (exit code, stdout, stderr), and the
    jobcomp file holds ``jobcomp`` (None: JobCompType=jobcomp/none)."""
    rc, out, err = show_job
    (tmp_path / "job.out").write_text(out)
    (tmp_path / "job.err").write_text(err)
    config = "JobCompLoc              = {}\nJobCompType             = {}\n".format(
        tmp_path / "jobcomp.txt", "jobcomp/none" if jobcomp is None else "jobcomp/filetxt")
    (tmp_path / "config.out").write_text(f"Configuration data as of 2026-12-01T08:55:00\n{config}")
    (tmp_path / "jobcomp.txt").write_text(jobcomp or "")
    stub = tmp_path / "bin" / "scontrol"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text(f"""#!/bin/sh
if [ "$1 $2" = "show config" ]; then cat {tmp_path}/config.out; exit 0; fi
[ "$1 $2 $3 $4" = "show job -o 7" ] || {{ echo "unexpected: $*" >&2; exit 9; }}
cat {tmp_path}/job.out; cat {tmp_path}/job.err >&2; exit {rc}
""")
    stub.chmod(0o755)
    proc = run(jobid, path=f"{stub.parent}{os.pathsep}{os.environ['PATH']}")
    assert proc.returncode == 0, proc.stderr  # any other exit stops the whole Snakemake run
    return proc.stdout.strip()


def run(*args: str, path: str) -> subprocess.CompletedProcess:
    """status.py with ``args`` and ``path`` as PATH."""
    return subprocess.run([sys.executable, str(STATUS), *args], capture_output=True, text=True,
                          env={**os.environ, "PATH": path}, timeout=30)


@pytest.mark.parametrize("state, expected", [
    ("PENDING", "running"), ("RUNNING", "running"), ("COMPLETING", "running"), ("REQUEUED", "running"),
    ("COMPLETED", "success"),
    ("FAILED", "failed"), ("CANCELLED", "failed"), ("TIMEOUT", "failed"), ("OUT_OF_MEMORY", "failed"),
    ("NODE_FAIL", "failed"),
])
def test_state_from_scontrol(tmp_path: Path, state: str, expected: str):
    assert status(tmp_path, "7", (0, RECORD.format(state) + "\n", "")) == expected


def test_parsable_id_with_a_cluster_name(tmp_path: Path):
    assert status(tmp_path, "7;cluster1", (0, RECORD.format("RUNNING"), "")) == "running"


GONE = (1, "", "slurm_load_jobs error: Invalid job id specified\n")


def test_purged_job_from_the_jobcomp_file(tmp_path: Path):
    # Requeued once: the last record is the job's final state; job 70 is another job.
    records = JOBCOMP.format(7, "NODE_FAIL") + JOBCOMP.format(70, "FAILED") + JOBCOMP.format(7, "COMPLETED")
    assert status(tmp_path, "7", GONE, records) == "success"
    assert status(tmp_path, "7", GONE, JOBCOMP.format(7, "CANCELLED") + JOBCOMP.format(70, "COMPLETED")) == "failed"


def test_unknown_job_is_failed(tmp_path: Path):
    assert status(tmp_path, "7", GONE, JOBCOMP.format(70, "COMPLETED")) == "failed"
    assert status(tmp_path, "7", GONE, None) == "failed"  # no jobcomp file to ask


def test_controller_not_answering_is_asked_again(tmp_path: Path):
    down = (1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n")
    assert status(tmp_path, "7", down) == "running"


def test_controller_not_answering_to_the_jobcomp_question_is_asked_again(tmp_path: Path):
    # The job is gone, and the controller stops answering before `scontrol show config`.
    assert status(tmp_path, "7", GONE, JOBCOMP.format(7, "COMPLETED")) == "success"
    (tmp_path / "config.out").write_text("")
    stub = (tmp_path / "bin" / "scontrol")
    stub.write_text(stub.read_text().replace(
        "cat {}/config.out; exit 0".format(tmp_path),
        "echo 'slurm_load_ctl_conf error: Unable to contact slurm controller (connect failure)' >&2; exit 1"))
    proc = run("7", path=f"{stub.parent}{os.pathsep}{os.environ['PATH']}")
    assert (proc.returncode, proc.stdout.strip()) == (0, "running"), proc.stderr
    assert "asking again later: slurm_load_ctl_conf error: Unable to contact slurm controller" in proc.stderr


# Without a usable scontrol the job can never be seen to end: answering "running" would make
# Snakemake wait for it forever, so the job fails and stderr says why.

def test_no_scontrol_on_path_is_a_failure(tmp_path: Path):
    proc = run("7", path=str(tmp_path))
    assert (proc.returncode, proc.stdout.strip()) == (0, "failed"), proc.stderr
    assert f"cannot ask SLURM about job 7, counting it as failed: scontrol not found on PATH ({tmp_path})" \
        in proc.stderr


def test_a_scontrol_that_is_not_executable_is_a_failure(tmp_path: Path):
    stub = tmp_path / "scontrol"
    stub.write_text("#!/bin/sh\necho 'JobState=RUNNING'\n")
    stub.chmod(0o644)
    proc = run("7", path=str(tmp_path))
    assert (proc.returncode, proc.stdout.strip()) == (0, "failed"), proc.stderr
    assert f"counting it as failed: {stub} is not executable (no executable scontrol on PATH)" in proc.stderr


def test_a_scontrol_failing_otherwise_is_a_failure(tmp_path: Path):
    broken = (1, "", "scontrol: error: resolve_ctls_from_dns_srv: res_nsearch error: Unknown host\n"
                     "scontrol: fatal: Could not establish a configuration source\n")
    assert status(tmp_path, "7", broken) == "failed"
    proc = run("7", path=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert "counting it as failed: `scontrol show job -o 7` failed (exit code 1): scontrol: error: " \
           "resolve_ctls_from_dns_srv" in proc.stderr
    assert "Could not establish a configuration source" in proc.stderr


@pytest.mark.parametrize("args, problem", [
    ((), "no job id given"), (("",), "no job id in ''"), (("7", "8"), "expected one job id, got 2 arguments"),
])
def test_a_missing_job_id_is_a_usage_error(tmp_path: Path, args: tuple[str, ...], problem: str):
    proc = run(*args, path=os.environ["PATH"])
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr.startswith(f"status.py: {problem}\nusage: status.py JOBID\n")
