"""Hostile data (issue "nothing a config, a file or a command line can do gets past validation
unnamed"): each test is the failing case it guards, with the message a user now sees.

Errors the config alone decides are reported by config validation, before any job, naming the
key, the value and what is allowed; a damaged cache or table the workflow wrote is named with the
remedy; a features cache of other data is refused by the train job.
"""
from __future__ import annotations

import copy
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hemlr import sources
from hemlr.config import ConfigError, validate_config
from hemlr.dataset import DataError, build_record, load_dataset, save_dataset
from hemlr.report.tables import merge_tables
from hemlr.sources.digits import N_IMAGES, load_digits_dataset

from .test_report import DIGITS, write_job

REPO = Path(__file__).resolve().parents[1]
REMEDY = "; delete it and rerun to rebuild it"
BASE = {"datasets": {"d": {"source": "digits", "n_train": 128}},
        "backends": {"p": {"library": "plaintext"}},
        "experiments": [{"datasets": ["d"], "backends": ["p"]}]}


def write_labels(path: Path, labels: list[int] | np.ndarray, n_features: int = 3) -> Path:
    """A headerless `label, features...` CSV (the authors' layout) with these labels, one row each."""
    rng = np.random.default_rng(len(labels))
    path.write_text("".join(f"{float(y)}," + ",".join(f"{v:.6f}" for v in rng.random(n_features)) + "\n"
                            for y in labels))
    return path


@pytest.fixture
def csv512(tmp_path: Path) -> Path:
    """512 rows, labels 0..9 in turn (as the authors' REGNET_X_400MF_MNIST_TRAININGfirst512.csv)."""
    return write_labels(tmp_path / "first512.csv", np.arange(512) % 10)


def csv_spec(path: Path, **changes) -> dict:
    return {"source": "features_csv", "path": str(path), "train_rows": [0, 128], "test_rows": [128, 512],
            "n_classes": 10, **changes}


def refused(dataset: dict) -> str:
    """The message of validating BASE with dataset ``d`` replaced."""
    cfg = copy.deepcopy(BASE)
    cfg["datasets"]["d"] = dataset
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    return str(info.value)


# ----------------------------------------------------------------- item 5: the config decides


@pytest.mark.parametrize("n_train", [1797, 10**40])
def test_digits_n_train_beyond_its_images_is_refused_by_the_config(n_train: int):
    # it reached the features job ("digits: n_train must be in 1..1796")
    assert refused({"source": "digits", "n_train": n_train}) == (
        f"datasets.d.n_train: {n_train} is greater than the maximum of 1796 (the first n_train of sklearn's 1797 "
        "images train, the rest test)")


def test_the_digits_bounds_are_the_data_s():
    from sklearn.datasets import load_digits

    target = load_digits().target
    assert N_IMAGES == len(target) and list(target[:10]) == list(range(10))
    assert validate_config({**BASE, "datasets": {"d": {"source": "digits", "n_train": N_IMAGES - 1}}})
    assert len(load_digits_dataset(n_train=N_IMAGES - 1).y_test) == 1


def test_digits_n_train_without_every_class_is_refused_by_the_config():
    # it reached the features job ("digits: class(es) [5, 6, 7, 8, 9] absent from the first 5 training images")
    assert refused({"source": "digits", "n_train": 5}) == (
        "datasets.d.n_train: 5 is not allowed; the first 5 digits images hold class(es) 0..4 only and every class "
        "0..9 needs a training image, so n_train must be in 10..1796")
    assert validate_config({**BASE, "datasets": {"d": {"source": "digits", "n_train": 10}}})


def test_mnist_n_train_beyond_mnist_is_refused_by_the_config(tmp_path: Path):
    msg = refused({"source": "mnist_regnet", "mnist_root": str(tmp_path), "n_train": 60001, "n_test": 10001})
    assert msg.splitlines() == [
        "datasets.d.n_test: 10001 is greater than the maximum of 10000 (the first n_test of MNIST's 10,000 test "
        "images; null: all)",
        "datasets.d.n_train: 60001 is greater than the maximum of 60000 (the first n_train of MNIST's 60,000 "
        "training images)"]


@pytest.mark.parametrize("key", ["train_rows", "test_rows"])
def test_row_range_beyond_the_file_is_refused_by_the_config(csv512: Path, key: str):
    # it reached the features job ("train_rows [0, 600) is empty or out of bounds")
    rows = {"train_rows": [0, 600], "test_rows": [0, 10]} if key == "train_rows" else {"test_rows": [128, 600]}
    assert refused(csv_spec(csv512, **rows)) == (
        f"datasets.d.{key}: {rows[key]} is not allowed; {csv512} has 512 rows, so {key} [start, end) must have "
        "0 <= start < end <= 512")


def test_test_rows_beyond_a_separate_test_file_are_refused_by_the_config(csv512: Path, tmp_path: Path):
    test = write_labels(tmp_path / "test.csv", range(10))
    assert refused(csv_spec(csv512, test_path=str(test), test_rows=[0, 11])) == (
        f"datasets.d.test_rows: [0, 11] is not allowed; {test} has 10 rows, so test_rows [start, end) must have "
        "0 <= start < end <= 10")


def test_an_empty_row_range_is_refused_by_the_config(csv512: Path):
    assert refused(csv_spec(csv512, train_rows=[64, 64])).startswith(
        "datasets.d.train_rows: [64, 64] is not allowed; ")


def test_overlapping_row_ranges_are_refused_by_the_config(csv512: Path):
    assert refused(csv_spec(csv512, test_rows=[100, 512])) == (
        f"datasets.d.test_rows: [100, 512] is not allowed; it overlaps train_rows [0, 128) of the same file "
        f"{csv512}: no training row may be a test row")


@pytest.mark.parametrize("dataset, problem", [
    ({"train_rows": [0.5, 128]}, "datasets.d.train_rows[0]: 0.5 is not of type 'integer'"),
    # JSON Schema counts 128.0 as an integer; the loader did not ("must be a pair of integers")
    ({"train_rows": [0, 128.0]}, "datasets.d.train_rows[1]: 128.0 is not of type 'integer'; write 128"),
    ({"n_classes": 10.0}, "datasets.d.n_classes: 10.0 is not of type 'integer'; write 10"),
])
def test_a_float_where_an_integer_belongs_is_refused_by_the_schema(csv512: Path, dataset: dict, problem: str):
    assert refused(csv_spec(csv512, **dataset)) == problem


def test_a_float_count_of_digits_is_refused_by_the_schema():
    # it crashed the features job: "TypeError: slice indices must be integers"
    assert refused({"source": "digits", "n_train": 128.0}) == \
        "datasets.d.n_train: 128.0 is not of type 'integer'; write 128"


def test_n_classes_below_a_label_is_refused_by_the_config_naming_file_row_and_label(csv512: Path):
    # it reached the features job ("row 4: label 3 outside 0..2")
    assert refused(csv_spec(csv512, n_classes=3)) == (
        f"datasets.d.n_classes: 3 is not allowed; {csv512} row 10 has label 9 and labels run 0..n_classes - 1, so "
        "n_classes must be at least 10")


def test_a_label_beyond_n_classes_in_the_test_file_is_named(csv512: Path, tmp_path: Path):
    test = write_labels(tmp_path / "test.csv", [0, 1, 2, 12, 3])
    spec = csv_spec(csv512, test_path=str(test))
    del spec["test_rows"]  # every row of the test file
    assert refused(spec) == (
        f"datasets.d.n_classes: 10 is not allowed; {test} row 4 has label 12 and labels run 0..n_classes - 1, so "
        "n_classes must be at least 13")


def test_n_classes_above_every_label_is_refused_by_the_config(csv512: Path):
    # it reached the features job ("class(es) [10, 11] of 0..11 absent from training rows [0, 128)")
    assert refused(csv_spec(csv512, n_classes=12)) == (
        "datasets.d.n_classes: 12 is not allowed; the largest label of the selected rows is 9, so class(es) "
        "10..11 have no training row: n_classes must be at most 10 (every class needs a training row)")


def test_training_rows_without_every_class_are_refused_by_the_config(csv512: Path):
    assert refused(csv_spec(csv512, train_rows=[0, 9], test_rows=[9, 512])) == (
        f"datasets.d.train_rows: [0, 9] is not allowed; training rows [0, 9) of {csv512} hold no row of class(es) "
        "[9] of 0..9, and every class needs a training row")


def test_a_valid_csv_entry_is_unchanged_and_loads_as_validated(csv512: Path):
    cfg = validate_config({**BASE, "datasets": {"d": csv_spec(csv512)}})
    assert cfg["datasets"]["d"] == {**csv_spec(csv512), "standardize": False}
    ds = sources.build_dataset("d", cfg["datasets"]["d"])
    assert (len(ds.y_train), len(ds.y_test), ds.n_classes) == (128, 384, 10)


def test_a_missing_file_is_left_to_the_data_stage(tmp_path: Path):
    # the manifest names it and says how to provide it; the config may be checked elsewhere
    assert validate_config({**BASE, "datasets": {"d": csv_spec(tmp_path / "absent.csv")}})


def test_a_file_that_changes_after_validation_is_still_refused_by_the_loader(csv512: Path):
    spec = validate_config({**BASE, "datasets": {"d": csv_spec(csv512)}})["datasets"]["d"]
    write_labels(csv512, [12 if i == 3 else i % 10 for i in range(512)])
    with pytest.raises(DataError, match=rf"^{csv512}: row 4: label 12 outside 0\.\.9$"):
        sources.build_dataset("d", spec)
    # and validation reads the file again
    assert refused(csv_spec(csv512)).startswith(f"datasets.d.n_classes: 10 is not allowed; {csv512} row 4 has "
                                                "label 12")


# -------------------------------------------------- item 6: damaged caches and tables, named


def test_a_truncated_train_table_is_named_with_the_remedy(tmp_path: Path):
    table, bench = write_job(tmp_path, DIGITS, "plaintext")
    table.write_bytes(table.read_bytes()[:300])
    # it was "ArrowInvalid: Could not open Parquet input source '<Buffer>': ..." without the file
    with pytest.raises(ValueError) as info:
        merge_tables([table], [bench])
    msg = str(info.value)
    assert msg.startswith(f"{table}: cannot read this training table (ArrowInvalid: ") and msg.endswith(REMEDY)


def test_a_garbage_benchmark_is_named_with_the_remedy(tmp_path: Path):
    table, bench = write_job(tmp_path, DIGITS, "plaintext")
    bench.write_text("garbage\n")
    with pytest.raises(ValueError, match="^" + str(bench) + ": not a Snakemake benchmark file "
                                        r"\(no column s, max_rss, cpu_time\)" + REMEDY):
        merge_tables([table], [bench])


@pytest.fixture
def cache(tmp_path: Path) -> tuple[Path, dict]:
    """A features cache of digits (n_train 64) recording what built it, and that record."""
    record = build_record({"source": "digits", "n_train": 64, "standardize": False}, {})
    path = tmp_path / "features" / "d.npz"
    save_dataset(load_digits_dataset("d", 64), str(path), built_from=record)
    return path, record


def test_a_damaged_features_cache_is_named_with_the_remedy(cache: tuple[Path, dict]):
    path, record = cache
    path.write_bytes(path.read_bytes()[:1000])
    # it was "BadZipFile: File is not a zip file", without the file
    with pytest.raises(DataError, match=f"^{path}: cannot read this features cache "
                                        rf"\(BadZipFile: File is not a zip file\){REMEDY}$"):
        load_dataset(str(path), built_from=record)


def test_a_features_cache_of_other_data_is_refused(cache: tuple[Path, dict], tmp_path: Path):
    path, _ = cache
    data = tmp_path / "x.csv"
    wanted = build_record({"source": "digits", "n_train": 128, "standardize": False}, {str(data): "ab" * 32})
    # it trained on the 64 images the cache holds, reported as the 128 the config asks for
    with pytest.raises(DataError) as info:
        load_dataset(str(path), built_from=wanted)
    assert str(info.value) == (
        f"{path}: this features cache was built from other data than this job asks for (n_train 64 in the cache, "
        f"128 asked; {data} sha256 absent in the cache, abababababab now){REMEDY}")


def test_a_features_cache_without_its_record_is_refused(tmp_path: Path, cache: tuple[Path, dict]):
    _, record = cache
    old = tmp_path / "old.npz"
    save_dataset(load_digits_dataset("d", 64), str(old))  # as caches were written before the record
    with pytest.raises(DataError, match=f"^{old}: this features cache does not record what built it, so it may "
                                        "hold other data than this job asks for "
                                        rf"\(written before caches recorded it\){REMEDY}$"):
        load_dataset(str(old), built_from=record)
    assert load_dataset(str(old)).n_classes == 10  # without a record asked for, as before


def test_a_features_cache_of_its_own_data_loads_unchanged(cache: tuple[Path, dict]):
    path, record = cache
    ds, expected = load_dataset(str(path), built_from=record), load_digits_dataset("d", 64)
    assert ds.note == expected.note and np.array_equal(ds.X_train, expected.X_train)
    assert build_record({"n_train": 64, "standardize": False, "source": "digits"}, {}) == record  # key order


VERDICT = runpy.run_path(str(REPO / "workflow" / "scripts" / "verdict.py"))  # its functions, without Snakemake


def results(path: Path, failed: bool) -> Path:
    pd.DataFrame({"dataset": ["d", "d"], "workload": ["mlr", "mlr"], "backend": ["p", "q"],
                  "failed": [False, failed], "tolerance": [1e-3, 1e-3]}).to_parquet(path, index=False)
    return path


def test_an_unreadable_results_table_is_not_a_failed_run(tmp_path: Path):
    path = tmp_path / "results.parquet"
    path.write_bytes(b"garbage")
    # it failed the verdict as a FAILED job would, with pyarrow's traceback
    with pytest.raises(DataError) as info:
        VERDICT["verdict"](str(path))
    msg = str(info.value)
    assert msg.startswith(f"{path}: cannot read the run's results table, so there is no verdict (this says "
                          "nothing about the jobs) (ArrowInvalid: ") and msg.endswith(REMEDY)
    with pytest.raises(VERDICT["Drifted"], match="^FAILED: mlr on q on d drifted from the exact reference beyond "
                                                 "the tolerance 0.001; see summary.md$"):
        VERDICT["verdict"](str(results(path, failed=True)))
    assert VERDICT["verdict"](str(results(path, failed=False))) == "2 jobs within the tolerance 0.001\n"


def test_a_table_that_is_not_a_results_table_has_no_verdict(tmp_path: Path):
    path = tmp_path / "results.parquet"
    pd.DataFrame({"x": [1]}).to_parquet(path)
    with pytest.raises(DataError, match=f"^{path}: not a results table, so there is no verdict .*"
                                        rf"\(no column dataset, workload, backend, failed, tolerance\){REMEDY}$"):
        VERDICT["verdict"](str(path))


# ------------------------------------------------------------------------ through Snakemake


@pytest.mark.slow
def test_a_damaged_report_fails_the_verdict_unlike_a_failed_run_and_leaves_no_verdict(tmp_path: Path):
    from .test_workflow import CONFIG, RUN, logs, snakemake

    first = snakemake(tmp_path, CONFIG, "--cores", "1")
    assert first.returncode == 0, f"{first.stderr[-3000:]}\n{logs(tmp_path)}"
    report = tmp_path / "reports" / RUN
    assert (report / "verdict.txt").is_file()
    (report / "results.parquet").write_bytes(b"garbage")
    proc = snakemake(tmp_path, CONFIG, "--cores", "1")
    assert proc.returncode != 0
    log = (tmp_path / "results" / RUN / "logs" / "verdict.log").read_text()
    assert (f"NO VERDICT: reports/{RUN}/results.parquet: cannot read the run's results table, so there is no "
            "verdict (this says nothing about the jobs) (ArrowInvalid: ") in log and REMEDY in log
    assert "FAILED" not in log and "Traceback" not in log
    assert not (report / "verdict.txt").exists()  # the old passing verdict does not outlive it
    assert (report / "summary.md").is_file()
    # the remedy works
    (report / "results.parquet").unlink()
    rerun = snakemake(tmp_path, CONFIG, "--cores", "1")
    assert rerun.returncode == 0 and (report / "verdict.txt").is_file(), rerun.stderr[-3000:]


@pytest.mark.slow
def test_a_train_job_refuses_a_features_cache_of_other_data(tmp_path: Path):
    from .test_workflow import CONFIG, RUN, logs, snakemake

    # another config's digits (64 images) in the shared features cache, which Snakemake has no
    # record of and so takes as up to date
    cached = tmp_path / "results" / "features" / "digits.npz"
    other = {"source": "digits", "n_train": 64, "standardize": False}
    save_dataset(load_digits_dataset("digits", 64), str(cached), built_from=build_record(other, {}))
    proc = snakemake(tmp_path, CONFIG, "--cores", "1")
    assert proc.returncode != 0
    log = (tmp_path / "results" / RUN / "logs" / "train" / "digits" / "mlr" / "plaintext.log").read_text()
    assert ("train job failed: DataError: results/features/digits.npz: this features cache was built from other "
            f"data than this job asks for (n_train 64 in the cache, 128 asked){REMEDY}") in log, logs(tmp_path)
