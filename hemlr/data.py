"""Datasets for the benchmark: sklearn digits, the authors' feature CSV files, and MNIST through RegNet.

Every loader returns raw features without a bias column; the trainer adds Z = [1, x] itself.
Bad inputs raise DataError with the file, the 1-based row (when a row is at fault) and the problem.
torch/torchvision are imported only by the MNIST path, so CSV and digits users do not pay for them.
"""

from __future__ import annotations

import csv
import gzip
import inspect
import os
import shutil
from dataclasses import dataclass
from typing import Callable

import numpy as np

# File names torchvision's MNIST expects (extracted) in <root>/MNIST/raw/.
_MNIST_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataError(ValueError):
    """Invalid or missing input data; the message names the file, the row and the problem."""


@dataclass(frozen=True)
class Dataset:
    """A train/test split of raw features (no bias column) with integer labels 0..n_classes-1."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    source: str
    note: str

    def __post_init__(self) -> None:
        # Shape mistakes otherwise surface much later as broadcasting errors inside training.
        for X, y, split in ((self.X_train, self.y_train, "train"), (self.X_test, self.y_test, "test")):
            if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
                raise DataError(f"dataset {self.name!r}: {split} X {X.shape} and y {y.shape} do not match")
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise DataError(
                f"dataset {self.name!r}: train has {self.X_train.shape[1]} features, test has {self.X_test.shape[1]}"
            )


def _absent_classes(y_train: np.ndarray, n_classes: int, limit: int = 10) -> list[int]:
    """Up to `limit` classes of 0..n_classes-1 without a training example (every class row must be fitted).

    Walks only len(present) + limit candidates, so an absurd n_classes from a bad label cannot stall it.
    """
    present = set(np.unique(y_train).tolist())
    absent: list[int] = []
    c = 0
    while c < n_classes and len(absent) < limit:
        if c not in present:
            absent.append(c)
        c += 1
    return absent


# ---------------------------------------------------------------------------------------------- digits


def load_digits_dataset(name: str = "digits", n_train: int = 128) -> Dataset:
    """sklearn's bundled 8x8 digits, pixels / 16 in [0, 1]; the first n_train images train, the rest test."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = bunch.images.reshape(len(bunch.images), -1).astype(np.float64) / 16.0
    y = bunch.target.astype(np.int64)
    if not 1 <= n_train < len(y):
        raise DataError(f"digits: n_train must be in 1..{len(y) - 1}, got {n_train}")
    ds = Dataset(
        name=name,
        X_train=X[:n_train],
        y_train=y[:n_train],
        X_test=X[n_train:],
        y_test=y[n_train:],
        n_classes=10,
        source="digits",
        note=(
            f"sklearn digits (8x8, 64 pixel features / 16, identity backbone), first {n_train} images train, "
            f"{len(y) - n_train} test; NOT the paper's MNIST+RegNet data"
        ),
    )
    absent = _absent_classes(ds.y_train, ds.n_classes)
    if absent:
        raise DataError(f"digits: class(es) {absent} absent from the first {n_train} training images")
    return ds


# ------------------------------------------------------------------------------------------ features_csv


def _read_feature_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse a headerless `label, features...` CSV; return X and the integer-valued labels, both float64.

    Labels stay float until their range is checked: casting a huge label to int64 would wrap around.
    """
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found")
    if not os.path.isfile(path):
        raise DataError(f"{path}: not a regular file")
    rows: list[np.ndarray] = []
    n_cols = 0
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            raw_rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read as CSV text ({e})") from e
    # Editors often leave blank lines at the end; blank lines inside would shift row numbers, so they are errors.
    while raw_rows and not raw_rows[-1]:
        raw_rows.pop()
    if not raw_rows:
        raise DataError(f"{path}: file is empty (expected rows of `label, features...`)")
    for i, row in enumerate(raw_rows, start=1):
        if i == 1:
            n_cols = len(row)
            if n_cols < 2:
                raise DataError(f"{path}: row 1: need a label and at least one feature, found {n_cols} column(s)")
        if not row:
            raise DataError(f"{path}: row {i}: empty row")
        if len(row) != n_cols:
            raise DataError(f"{path}: row {i}: expected {n_cols} columns (as in row 1), found {len(row)}")
        try:
            values = np.array(row, dtype=np.float64)
        except ValueError:
            j = next(j for j, v in enumerate(row) if not _parses_as_float(v))
            raise DataError(f"{path}: row {i}, column {j + 1}: non-numeric value {row[j]!r}") from None
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            j = int(bad[0])
            raise DataError(f"{path}: row {i}, column {j + 1}: non-finite value {row[j].strip()!r}")
        if values[0] != np.round(values[0]):
            raise DataError(f"{path}: row {i}: label {row[0].strip()!r} is not an integer")
        rows.append(values)
    data = np.vstack(rows)
    return data[:, 1:], data[:, 0]


def _parses_as_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _row_range(path: str, key: str, rows: object, n_rows: int) -> tuple[int, int]:
    """Validate a [a, b) row range (0-based, end exclusive) against a file of n_rows rows."""
    if rows is None:
        return 0, n_rows
    if (
        not isinstance(rows, (tuple, list))
        or len(rows) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in rows)
    ):
        raise DataError(f"{path}: {key} must be a pair of integers [start, end), got {rows!r}")
    a, b = int(rows[0]), int(rows[1])
    if not 0 <= a < b <= n_rows:
        raise DataError(
            f"{path}: {key} [{a}, {b}) is empty or out of bounds: the file has {n_rows} rows "
            f"(need 0 <= start < end <= {n_rows})"
        )
    return a, b


def load_features_csv(
    name: str,
    train_path: str,
    train_rows: tuple[int, int] | None = None,
    test_path: str | None = None,
    test_rows: tuple[int, int] | None = None,
    n_classes: int | None = None,
) -> Dataset:
    """Load the authors' feature CSV layout (no header; column 0 = label such as 5.0, then features).

    One file split by train_rows/test_rows ([a, b), 0-based, end exclusive; both required), or separate
    train and test files whose rows default to all. n_classes defaults to max label + 1 over both splits.
    """
    X_all, y_all = _read_feature_csv(train_path)
    same_file = test_path is None or (os.path.exists(test_path) and os.path.samefile(test_path, train_path))
    if test_path is None:
        if train_rows is None or test_rows is None:
            raise DataError(f"{train_path}: a single file needs both train_rows and test_rows")
        X_te_all, y_te_all, test_path = X_all, y_all, train_path
    else:
        X_te_all, y_te_all = _read_feature_csv(test_path)
        if X_te_all.shape[1] != X_all.shape[1]:
            raise DataError(
                f"{test_path}: test rows have {X_te_all.shape[1]} features but {train_path} has {X_all.shape[1]}"
            )
    a, b = _row_range(train_path, "train_rows", train_rows, len(y_all))
    c, d = _row_range(test_path, "test_rows", test_rows, len(y_te_all))
    if same_file and a < d and c < b:
        raise DataError(f"{train_path}: train_rows [{a}, {b}) and test_rows [{c}, {d}) overlap")

    y_train, y_test = y_all[a:b], y_te_all[c:d]
    if n_classes is None:
        n_classes = int(max(y_train.max(), y_test.max())) + 1
        if n_classes < 2:
            raise DataError(f"{train_path}: every selected label is 0; need at least 2 classes")
    elif isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise DataError(f"{train_path}: n_classes must be an integer >= 2, got {n_classes!r}")
    for y, path, first in ((y_train, train_path, a), (y_test, test_path, c)):
        bad = np.flatnonzero((y < 0) | (y >= n_classes))
        if bad.size:
            i = int(bad[0])
            raise DataError(f"{path}: row {first + i + 1}: label {y[i]:g} outside 0..{n_classes - 1}")
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    absent = _absent_classes(y_train, n_classes)
    if absent:
        hits = np.flatnonzero(~np.isin(y_test, y_train))
        if hits.size:
            i = int(hits[0])
            raise DataError(
                f"{test_path}: row {c + i + 1}: class {y_test[i]} appears in the test rows but is absent from "
                f"training ({train_path} rows [{a}, {b}))"
            )
        raise DataError(
            f"{train_path}: class(es) {absent} of 0..{n_classes - 1} absent from training rows [{a}, {b})"
        )
    split = (
        f"train rows [{a}, {b}), test rows [{c}, {d}) of {train_path}"
        if train_path == test_path
        else f"train {train_path} rows [{a}, {b}), test {test_path} rows [{c}, {d})"
    )
    return Dataset(
        name=name,
        X_train=X_all[a:b],
        y_train=y_train,
        X_test=X_te_all[c:d],
        y_test=y_test,
        n_classes=int(n_classes),
        source="features_csv",
        note=f"precomputed features (label + {X_all.shape[1]} feature columns) from CSV: {split}",
    )


# ------------------------------------------------------------------------------------------ MNIST+RegNet


def _mnist_missing(root: str, train: bool) -> list[str]:
    """Expected MNIST files of one split that exist neither extracted nor as .gz."""
    raw = os.path.join(root, "MNIST", "raw")
    return [
        os.path.join(raw, f) + "(.gz)"
        for f in _MNIST_FILES[train]
        if not (os.path.isfile(os.path.join(raw, f)) or os.path.isfile(os.path.join(raw, f + ".gz")))
    ]


def _mnist_error(root: str, missing: list[str]) -> DataError:
    return DataError(
        f"MNIST files not found under {root!r}: missing {', '.join(missing)}. Copy the MNIST IDX files "
        f"(extracted or .gz) into {os.path.join(root, 'MNIST', 'raw')}, or set download: true on a machine "
        f"with internet access"
    )


def _ensure_mnist(root: str, splits: tuple[bool, ...], download: bool) -> None:
    """Make the extracted IDX files of the given splits exist in <root>/MNIST/raw, or raise DataError."""
    missing = [m for train in splits for m in _mnist_missing(root, train)]
    if missing and download:
        import torchvision

        try:
            torchvision.datasets.MNIST(root, train=True, download=True)
        except Exception as e:  # torchvision raises RuntimeError/URLError/OSError depending on what failed
            raise DataError(f"downloading MNIST into {root!r} failed ({e}); {_mnist_error(root, missing)}") from e
        missing = [m for train in splits for m in _mnist_missing(root, train)]
    if missing:
        raise _mnist_error(root, missing)
    raw = os.path.join(root, "MNIST", "raw")
    for train in splits:
        for f in _MNIST_FILES[train]:
            target = os.path.join(raw, f)
            if os.path.isfile(target):
                continue
            # torchvision reads only extracted files; extract next to the .gz as its own download step does.
            tmp = target + ".part"
            try:
                with gzip.open(target + ".gz", "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(tmp, target)
            except (OSError, EOFError) as e:
                raise DataError(f"{target}.gz: cannot extract to {target} ({e}); extract it there by hand") from e


def load_mnist_split(mnist_root: str, train: bool, download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One MNIST split in torchvision order: images (N, 28, 28) uint8 and labels (N,) int64.

    Reads with torchvision's own IDX readers, so only this split's files are needed
    (torchvision.datasets.MNIST itself insists on all four files).
    """
    from torchvision.datasets.mnist import read_image_file, read_label_file

    _ensure_mnist(mnist_root, (train,), download)
    raw = os.path.join(mnist_root, "MNIST", "raw")
    out = []
    for f, reader in zip(_MNIST_FILES[train], (read_image_file, read_label_file)):
        path = os.path.join(raw, f)
        try:
            out.append(reader(path).numpy())
        except (AssertionError, TypeError, ValueError, RuntimeError, OSError) as e:
            raise DataError(f"{path}: not a valid MNIST IDX file ({type(e).__name__}: {e})") from e
    images, labels = out
    if len(images) != len(labels):
        raise DataError(f"{raw}: {len(images)} images but {len(labels)} labels")
    return images, labels.astype(np.int64)


def extract_mnist_regnet(
    name: str,
    mnist_root: str,
    download: bool,
    weights: str | None,
    torch_home: str | None,
    n_train: int = 128,
    n_test: int | None = None,
    batch_size: int = 64,
    device: str = "cpu",
) -> Dataset:
    """The paper's data: first n_train MNIST training images and first n_test (None = all) test images
    through regnet_x_400mf (IMAGENET1K_V1, fc removed) with the paper's transform."""
    if n_train < 1 or (n_test is not None and n_test < 1) or batch_size < 1:
        raise DataError(f"mnist_regnet: need n_train >= 1, n_test >= 1 or None, batch_size >= 1; got "
                        f"{n_train}, {n_test}, {batch_size}")
    # Check both splits before any loading so every missing file is listed at once.
    _ensure_mnist(mnist_root, (True, False), download)
    from hemlr import features

    backbone = features.regnet_backbone(weights, torch_home, pretrained=True).to(device)
    splits = []
    for train, n in ((True, n_train), (False, n_test)):
        images, labels = load_mnist_split(mnist_root, train, download=False)
        if n is not None and n > len(images):
            raise DataError(f"mnist_regnet: asked for {n} {'training' if train else 'test'} images, "
                            f"{mnist_root!r} has {len(images)}")
        images, labels = images[:n], labels[:n]
        splits.append((features.extract_features(backbone, images, batch_size=batch_size), labels))
    (X_train, y_train), (X_test, y_test) = splits
    absent = _absent_classes(y_train, 10)
    if absent:
        raise DataError(f"mnist_regnet: class(es) {absent} absent from the first {n_train} training images")
    return Dataset(
        name=name,
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        n_classes=10,
        source="mnist_regnet",
        note=(
            f"MNIST from {mnist_root} (first {len(y_train)} train, first {len(y_test)} test images) through "
            f"regnet_x_400mf IMAGENET1K_V1 without fc; Resize(224), ToTensor, grey x3, no normalisation"
        ),
    )


# ------------------------------------------------------------------------------------------ dispatch, I/O


def _load_features_csv_spec(
    name: str,
    path: str,
    train_rows: list[int] | tuple[int, int] | None = None,
    test_path: str | None = None,
    test_rows: list[int] | tuple[int, int] | None = None,
    n_classes: int | None = None,
) -> Dataset:
    # Config files give `path` and lists; the loader wants train_path and tuples.
    def as_pair(rows: object) -> object:
        return tuple(rows) if isinstance(rows, list) else rows

    return load_features_csv(name, path, as_pair(train_rows), test_path, as_pair(test_rows), n_classes)


_BUILDERS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits_dataset,
    "features_csv": _load_features_csv_spec,
    "mnist_regnet": extract_mnist_regnet,
}
SOURCES = tuple(_BUILDERS)


def build_dataset(name: str, spec: dict) -> Dataset:
    """Build a dataset from a config spec: spec["source"] picks the loader, the other keys are its arguments."""
    source = spec.get("source")
    if source not in _BUILDERS:
        raise DataError(f"dataset {name!r}: unknown source {source!r}; allowed sources: {', '.join(SOURCES)}")
    fn = _BUILDERS[source]
    # `device` stays out of configs: the harness is CPU only.
    params = {p.name: p for p in inspect.signature(fn).parameters.values() if p.name not in ("name", "device")}
    kwargs = {k: v for k, v in spec.items() if k != "source"}
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise DataError(f"dataset {name!r} ({source}): unknown key(s) {unknown}; allowed: {sorted(params)}")
    absent = [k for k, p in params.items() if p.default is inspect.Parameter.empty and k not in kwargs]
    if absent:
        raise DataError(f"dataset {name!r} ({source}): missing key(s) {absent}")
    return fn(name, **kwargs)


def save_dataset(ds: Dataset, path: str) -> None:
    """Write the dataset, metadata included, to a compressed .npz at exactly `path`."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:  # a file object stops numpy from appending ".npz" to the name
        np.savez_compressed(
            f,
            name=np.array(ds.name),
            source=np.array(ds.source),
            note=np.array(ds.note),
            n_classes=np.array(ds.n_classes, dtype=np.int64),
            X_train=ds.X_train,
            y_train=ds.y_train,
            X_test=ds.X_test,
            y_test=ds.y_test,
        )


def load_dataset(path: str) -> Dataset:
    """Read a dataset written by save_dataset."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: file not found")
    keys = ("name", "source", "note", "n_classes", "X_train", "y_train", "X_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in keys if k in z.files}
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read as .npz ({e})") from e
    missing = [k for k in keys if k not in a]
    if missing:
        raise DataError(f"{path}: not a saved dataset, missing {missing}")
    return Dataset(
        name=str(a["name"]),
        X_train=a["X_train"].astype(np.float64, copy=False),
        y_train=a["y_train"].astype(np.int64, copy=False),
        X_test=a["X_test"].astype(np.float64, copy=False),
        y_test=a["y_test"].astype(np.int64, copy=False),
        n_classes=int(a["n_classes"]),
        source=str(a["source"]),
        note=str(a["note"]),
    )
