"""Tests for hemlr.report (summary.md, the tables and plots) on a small synthetic tidy table (no
training, no Snakemake)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hemlr import sources
from hemlr.pricing import PREDICTED
from hemlr.report.markdown import write_summary
from hemlr.report.plots import accuracy_figure, plot_accuracy, plot_phases, plot_scaling, scaling_figure
from hemlr.report.facts import provenance_items
from hemlr.report.sections import grid_sections
from hemlr.report.tables import (SERVER_TIME, accuracy_table, cost_model_table, merge_tables, metric_groups,
                                 repeats_table, sample_statistics, side_by_side)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

DIGITS = dict(dataset="digits", dataset_source="digits", n_train=128, n_test=1669, n_features=64, n_classes=10,
              dataset_note="sklearn digits (8x8), first 128 images train; NOT the paper's MNIST+RegNet data",
              paper_data=False)
PAPER = dict(dataset="mnist", dataset_source="mnist_regnet", n_train=128, n_test=10000, n_features=400,
             n_classes=10, dataset_note="MNIST through regnet_x_400mf IMAGENET1K_V1", paper_data=True)
#: the default workload's columns
MLR = dict(workload="mlr", workload_kind="mlr", workload_params="")
BACKENDS = {
    "plaintext": dict(library="plaintext", mode="exact", ring_dim=32768, slots=16384, scale_bits=None,
                      security_bits=None, security="none (plaintext)", library_version=""),
    "tenseal-n32768": dict(library="tenseal", mode="encrypted", ring_dim=32768, slots=16384, scale_bits=40,
                           security_bits=128, security="HEStd_128_classic", library_version="0.3.16"),
    "concrete-sim": dict(library="concrete", mode="simulated", ring_dim=None, slots=None, scale_bits=None,
                         security_bits=128, security="TFHE 128-bit", library_version="1.9.0"),
}


def fake_run_experiment(dataset: dict, backend: str, iterations: int = 2, run: str = "unit",
                        repeat: int = 0, keygen_s: float = 2.0) -> pd.DataFrame:
    """A table shaped like hemlr.experiment.run_experiment's (one row per iteration of one repeat)."""
    rng = np.random.default_rng(len(backend))
    rows = []
    for it in range(1, iterations + 1):
        rows.append({
            "run": run, **dataset, **MLR, "backend": backend, **BACKENDS[backend],
            "algorithm": "quadratic-gradient NAG", "repeat": repeat, "iteration": it, "depth": 2 * it,
            "train_accuracy": 0.5 + 0.1 * it, "test_accuracy": 0.4 + 0.1 * it + rng.random() / 100,
            "sle_loss": -500.0 / it, "test_sle_loss": -6000.0 / it, "bce_loss": 3.9 / it, "test_bce_loss": 3.6 / it,
            "max_abs_w_diff_oracle": 1e-6 * it, "rel_w_diff_oracle": 1e-5 * it,
            "time_keygen_s": keygen_s if it == 1 else 0.0, "time_encrypt_s": 1.0 if it == 1 else 0.0,
            "time_iteration_s": 3.0 + rng.random(), "cpu_iteration_s": 5.0, "time_decrypt_s": 0.1,
            "time_eval_s": 0.01, "upload_cts": 12 if it == 1 else 0, "upload_bytes": 75_000_000 if it == 1 else 0,
            "evalkey_bytes": 400_000_000 if it == 1 else 0, "download_cts": 1, "download_bytes": 6_000_000,
            "ct_mult": 10, "pt_mult": 4, "rotation": 40, "rescale": 14, "bootstrap": 0, "peak_rss_mb": 900.0,
            "python": "3.10.13", "cpu_model": "Test CPU @ 2.0GHz", "workers": 2, "git_commit": "abc1234",
            "hostname": "testhost", "timestamp": f"2024-01-01T00:00:{it:02d}+00:00",
        })
    return pd.DataFrame(rows)


def write_job(tmp: Path, dataset: dict, backend: str, wall: float = 12.5) -> tuple[Path, Path]:
    table = tmp / "train" / dataset["dataset"] / f"{backend}.parquet"
    bench = tmp / "benchmarks" / dataset["dataset"] / f"{backend}.tsv"
    table.parent.mkdir(parents=True, exist_ok=True)
    bench.parent.mkdir(parents=True, exist_ok=True)
    fake_run_experiment(dataset, backend).to_parquet(table, index=False)
    # Snakemake 7.32's benchmark layout.
    bench.write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                     f"{wall}\t0:00:12\t812.4\t2000.1\t800.0\t805.0\t0.1\t0.2\t95.0\t20.25\n")
    return table, bench


@pytest.fixture
def merged(tmp_path: Path) -> pd.DataFrame:
    jobs = [write_job(tmp_path, ds, b) for ds in (DIGITS, PAPER) for b in BACKENDS]
    return merge_tables([t for t, _ in jobs], [b for _, b in jobs])


def test_merge_adds_job_columns_and_keeps_every_row(merged: pd.DataFrame, tmp_path: Path):
    assert len(merged) == 2 * 3 * 2
    assert merged["job_wall_s"].eq(12.5).all()
    assert merged["job_max_rss_mb"].eq(812.4).all()
    assert merged["job_cpu_s"].eq(20.25).all()
    assert set(merged["backend"]) == set(BACKENDS)
    merged.to_parquet(tmp_path / "results.parquet", index=False)  # mixed None/number columns stay writable
    assert len(pd.read_parquet(tmp_path / "results.parquet")) == len(merged)


def test_merge_rejects_unpaired_benchmarks(tmp_path: Path):
    table, bench = write_job(tmp_path, DIGITS, "plaintext")
    with pytest.raises(ValueError, match="1 tables but 2 benchmark"):
        merge_tables([table], [bench, bench])
    with pytest.raises(ValueError, match="no training tables"):
        merge_tables([], [])


def test_merge_makes_mixed_columns_arrow_safe(tmp_path: Path):
    a, bench = write_job(tmp_path, DIGITS, "plaintext")
    b = tmp_path / "other.parquet"
    fake_run_experiment(DIGITS, "tenseal-n32768").assign(workers="2 (OpenMP)").to_parquet(b, index=False)
    df = merge_tables([a, b], [bench, bench])
    df.to_parquet(tmp_path / "out.parquet", index=False)
    assert set(df["workers"]) == {"2", "2 (OpenMP)"}


def test_summary_header_sections_and_warnings(merged: pd.DataFrame, tmp_path: Path):
    path = tmp_path / "summary.md"
    write_summary(merged, path)
    text = path.read_text()
    assert "run `unit`" in text
    # Run at: from the first job's start (its last timestamp less its 12.5 s) to the last one's end
    for provenance in ("testhost", "Test CPU @ 2.0GHz", "3.10.13", "abc1234", "tenseal: 0.3.16",
                       "Run at: 2023-12-31T23:59:49+00:00 to 2024-01-01T00:00:02+00:00"):
        assert provenance in text
    assert "## Dataset `digits`" in text and "## Dataset `mnist`" in text
    digits, mnist = text.split("## Dataset `digits`")[1].split("## Dataset `mnist`")
    # The non-paper dataset is flagged loudly with its note; the paper's data is not.
    assert "NOT THE PAPER'S DATA" in digits and "NOT the paper's MNIST+RegNet data" in digits
    assert "NOT THE PAPER'S DATA" not in mnist
    # Simulated runs are marked in the column header, the mode row and a warning line.
    assert "concrete-sim [SIMULATED]" in digits
    assert "SIMULATED (not encrypted)" in digits
    assert "SIMULATED, NOT ENCRYPTED" in digits
    mode_row = next(line for line in digits.splitlines() if line.startswith("| mode"))
    assert mode_row.count("encrypted") == 2  # tenseal's "encrypted" and concrete's "not encrypted"


def test_summary_table_values(merged: pd.DataFrame, tmp_path: Path):
    path = tmp_path / "summary.md"
    write_summary(merged, path)
    digits = path.read_text().split("## Dataset `digits`")[1].split("## Dataset")[0]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in digits.splitlines() if line.startswith("|")}
    header = rows["metric"]
    assert header == ["plaintext", "tenseal-n32768", "concrete-sim [SIMULATED]"]
    assert rows["test accuracy (final)"][0].startswith("0.6")
    assert rows["upload (ciphertexts / bytes)"][1] == "12 / 75 MB"  # one-off upload counted once
    assert rows["rotations / iteration"][1] == "40"
    assert rows["job max RSS (MB)"] == ["812"] * 3
    assert rows["security"] == ["none (plaintext)", "HEStd_128_classic", "TFHE 128-bit"]
    assert rows["keygen: wall s, total"][1] == "2"


def test_table_cells_escape_pipes(tmp_path: Path):
    df = fake_run_experiment(DIGITS, "plaintext").assign(params="keys a|b")
    write_summary(df, tmp_path / "s.md")
    line = next(line for line in (tmp_path / "s.md").read_text().splitlines() if line.startswith("| parameters"))
    assert [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] == [
        "parameters", r"ring_dim 32768, slots 16384, depth 4; keys a\|b"]


def test_plots_are_pngs(merged: pd.DataFrame, tmp_path: Path):
    for plot, name in ((plot_accuracy, "accuracy.png"), (plot_phases, "time_per_phase.png")):
        path = tmp_path / name
        plot(merged, path)
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000


def test_plots_handle_a_single_job(tmp_path: Path):
    table, bench = write_job(tmp_path, DIGITS, "plaintext")
    df = merge_tables([table], [bench])
    plot_accuracy(df, tmp_path / "a.png")
    plot_phases(df, tmp_path / "p.png")
    write_summary(df, tmp_path / "s.md")
    assert (tmp_path / "a.png").stat().st_size > 0 and (tmp_path / "p.png").stat().st_size > 0


def test_summary_lists_recorded_inputs(merged: pd.DataFrame, tmp_path: Path):
    """The data stage's own manifest lines appear under their dataset."""
    manifests = {
        "digits": sources.source({"source": "digits", "n_train": 128}).manifest("digits"),
        "mnist": {"dataset": "mnist", "source": "mnist_regnet",
                  "inputs": ["- MNIST `/data/mnist`: 60000 training / 10000 test images",
                             f"- RegNet weights `/w/regnet.pth`: sha256 `{'ab' * 32}`"]},
    }
    path = tmp_path / "summary.md"
    write_summary(merged, path, manifests)
    digits, mnist = path.read_text().split("## Dataset `digits`")[1].split("## Dataset `mnist`")
    assert "scikit-learn 1.5.0 bundled digits (1797 images)" in digits
    assert "MNIST `/data/mnist`: 60000 training / 10000 test images" in mnist
    assert f"RegNet weights `/w/regnet.pth`: sha256 `{'ab' * 32}`" in mnist


def test_summary_flags_insecure_and_failed_jobs(merged: pd.DataFrame, tmp_path: Path):
    insecure = fake_run_experiment(DIGITS, "tenseal-n32768").assign(backend="weak", security_bits=None)
    failed = fake_run_experiment(DIGITS, "plaintext").assign(backend="broken", failed=True).iloc[:1]
    df = pd.concat([merged.assign(failed=False), insecure, failed], ignore_index=True)
    path = tmp_path / "summary.md"
    write_summary(df, path)
    digits = path.read_text().split("## Dataset `digits`")[1].split("## Dataset")[0]
    assert "> **WARNING: INSECURE:** `weak` state no security level" in digits
    assert "> **WARNING: FAILED:** `broken` drifted from the exact reference" in digits
    header = next(line for line in digits.splitlines() if line.startswith("| metric"))
    assert "weak [INSECURE]" in header and "broken [FAILED]" in header
    # An exact run has no security level and needs none; the others state theirs.
    assert header.count("[INSECURE]") == 1 and header.count("[FAILED]") == 1


def test_jobs_measured_beside_a_busy_process_are_flagged(tmp_path: Path):
    quiet, bench = write_job(tmp_path, DIGITS, "plaintext")
    busy = tmp_path / "busy.parquet"
    fake_run_experiment(DIGITS, "tenseal-n32768").assign(cpu_busy_pct_before=80.0,
                                                         cpu_busy_pct_after=3.0).to_parquet(busy, index=False)
    df = merge_tables([quiet, busy], [bench, bench])
    write_summary(df, tmp_path / "s.md")
    text = (tmp_path / "s.md").read_text()
    assert "> **WARNING: MEASURED UNDER LOAD:** `tenseal-n32768` found other processes" in text
    assert "`plaintext` found other processes" not in text


def test_a_job_names_its_workload_where_its_dataset_holds_several(tmp_path: Path):
    """Jobs are (dataset, workload, backend): one backend trains two workloads as two jobs."""
    l2 = fake_run_experiment(DIGITS, "plaintext").assign(workload="mlr-l2", workload_params="l2=0.1")
    df = pd.concat([fake_run_experiment(DIGITS, "plaintext"), l2, fake_run_experiment(DIGITS, "concrete-sim"),
                    fake_run_experiment(PAPER, "plaintext")], ignore_index=True)
    write_summary(df, tmp_path / "s.md")
    text = (tmp_path / "s.md").read_text()
    digits, mnist = text.split("## Dataset `digits`")[1].split("## Dataset `mnist`")
    assert cells(digits, "| metric") == ["metric", "mlr / plaintext", "mlr-l2 / plaintext",
                                         "mlr / concrete-sim [SIMULATED]"]
    assert cells(mnist, "| metric") == ["metric", "plaintext"]  # one workload: the backend says it
    assert "> **WARNING: SIMULATED, NOT ENCRYPTED:** `mlr / concrete-sim` ran" in digits
    assert "`mlr-l2 / plaintext` on `digits` (2 iterations)" in text and "`mlr / plaintext` on `mnist`" in text


def test_the_accuracy_plot_draws_each_workloads_exact_curve(tmp_path: Path):
    """Two workloads on one dataset: one exact curve each, named by workload, from its own rows."""
    mlr = fake_run_experiment(DIGITS, "plaintext", iterations=3).assign(oracle_test_accuracy=[0.1, 0.2, 0.3])
    nn = fake_run_experiment(DIGITS, "tenseal-n32768").assign(workload="nn2h", oracle_test_accuracy=[0.5, 0.6])
    [ax] = accuracy_figure(pd.concat([mlr, nn], ignore_index=True)).axes
    exact = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines() if "exact" in line.get_label()}
    assert exact == {"mlr / exact oracle": [0.1, 0.2, 0.3], "nn2h / exact oracle": [0.5, 0.6]}
    [ax] = accuracy_figure(mlr).axes  # one workload: the plain name
    assert [line.get_label() for line in ax.get_lines()][-1] == "exact oracle"


def repeated(dataset: dict, backend: str, keygen_s: list[float]) -> pd.DataFrame:
    """One job trained len(keygen_s) times, repeat r with key generation taking keygen_s[r]."""
    return pd.concat([fake_run_experiment(dataset, backend, repeat=r, keygen_s=s) for r, s in enumerate(keygen_s)],
                     ignore_index=True)


def cells(markdown: str, *needles: str) -> list[str]:
    """The cells of the first table line of ``markdown`` holding every needle."""
    line = next(line for line in markdown.splitlines() if line.startswith("|") and all(n in line for n in needles))
    return [c.strip() for c in line.split("|")[1:-1]]


def test_sample_statistics_agree_with_numpy():
    assert sample_statistics(pd.Series([1.0, 2.0, 3.0, 4.0, 100.0])) == {
        "n": 5, "median": 3.0, "min": 1.0, "max": 100.0, "IQR": 2.0}
    x = np.random.default_rng(7).lognormal(size=11)
    stats = sample_statistics(pd.Series([*x, np.nan]))  # a missing sample is no sample
    q1, q3 = np.percentile(x, [25, 75])
    assert stats == pytest.approx({"n": 11, "median": np.median(x), "min": x.min(), "max": x.max(), "IQR": q3 - q1})


def test_summary_gives_per_phase_statistics_over_every_repeat(tmp_path: Path):
    df = pd.concat([repeated(DIGITS, "tenseal-n32768", [1.0, 2.0, 3.0, 4.0, 100.0]),
                    fake_run_experiment(DIGITS, "plaintext")], ignore_index=True)
    table = repeats_table(df)
    assert list(table.index) == ["tenseal-n32768"] * len(table)  # the job trained once has none
    rows = table.set_index("quantity")
    assert rows.loc["keygen: wall s"].to_dict() == {"n": "5", "median": "3", "min": "1", "max": "100", "IQR": "2",
                                                    # 5 repeats: no interval reaches 95%, the range has 1 - 2^-4
                                                    "median 95% interval (coverage)": "1 - 100 (93.8%, the range)"}
    assert rows.loc["max abs(W - oracle W) / max abs(oracle W)", "max"] == "2e-05"  # worst iteration
    assert rows.loc["iteration: wall s", "n"] == "5" and "refresh: wall s" not in rows.index  # never timed
    write_summary(df, tmp_path / "s.md")
    text = (tmp_path / "s.md").read_text()
    assert "`tenseal-n32768` on `digits` (2 iterations x 5 repeats)" in text
    assert "`plaintext` on `digits` (2 iterations)" in text
    repeats = text.split("### Repeats")[1]
    assert "none is set apart as warm-up" in repeats
    assert cells(repeats, "keygen: wall s") == ["tenseal-n32768", "keygen: wall s", "5", "3", "1", "100", "2",
                                                "1 - 100 (93.8%, the range)"]
    # The side-by-side table shows the first repeat: its key generation, not the sum of five.
    side = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.split("### Repeats")[0].splitlines() if line.startswith("|")}
    assert side["keygen: wall s, total"] == ["1", "2"]
    assert side["BCE loss per sample, train / test (final)"][0] == "1.95 / 1.8"
    assert list(accuracy_table(df).index) == [1, 2]


def test_no_repeats_table_when_every_job_trained_once(merged: pd.DataFrame, tmp_path: Path):
    assert repeats_table(merged).empty
    for table in (merged, merged.drop(columns="repeat")):  # tables from before repeats
        write_summary(table, tmp_path / "s.md")
        assert "### Repeats" not in (tmp_path / "s.md").read_text()


def test_accuracies_that_differ_between_repeats_are_flagged(tmp_path: Path):
    same = repeated(DIGITS, "tenseal-n32768", [1.0, 1.1])
    flipped = repeated(DIGITS, "plaintext", [1.0, 1.1]).assign(backend="noisy")
    flipped.loc[3, "test_accuracy"] += 1 / 1669  # one test image, second repeat, last iteration
    write_summary(pd.concat([same, flipped], ignore_index=True), tmp_path / "s.md")
    text = (tmp_path / "s.md").read_text()
    assert "> **WARNING: ACCURACY VARIES ACROSS REPEATS:** `noisy` trained more than once" in text
    repeats = text.split("### Repeats")[1]
    low, high = cells(repeats, "| noisy", "test accuracy (final)")[4:6]
    assert float(high) - float(low) == pytest.approx(1 / 1669, abs=1e-4)
    low, high = cells(repeats, "| tenseal-n32768", "test accuracy (final)")[4:6]
    assert low == high
    assert "`tenseal-n32768` trained" not in text


def predicted(df: pd.DataFrame, server_s: dict[tuple[int, int], float], predicted_s: dict[int, float]) -> pd.DataFrame:
    """``df`` with the server time of (repeat, iteration) and each iteration's prediction."""
    return df.assign(time_iteration_s=[server_s[r, i] for r, i in zip(df["repeat"], df["iteration"])],
                     **{PREDICTED: df["iteration"].map(predicted_s)})


def test_cost_model_table_compares_the_median_of_the_repeats(tmp_path: Path):
    good = predicted(repeated(DIGITS, "tenseal-n32768", [1.0, 1.0, 1.0]),
                     {(0, 1): 10.0, (1, 1): 12.0, (2, 1): 30.0, (0, 2): 4.0, (1, 2): 5.0, (2, 2): 6.0},
                     {1: 9.0, 2: 6.0})
    off = predicted(fake_run_experiment(DIGITS, "plaintext"), {(0, 1): 1.0, (0, 2): 1.0}, {1: 1.3, 2: 0.7})
    unpriced = fake_run_experiment(PAPER, "plaintext")  # no cost table: no row
    table = cost_model_table(pd.concat([good, off, unpriced], ignore_index=True))
    assert table.reset_index().values.tolist() == [
        ["tenseal-n32768 on digits", "1", "12", "10 - 30", "9", "-25%", ""],  # median 12; within +-25%
        ["tenseal-n32768 on digits", "2", "5", "4 - 6", "6", "+20%", ""],
        ["plaintext on digits", "1", "1", "1 - 1", "1.3", "+30%", "OUTSIDE +-25%"],
        ["plaintext on digits", "2", "1", "1 - 1", "0.7", "-30%", "OUTSIDE +-25%"]]
    write_summary(pd.concat([good, off], ignore_index=True), tmp_path / "s.md")
    text = (tmp_path / "s.md").read_text()
    section = text.split("## Cost model")[1]
    assert "> **WARNING: COST MODEL OFF BY MORE THAN 25%:** `plaintext on digits` their predicted" in section
    assert cells(section, "| plaintext on digits", "| 1 ")[-2:] == ["+30%", "OUTSIDE +-25%"]


def test_no_cost_model_section_without_predictions(merged: pd.DataFrame, tmp_path: Path):
    assert cost_model_table(merged).empty
    write_summary(merged.assign(**{PREDICTED: np.nan}), tmp_path / "s.md")
    assert "## Cost model" not in (tmp_path / "s.md").read_text()


def scaling_run() -> pd.DataFrame:
    """Two libraries x two rings x two sizes x two repeats; time = n * ring / 2^20 (x 1.5 in repeat 1)."""
    frames = []
    for library, backend in (("tenseal", "tenseal-n32768"), ("plaintext", "plaintext")):
        for ring in (32768, 65536):
            for n in (64, 128):
                for r in (0, 1):
                    dataset = {**DIGITS, "dataset": f"d_n_train~{n}", "n_train": n}
                    frame = fake_run_experiment(dataset, backend, repeat=r)
                    frames.append(frame.assign(backend=f"{library}_ring_dim~{ring}", grid=library, ring_dim=ring,
                                               time_iteration_s=n * ring / 2 ** 20 * (1.5 if r else 1.0)))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("axis, lines", [
    ("n", {"tenseal_ring_dim~32768", "tenseal_ring_dim~65536", "plaintext_ring_dim~32768", "plaintext_ring_dim~65536"}),
    ("ring", {f"{lib} on d_n_train~{n}" for lib in ("tenseal", "plaintext") for n in (64, 128)}),
])
def test_scaling_plots_draw_the_median_and_the_spread_of_the_repeats(tmp_path: Path, axis: str, lines: set[str]):
    df = scaling_run()
    ax = scaling_figure(df, axis).axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    drawn = {line.get_label(): line for line in ax.get_lines()}
    assert set(drawn) == lines
    line = drawn["tenseal_ring_dim~32768" if axis == "n" else "tenseal on d_n_train~64"]
    xs = [64, 128] if axis == "n" else [32768, 65536]
    other = 32768 if axis == "n" else 64
    assert list(line.get_xdata()) == xs
    assert np.allclose(line.get_ydata(), [x * other / 2 ** 20 * 1.25 for x in xs])  # median of 1x and 1.5x
    band = ax.collections[list(drawn).index(line.get_label())].get_paths()[0].vertices[:, 1]
    assert np.isclose(band.min(), xs[0] * other / 2 ** 20) and np.isclose(band.max(), xs[1] * other / 2 ** 20 * 1.5)
    plot_scaling(df, axis, tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes().startswith(PNG_MAGIC)


def timed_job(backend: str, repeat: int = 0, **phases: list[float]) -> pd.DataFrame:
    """A 4-iteration job whose phases take ``phases`` wall seconds in each iteration (NaN: not
    timed in that iteration), the client decrypting for 0.5 s, the server's CPU twice its wall."""
    job = fake_run_experiment(DIGITS, "tenseal-n32768", iterations=4, repeat=repeat).assign(backend=backend,
                                                                                            time_decrypt_s=0.5)
    return job.assign(**{f"time_{p}_s": s for p, s in phases.items()},
                      **{f"cpu_{p}_s": 2 * np.array(s) for p, s in phases.items()})


NAN = np.nan
#: client round trips after iterations 2 and 4; one bootstrap after iteration 3
CLIENT = dict(iteration=[2.0] * 4, refresh=[NAN, 1.0, NAN, 1.0])
BOOT = dict(iteration=[2.0] * 4, bootstrap=[NAN, NAN, 4.0, NAN])


def test_server_time_is_all_server_work_beside_its_split(tmp_path: Path):
    df = pd.concat([timed_job("client", **CLIENT), timed_job("boot", **BOOT)], ignore_index=True)
    time = side_by_side(df, metric_groups(df)["time"])
    rows = {label: list(values) for label, values in time.iterrows()}
    assert rows[SERVER_TIME] == ["2.5", "3"]  # (4 x 2 + 2 x 1) / 4 and (4 x 2 + 4) / 4
    assert rows["of which iteration (s)"] == ["2", "2"]
    refresh = next(label for label in rows if label.startswith("of which refresh"))
    assert "client" in refresh and "re-encryption" in refresh and "server's load" in refresh
    assert rows[refresh] == ["0.5", "-"]  # spread over the 4 iterations; never timed in boot
    assert rows["of which bootstrap (s)"] == ["-", "1"]
    assert rows["client decrypt / iteration, the client's work (s)"] == ["0.5", "0.5"]
    assert rows["server CPU / iteration, all server work (s)"] == ["5", "6"]
    labels = list(rows)
    assert labels.index(SERVER_TIME) < labels.index("of which iteration (s)") < labels.index("of which bootstrap (s)")
    write_summary(df, tmp_path / "s.md")
    text = (tmp_path / "s.md").read_text()
    assert cells(text, f"| {SERVER_TIME}") == [SERVER_TIME, "2.5", "3"]
    assert "includes the client's re-encryption of the state" in text.split("### Time per phase and memory")[1]


def test_every_table_and_plot_times_the_server_alike():
    """The repeats, the grids, the scaling plots and the cost model take the same server time."""
    df = pd.concat([timed_job("boot", **BOOT),
                    timed_job("boot", repeat=1, **{p: [3 * s for s in v] for p, v in BOOT.items()})], ignore_index=True)
    df = df.assign(grid="boot", dataset_grid=None, workload_grid=None, grid_params="ring_dim", **{PREDICTED: 1.0})
    assert side_by_side(df, metric_groups(df)["time"]).loc[SERVER_TIME].tolist() == ["3"]
    repeats = repeats_table(df).set_index("quantity")
    assert repeats.loc[SERVER_TIME, ["n", "median", "min", "max"]].tolist() == ["2", "6", "3", "9"]
    (grid,) = [s.table for s in grid_sections(df) if s.table is not None]
    assert grid[SERVER_TIME].tolist() == ["3"]
    costs = cost_model_table(df).set_index("iteration")
    assert costs.loc["3", ["measured s (median)", "measured s (min - max)"]].tolist() == ["12", "6 - 18"]
    line = scaling_figure(df, "n").axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [128] and list(line.get_ydata()) == [6.0]


def test_run_at_spans_each_runs_first_start_to_its_last_end():
    """A row's timestamp is its job's end; the job started job_wall_s before (when known)."""
    def job(backend: str, end: str, wall: float, run: str = "unit") -> pd.DataFrame:
        return fake_run_experiment(DIGITS, "plaintext", run=run).assign(backend=backend, job_wall_s=wall,
                                                                         timestamp=f"2024-01-01T{end}+00:00")

    def run_at(*jobs: pd.DataFrame) -> str:
        return dict(provenance_items(pd.concat(jobs, ignore_index=True)))["Run at"]

    early, late = job("a", "10:00:00", 600.0), job("b", "10:30:00", 60.0)
    unknown_wall = job("c", "09:55:00", NAN)  # starts, as far as is known, when it ended
    assert run_at(late, early, unknown_wall) == "2024-01-01T09:50:00+00:00 to 2024-01-01T10:30:00+00:00"
    # the job that ends last started first: two hours before its timestamp
    assert run_at(late, job("d", "11:00:00", 7200.0)) == "2024-01-01T09:00:00+00:00 to 2024-01-01T11:00:00+00:00"
    assert run_at(early, job("e", "12:00:00", 60.0, run="other")) == (
        "`unit`: 2024-01-01T09:50:00+00:00 to 2024-01-01T10:00:00+00:00; "
        "`other`: 2024-01-01T11:59:00+00:00 to 2024-01-01T12:00:00+00:00")
    assert run_at(early.drop(columns="timestamp")) == "unknown"
