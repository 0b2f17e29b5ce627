"""sklearn's bundled 8x8 digits: a small stand-in for the paper's data, not the paper's data."""
from __future__ import annotations

from typing import Any

import numpy as np

from hemlr.dataset import DataError, Dataset, Shape, absent_classes
from hemlr.sources import Source

N_PIXELS = 64  # 8 x 8 images
N_CLASSES = 10
#: sklearn's digits, constant since scikit-learn 0.x; its first N_CLASSES images are 0, 1, ..., 9
N_IMAGES = 1797


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
        n_classes=N_CLASSES,
        source="digits",
        note=(
            f"sklearn digits (8x8, 64 pixel features / 16, identity backbone), first {n_train} images train, "
            f"{len(y) - n_train} test; NOT the paper's MNIST+RegNet data"
        ),
    )
    absent = absent_classes(ds.y_train, ds.n_classes)
    if absent:
        raise DataError(f"digits: class(es) {absent} absent from the first {n_train} training images")
    return ds


class Digits(Source):
    name = "digits"
    SIZE_KEYS = ("n_train",)
    SCHEMA = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            # at least one image is left to test
            "n_train": {"type": "integer", "minimum": 1, "maximum": N_IMAGES - 1, "default": 128,
                        "description": f"the first n_train of sklearn's {N_IMAGES} images train, the rest test"},
        },
    }

    def manifest(self, name: str) -> dict[str, Any]:
        import sklearn
        from sklearn.datasets import load_digits

        images = len(load_digits().target)
        return self._manifest(name, [f"- scikit-learn {sklearn.__version__} bundled digits ({images} images)"],
                              sklearn_version=sklearn.__version__, images=images)

    def shape(self) -> Shape:
        return Shape(self.spec["n_train"], N_PIXELS, N_CLASSES)

    def input_problems(self) -> list[tuple[str, str]]:
        n = self.spec["n_train"]
        if n >= N_CLASSES:
            return []
        # The first N_CLASSES images are 0, 1, ..., 9 (tests check it against sklearn's), so no import here.
        return [("n_train", f"{n} is not allowed; the first {n} digits images hold class(es) 0..{n - 1} only and "
                            f"every class 0..{N_CLASSES - 1} needs a training image, so n_train must be in "
                            f"{N_CLASSES}..{N_IMAGES - 1}")]

    def load(self, name: str) -> Dataset:
        return load_digits_dataset(name, self.spec["n_train"])
