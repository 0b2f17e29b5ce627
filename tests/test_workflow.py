"""End-to-end: the Snakemake workflow on sklearn digits with the plaintext backend (seconds)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hemlr.pricing import PREDICTED

from .conftest import make_factory
from .offline_html import external_references

REPO = Path(__file__).resolve().parents[1]
RUN = "e2e"
REPORT_FILES = ("results.parquet", "results.csv", "summary.md", "accuracy.png", "time_per_phase.png", "report.html")
CONFIG = {
    "run": RUN,
    "iterations": 2,
    "datasets": {"digits": {"source": "digits", "n_train": 128}},
    "backends": {"plaintext": {"library": "plaintext", "ring_dim": 32768}},
    "experiments": [{"datasets": ["digits"], "backends": ["plaintext"]}],
}

# Lint findings accepted on every rule: a rule runs in the project's environment (make's .venv),
# which no conda env file can describe truthfully under Snakemake 7.32; see LINT_ACCEPTED in
# the Makefile, which `make lint` accepts the same way.
LINT_ACCEPTED = {"Specify a conda environment or container for each rule."}

pytestmark = pytest.mark.slow


def snakemake(workdir: Path, config: dict | None, *args: str) -> subprocess.CompletedProcess:
    """Snakemake on the repository's Snakefile in ``workdir``; ``config=None``: the embedded default."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    if config is not None:
        configfile = workdir / "config.yaml"
        configfile.write_text(yaml.safe_dump(config))
        cmd += ["--configfile", str(configfile)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300)


def logs(workdir: Path) -> str:
    return "\n".join(f"--- {p}\n{p.read_text()}" for p in sorted(workdir.glob("results/*/logs/**/*.log")))


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("workflow")
    proc = snakemake(workdir, CONFIG, "--cores", "1")
    assert proc.returncode == 0, f"snakemake failed:\n{proc.stderr[-4000:]}\n{logs(workdir)}"
    return workdir


def test_end_to_end_outputs(e2e: Path):
    reports = e2e / "reports" / RUN
    for name in REPORT_FILES:
        assert (reports / name).stat().st_size > 0, name
    df = pd.read_parquet(reports / "results.parquet")
    assert len(df) == 2
    assert list(df["iteration"]) == [1, 2]
    assert set(df["backend"]) == {"plaintext"} and set(df["dataset"]) == {"digits"}
    assert df[["job_wall_s", "job_max_rss_mb", "job_cpu_s"]].notna().all().all()
    assert len(pd.read_csv(reports / "results.csv")) == 2
    summary = (reports / "summary.md").read_text()
    assert f"run `{RUN}`" in summary and "NOT THE PAPER'S DATA" in summary
    html = (reports / "report.html").read_text(encoding="utf-8")
    assert external_references(html) == []
    assert "NOT THE PAPER&#39;S DATA" in html and "Dataset <code>digits</code>" in html
    for stage in ("data/digits.json", "train/digits/mlr/plaintext.parquet", "benchmarks/digits/mlr/plaintext.tsv"):
        assert (e2e / "results" / RUN / stage).exists(), stage
    assert (e2e / "results" / "features" / "digits.npz").exists()


def test_second_run_has_nothing_to_do(e2e: Path):
    proc = snakemake(e2e, CONFIG, "--cores", "1", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_every_report_output_is_annotated(e2e: Path):
    # Not report.html: that one is the report rule's own, self-contained page.
    html = e2e / "reports" / RUN / "snakemake-report.html"
    proc = snakemake(e2e, CONFIG, "--report", str(html))
    out = proc.stdout + proc.stderr
    for name in REPORT_FILES:
        assert f"Adding {name}" in out, f"{name} is not marked with report():\n{out[-3000:]}"
    if proc.returncode != 0:
        # Snakemake 7.32 renders the HTML only with pygments installed and internet access
        # (it downloads its JavaScript and licences); the annotations were checked above.
        assert "pygments" in out or "Failed to resolve" in out or "Failed to download" in out, out[-3000:]
        pytest.skip("HTML report not rendered here: " + out.strip().splitlines()[-1][:200])
    assert html.stat().st_size > 0


def _jobs_of_dry_run(text: str) -> dict[str, dict[str, str]]:
    """rule[wildcards] -> {"threads": ..., "resources": ...} of each job a dry run lists."""
    jobs = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        head = re.match(r"(?:local)?rule (\w+):", block)
        if head:
            fields = dict(re.findall(r"^    (\w+): (.*)$", block, re.MULTILINE))
            jobs[f"{head.group(1)}[{fields.get('wildcards', '')}]"] = fields
    return jobs


def test_every_job_declares_memory_and_runtime(tmp_path: Path):
    backends = {"plain": {"library": "plaintext", "ring_dim": 32768},
                "seal": {"library": "tenseal", "ring_dim": 32768},
                "seal-x3": {"library": "tenseal", "ring_dim": 32768, "repeats": 3}, "seal64k": {"library": "tenseal", "ring_dim": 65536},
                "fhe": {"library": "openfhe", "ring_dim": 32768},
                "tfhe": {"library": "concrete", "mode": "execute", "n_components": 4, "iterations": 1}}
    config = {**CONFIG, "backends": backends, "experiments": [{"datasets": ["digits"], "backends": list(backends)}]}
    proc = snakemake(tmp_path, config, "--dry-run", "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = _jobs_of_dry_run(proc.stdout)
    assert {name.split("[")[0] for name in jobs} == {"data_manifest", "features", "train", "report", "verdict",
                                                     "history", "all"}
    limits = {}
    for name, fields in jobs.items():
        if name.startswith("all["):
            continue  # the target: no job runs
        resources = dict(kv.split("=") for kv in fields["resources"].split(", "))
        limits[name] = int(resources["mem_mb"]), int(resources["runtime"])
    train = {name.split("backend=")[1].rstrip("]"): v for name, v in limits.items() if name.startswith("train[")}
    assert set(train) == set(backends)
    # The README's measurements with margins: TenSEAL 8.6 GB at 32768, about twice at 65536.
    assert 8600 < train["seal"][0] < train["seal64k"][0] < 24000
    assert train["plain"][0] < train["fhe"][0] < train["seal"][0]
    assert train["seal64k"][1] > train["seal"][1] >= 10 and train["tfhe"][1] >= 10
    # repeats run one after the other in one job: 3x the time, one session's memory
    assert train["seal-x3"][0] == train["seal"][0] and train["seal-x3"][1] >= 2.5 * train["seal"][1]


def test_bad_config_fails_with_the_config_error(tmp_path: Path):
    bad = {**CONFIG, "backends": {"plaintext": {"library": "plaintext", "ring_dim": 1000}}}
    proc = snakemake(tmp_path, bad, "--cores", "1")
    assert proc.returncode != 0
    expected = "backends.plaintext.ring_dim: 1000 is not allowed; allowed values:"
    assert any(line.startswith(expected) for line in proc.stderr.splitlines()), proc.stderr[-3000:]
    assert not (tmp_path / "results").exists()


def test_lint_of_the_default_config_finds_only_accepted_lints(tmp_path: Path):
    proc = snakemake(tmp_path, None, "--lint", "json")
    try:
        found = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"snakemake --lint did not lint:\n{proc.stderr[-3000:]}")
    lints = [(item["for"].get("rule", item["for"]["snakefile"]), lint["title"])
             for kind in ("snakefiles", "rules") for item in found[kind] for lint in item["lints"]]
    assert [(where, title) for where, title in lints if title not in LINT_ACCEPTED] == []
    # Snakemake exits 1 on any finding, accepted or not.
    assert proc.returncode == (1 if lints else 0), proc.stderr[-3000:]


def test_a_job_beyond_the_tolerance_fails_the_run_after_the_report(tmp_path: Path):
    """Exact arithmetic still differs from the oracle by ~1e-17: beyond a 1e-300 tolerance."""
    proc = snakemake(tmp_path, {**CONFIG, "tolerance": 1e-300}, "--cores", "1")
    assert proc.returncode != 0
    assert "FAILED: mlr on plaintext on digits drifted from the exact reference" in logs(tmp_path)
    summary = (tmp_path / "reports" / RUN / "summary.md").read_text()
    assert "WARNING: FAILED:** `plaintext`" in summary
    assert (tmp_path / "reports" / RUN / "report.html").stat().st_size > 0
    assert not (tmp_path / "reports" / RUN / "verdict.txt").exists()


COST_CONFIG = {
    **CONFIG, "run": "costs", "cost_model": True, "repeats": 2,
    "datasets": {"digits": {"source": "digits", "n_train": [32, 64]}},
    "backends": {"plain": {"library": "plaintext", "ring_dim": [4096, 8192]},
                 "sim": {"library": "concrete", "mode": "simulate", "n_components": 2, "iterations": 1}},
    "experiments": [{"datasets": ["digits"], "backends": ["plain", "sim"]}],
}


def test_the_cost_model_times_each_ckks_backend_once_with_resources(tmp_path: Path):
    proc = snakemake(tmp_path, COST_CONFIG, "--dry-run", "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = _jobs_of_dry_run(proc.stdout)
    costs = {name: fields for name, fields in jobs.items() if name.startswith("costmodel[")}
    assert sorted(costs) == ["costmodel[workload=mlr, backend=plain_ring_dim~4096]",
                             "costmodel[workload=mlr, backend=plain_ring_dim~8192]"]
    for fields in costs.values():
        resources = dict(kv.split("=") for kv in fields["resources"].split(", "))
        assert int(resources["mem_mb"]) > 0 and int(resources["runtime"]) >= 10
    assert "reports/costs/scaling_n.png" in proc.stdout and "reports/costs/scaling_ring.png" in proc.stdout
    off = snakemake(tmp_path, {**COST_CONFIG, "cost_model": False}, "--dry-run", "--cores", "2")
    assert off.returncode == 0 and "costmodel[" not in str(_jobs_of_dry_run(off.stdout)), off.stderr[-3000:]


def test_a_run_with_the_cost_model_reports_predictions_and_scaling(tmp_path: Path):
    make_factory("concrete")
    proc = snakemake(tmp_path, COST_CONFIG, "--cores", "1")
    assert proc.returncode == 0, f"snakemake failed:\n{proc.stderr[-4000:]}\n{logs(tmp_path)}"
    reports = tmp_path / "reports" / "costs"
    table = pd.read_parquet(tmp_path / "results" / "costs" / "costmodel" / "mlr" / "plain_ring_dim~8192.parquet")
    assert set(table["level"]) == set(range(15)) and table["backend"].eq("plain_ring_dim~8192").all()
    df = pd.read_parquet(reports / "results.parquet")
    plain = df[df["library"] == "plaintext"]
    assert len(plain) == 2 * 2 * 2 * 2 and (plain[PREDICTED] > 0).all()  # sizes x rings x repeats x iterations
    assert df.loc[df["library"] == "concrete", PREDICTED].isna().all()
    summary = (reports / "summary.md").read_text()
    assert "## Cost model" in summary and "plain_ring_dim~4096 on digits_n_train~32" in summary
    for name in ("scaling_n.png", "scaling_ring.png"):
        assert (reports / name).read_bytes().startswith(b"\x89PNG")
    assert "Scaling with ring dimension N" in (reports / "report.html").read_text(encoding="utf-8")


def test_a_completed_run_appends_its_rows_to_the_results_store(tmp_path: Path):
    """Every run adds its rows once (the history rule's marker lists the files written);
    history_dir: null turns it off."""
    from hemlr.history import load

    proc = snakemake(tmp_path, CONFIG, "--cores", "1")
    assert proc.returncode == 0, f"snakemake failed:\n{proc.stderr[-4000:]}\n{logs(tmp_path)}"
    stored = load(tmp_path / "results" / "history")
    results = pd.read_parquet(tmp_path / "reports" / RUN / "results.parquet")
    assert len(stored) == len(results) and set(stored["run"]) == {RUN}
    again = snakemake(tmp_path, CONFIG, "--cores", "1")
    assert again.returncode == 0 and len(load(tmp_path / "results" / "history")) == len(results)
    off = snakemake(tmp_path, {**CONFIG, "history_dir": None}, "--dry-run", "--cores", "1")
    assert off.returncode == 0 and "rule history" not in off.stdout, off.stderr[-3000:]
