"""MNIST images through regnet_x_400mf (IMAGENET1K_V1, fc removed): with the defaults, the paper's data.

torch/torchvision (and hemlr.features, which needs them) are imported only when used, so that
listing, validating and sizing datasets stays light.
"""
from __future__ import annotations

import gzip
import os
import shutil
from typing import Any

import numpy as np

from hemlr.dataset import DataError, Dataset, Shape, absent_classes, file_record
from hemlr.sources import Source

# File names torchvision's MNIST expects (extracted) in <root>/MNIST/raw/.
_MNIST_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
N_FEATURES = 400  # regnet_x_400mf's width before fc
N_CLASSES = 10
# The paper trains on the first 128 training images and tests on all of MNIST's 10,000 test images.
PAPER_N_TRAIN, MNIST_N_TEST = 128, 10_000
MNIST_N_TRAIN = 60_000


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
    n_train: int = PAPER_N_TRAIN,
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
    absent = absent_classes(y_train, N_CLASSES)
    if absent:
        raise DataError(f"mnist_regnet: class(es) {absent} absent from the first {n_train} training images")
    return Dataset(
        name=name,
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        n_classes=N_CLASSES,
        source="mnist_regnet",
        note=(
            f"MNIST from {mnist_root} (first {len(y_train)} train, first {len(y_test)} test images) through "
            f"regnet_x_400mf IMAGENET1K_V1 without fc; Resize(224), ToTensor, grey x3, no normalisation"
        ),
        paper_data=(len(y_train), len(y_test)) == (PAPER_N_TRAIN, MNIST_N_TEST),
    )


class MnistRegnet(Source):
    name = "mnist_regnet"
    SIZE_KEYS = ("n_train",)
    SCHEMA = {
        "type": "object",
        "additionalProperties": False,
        "required": ["mnist_root"],
        "properties": {
            "mnist_root": {"type": "string", "minLength": 1,
                           "description": "folder holding MNIST/raw/ (torchvision layout)"},
            "download": {"type": "boolean", "default": False,
                         "description": "let torchvision download missing MNIST files"},
            "weights": {"type": ["string", "null"], "default": None,
                        "description": "regnet_x_400mf IMAGENET1K_V1 .pth (null: torch hub cache)"},
            "torch_home": {"type": ["string", "null"], "default": None,
                           "description": "torch hub cache dir (null: $TORCH_HOME or ~/.cache/torch)"},
            "n_train": {"type": "integer", "minimum": 1, "maximum": MNIST_N_TRAIN, "default": PAPER_N_TRAIN,
                        "description": f"the first n_train of MNIST's {MNIST_N_TRAIN:,} training images"},
            "n_test": {"type": ["integer", "null"], "minimum": 1, "maximum": MNIST_N_TEST, "default": None,
                       "description": f"the first n_test of MNIST's {MNIST_N_TEST:,} test images; null: all"},
            "batch_size": {"type": "integer", "minimum": 1, "default": 64},
        },
    }

    def files(self) -> list[str]:
        return [self.spec["weights"]] if self.spec["weights"] else []

    def resources(self) -> tuple[float, float]:
        return 4000, 3600  # RegNet over the MNIST images on CPU (not measured here: a guess)

    def manifest(self, name: str) -> dict[str, Any]:
        from hemlr.features import REGNET_WEIGHTS_FILE, regnet_backbone

        s = self.spec
        root = os.path.abspath(s["mnist_root"])
        counts = {split: len(load_mnist_split(s["mnist_root"], train, download=s["download"])[1])
                  for split, train in (("train", True), ("test", False))}
        regnet_backbone(s["weights"], s["torch_home"])  # DataError naming the missing weights
        if s["weights"]:
            weights = file_record(s["weights"], count_rows=False)
            weights_line = f"- RegNet weights `{weights['path']}`: sha256 `{weights['sha256']}`"
        else:
            weights = {"file": REGNET_WEIGHTS_FILE, "torch_home": s["torch_home"]}
            weights_line = (f"- RegNet weights `{REGNET_WEIGHTS_FILE}` from the torch hub cache "
                            f"({s['torch_home'] or 'default'})")
        inputs = [f"- MNIST `{root}`: {counts['train']} training / {counts['test']} test images", weights_line]
        return self._manifest(name, inputs, mnist={"root": root, **{f"{k}_images": v for k, v in counts.items()}},
                              weights=weights)

    def shape(self) -> Shape:
        return Shape(self.spec["n_train"], N_FEATURES, N_CLASSES)

    def load(self, name: str) -> Dataset:
        s = self.spec
        return extract_mnist_regnet(name, s["mnist_root"], s["download"], s["weights"], s["torch_home"],
                                    s["n_train"], s["n_test"], s["batch_size"])
