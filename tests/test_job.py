"""hemlr.job: jobs die with their parent, outputs appear atomically, failures are logged with
their context. Each job runs in a child Python process, as under Snakemake."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from hemlr.job import atomic_output


def test_atomic_output_replaces_the_target_only_on_success(tmp_path: Path):
    target = tmp_path / "table.parquet"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            assert Path(tmp).parent == tmp_path and tmp.endswith(".parquet") and tmp != str(target)
            Path(tmp).write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    with atomic_output(target) as tmp:
        Path(tmp).write_text("new")
        assert target.read_text() == "old"  # readers see the old file until the end
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.parquet"]


def test_atomic_output_fails_when_nothing_was_written(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        with atomic_output(tmp_path / "x.json"):
            pass
    assert list(tmp_path.iterdir()) == []


def _python(code: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], **kwargs)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_job_and_its_forked_workers_die_with_the_parent(tmp_path: Path):
    """A parent that starts a job (start(), then a fork, as parallel_map does) is SIGKILLed:
    both the job and its worker must go at once instead of running on under init."""
    pids = tmp_path / "pids"
    job = f"""
        import os, time
        from hemlr.job import start
        start({str(tmp_path / 'job.log')!r}, 1)
        worker = os.fork()
        if worker == 0:
            time.sleep(60)
            os._exit(0)
        open({str(pids)!r} + ".tmp", "w").write(f"{{os.getpid()}} {{worker}}")
        os.rename({str(pids)!r} + ".tmp", {str(pids)!r})
        time.sleep(60)
    """
    parent = _python(f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {textwrap.dedent(job)!r}])
        time.sleep(60)
    """)
    found: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while not pids.exists():
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.05)
        found = [int(p) for p in pids.read_text().split()]
        assert not any(map(_gone, found))
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 2
        while not all(map(_gone, found)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in found if not _gone(pid)] == [], "job or worker outlived its parent"
    finally:
        parent.kill()
        parent.wait()
        for pid in found:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_raw_library_error_is_logged_with_the_job_context(tmp_path: Path):
    log = tmp_path / "train.log"
    proc = _python(f"""
        from hemlr.job import logged_failure, start
        log = start({str(log)!r}, 1)
        import numpy as np
        from hemlr.workloads.mlr import reference
        with logged_failure(log, "train", dataset="digits", backend="tenseal",
                            parameters={{"library": "tenseal", "ring_dim": 8192}}):
            reference.linear_scores(np.zeros((3, 4)), np.zeros((10, 7)))  # numpy's own ValueError
    """, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.communicate(timeout=60)
    text = log.read_text()
    assert proc.returncode == 1, text
    first = text.index("train job failed: ValueError: matmul")
    context = text[first:]
    assert "\n  dataset: digits\n  backend: tenseal\n" in context
    assert "\n  parameters: {'library': 'tenseal', 'ring_dim': 8192}\n" in context
    assert "\n  phase: train, in hemlr/workloads/mlr/reference.py:" in context
    assert "linear_scores(): `return design_matrix(X) @ W.T`" in context
    # re-raised: the traceback follows the context
    assert text.index("Traceback (most recent call last)") > first
