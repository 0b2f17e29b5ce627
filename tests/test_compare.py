"""hemlr.compare and ``hemlr compare``: the join of two runs' jobs, the regression gate's exit
codes, usage errors, and the page's self-containment, on synthetic tables (no training)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hemlr.cli import main
from hemlr.compare import ACCURACY, ERROR, SERVER, compare, job_rows, read_results, trainings
from hemlr.stats import median_ratio
from tests.offline_html import external_references
from tests.test_report import BACKENDS, DIGITS, PAPER, fake_run_experiment
from tests.test_report_boundary import ALLOWED, REPO, forbidden, imports, under

TENSEAL = "tenseal-n32768"


def run(name: str, jobs: dict[str, list[float]], dataset: dict = DIGITS, **columns: object) -> pd.DataFrame:
    """A run's results table: per backend, one training (repeat) per given server time, in
    seconds per iteration. A backend named after one of test_report's BACKENDS (a grid
    member, tenseal-n32768_ring_dim~8192) takes that one's columns."""
    frames = []
    for backend, times in jobs.items():
        base = next(b for b in sorted(BACKENDS, key=len, reverse=True) if backend.startswith(b))
        for repeat, seconds in enumerate(times):
            frames.append(fake_run_experiment(dataset, base, run=name, repeat=repeat)
                          .assign(backend=backend, time_iteration_s=seconds, **columns))
    return pd.concat(frames, ignore_index=True)


def names(jobs: list) -> list[str]:
    return [job.name for job in jobs]


# ------------------------------------------------------------------------------------ join


def test_matched_jobs_and_the_unmatched_of_each_side():
    a = run("a", {"plaintext": [0.01], TENSEAL: [3.0, 3.1, 2.9]})
    b = run("b", {TENSEAL: [3.0, 3.2, 3.1], "concrete-sim": [1.0]})
    c = compare(a, b)
    assert names(c.matched) == [f"mlr / {TENSEAL} on digits"]
    assert names(c.only_a) == ["mlr / plaintext on digits"] and names(c.only_b) == ["mlr / concrete-sim on digits"]
    assert [u.note for u in c.only_a + c.only_b] == ["", ""]  # no namesake on the other side


def test_a_job_is_its_name_and_its_parameters():
    a = pd.concat([run("a", {TENSEAL: [3.0]}, params="ring_dim=32768, scale_bits=50"),
                   run("a", {TENSEAL: [3.0]}, dataset=PAPER, params="ring_dim=32768, scale_bits=50")])
    b = pd.concat([run("b", {TENSEAL: [3.0]}, params="ring_dim=32768, scale_bits=40"),
                   run("b", {TENSEAL: [3.0]}, dataset=PAPER, params="ring_dim=32768, scale_bits=50")])
    c = compare(a, b)
    assert names(c.matched) == [f"mlr / {TENSEAL} on mnist"]  # one name, two datasets: two jobs
    (only_a,), (only_b,) = c.only_a, c.only_b
    assert only_a.name == only_b.name == f"mlr / {TENSEAL} on digits"
    assert only_a.note == "params `ring_dim=32768, scale_bits=50` here, `ring_dim=32768, scale_bits=40` in B"
    assert only_b.note == "params `ring_dim=32768, scale_bits=40` here, `ring_dim=32768, scale_bits=50` in A"


def test_grid_members_are_matched_member_by_member():
    def grid(name: str, members: dict[int, list[float]]) -> pd.DataFrame:
        return pd.concat([run(name, {f"{TENSEAL}_ring_dim~{ring}": times}, ring_dim=ring, grid=TENSEAL,
                              grid_params="ring_dim") for ring, times in members.items()], ignore_index=True)

    c = compare(grid("a", {8192: [2.0, 2.1, 1.9], 16384: [4.0, 4.1, 3.9]}),
                grid("b", {8192: [2.2, 2.3, 2.1], 32768: [8.0, 8.1, 7.9]}))
    (m,) = c.matched
    assert m.name == f"mlr / {TENSEAL}_ring_dim~8192 on digits"
    assert m.a[SERVER].median() == 2.0 and m.b[SERVER].median() == 2.2
    assert names(c.only_a) == [f"mlr / {TENSEAL}_ring_dim~16384 on digits"]
    assert names(c.only_b) == [f"mlr / {TENSEAL}_ring_dim~32768 on digits"]


def test_the_samples_are_whole_trainings():
    """Per repeat: server seconds per iteration (iteration + refresh + bootstrap, averaged over
    its iterations), final test accuracy, worst error; the table shows their medians."""
    a = run("a", {TENSEAL: [1.0, 2.0, 9.0]})
    a.loc[(a["repeat"] == 1) & (a["iteration"] == 2), "time_refresh_s"] = 1.0  # spread over 2 iterations
    a.loc[a["repeat"] == 2, "rel_w_diff_oracle"] = 5e-3
    t = trainings(a)
    assert t[SERVER].tolist() == [1.0, 2.5, 9.0]
    assert t[ACCURACY].tolist() == a[a["iteration"] == 2]["test_accuracy"].tolist()
    assert t[ERROR].tolist() == [2e-5, 2e-5, 5e-3]
    (m,) = compare(a, run("b", {TENSEAL: [2.0, 3.0, 4.0]})).matched
    rows = {row[0]: row[1:] for row in job_rows(m, 0.95)}
    assert rows[SERVER][:3] == ["2.5", "3", "x1.2"]
    assert rows["of which refresh (s / iteration)"][:2] == ["0", "-"]  # median of 0, 0.5, 0; B timed none


def test_tables_read_alike_from_parquet_csv_and_run_folders(tmp_path: Path):
    a = run("a", {"plaintext": [0.01, 0.011], TENSEAL: [3.0, 3.1]}, params="ring_dim=32768", refresh_every=None)
    (tmp_path / "run").mkdir()
    a.to_parquet(tmp_path / "run" / "results.parquet", index=False)
    a.to_csv(tmp_path / "a.csv", index=False)
    c = compare(read_results(tmp_path / "run"), read_results(tmp_path / "a.csv"))
    assert len(c.matched) == 2 and not c.only_a and not c.only_b  # 32768 and 32768.0, None and "" agree


def test_an_mlr_run_from_before_its_layout_parameter_matches_the_papers_layout(tmp_path: Path):
    """MLR rows written before ``layout`` existed name no parameters; read, they are the paper's
    layout, so they pair with today's paper-layout jobs and not with the diagonal ones."""
    old = run("old", {TENSEAL: [3.0]})  # workload_params ""
    new = pd.concat([run("new", {TENSEAL: [3.0]}, workload_params="layout=paper"),
                     run("new", {TENSEAL: [1.0]}, workload="mlr-diagonal", workload_params="layout=diagonal")])
    old.to_csv(tmp_path / "old.csv", index=False)
    new.to_csv(tmp_path / "new.csv", index=False)
    c = compare(read_results(tmp_path / "old.csv"), read_results(tmp_path / "new.csv"))
    assert names(c.matched) == [f"mlr / {TENSEAL} on digits"]
    assert names(c.only_b) == [f"mlr-diagonal / {TENSEAL} on digits"] and not c.only_a


def test_rows_from_before_a_backend_parameter_read_as_its_old_behaviour(tmp_path):
    """Rows written before ``rotation_keys`` existed do not name it; read, they are a key per step
    (what runs did then), so they pair with today's per-step jobs and not with power-of-two ones,
    list values (", " inside brackets) kept whole."""
    old = run("old", {TENSEAL: [3.0]}, params="bootstrap_level_budget=[3, 3], ring_dim=65536")
    new = pd.concat([
        run("new", {TENSEAL: [3.0]}, params="bootstrap_level_budget=[3, 3], ring_dim=65536, rotation_keys=per_step"),
        run("new", {f"{TENSEAL}-pow2": [1.0]},
            params="bootstrap_level_budget=[3, 3], ring_dim=65536, rotation_keys=power_of_two")])
    old.to_csv(tmp_path / "old.csv", index=False)
    new.to_csv(tmp_path / "new.csv", index=False)
    a, b = read_results(tmp_path / "old.csv"), read_results(tmp_path / "new.csv")
    assert set(a["params"]) == {"bootstrap_level_budget=[3, 3], ring_dim=65536, rotation_keys=per_step"}
    c = compare(a, b)
    assert names(c.matched) == [f"mlr / {TENSEAL} on digits"] and not c.only_a
    assert names(c.only_b) == [f"mlr / {TENSEAL}-pow2 on digits"]


def test_provenance_differences_and_load():
    a = run("a", {TENSEAL: [3.0]}, cpu_busy_pct_before=2.0)
    b = run("b", {TENSEAL: [3.0]}, git_commit="def5678", library_version="0.3.17", hostname="other",
            cpu_busy_pct_before=60.0)
    c = compare(a, b)
    assert ("git commit", "abc1234", "def5678") in c.provenance and ("hostname", "testhost", "other") in c.provenance
    assert ("tenseal version", "0.3.16", "0.3.17") in c.provenance
    assert not any(what == "CPU" for what, _, _ in c.provenance)  # the same CPU: not listed
    assert c.load == [("CPU busy before a training (%)", "2", "60")]


# ------------------------------------------------------------------------------------ gate


@pytest.fixture
def tables(tmp_path: Path):
    """Writes run tables as parquet files: tables(name, jobs, **columns) -> path."""
    def write(name: str, jobs: dict[str, list[float]], **columns: object) -> str:
        path = tmp_path / f"{name}.parquet"
        run(name, jobs, **columns).to_parquet(path, index=False)
        return str(path)
    return write


BASE = [10.0, 10.2, 9.9, 10.1, 10.0]


@pytest.mark.parametrize("b_times, median_beyond, status", [
    ([15.0, 15.2, 14.9, 15.1, 15.3], True, 1),   # x1.5, the whole interval beyond x1.25: fails
    ([10.5, 13.0, 16.0, 11.0, 15.0], True, 0),   # median x1.3, but the interval reaches below x1.25: noise
    ([12.0, 12.2, 11.9, 12.1, 12.0], False, 0),  # a clear x1.2 slowdown, within the threshold
    ([5.0, 5.1, 4.9, 5.0, 5.2], False, 0),       # an improvement
], ids=["regression", "noise", "within", "improvement"])
def test_time_gate(tables, capsys: pytest.CaptureFixture, b_times: list[float], median_beyond: bool, status: int):
    r = median_ratio(BASE, b_times)
    assert (r.ratio > 1.25, r.low > 1.25) == (median_beyond, status == 1)
    a, b = tables("a", {TENSEAL: BASE}), tables("b", {TENSEAL: b_times})
    assert main(["compare", a, b, "--fail", "time:+25%"]) == status
    out = capsys.readouterr().out
    assert ("FAILED time:+25%: mlr / tenseal-n32768 on digits: server time x1.5" in out) == (status == 1)
    assert out.rstrip().endswith("not checked")


def test_one_training_a_side_cannot_be_gated_on_time(tables, capsys: pytest.CaptureFixture):
    assert main(["compare", tables("a", {TENSEAL: [10.0]}), tables("b", {TENSEAL: [30.0]}), "--fail", "time:x1"]) == 0
    assert "not checked time:x1: mlr / tenseal-n32768 on digits: server time has no interval" in capsys.readouterr().out


@pytest.mark.parametrize("gate, status", [("accuracy:-0.01", 1), ("accuracy:-0.1", 0)])
def test_accuracy_gate(tables, gate: str, status: int):
    a = tables("a", {TENSEAL: BASE})
    b = run("b", {TENSEAL: BASE})
    b["test_accuracy"] -= 0.05
    b.to_parquet(Path(a).with_name("b.parquet"), index=False)
    assert main(["compare", a, str(Path(a).with_name("b.parquet")), "--fail", gate]) == status


@pytest.mark.parametrize("gate, status", [("error:x10", 1), ("error:+50%", 1), ("error:+1e-2", 0), ("error:x1000", 0)])
def test_error_gate(tables, gate: str, status: int):
    a = tables("a", {TENSEAL: BASE})
    b = tables("b", {TENSEAL: BASE}, rel_w_diff_oracle=4e-3)  # 200 x the 2e-5 of A
    assert main(["compare", a, b, "--fail", gate, "--fail", "time:+25%"]) == status


def test_the_installed_command_exits_with_the_gate(tables):
    a, b = tables("a", {TENSEAL: BASE}), tables("b", {TENSEAL: [20.0, 20.1, 19.9, 20.2, 20.0]})
    proc = subprocess.run([sys.executable, "-m", "hemlr.cli", "compare", a, b, "--fail", "time:+25%"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "FAILED time:+25%" in proc.stdout
    assert re.search(r'^\[project\.scripts\]\nhemlr = "hemlr\.cli:main"$',
                     (REPO / "pyproject.toml").read_text(), re.MULTILINE)


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: COMMAND"),
    (["compare", "{a}"], "the following arguments are required: B"),
    (["compare", "{a}", "{a}", "--fail", "speed:+10%"], "'speed:+10%' is no threshold"),
    (["compare", "{a}", "{a}", "--fail", "time:25%"], "'time:25%' is no threshold"),
    (["compare", "{a}", "{a}", "--fail", "time:+abc%"], "is no threshold"),
    (["compare", "{a}", "{a}", "--fail", "time:x0.8"], "a factor is at least x1"),
    (["compare", "{a}", "{a}", "--fail", "accuracy:+0.01"], "is no threshold"),
    (["compare", "{a}", "{a}", "--fail", "error:-1"], "is no threshold"),
    (["compare", "{a}", "{a}", "--level", "95"], "a confidence level strictly between 0 and 1"),
    (["compare", "{missing}", "{a}"], "argument A: "),
    (["compare", "{a}", "{text}"], "argument B: "),
    (["compare", "{a}", "{folder}"], "without results.parquet or results.csv"),
    (["compare", "{a}", "{other}"], "not a results table of hemlr (no column dataset, workload, backend"),
    (["history"], "the following arguments are required: ACTION"),
    (["history", "render"], "the following arguments are required: --out"),
    (["history", "append", "{missing}"], "argument RUN_DIR_OR_TABLE: "),
    (["compare", "{a}", "{a}", "--html", "{missing}/page.html"], "argument --html: cannot write"),
])
def test_bad_arguments_are_usage_errors(tables, tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str],
                                        message: str):
    (tmp_path / "notes.txt").write_text("not a table")
    (tmp_path / "empty").mkdir()
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "other.parquet")
    paths = {"a": tables("a", {TENSEAL: BASE}), "missing": str(tmp_path / "nope.parquet"),
             "text": str(tmp_path / "notes.txt"), "folder": str(tmp_path / "empty"),
             "other": str(tmp_path / "other.parquet")}
    with pytest.raises(SystemExit) as exited:
        main([arg.format(**paths) for arg in argv])
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == ""
    assert err.startswith("usage: hemlr") and message in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["--help"], ["compare", "--help"], ["history", "--help"],
                                  ["history", "append", "--help"], ["history", "render", "--help"]])
def test_every_help_prints(capsys: pytest.CaptureFixture, argv: list[str]):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0 and capsys.readouterr().out.startswith("usage: hemlr")


# ------------------------------------------------------------------------------------ page


def test_the_page_is_self_contained_and_escaped(tmp_path: Path, capsys: pytest.CaptureFixture):
    evil = "<script>alert(1)</script>"
    a = pd.concat([run("a", {TENSEAL: BASE}), run("a", {"plaintext": [1.0, 1.1]}).assign(backend=evil)],
                  ignore_index=True).assign(hostname="http://example.org/x")
    b = run("b", {TENSEAL: [15.0, 15.2, 14.9, 15.1, 15.3], "concrete-sim": [1.0]})
    a.to_parquet(tmp_path / "a.parquet", index=False)
    b.to_parquet(tmp_path / "b.parquet", index=False)
    page = tmp_path / "compare.html"
    status = main(["compare", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"), "--fail", "time:+25%",
                   "--html", str(page)])
    text = capsys.readouterr().out
    html = page.read_text()
    assert status == 1
    assert external_references(html) == ["text: http://example.org/x</td><td>testhost</td></tr>"]  # only the data
    assert evil not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count('<img src="data:image/png;base64,') == 1
    for line in ("FAILED time:+25%", f"mlr / {TENSEAL} on digits", "Only in B (1)", "mlr / concrete-sim on digits"):
        assert line in html and line in text


def test_the_modules_read_tables_only():
    """Like the report wing (tests/test_report_boundary.py): no backend, no training code."""
    allowed = (*ALLOWED, "pyarrow", "scipy", "hemlr.stats", "hemlr.compare", "hemlr.history")
    for module in ("hemlr.stats", "hemlr.compare", "hemlr.history", "hemlr.cli"):
        assert forbidden(module) == []
        assert [m for m in imports(module) if m.split(".")[0] not in sys.stdlib_module_names
                and not under(m, allowed) and m != "hemlr"] == []


def test_the_exact_check_fails_on_any_change_of_an_accuracy_or_a_count(tables, capsys: pytest.CaptureFixture):
    """The CI's baseline check (.ci/regression-check): times may differ, counts and accuracies not."""
    a = tables("a", {TENSEAL: [10.0, 11.0]})
    same = run("b", {TENSEAL: [30.0, 31.0]})  # three times slower, otherwise the same
    same.to_parquet(Path(a).with_name("same.parquet"), index=False)
    assert main(["compare", a, str(Path(a).with_name("same.parquet")), "--exact"]) == 0
    assert "B reproduces A" in capsys.readouterr().out
    changed = same.copy()
    changed.loc[1, "rotation"] += 1
    changed.to_parquet(Path(a).with_name("changed.parquet"), index=False)
    assert main(["compare", a, str(Path(a).with_name("changed.parquet")), "--exact"]) == 1
    out = capsys.readouterr().out
    assert "Exact check" in out and "FAILED, 1 difference(s)" in out
    assert "mlr / tenseal-n32768 on digits: repeat 0, iteration 2: rotation 40 in A, 41 in B" in out
    fewer = same[same["iteration"] == 1]
    fewer.to_parquet(Path(a).with_name("fewer.parquet"), index=False)
    assert main(["compare", a, str(Path(a).with_name("fewer.parquet")), "--exact"]) == 1
    assert "repeat 0, iteration 2 only in one run" in capsys.readouterr().out


def test_server_time_is_also_compared_normalised_by_each_machines_cost_table(tables, capsys: pytest.CaptureFixture):
    """B's machine is twice as slow in raw seconds and its cost table says so: normalised, no change."""
    from hemlr.pricing import PREDICTED

    a = run("a", {TENSEAL: [10.0, 10.5, 9.5]}).assign(**{PREDICTED: 10.0})
    b = run("b", {TENSEAL: [20.0, 21.0, 19.0]}).assign(**{PREDICTED: 20.0})
    c = compare(a, b)
    assert list(c.matched[0].a["server time / predicted (machine-normalised)"]) == pytest.approx([1.0, 1.05, 0.95])
    rows = {r[0]: r for r in job_rows(c.matched[0], 0.95)}
    assert rows["server time / predicted (machine-normalised)"][3] == "x1"


def test_a_table_from_before_workloads_is_read_as_the_papers_mlr(tmp_path: Path):
    old = run("old", {TENSEAL: [10.0]}).drop(columns=["workload", "workload_kind", "workload_params"])
    old.to_parquet(tmp_path / "old.parquet", index=False)
    assert set(read_results(tmp_path / "old.parquet")["workload"]) == {"mlr"}
