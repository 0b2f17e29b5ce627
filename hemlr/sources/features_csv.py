"""The authors' feature CSV files: no header, column 0 the label (such as 5.0), then the features."""
from __future__ import annotations

import csv
import functools
import os
import time
from typing import Any

import numpy as np

from hemlr.dataset import DataError, Dataset, Shape, absent_classes, file_record
from hemlr.sources import Source

_ROW_RANGE = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2,
              "description": "[start, end): 0-based rows, end exclusive"}


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
    absent = absent_classes(y_train, n_classes)
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


#: a file changed this recently (ns) is read again each time: it may change again within the
#: resolution of its timestamps, unseen by the cache's key (git's "racily clean" entries)
_SETTLED_NS = 2_000_000_000


def _columns_and_labels(path: str) -> tuple[int, np.ndarray]:
    """The feature count of row 1 and the label column (read-only), without parsing the features:
    the light read of shape() and input_problems(), made once per version of the file (config
    validation makes both, for every grid member naming the file)."""
    st = os.stat(path)
    if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < _SETTLED_NS:
        return _light_read.__wrapped__(path, ())
    return _light_read(os.path.abspath(path), (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))


@functools.lru_cache(maxsize=8)
def _light_read(path: str, version: tuple[int, ...]) -> tuple[int, np.ndarray]:
    # ``version`` only keys the cache: a changed file is read again.
    with open(path, encoding="utf-8-sig") as f:
        lines = [line for line in f if line.strip()]
    labels = np.array([line.split(",", 1)[0] for line in lines], dtype=np.float64)
    labels.setflags(write=False)
    return lines[0].count(","), labels


def _first_row(y: np.ndarray, value: float, first: int) -> int:
    """The 1-based file row of the first of ``y`` (rows from ``first``, 0-based) equal to ``value``."""
    return first + int(np.flatnonzero(y == value)[0]) + 1


def _shown(rows: list[int] | None) -> str:
    return str(list(rows)) if rows is not None else "every row (the default)"


def _pair(rows: list[int] | None) -> tuple[int, int] | None:
    # Configs give lists; the loader wants tuples.
    return tuple(rows) if rows is not None else None


class FeaturesCsv(Source):
    name = "features_csv"
    SIZE_KEYS = ("train_rows",)
    SCHEMA = {
        "type": "object",
        "additionalProperties": False,
        "required": ["path"],
        "properties": {
            "path": {"type": "string", "minLength": 1, "description": "headerless CSV: label, then features"},
            "train_rows": _ROW_RANGE,
            "test_path": {"type": "string", "minLength": 1, "description": "separate test file (rows default to all)"},
            "test_rows": _ROW_RANGE,
            "n_classes": {"type": "integer", "minimum": 2, "description": "default: largest label + 1"},
        },
        "if": {"not": {"required": ["test_path"]}},
        "then": {"required": ["train_rows", "test_rows"],
                 "description": "a single file is split by train_rows and test_rows; give both, or a test_path"},
    }

    def files(self) -> list[str]:
        return [self.spec[k] for k in ("path", "test_path") if self.spec.get(k)]

    def manifest(self, name: str) -> dict[str, Any]:
        records = [file_record(p, count_rows=True) for p in self.files()]
        inputs = [f"- file `{r['path']}`: sha256 `{r['sha256']}`, {r['rows']} rows" for r in records]
        return self._manifest(name, inputs, files=records)

    def shape(self) -> Shape | None:
        path, test_path = self.spec["path"], self.spec.get("test_path")
        try:
            n_features, y_all = _columns_and_labels(path)
            y_te_all = _columns_and_labels(test_path)[1] if test_path else y_all
            a, b = _row_range(path, "train_rows", self.spec.get("train_rows"), len(y_all))
            c, d = _row_range(test_path or path, "test_rows", self.spec.get("test_rows"), len(y_te_all))
            n_classes = self.spec.get("n_classes")
            if n_classes is None:  # as the loader defaults it
                n_classes = int(max(y_all[a:b].max(), y_te_all[c:d].max())) + 1
        except (OSError, ValueError, IndexError, OverflowError):
            return None  # missing, unreadable or malformed: the manifest or the loader says what is wrong
        return Shape(b - a, n_features, n_classes)

    def input_problems(self) -> list[tuple[str, str]]:
        """The row ranges against the files' lengths, n_classes against the selected rows' labels
        and every class against the training rows, as the loader checks them."""
        s = self.spec
        path, test_path = s["path"], s.get("test_path")
        try:
            y_all = _columns_and_labels(path)[1]
            y_te_all = _columns_and_labels(test_path)[1] if test_path else y_all
            same_file = test_path is None or os.path.samefile(test_path, path)
        except (OSError, ValueError, IndexError):
            return []  # missing, unreadable or malformed: the manifest or the loader says what is wrong
        ranges, errors = {}, []
        for key, file, y in (("train_rows", path, y_all), ("test_rows", test_path or path, y_te_all)):
            a, b = s.get(key) or (0, len(y))
            if 0 <= a < b <= len(y):
                ranges[key] = a, b
            else:
                errors.append((key, f"{_shown(s.get(key))} is not allowed; {file} has {len(y)} rows, so {key} "
                                    f"[start, end) must have 0 <= start < end <= {len(y)}"))
        if errors:
            return errors
        (a, b), (c, d) = ranges["train_rows"], ranges["test_rows"]
        if same_file and a < d and c < b:
            return [("test_rows", f"{_shown(s.get('test_rows'))} is not allowed; it overlaps train_rows [{a}, {b}) "
                                  f"of the same file {path}: no training row may be a test row")]
        y_train, y_test = y_all[a:b], y_te_all[c:d]
        if not (np.isfinite(y_train).all() and np.isfinite(y_test).all()):
            return []  # the loader names the row
        top = max(y_train.max(), y_test.max())
        n_classes = s.get("n_classes")
        if n_classes is not None and top >= n_classes:
            file, y, first = (path, y_train, a) if y_train.max() == top else (test_path or path, y_test, c)
            return [("n_classes", f"{n_classes} is not allowed; {file} row {_first_row(y, top, first)} has label "
                                  f"{top:g} and labels run 0..n_classes - 1, so n_classes must be at least "
                                  f"{int(top) + 1}")]
        if (y_train < 0).any() or (y_test < 0).any() or top >= 2**53 or (y_train != np.round(y_train)).any():
            return []  # the loader names the row
        # what selects the training rows
        key = "train_rows" if s.get("train_rows") is not None else "path"
        value = s["train_rows"] if key == "train_rows" else path
        if n_classes is None and top == 0:
            return [(key, f"{value} is not allowed; every label of the selected rows of {path} is 0, and a "
                          f"dataset needs at least 2 classes")]
        n = int(top) + 1 if n_classes is None else n_classes
        absent = absent_classes(y_train.astype(np.int64), n)
        if not absent:
            return []
        if n_classes is not None and n_classes > top + 1:
            return [("n_classes", f"{n_classes} is not allowed; the largest label of the selected rows is {top:g}, "
                                  f"so class(es) {int(top) + 1}..{n_classes - 1} have no training row: n_classes "
                                  f"must be at most {int(top) + 1} (every class needs a training row)")]
        return [(key, f"{value} is not allowed; training rows [{a}, {b}) of {path} hold no row of class(es) "
                      f"{absent} of 0..{n - 1}, and every class needs a training row")]

    def load(self, name: str) -> Dataset:
        s = self.spec
        return load_features_csv(name, s["path"], _pair(s.get("train_rows")), s.get("test_path"),
                                 _pair(s.get("test_rows")), s.get("n_classes"))
