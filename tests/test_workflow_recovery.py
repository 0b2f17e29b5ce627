"""The workflow after things go wrong: inputs changed behind Snakemake's back, a killed
snakemake, a failing job, a file where a run's directory must be (tiny runs, seconds each)."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import yaml
from sklearn.datasets import load_digits

from .test_workflow import CONFIG, REPO, RUN, logs, snakemake

pytestmark = pytest.mark.slow


def _ran(proc: subprocess.CompletedProcess) -> set[str]:
    """The rules whose jobs a snakemake run started."""
    return {line.split()[-1].rstrip(":") for line in proc.stderr.splitlines()
            if line.startswith(("rule ", "localrule ")) and line.endswith(":")} - {"all"}


def _write_csv(path: Path, rows: slice) -> str:
    """Digits rows in the authors' CSV layout (label, then the features); returns its sha256."""
    X, y = load_digits(return_X_y=True)
    data = np.column_stack([y[rows], X[rows] / 16])
    path.write_text("\n".join(",".join(f"{v:g}" for v in row) for row in data) + "\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_changed_input_with_its_old_mtime_reruns_every_stage(tmp_path: Path):
    csv = tmp_path / "features.csv"
    old = _write_csv(csv, slice(0, 200))
    config = {**CONFIG, "datasets": {"digits": {"source": "features_csv", "path": str(csv),
                                                "train_rows": [0, 128], "test_rows": [128, 200]}}}
    first = snakemake(tmp_path, config, "--cores", "1")
    assert first.returncode == 0, first.stderr[-3000:]
    summary = tmp_path / "reports" / RUN / "summary.md"
    assert old in summary.read_text()

    stat = csv.stat()
    new = _write_csv(csv, slice(200, 400))  # other images, as `cp -p` of another file would bring
    os.utime(csv, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert csv.stat().st_mtime_ns == stat.st_mtime_ns and new != old

    rerun = snakemake(tmp_path, config, "--cores", "1")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _ran(rerun) == {"data_manifest", "features", "train", "report", "verdict", "history"}, rerun.stderr[-3000:]
    text = summary.read_text()
    assert new in text and old not in text


def _job_processes(root: psutil.Process, script: str) -> list[psutil.Process]:
    return [p for p in root.children(recursive=True) if any(script in part for part in p.cmdline())]


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# Plaintext is exact and fast: 300 iterations keep the train job busy for a few seconds.
SLOW = {**CONFIG, "iterations": 300,
        "backends": {"plaintext": {"library": "plaintext", "ring_dim": 32768, "max_depth": 2000}}}


def _signal_during_training(workdir: Path, sig: signal.Signals) -> float:
    """Start the workflow and send ``sig`` to snakemake while the train job runs; once
    snakemake has exited, no job may be left after 2 s. Returns when the signal was sent
    (time.monotonic)."""
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(SLOW))
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                             "--directory", str(workdir), "--configfile", str(configfile), "--cores", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    jobs: list[psutil.Process] = []
    try:
        log = workdir / "results" / RUN / "logs" / "train" / "digits" / "mlr" / "plaintext.log"
        deadline = time.monotonic() + 60
        while not (log.exists() and "training digits" in log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, "the train job did not start"
            time.sleep(0.05)
        jobs = _job_processes(psutil.Process(proc.pid), "train.py")
        assert jobs, "no train job process found"
        sent = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=60)
        exited = time.monotonic()
        while any(map(_alive, jobs)) and time.monotonic() < exited + 2:
            time.sleep(0.05)
        assert [p.pid for p in jobs if _alive(p)] == [], f"train job outlived snakemake ({sig.name})"
        return sent
    finally:
        proc.kill()
        proc.wait()
        for p in jobs:
            if _alive(p):
                p.kill()


def test_sigkill_leaves_no_job_behind_and_unlock_then_rerun_completes(tmp_path: Path):
    killed = _signal_during_training(tmp_path, signal.SIGKILL)
    table = tmp_path / "results" / RUN / "train" / "digits" / "mlr" / "plaintext.parquet"
    # Written atomically: nothing half-written, no temporary file left.
    assert not table.exists() and list(table.parent.iterdir()) == []
    assert not (tmp_path / "reports" / RUN).exists()

    locked = snakemake(tmp_path, SLOW, "--cores", "1")
    assert locked.returncode != 0 and "--unlock" in locked.stderr, locked.stderr[-3000:]
    unlock = snakemake(tmp_path, SLOW, "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    rerun = snakemake(tmp_path, SLOW, "--cores", "1")
    assert rerun.returncode == 0, f"{rerun.stderr[-3000:]}\n{logs(tmp_path)}"
    assert "train" in _ran(rerun)
    # The report is the rerun's: one training in the log, rows stamped after the kill.
    log = (tmp_path / "results" / RUN / "logs" / "train" / "digits" / "mlr" / "plaintext.log").read_text()
    assert log.count("training digits") == 1 and "300 rows written" in log
    df = pd.read_parquet(tmp_path / "reports" / RUN / "results.parquet")
    assert len(df) == 300
    started = pd.Timestamp(df["timestamp"].min()).timestamp()
    assert started >= time.time() - (time.monotonic() - killed) - 1


def test_sigterm_lets_the_job_finish_and_releases_the_lock(tmp_path: Path):
    """Snakemake's own SIGTERM handling: running jobs end normally, then it exits unlocked."""
    _signal_during_training(tmp_path, signal.SIGTERM)
    table = tmp_path / "results" / RUN / "train" / "digits" / "mlr" / "plaintext.parquet"
    assert len(pd.read_parquet(table)) == 300
    rerun = snakemake(tmp_path, SLOW, "--cores", "1")
    assert rerun.returncode == 0, f"{rerun.stderr[-3000:]}\n{logs(tmp_path)}"
    assert "train" not in _ran(rerun) and "report" in _ran(rerun)


def test_failing_train_job_logs_backend_parameters_and_phase(tmp_path: Path):
    # A features cache that is not an .npz: the job fails while loading it.
    features = tmp_path / "results" / "features" / "digits.npz"
    features.parent.mkdir(parents=True)
    features.write_bytes(b"not a zip file")
    proc = snakemake(tmp_path, CONFIG, "--cores", "1")
    assert proc.returncode != 0
    log = (tmp_path / "results" / RUN / "logs" / "train" / "digits" / "mlr" / "plaintext.log").read_text()
    assert "train job failed: DataError:" in log, log
    assert "\n  backend: plaintext\n" in log
    assert "\n  parameters: {'library': 'plaintext', 'ring_dim': 32768," in log
    assert "\n  iterations: 2\n" in log
    assert "\n  phase: train, in hemlr/dataset.py:" in log and "load_dataset()" in log


@pytest.mark.parametrize("directory", [f"reports/{RUN}", f"results/{RUN}", "results"])
def test_a_file_in_place_of_a_run_directory_stops_before_any_job(tmp_path: Path, directory: str):
    blocker = tmp_path / directory
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a directory")
    proc = snakemake(tmp_path, CONFIG, "--cores", "1")
    assert proc.returncode != 0
    assert f"{directory} is a file, but this run writes its outputs under" in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "rule " not in proc.stderr
    assert blocker.read_text() == "not a directory"
