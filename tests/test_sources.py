"""Tests for hemlr.sources and hemlr.dataset: the registry, each source's loader, schema, files,
manifest and shape, CSV validation, save/load and the offline MNIST error."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from hemlr import sources
from hemlr.dataset import DataError, Dataset, Shape, load_dataset, save_dataset, standardized
from hemlr.sources import build_dataset, spec_problems
from hemlr.sources.digits import load_digits_dataset
from hemlr.sources.features_csv import load_features_csv
from hemlr.sources.mnist_regnet import extract_mnist_regnet

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


def mnist_spec(root: Path, **changes) -> dict:
    return {"source": "mnist_regnet", "mnist_root": str(root), "download": False, "weights": None,
            "torch_home": str(root), "n_train": 128, "n_test": None, "batch_size": 64, **changes}


# -------------------------------------------------------------------------------------------- digits


def test_digits_shapes_ranges_split_and_note():
    ds = load_digits_dataset(n_train=128)
    assert ds.source == "digits" and ds.name == "digits" and ds.n_classes == 10
    assert ds.X_train.shape == (128, 64) and ds.X_test.shape == (1797 - 128, 64)
    assert ds.X_train.dtype == np.float64 and ds.y_train.dtype == np.int64
    assert ds.X_train.min() >= 0.0 and ds.X_train.max() <= 1.0 and ds.X_train.max() == 1.0
    assert set(ds.y_train.tolist()) == set(range(10))
    assert "NOT the paper" in ds.note and not ds.paper_data
    from sklearn.datasets import load_digits

    assert np.array_equal(ds.y_test, load_digits().target[128:])


def test_digits_bad_n_train():
    with pytest.raises(DataError, match="n_train"):
        load_digits_dataset(n_train=0)
    with pytest.raises(DataError, match="absent"):
        load_digits_dataset(n_train=5)


def test_digits_shape_files_and_manifest():
    import sklearn

    src = sources.source({"source": "digits"})
    assert src.shape() == Shape(128, 64, 10)
    assert sources.source({"source": "digits", "n_train": 100}).shape() == Shape(100, 64, 10)
    assert src.files() == []
    manifest = src.manifest("digits")
    assert manifest["images"] == 1797 and manifest["sklearn_version"]
    assert manifest["dataset"] == "digits" and manifest["source"] == "digits"
    assert manifest["spec"] == {"source": "digits", "n_train": 128, "standardize": False}
    assert manifest["inputs"] == [f"- scikit-learn {sklearn.__version__} bundled digits (1797 images)"]


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


def test_features_csv_manifest_hashes_and_counts_rows(tmp_path: Path):
    csv = tmp_path / "f.csv"
    csv.write_text("1.0,0.5,0.25\r\n0.0,0.1,0.2\r\n2.0,0.3,0.4\r\n\r\n")
    src = sources.source({"source": "features_csv", "path": str(csv), "train_rows": [0, 2], "test_rows": [2, 3]})
    manifest = src.manifest("f")
    (record,) = manifest["files"]
    digest = hashlib.sha256(csv.read_bytes()).hexdigest()
    assert record["rows"] == 3
    assert record["sha256"] == digest
    assert src.files() == [str(csv)]
    assert manifest["inputs"] == [f"- file `{csv}`: sha256 `{digest}`, 3 rows"]
    assert manifest["dataset"] == "f" and manifest["source"] == "features_csv"


def test_features_csv_manifest_names_a_missing_file(tmp_path: Path):
    src = sources.source({"source": "features_csv", "path": str(tmp_path / "f.csv"),
                          "test_path": str(tmp_path / "t.csv")})
    # Named whether they exist or not: the manifest says what is missing.
    assert src.files() == [str(tmp_path / "f.csv"), str(tmp_path / "t.csv")]
    with pytest.raises(DataError, match=r"f\.csv: file not found"):
        src.manifest("f")


def test_features_csv_shape_reads_only_the_first_line_and_labels(tmp_path: Path):
    f = write_csv(tmp_path / "all.csv", LABELS, n_features=5)
    single = {"source": "features_csv", "path": str(f), "train_rows": [0, 6], "test_rows": [6, 10]}
    assert sources.source(single).shape() == Shape(6, 5, 3)
    assert sources.source({**single, "n_classes": 7}).shape() == Shape(6, 5, 7)
    te = write_csv(tmp_path / "test.csv", [3, 0], n_features=5)
    assert sources.source({"source": "features_csv", "path": str(f), "test_path": str(te)}).shape() == Shape(10, 5, 4)
    # A feature that does not parse is the loader's to report; shape does not read features.
    corrupt(f, 2, 3, "abc")
    assert sources.source(single).shape() == Shape(6, 5, 3)


def test_features_csv_shape_is_none_when_a_file_is_missing_or_unreadable(tmp_path: Path):
    missing = {"source": "features_csv", "path": str(tmp_path / "nope.csv"), "train_rows": [0, 6],
               "test_rows": [6, 10]}
    assert sources.source(missing).shape() is None
    f = write_csv(tmp_path / "all.csv", LABELS)
    assert sources.source({**missing, "test_path": str(tmp_path / "nope.csv"), "path": str(f)}).shape() is None
    assert sources.source({**missing, "path": str(f), "test_rows": [6, 11]}).shape() is None  # out of bounds
    (tmp_path / "empty.csv").write_text("\n")
    assert sources.source({**missing, "path": str(tmp_path / "empty.csv")}).shape() is None
    corrupt(f, 1, 0, "x")
    assert sources.source({**missing, "path": str(f)}).shape() is None


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
    spec = {"source": "features_csv", "path": str(first512), "train_rows": [0, 128], "test_rows": [128, 512]}
    assert sources.source(spec).shape() == Shape(128, 400, 10)


# ---------------------------------------------------------------------------------------- standardize


def csv_spec(path: Path, **changes) -> dict:
    return {"source": "features_csv", "path": str(path), "train_rows": [0, 6], "test_rows": [6, 10], **changes}


def test_standardize_uses_the_training_rows_statistics_on_both_splits(tmp_path):
    f = write_csv(tmp_path / "s.csv", LABELS, n_features=4)
    for row in range(1, 7):  # the 4th feature constant on the training rows...
        corrupt(f, row, 4, "0.5")
    raw = build_dataset("s", csv_spec(f))
    ds = build_dataset("s", csv_spec(f, standardize=True))
    mean, std = raw.X_train.mean(axis=0), raw.X_train.std(axis=0)
    np.testing.assert_allclose(ds.X_train[:, :3].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X_train[:, :3].std(axis=0), 1.0)
    np.testing.assert_allclose(ds.X_test[:, :3], (raw.X_test[:, :3] - mean[:3]) / std[:3])
    # ...a zero-variance training feature is centred, not divided by zero.
    assert np.all(ds.X_train[:, 3] == 0.0) and np.allclose(ds.X_test[:, 3], raw.X_test[:, 3] - 0.5)
    assert np.array_equal(ds.y_train, raw.y_train) and np.array_equal(ds.y_test, raw.y_test)
    assert ds.note == raw.note + ("; standardized: every feature scaled to mean 0 / std 1 with the "
                                  "statistics of the 6 training rows (StandardScaler), applied to train and test")
    assert sources.source(csv_spec(f, standardize=True)).manifest("s")["spec"]["standardize"] is True


def test_standardize_is_off_by_default_and_data_unchanged(tmp_path):
    f = write_csv(tmp_path / "d.csv", LABELS)
    ds = build_dataset("d", csv_spec(f))
    direct = load_features_csv("d", str(f), (0, 6), None, (6, 10))
    assert np.array_equal(ds.X_train, direct.X_train) and np.array_equal(ds.X_test, direct.X_test)
    assert ds.note == direct.note and "standardized" not in ds.note
    assert sources.source(csv_spec(f)).manifest("d")["spec"]["standardize"] is False


def test_every_source_takes_standardize_and_checks_its_type():
    for name in sources.names():
        assert sources._registry()[name].SCHEMA["properties"]["standardize"]["default"] is False
    assert spec_problems("d", {"source": "digits", "standardize": "yes"}) == [
        "datasets.d.standardize: 'yes' is not of type 'boolean' (scale every feature to mean 0 / std 1 with "
        "the training rows' statistics, applied to train and test)"]


def test_standardized_data_is_not_the_papers():
    ds = dataclasses.replace(load_digits_dataset(), paper_data=True)
    assert standardized(ds).paper_data is False


# ----------------------------------------------------------------------------- save/load and dispatch


def test_save_load_round_trip(tmp_path):
    ds = load_features_csv("rt", str(write_csv(tmp_path / "a.csv", LABELS)), (0, 6), None, (6, 10))
    path = tmp_path / "sub" / "ds.npz"
    save_dataset(ds, str(path))
    assert path.is_file()
    back = load_dataset(str(path))
    assert isinstance(back, Dataset)
    for field in ("name", "source", "note", "n_classes", "paper_data"):
        assert getattr(back, field) == getattr(ds, field)
    for field in ("X_train", "y_train", "X_test", "y_test"):
        a, b = getattr(back, field), getattr(ds, field)
        assert a.dtype == b.dtype and np.array_equal(a, b)
    with pytest.raises(DataError, match="missing.npz: file not found"):
        load_dataset(str(tmp_path / "missing.npz"))


def test_paper_data_is_saved_and_defaults_to_false_in_old_files(tmp_path):
    ds = load_digits_dataset()
    save_dataset(dataclasses.replace(ds, paper_data=True), str(tmp_path / "p.npz"))
    assert load_dataset(str(tmp_path / "p.npz")).paper_data is True
    with open(tmp_path / "old.npz", "wb") as f:  # as save_dataset wrote it before paper_data existed
        np.savez_compressed(f, name=np.array("d"), source=np.array("digits"), note=np.array(""),
                            n_classes=np.array(10), X_train=ds.X_train, y_train=ds.y_train,
                            X_test=ds.X_test, y_test=ds.y_test)
    assert load_dataset(str(tmp_path / "old.npz")).paper_data is False


def test_build_dataset_dispatch(tmp_path):
    f = write_csv(tmp_path / "a.csv", LABELS)
    ds = build_dataset("csv", {"source": "features_csv", "path": str(f), "train_rows": [0, 6], "test_rows": [6, 10]})
    assert ds.name == "csv" and ds.X_train.shape == (6, 3)
    assert build_dataset("dg", {"source": "digits", "n_train": 100}).X_train.shape == (100, 64)


def test_build_dataset_errors():
    with pytest.raises(DataError, match="allowed values: digits, features_csv, mnist_regnet"):
        build_dataset("x", {"source": "imagenet"})
    with pytest.raises(DataError, match=r"datasets\.x\.n_tran: unknown key"):
        build_dataset("x", {"source": "digits", "n_tran": 10})
    with pytest.raises(DataError, match=r"missing required key\(s\) path"):
        build_dataset("x", {"source": "features_csv"})
    with pytest.raises(DataError, match=r"^dataset\.n_tran: unknown key"):  # no dataset name given
        sources.source({"source": "digits", "n_tran": 10})


def test_spec_problems_fill_defaults_in_place_with_source_first():
    spec = {"n_train": 64, "source": "digits"}
    assert spec_problems("d", spec) == []
    assert list(spec) == ["source", "n_train", "standardize"]
    spec = {"source": "mnist_regnet", "mnist_root": "m"}
    assert spec_problems("m", spec) == []
    assert spec["n_train"] == 128 and spec["weights"] is None
    assert spec_problems("d", {"n_train": 64}) == ["datasets.d: missing required key(s) source"]
    assert spec_problems("d", {"source": "digits", "n_train": 0})[0].startswith("datasets.d.n_train: 0 is less")


def test_sources_are_not_changed_by_validation():
    spec = {"source": "digits"}
    assert sources.source(spec).spec == {"source": "digits", "n_train": 128, "standardize": False}
    assert spec == {"source": "digits"}


# -------------------------------------------------------------------------------------- MNIST offline


def test_mnist_missing_files_named(tmp_path):
    with pytest.raises(DataError) as e:
        extract_mnist_regnet("m", str(tmp_path), download=False, weights=None, torch_home=str(tmp_path))
    msg = str(e.value)
    for f in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert str(tmp_path / "MNIST" / "raw" / f) in msg
    assert "download: true" in msg


def test_mnist_manifest_fails_with_hemlr_data_message(tmp_path: Path):
    with pytest.raises(DataError, match="MNIST files not found"):
        sources.source(mnist_spec(tmp_path)).manifest("m")


def test_mnist_shape_and_files_come_from_the_spec(tmp_path: Path):
    src = sources.source(mnist_spec(tmp_path))  # no files there: the shape needs none
    assert src.shape() == Shape(128, 400, 10)
    assert sources.source(mnist_spec(tmp_path, n_train=64, n_test=100)).shape() == Shape(64, 400, 10)
    assert src.files() == []
    weights = str(tmp_path / "w.pth")
    assert sources.source(mnist_spec(tmp_path, weights=weights)).files() == [weights]


# ------------------------------------------------------------------------------------------ registry

TOY_SOURCE = '''
"""A throw-away source written by the tests."""
import numpy as np

from hemlr.dataset import Dataset, Shape
from hemlr.sources import Source
from hemlr.sources.digits import Digits  # imported, so not a second "digits"


class Toy(Source):
    name = "toy"
    SCHEMA = {"type": "object", "additionalProperties": False,
              "properties": {"n": {"type": "integer", "minimum": 2, "default": 4}}}

    def manifest(self, name):
        return self._manifest(name, ["- nothing to read"])

    def shape(self):
        return Shape(self.spec["n"], 1, 2)

    def load(self, name):
        y = np.arange(self.spec["n"]) % 2
        return Dataset(name, y[:, None] * 1.0, y, y[:, None] * 1.0, y, 2, self.name, "toy data")
'''


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A folder added to hemlr.sources.__path__; the registry is restored afterwards."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.setattr(sources, "__path__", [*sources.__path__, str(folder)])
    yield folder
    monkeypatch.undo()
    for stem in {p.stem for p in folder.glob("*.py")}:  # forget the imported modules too
        sys.modules.pop(f"hemlr.sources.{stem}", None)
        vars(sources).pop(stem, None)
    sources.refresh()
    assert sources.names() == ["digits", "features_csv", "mnist_regnet"]


def test_a_new_module_is_a_new_source(plugin_dir: Path):
    (plugin_dir / "toy_source.py").write_text(TOY_SOURCE)
    assert "toy" not in sources.names()  # cached until refreshed
    sources.refresh()
    assert sources.names() == ["digits", "features_csv", "mnist_regnet", "toy"]
    spec = {"source": "toy"}
    # The Source base gives every source, a new one too, the `standardize` key.
    assert spec_problems("t", spec) == [] and spec == {"source": "toy", "n": 4, "standardize": False}
    assert spec_problems("t", {"source": "toy", "m": 1}) == [
        "datasets.t.m: unknown key; allowed keys at datasets.t: source, n, standardize"]
    assert spec_problems("t", {"source": "nope"}) == [
        "datasets.t.source: 'nope' is not allowed; allowed values: digits, features_csv, mnist_regnet, toy"]
    ds = build_dataset("t", {"source": "toy", "n": 6})
    assert (ds.name, ds.source, ds.X_train.shape) == ("t", "toy", (6, 1))
    src = sources.source({"source": "toy"})
    assert src.shape() == Shape(4, 1, 2) and src.files() == []
    assert src.manifest("t") == {"dataset": "t", "source": "toy",
                                 "spec": {"source": "toy", "n": 4, "standardize": False},
                                 "inputs": ["- nothing to read"]}
    standardized = build_dataset("t", {"source": "toy", "n": 6, "standardize": True})
    assert standardized.X_train[:, 0].tolist() == [-1.0, 1.0] * 3  # 0/1 -> mean 0, std 1


def test_two_sources_of_one_name_name_both_modules(plugin_dir: Path):
    (plugin_dir / "dup_digits.py").write_text(TOY_SOURCE.replace('name = "toy"', 'name = "digits"'))
    with pytest.raises(ImportError, match=r"'digits' is defined twice: in hemlr\.sources\.digits \(Digits\) "
                                          r"and in hemlr\.sources\.dup_digits \(Toy\)"):
        sources.refresh()
