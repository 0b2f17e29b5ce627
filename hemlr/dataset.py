"""What every dataset source produces: a Dataset, its Shape, its .npz cache and input file records.

Features are raw, without a bias column; a workload adds what it needs (the paper's: Z = [1, x]). Bad inputs raise
DataError naming the file, the 1-based row (when a row is at fault) and the problem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


class DataError(ValueError):
    """Invalid or missing input data; the message names the file, the row and the problem."""


#: the remedy for a damaged file the workflow wrote: Snakemake rebuilds a missing output
REBUILD = "delete it and rerun to rebuild it"


def damaged(path: str | os.PathLike, problem: str, why: BaseException | str) -> DataError:
    """The error about a file the workflow wrote (a cache, a table) that cannot be used: the
    file, the problem, why (an exception: its type and message) and the remedy."""
    reason = why if isinstance(why, str) else f"{type(why).__name__}: {why}"
    return DataError(f"{path}: {problem} ({reason}); {REBUILD}")


@dataclass(frozen=True)
class Dataset:
    """A train/test split of raw features (no bias column) with integer labels 0..n_classes-1.

    paper_data is True only for the paper's own data (MNIST through RegNet, the first 128
    training images and all 10,000 test images); the report warns about everything else.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    source: str
    note: str
    paper_data: bool = False

    def __post_init__(self) -> None:
        # Shape mistakes otherwise surface much later as broadcasting errors inside training.
        for X, y, split in ((self.X_train, self.y_train, "train"), (self.X_test, self.y_test, "test")):
            if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
                raise DataError(f"dataset {self.name!r}: {split} X {X.shape} and y {y.shape} do not match")
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise DataError(
                f"dataset {self.name!r}: train has {self.X_train.shape[1]} features, test has {self.X_test.shape[1]}"
            )


@dataclass(frozen=True)
class Shape:
    """A dataset's size as known before loading it (from its spec and a light read of its files)."""

    n_train: int
    n_features: int
    n_classes: int


def standardized(ds: Dataset) -> Dataset:
    """``ds`` with every feature scaled to mean 0 / std 1 by scikit-learn's StandardScaler,
    fitted on the training rows only (nothing of the test rows may shape the training data) and
    applied to both splits; a feature constant on the training rows is only centred (0 there).
    The note says so, and the result is no longer the paper's data."""
    from sklearn.preprocessing import StandardScaler  # only when asked: validation stays light

    with np.errstate(over="ignore", invalid="ignore"):
        spread = np.var(ds.X_train, axis=0)
    overflow = ~np.isfinite(spread)
    if overflow.any():
        j = int(np.argmax(overflow))
        raise DataError(f"dataset {ds.name!r}: standardize: training feature {j} (0-based) reaches "
                        f"|x| = {np.abs(ds.X_train[:, j]).max():.3g}, whose square overflows float64, so its "
                        "standard deviation cannot be computed (the file's values themselves are finite); "
                        "rescale the features before standardizing")
    scaler = StandardScaler().fit(ds.X_train)
    return dataclasses.replace(
        ds, X_train=scaler.transform(ds.X_train), X_test=scaler.transform(ds.X_test), paper_data=False,
        note=f"{ds.note}; standardized: every feature scaled to mean 0 / std 1 with the statistics of "
             f"the {len(ds.y_train)} training rows (StandardScaler), applied to train and test")


def absent_classes(y_train: np.ndarray, n_classes: int, limit: int = 10) -> list[int]:
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


def file_record(path: str, count_rows: bool) -> dict[str, Any]:
    """An input file's absolute path, size and sha256, and with count_rows its number of non-blank lines."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: file not found")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    record: dict[str, Any] = {"path": os.path.abspath(path), "bytes": os.path.getsize(path),
                              "sha256": digest.hexdigest()}
    if count_rows:  # non-blank lines, as the CSV loader counts rows
        with open(path, "rb") as f:
            record["rows"] = sum(1 for line in f if line.strip())
    return record


_NPZ_KEYS = ("name", "source", "note", "n_classes", "X_train", "y_train", "X_test", "y_test")
# What np.load and reading a member raise on a truncated or altered file.
_DAMAGED_NPZ = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def build_record(spec: Mapping[str, Any], sha256: Mapping[str, str]) -> dict[str, Any]:
    """What a features cache is built from: the dataset's validated spec and the sha256 of each
    input file (by path as the spec names it), with a digest of both."""
    record = {"spec": dict(spec), "inputs": dict(sha256)}
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return {**record, "digest": hashlib.sha256(text.encode()).hexdigest()}


def _differences(cached: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
    """How what built a cache differs from what a job asks for, key by key and file by file."""
    def shown(d: Mapping[str, Any], key: str) -> str:
        return json.dumps(d[key], default=str) if key in d else "unset"

    spec, asked = cached.get("spec", {}), wanted["spec"]
    out = [f"{k} {shown(spec, k)} in the cache, {shown(asked, k)} asked"
           for k in sorted(set(spec) | set(asked)) if spec.get(k, ...) != asked.get(k, ...)]
    files, now = cached.get("inputs", {}), wanted["inputs"]
    out += [f"{p} sha256 {files.get(p, 'absent')[:12]} in the cache, {now.get(p, 'absent')[:12]} now"
            for p in sorted(set(files) | set(now)) if files.get(p) != now.get(p)]
    return "; ".join(out) or "another digest"


def save_dataset(ds: Dataset, path: str, built_from: Mapping[str, Any] | None = None) -> None:
    """Write the dataset, metadata included, to a compressed .npz at exactly `path`; with
    ``built_from`` (:func:`build_record`) the file records what built it, which
    load_dataset can then insist on."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    record = {} if built_from is None else {"built_from": np.array(json.dumps(built_from, sort_keys=True, default=str))}
    with open(path, "wb") as f:  # a file object stops numpy from appending ".npz" to the name
        np.savez_compressed(
            f,
            name=np.array(ds.name),
            source=np.array(ds.source),
            note=np.array(ds.note),
            n_classes=np.array(ds.n_classes, dtype=np.int64),
            paper_data=np.array(ds.paper_data),
            X_train=ds.X_train,
            y_train=ds.y_train,
            X_test=ds.X_test,
            y_test=ds.y_test,
            **record,
        )


def load_dataset(path: str, built_from: Mapping[str, Any] | None = None) -> Dataset:
    """Read a dataset written by save_dataset; files written before paper_data existed read as False.

    A damaged file raises DataError naming it and saying to delete it (the workflow then
    rebuilds it); so does, with ``built_from`` (what the caller would build the dataset from,
    :func:`build_record`), a file built from anything else or not recording what built it.
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in (*_NPZ_KEYS, "paper_data", "built_from") if k in z.files}
    except _DAMAGED_NPZ as e:
        raise damaged(path, "cannot read this features cache", e) from e
    missing = [k for k in _NPZ_KEYS if k not in a]
    if missing:
        raise damaged(path, "not a saved dataset", f"missing {missing}")
    if built_from is not None:
        if "built_from" not in a:
            raise damaged(path, "this features cache does not record what built it, so it may hold other data "
                                "than this job asks for", "written before caches recorded it")
        try:
            cached = json.loads(str(a["built_from"]))
        except ValueError as e:
            raise damaged(path, "cannot read what built this features cache", e) from e
        if not isinstance(cached, dict) or cached.get("digest") != built_from["digest"]:
            why = _differences(cached, built_from) if isinstance(cached, dict) else "no record"
            raise damaged(path, "this features cache was built from other data than this job asks for", why)
    try:
        return Dataset(
            name=str(a["name"]),
            X_train=a["X_train"].astype(np.float64, copy=False),
            y_train=a["y_train"].astype(np.int64, copy=False),
            X_test=a["X_test"].astype(np.float64, copy=False),
            y_test=a["y_test"].astype(np.int64, copy=False),
            n_classes=int(a["n_classes"]),
            source=str(a["source"]),
            note=str(a["note"]),
            paper_data=bool(a.get("paper_data", False)),
        )
    except (ValueError, TypeError) as e:  # DataError included: arrays that do not fit together
        raise damaged(path, "this features cache holds no consistent dataset", e) from e
