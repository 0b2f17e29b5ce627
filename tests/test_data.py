"""Tests for hemlr.data: loaders, CSV validation, save/load, dispatch and the offline MNIST error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hemlr.data import (
    DataError,
    Dataset,
    build_dataset,
    extract_mnist_regnet,
    load_dataset,
    load_digits_dataset,
    load_features_csv,
    save_dataset,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REF = SHARED_DATA / "reference-features"


def write_csv(path: Path, labels: list, n_features: int = 3, seed: int = 0) -> Path:
    """A small file in the authors' layout: label written as a float, then features."""
    rng = np.random.default_rng(seed)
    lines = [",".join([f"{float(y)}"] + [f"{v:.6f}" for v in rng.random(n_features)]) for y in labels]
    path.write_text("\r\n".join(lines) + "\r\n")  # the reference files use CRLF
    return path


def corrupt(path: Path, row: int, field: int, value: str) -> Path:
    """Replace one field (0-based) of one 1-based row."""
    lines = path.read_text().splitlines()
    cells = lines[row - 1].split(",")
    cells[field] = value
    lines[row - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


# -------------------------------------------------------------------------------------------- digits


def test_digits_shapes_ranges_split_and_note():
    ds = load_digits_dataset(n_train=128)
    assert ds.source == "digits" and ds.name == "digits" and ds.n_classes == 10
    assert ds.X_train.shape == (128, 64) and ds.X_test.shape == (1797 - 128, 64)
    assert ds.X_train.dtype == np.float64 and ds.y_train.dtype == np.int64
    assert ds.X_train.min() >= 0.0 and ds.X_train.max() <= 1.0 and ds.X_train.max() == 1.0
    assert set(ds.y_train.tolist()) == set(range(10))
    assert "NOT the paper" in ds.note
    from sklearn.datasets import load_digits

    assert np.array_equal(ds.y_test, load_digits().target[128:])


def test_digits_bad_n_train():
    with pytest.raises(DataError, match="n_train"):
        load_digits_dataset(n_train=0)
    with pytest.raises(DataError, match="absent"):
        load_digits_dataset(n_train=5)


# -------------------------------------------------------------------------------------- features_csv

LABELS = [0, 1, 2, 0, 1, 2, 2, 1, 0, 1]


def test_csv_single_file_row_ranges(tmp_path):
    f = write_csv(tmp_path / "all.csv", LABELS)
    ds = load_features_csv("t", str(f), train_rows=(0, 6), test_rows=(6, 10))
    raw = np.loadtxt(f, delimiter=",")
    assert ds.source == "features_csv" and ds.n_classes == 3
    np.testing.assert_array_equal(ds.X_train, raw[:6, 1:])
    np.testing.assert_array_equal(ds.X_test, raw[6:, 1:])
    assert ds.y_train.tolist() == LABELS[:6] and ds.y_test.tolist() == LABELS[6:]
    assert ds.y_train.dtype == np.int64 and ds.X_train.dtype == np.float64


def test_csv_separate_files(tmp_path):
    tr = write_csv(tmp_path / "train.csv", LABELS[:6])
    te = write_csv(tmp_path / "test.csv", [2, 0], seed=1)
    ds = load_features_csv("t", str(tr), test_path=str(te), n_classes=3)
    assert ds.X_train.shape == (6, 3) and ds.X_test.shape == (2, 3)
    assert ds.y_test.tolist() == [2, 0]
    sub = load_features_csv("t", str(tr), train_rows=(0, 3), test_path=str(te), test_rows=(1, 2))
    assert sub.y_train.tolist() == [0, 1, 2] and sub.y_test.tolist() == [0]


def test_csv_trailing_blank_line_is_ignored(tmp_path):
    f = write_csv(tmp_path / "a.csv", LABELS)
    f.write_text(f.read_text() + "\n\n")
    assert load_features_csv("t", str(f), (0, 6), None, (6, 10)).y_test.shape == (4,)


@pytest.mark.parametrize(
    "row, field, value, problem",
    [
        (4, 2, "abc", "non-numeric"),
        (5, 1, "", "non-numeric"),
        (3, 3, "nan", "non-finite"),
        (7, 1, "inf", "non-finite"),
        (6, 0, "1.5", "not an integer"),
        (2, 0, "-1.0", "outside 0..2"),
    ],
)
def test_csv_bad_value(tmp_path, row, field, value, problem):
    f = corrupt(write_csv(tmp_path / "bad.csv", LABELS), row, field, value)
    with pytest.raises(DataError) as e:
        load_features_csv("t", str(f), (0, 6), None, (6, 10))
    msg = str(e.value)
    assert "bad.csv" in msg and f"row {row}" in msg and problem in msg


def test_csv_wrong_column_count(tmp_path):
    f = write_csv(tmp_path / "cols.csv", LABELS)
    lines = f.read_text().splitlines()
    lines[4] += ",0.5"
    f.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"cols\.csv: row 5: expected 4 columns .* found 5"):
        load_features_csv("t", str(f), (0, 6), None, (6, 10))


def test_csv_label_outside_given_n_classes(tmp_path):
    f = write_csv(tmp_path / "k.csv", LABELS)
    with pytest.raises(DataError, match=r"k\.csv: row 3: label 2 outside 0\.\.1"):
        load_features_csv("t", str(f), (0, 6), None, (6, 10), n_classes=2)


def test_csv_class_only_in_test(tmp_path):
    f = write_csv(tmp_path / "c.csv", [0, 1, 0, 1, 0, 2, 1])
    with pytest.raises(DataError) as e:
        load_features_csv("t", str(f), (0, 5), None, (5, 7))
    msg = str(e.value)
    assert "c.csv" in msg and "row 6" in msg and "class 2" in msg and "absent from training" in msg


def test_csv_class_absent_everywhere(tmp_path):
    f = write_csv(tmp_path / "c.csv", LABELS)
    with pytest.raises(DataError, match=r"c\.csv: class\(es\) \[3\] .* absent from training"):
        load_features_csv("t", str(f), (0, 6), None, (6, 10), n_classes=4)


def test_csv_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv: file is empty"):
        load_features_csv("t", str(empty), (0, 1), None, (1, 2))
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        load_features_csv("t", str(tmp_path / "nope.csv"), (0, 1), None, (1, 2))
    tr = write_csv(tmp_path / "train.csv", LABELS)
    with pytest.raises(DataError, match=r"gone\.csv: file not found"):
        load_features_csv("t", str(tr), test_path=str(tmp_path / "gone.csv"))


def test_csv_interior_blank_row(tmp_path):
    f = write_csv(tmp_path / "blank.csv", LABELS)
    lines = f.read_text().splitlines()
    f.write_text("\n".join(lines[:3] + [""] + lines[3:]))
    with pytest.raises(DataError, match=r"blank\.csv: row 4: empty row"):
        load_features_csv("t", str(f), (0, 6), None, (6, 11))


@pytest.mark.parametrize(
    "train_rows, test_rows, problem",
    [
        ((0, 6), (6, 11), r"test_rows \[6, 11\) is empty or out of bounds: the file has 10 rows"),
        ((-1, 6), (6, 10), r"train_rows \[-1, 6\) is empty or out of bounds"),
        ((3, 3), (6, 10), r"train_rows \[3, 3\) is empty"),
        ((0, 7), (6, 10), r"train_rows \[0, 7\) and test_rows \[6, 10\) overlap"),
        ((0, 6), None, "needs both train_rows and test_rows"),
        ((0, 6.5), (6, 10), "must be a pair of integers"),
    ],
)
def test_csv_bad_row_ranges(tmp_path, train_rows, test_rows, problem):
    f = write_csv(tmp_path / "r.csv", LABELS)
    with pytest.raises(DataError, match=r"r\.csv: .*" + problem):
        load_features_csv("t", str(f), train_rows, None, test_rows)


def test_csv_feature_count_mismatch_between_files(tmp_path):
    tr = write_csv(tmp_path / "train.csv", LABELS)
    te = write_csv(tmp_path / "test.csv", [0, 1], n_features=4)
    with pytest.raises(DataError, match=r"test\.csv: test rows have 4 features"):
        load_features_csv("t", str(tr), test_path=str(te))


# ----------------------------------------------------------------------------------- reference files


@pytest.mark.skipif(not REF.is_dir(), reason=f"reference feature files not present at {REF}")
def test_reference_first512_and_first128():
    first512 = REF / "REGNET_X_400MF_MNIST_TRAININGfirst512.csv"
    ds = load_features_csv("ref", str(first512), train_rows=(0, 128), test_rows=(128, 512))
    assert ds.X_train.shape == (128, 400) and ds.X_test.shape == (384, 400)
    assert ds.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert ds.n_classes == 10
    assert ds.X_train.min() >= 0.0 and ds.X_test.min() >= 0.0
    first128 = REF / "REGNET_X_400MF_MNIST_TRAININGfirst128.csv"
    small = load_features_csv("ref", str(first128), test_path=str(first512), test_rows=(128, 512))
    np.testing.assert_array_equal(small.X_train, ds.X_train)
    np.testing.assert_array_equal(small.y_train, ds.y_train)


# ----------------------------------------------------------------------------- save/load and dispatch


def test_save_load_round_trip(tmp_path):
    ds = load_features_csv("rt", str(write_csv(tmp_path / "a.csv", LABELS)), (0, 6), None, (6, 10))
    path = tmp_path / "sub" / "ds.npz"
    save_dataset(ds, str(path))
    assert path.is_file()
    back = load_dataset(str(path))
    assert isinstance(back, Dataset)
    for field in ("name", "source", "note", "n_classes"):
        assert getattr(back, field) == getattr(ds, field)
    for field in ("X_train", "y_train", "X_test", "y_test"):
        a, b = getattr(back, field), getattr(ds, field)
        assert a.dtype == b.dtype and np.array_equal(a, b)
    with pytest.raises(DataError, match="missing.npz: file not found"):
        load_dataset(str(tmp_path / "missing.npz"))


def test_build_dataset_dispatch(tmp_path):
    f = write_csv(tmp_path / "a.csv", LABELS)
    ds = build_dataset("csv", {"source": "features_csv", "path": str(f), "train_rows": [0, 6], "test_rows": [6, 10]})
    assert ds.name == "csv" and ds.X_train.shape == (6, 3)
    assert build_dataset("dg", {"source": "digits", "n_train": 100}).X_train.shape == (100, 64)


def test_build_dataset_errors():
    with pytest.raises(DataError, match="allowed sources: digits, features_csv, mnist_regnet"):
        build_dataset("x", {"source": "imagenet"})
    with pytest.raises(DataError, match=r"unknown key\(s\) \['n_tran'\]"):
        build_dataset("x", {"source": "digits", "n_tran": 10})
    with pytest.raises(DataError, match=r"missing key\(s\) \['path'\]"):
        build_dataset("x", {"source": "features_csv"})


# -------------------------------------------------------------------------------------- MNIST offline


def test_mnist_missing_files_named(tmp_path):
    with pytest.raises(DataError) as e:
        extract_mnist_regnet("m", str(tmp_path), download=False, weights=None, torch_home=str(tmp_path))
    msg = str(e.value)
    for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert str(tmp_path / "MNIST" / "raw" / f) in msg
    assert "download: true" in msg
