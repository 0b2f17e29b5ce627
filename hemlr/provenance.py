"""Provenance and measurement helpers: what ran where, and what it cost."""
from __future__ import annotations

import os
import platform
import resource
import socket
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    """HEAD of the project checkout, with "+dirty" when the tree has changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def version_of(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance() -> dict[str, str | int]:
    """Machine, software and code identity for every result row."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count() or 0,
        "hostname": socket.gethostname(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "numpy_version": version_of("numpy"),
        "hemlr_version": version_of("hemlr-bench"),
        "git_commit": git_commit(),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def machine_load() -> dict[str, float]:
    """How busy the machine is: the 1-minute load average, the running processes (this one
    included) and the CPU share used by all processes over half a second (a job samples it
    while it computes nothing, so what it sees is other processes)."""
    try:
        fields = Path("/proc/loadavg").read_text().split()
        load = {"load1": float(fields[0]), "running": float(fields[3].split("/")[0])}
    except (OSError, IndexError, ValueError):
        load = {"load1": float("nan"), "running": float("nan")}
    return {**load, "cpu_busy_pct": psutil.cpu_percent(interval=0.5)}


def peak_rss_mb() -> float:
    """Peak resident set size so far of this process or its largest child (MB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0  # Linux reports KiB

