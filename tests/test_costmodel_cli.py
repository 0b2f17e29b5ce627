"""`python -m hemlr.costmodel`: every bad command line is a usage error (exit code 2) naming the
argument and what is allowed, never a traceback; a good one prints the predictions."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from backends import registry
from backends.plaintext import PlaintextBackend
from hemlr.costmodel import main, predict_job
from hemlr.microbenchmark import microbenchmark
from hemlr.pricing import PREDICTED
from hemlr.workloads import make_workload

CONFIG = {
    "run": "cli",
    "iterations": 2,
    "cost_model": True,
    "datasets": {"digits": {"source": "digits", "n_train": 32}},
    "backends": {"plain": {"library": "plaintext", "ring_dim": 4096}},
    "experiments": [{"datasets": ["digits"], "backends": ["plain"]}],
}
# a shape the ring of 4096 holds, at the depth of the table (2 iterations, no refresh: 14)
SHAPE = ["--n", "40", "--features", "5", "--classes", "3", "--iterations", "2"]


@pytest.fixture(scope="module")
def table_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cost table a run of CONFIG makes for its backend plain (on the plaintext backend)."""
    path = tmp_path_factory.mktemp("table") / "plain.parquet"
    microbenchmark(PlaintextBackend(ring_dim=4096), 14, samples=1).to_parquet(path, index=False)
    return path


@pytest.fixture
def run_dir(tmp_path: Path, table_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory where CONFIG ran (config.yaml, results/cli/costmodel/mlr/plain.parquet), as cwd."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    made = tmp_path / "results" / "cli" / "costmodel" / "mlr"
    made.mkdir(parents=True)
    (made / "plain.parquet").write_bytes(table_file.read_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def usage_error(capsys: pytest.CaptureFixture, *argv: str) -> str:
    """The message of main(argv)'s usage error (exit code 2), without the usage lines."""
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == "", err
    assert "usage: python -m hemlr.costmodel" in err
    return err.split("python -m hemlr.costmodel: error: ", 1)[1].strip()


def write_config(path: Path, **changes) -> str:
    path.write_text(yaml.safe_dump({**CONFIG, **changes}))
    return str(path)


def test_a_good_command_line_prints_the_predictions(run_dir: Path, table_file: Path, capsys):
    main(["config.yaml", "plain", *SHAPE, "--workers", "1", "2"])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "plain (plaintext, ring 4096), n = 40:"
    assert out[1].split("|")[1:4] == ["   iterations ", "   map_workers ", "   server s (iterations) "]
    table = pd.read_parquet(table_file)
    job = predict_job(make_workload(), PlaintextBackend(ring_dim=4096), table, 40, 5, 3, 2, workers=[1, 2])
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in out[3:]]
    assert [r[:3] for r in rows] == [["2", str(w), f"{g[PREDICTED].sum():.4g}"]
                                     for w, g in job.groupby("map_workers", sort=False)]
    # the same with the table named
    main(["config.yaml", "plain", *SHAPE, "--workers", "1", "2", "--table", str(table_file)])
    assert capsys.readouterr().out.splitlines() == out


def test_a_config_that_cannot_be_used(run_dir: Path, capsys):
    assert usage_error(capsys, "missing.yaml", "plain") == \
        "argument config: missing.yaml: cannot read the config file (No such file or directory)"
    bad = write_config(run_dir / "bad.yaml", backends={"plain": {"library": "nope"}})
    assert usage_error(capsys, bad, "plain").startswith(
        "argument config: backends.plain.library: unknown library 'nope'")


def test_an_unknown_backend_entry_lists_the_allowed_ones(run_dir: Path, capsys):
    assert usage_error(capsys, "config.yaml", "openfhe") == \
        "argument backend: 'openfhe' is not a backend entry of config.yaml; allowed: plain"


def test_a_backend_entry_without_a_cost_model(run_dir: Path, capsys):
    if registry.unavailable_reason("concrete"):
        pytest.skip(registry.unavailable_reason("concrete"))
    sim = {"library": "concrete", "mode": "simulate", "n_components": 2, "iterations": 1}
    config = write_config(run_dir / "sim.yaml", backends={**CONFIG["backends"], "sim": sim},
                          experiments=[{"datasets": ["digits"], "backends": ["plain", "sim"]}])
    assert usage_error(capsys, config, "sim") == \
        f"argument backend: 'sim' is not a CKKS backend (no cost model) of {config}; allowed: plain"


def test_an_unknown_workload_entry_lists_the_allowed_ones(run_dir: Path, capsys):
    assert usage_error(capsys, "config.yaml", "plain", "--workload", "svm") == \
        "argument --workload: 'svm' is not a workload entry of config.yaml; allowed: mlr"


def test_a_missing_cost_table_says_what_makes_it(run_dir: Path, capsys):
    assert usage_error(capsys, "config.yaml", "plain", "--table", "nowhere.parquet") == (
        "argument --table: no cost table at nowhere.parquet: a run with `cost_model: true` makes one "
        "(results/<run>/costmodel/<workload>/<backend>.parquet)")
    (run_dir / "results" / "cli" / "costmodel" / "mlr" / "plain.parquet").unlink()
    assert usage_error(capsys, "config.yaml", "plain") == (
        "argument --table: no cost table at results/cli/costmodel/mlr/plain.parquet: a run of config.yaml "
        "(cost_model: true) makes it; run it first, or give --table")
    off = write_config(run_dir / "off.yaml", cost_model=False)
    assert usage_error(capsys, off, "plain") == (
        "argument --table: no cost table at results/cli/costmodel/mlr/plain.parquet: a run with "
        f"`cost_model: true` makes it, and {off} has cost_model: false; or give --table")


def test_a_file_that_is_no_cost_table(run_dir: Path, capsys):
    assert usage_error(capsys, "config.yaml", "plain", "--table", "config.yaml").startswith(
        "argument --table: cannot read config.yaml as a cost table: ")
    pd.DataFrame({"kind": ["add"]}).to_parquet(run_dir / "other.parquet")
    assert usage_error(capsys, "config.yaml", "plain", "--table", "other.parquet") == (
        "argument --table: other.parquet is not a cost table of hemlr.microbenchmark "
        "(no column ['depth', 'level', 'map_workers', 'seconds'])")


@pytest.mark.parametrize("option, value, message", [
    ("--n", "0", "argument --n: must be a positive integer (training samples), got 0"),
    ("--n", "many", "argument --n: must be a positive integer (training samples), got 'many'"),
    ("--iterations", "0", "argument --iterations: must be a positive integer (training iterations), got 0"),
    ("--features", "0", "argument --features: must be a positive integer (features per sample), got 0"),
    ("--classes", "1", "argument --classes: must be an integer >= 2 (a classifier needs 2 classes at least), got 1"),
    ("--workers", "0", "argument --workers: must be a positive integer (parallel_map processes), got 0"),
    ("--refresh-every", "0",
     "argument --refresh-every: must be a positive integer (iterations between refreshes), got 0"),
    ("--refresh", "always", "argument --refresh: invalid choice: 'always' (choose from 'none', 'client', 'bootstrap')"),
])
def test_a_number_out_of_range(run_dir: Path, capsys, option: str, value: str, message: str):
    assert usage_error(capsys, "config.yaml", "plain", *SHAPE, option, value) == message


def test_a_depth_the_table_was_not_measured_at(run_dir: Path, capsys):
    message = usage_error(capsys, "config.yaml", "plain", *SHAPE, "3")  # --iterations 2 3
    assert message.startswith("--iterations 3 --n 40 --features 5 --classes 3 --refresh none (the backend entry's): "
                              "the keys of this job have depth ")
    assert "the cost table results/cli/costmodel/mlr/plain.parquet was measured at depth [14]" in message


def test_a_shape_the_ring_cannot_hold(run_dir: Path, capsys):
    message = usage_error(capsys, "config.yaml", "plain", *SHAPE, "--features", "5000")
    assert message.startswith("--iterations 2 --n 40 --features 5000 --classes 3 --refresh none (the backend "
                              "entry's): mlr cannot run so on plain: a ciphertext of 2048 slots cannot hold")
    assert message.endswith("use a larger ring_dim")


def test_a_refresh_the_backend_cannot_do(run_dir: Path, capsys):
    if registry.unavailable_reason("tenseal"):
        pytest.skip(registry.unavailable_reason("tenseal"))
    config = write_config(run_dir / "tenseal.yaml", backends={"ts": {"library": "tenseal"}},
                          experiments=[{"datasets": ["digits"], "backends": ["ts"]}])
    message = usage_error(capsys, config, "ts", "--table", "results/cli/costmodel/mlr/plain.parquet", *SHAPE,
                          "--refresh", "bootstrap")
    assert message == ("--iterations 2 --n 40 --features 5 --classes 3 --refresh bootstrap: mlr cannot run so on "
                       "ts: refresh: bootstrap is not available on tenseal (no CKKS bootstrapping); "
                       "use refresh: client")


def test_the_command_exits_with_the_usage_error(run_dir: Path):
    """The module as a command: exit code 2 and the message, no traceback (also after reading the table)."""
    proc = subprocess.run([sys.executable, "-m", "hemlr.costmodel", "config.yaml", "plain", *SHAPE, "3"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert "python -m hemlr.costmodel: error: --iterations 3 " in proc.stderr and "Traceback" not in proc.stderr
