"""The Makefile's own errors: they stop make before the environment is built or snakemake starts."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted(p.stem for p in (REPO / "workflow" / "configs").glob("bench-*.yaml"))

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *args], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("args", [("run",), ("-n", "run"), ("report",), ("-n",)])  # run is the default goal
def test_a_config_that_does_not_exist_stops_make_before_snakemake(tmp_path: Path, args: tuple[str, ...]):
    missing = tmp_path / "missing.yaml"
    proc = make(*args, f"CONFIG={missing}")
    assert proc.returncode != 0 and proc.stdout == "", proc.stdout  # -n would print the snakemake command
    assert f"CONFIG={missing}: no such config file (give an existing one, e.g. CONFIG=workflow/configs/paper.yaml)" \
        in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr


def test_an_existing_config_still_runs_snakemake(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text("run: x\n")
    proc = make("-n", "run", f"CONFIG={config}")
    assert proc.returncode == 0, proc.stderr
    assert f"snakemake --cores all --configfile {config} " in proc.stdout


@pytest.mark.parametrize("target", ["bench-", "bench"])
def test_a_benchmark_without_a_name_lists_the_available_ones(target: str):
    assert BENCHMARKS, "no workflow/configs/bench-*.yaml"
    proc = make(target)
    assert proc.returncode != 0
    assert f"error: a benchmark name is needed: make bench-NAME; available: {', '.join(BENCHMARKS)}" in proc.stderr
    assert ".o" not in proc.stderr


def test_an_unknown_benchmark_lists_the_available_ones():
    proc = make("bench-nope")
    assert proc.returncode != 0
    assert (f"error: no benchmark 'nope': workflow/configs/bench-nope.yaml does not exist; "
            f"available: {', '.join(BENCHMARKS)}") in proc.stderr
