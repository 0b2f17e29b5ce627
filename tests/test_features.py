"""Tests for hemlr.features with randomly initialised backbones and synthetic or reference images (no downloads)."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from hemlr import features, sources
from hemlr.dataset import DataError
from hemlr.features import REGNET_WEIGHTS_FILE, extract_features, paper_transform, regnet_backbone
from hemlr.sources import build_dataset
from hemlr.sources.mnist_regnet import extract_mnist_regnet, load_mnist_split

MNIST_REF = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def random_backbone() -> torch.nn.Module:
    torch.manual_seed(0)
    return regnet_backbone(None, None, pretrained=False)


def synthetic_images(m: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(m)]


def test_weights_file_name_matches_torchvision():
    url = torchvision.models.RegNet_X_400MF_Weights.IMAGENET1K_V1.url
    assert url.rsplit("/", 1)[-1] == REGNET_WEIGHTS_FILE


def test_paper_transform_has_no_normalisation():
    t = paper_transform()
    assert not any(isinstance(step, torchvision.transforms.Normalize) for step in t.transforms)
    x = t(Image.fromarray(synthetic_images(1)[0], mode="L"))
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert torch.equal(x[0], x[1]) and torch.equal(x[0], x[2])


def test_random_backbone_features_shape_and_determinism(random_backbone):
    imgs = synthetic_images(3)
    a = extract_features(random_backbone, imgs, batch_size=2)
    assert a.shape == (3, 400) and a.dtype == np.float64
    # A second run, here from PIL images (the path torchvision's MNIST takes), gives identical numbers.
    b = extract_features(random_backbone, [Image.fromarray(i, mode="L") for i in imgs], batch_size=2)
    np.testing.assert_array_equal(a, b)
    # Another batch size changes only float32 rounding inside the convolutions.
    np.testing.assert_allclose(extract_features(random_backbone, imgs, batch_size=3), a, rtol=1e-4, atol=1e-6)
    assert not any(p.requires_grad for p in random_backbone.parameters()) and not random_backbone.training


def test_extract_features_rejects_bad_images(random_backbone):
    with pytest.raises(TypeError, match="uint8"):
        extract_features(random_backbone, [np.zeros((28, 28), dtype=np.float32)])


def test_pretrained_missing_weights_names_path(tmp_path, monkeypatch):
    explicit = tmp_path / "w.pth"
    with pytest.raises(DataError, match=f"not found: {explicit}"):
        regnet_backbone(str(explicit), None)
    cache = tmp_path / "hub" / "checkpoints" / REGNET_WEIGHTS_FILE
    with pytest.raises(DataError, match=f"not found: {cache}.*download.pytorch.org"):
        regnet_backbone(None, str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "env"))
    with pytest.raises(DataError, match=str(tmp_path / "env" / "hub" / "checkpoints" / REGNET_WEIGHTS_FILE)):
        regnet_backbone(None, None)


@pytest.fixture(scope="module")
def fake_torch_home(tmp_path_factory) -> tuple[Path, dict]:
    """A hub cache holding a random regnet_x_400mf state dict under the ImageNet file name.

    Same keys as the real file, so the real loading code runs offline.
    """
    torch.manual_seed(1)
    state = torchvision.models.regnet_x_400mf(weights=None).state_dict()
    home = tmp_path_factory.mktemp("torch_home")
    (home / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(state, home / "hub" / "checkpoints" / REGNET_WEIGHTS_FILE)
    return home, state


def test_pretrained_loads_from_cache_and_rejects_garbage(tmp_path, fake_torch_home):
    home, state = fake_torch_home
    loaded = regnet_backbone(None, str(home))
    for name, tensor in state.items():
        if not name.startswith("fc."):
            assert torch.equal(loaded.state_dict()[name], tensor)
    assert isinstance(loaded.fc, torch.nn.Identity)

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="garbage.pth: not the regnet_x_400mf"):
        regnet_backbone(str(garbage), None)


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    """MNIST's IDX format: magic (0, 0, 8 = uint8, ndim), big-endian int32 dims, raw bytes."""
    payload = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape) + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)


def write_mnist(root: Path, train_labels: np.ndarray, n_test: int) -> Path:
    """Synthetic MNIST files under root/MNIST/raw: the training split as .gz, the test split extracted."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    n_train = len(train_labels)
    write_idx(raw / "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), compress=True)
    write_idx(raw / "train-labels-idx1-ubyte", train_labels.astype(np.uint8), compress=True)
    write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), compress=False)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.resize(np.array([7, 2, 1], dtype=np.uint8), n_test), compress=False)
    return raw


TRAIN_LABELS = np.array([5, 0, 4, 1, 9, 2, 1, 3, 6, 7, 8, 4])


def test_extract_mnist_regnet_end_to_end_on_synthetic_idx(tmp_path, fake_torch_home):
    home, _ = fake_torch_home
    raw = write_mnist(tmp_path, TRAIN_LABELS, n_test=3)

    spec = {"source": "mnist_regnet", "mnist_root": str(tmp_path), "download": False, "weights": None,
            "torch_home": str(home), "n_train": 11, "n_test": 2, "batch_size": 8}
    ds = build_dataset("mnist", spec)
    assert ds.source == "mnist_regnet" and ds.n_classes == 10 and not ds.paper_data
    assert ds.X_train.shape == (11, 400) and ds.X_test.shape == (2, 400) and ds.X_train.dtype == np.float64
    assert ds.y_train.tolist() == TRAIN_LABELS[:11].tolist() and ds.y_test.tolist() == [7, 2]
    assert (raw / "train-images-idx3-ubyte").is_file()  # extracted from the .gz for torchvision's reader

    with pytest.raises(DataError, match="asked for 13 training images"):
        extract_mnist_regnet("m", str(tmp_path), False, None, str(home), n_train=13)
    with pytest.raises(DataError, match=r"class\(es\) \[8\] absent from the first 10"):
        extract_mnist_regnet("m", str(tmp_path), False, None, str(home), n_train=10, n_test=1)


def test_mnist_manifest_records_images_and_weights(tmp_path, fake_torch_home):
    home, _ = fake_torch_home
    write_mnist(tmp_path, TRAIN_LABELS, n_test=3)
    spec = {"source": "mnist_regnet", "mnist_root": str(tmp_path), "torch_home": str(home)}
    manifest = sources.source(spec).manifest("m")
    assert manifest["mnist"] == {"root": str(tmp_path), "train_images": 12, "test_images": 3}
    assert manifest["weights"] == {"file": REGNET_WEIGHTS_FILE, "torch_home": str(home)}
    assert manifest["inputs"] == [f"- MNIST `{tmp_path}`: 12 training / 3 test images",
                                  f"- RegNet weights `{REGNET_WEIGHTS_FILE}` from the torch hub cache ({home})"]

    weights = home / "hub" / "checkpoints" / REGNET_WEIGHTS_FILE
    manifest = sources.source({**spec, "weights": str(weights)}).manifest("m")
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert manifest["weights"]["sha256"] == digest
    assert manifest["inputs"][1] == f"- RegNet weights `{weights}`: sha256 `{digest}`"


def test_paper_data_means_the_first_128_training_and_all_10000_test_images(tmp_path, fake_torch_home,
                                                                           monkeypatch):
    home, _ = fake_torch_home
    write_mnist(tmp_path, np.arange(128) % 10, n_test=10_000)
    # Only the image counts matter here; RegNet on 10,000 images would take minutes.
    monkeypatch.setattr(features, "extract_features", lambda backbone, images, batch_size: np.zeros((len(images), 400)))
    spec = {"source": "mnist_regnet", "mnist_root": str(tmp_path), "torch_home": str(home)}
    assert build_dataset("m", spec).paper_data
    assert not build_dataset("m", {**spec, "n_test": 9_999}).paper_data
    assert not build_dataset("m", {**spec, "n_train": 127}).paper_data


@pytest.mark.skipif(not MNIST_REF.is_dir(), reason=f"reference MNIST test files not present at {MNIST_REF}")
def test_mnist_test_split_via_torchvision(tmp_path, random_backbone):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        os.symlink(MNIST_REF / f, raw / f)
    images, labels = load_mnist_split(str(tmp_path), train=False)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.int64 and set(labels.tolist()) == set(range(10))
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the standard MNIST test order
    feats = extract_features(random_backbone, images[:2])
    assert feats.shape == (2, 400) and np.isfinite(feats).all()

    with pytest.raises(DataError) as e:
        load_mnist_split(str(tmp_path), train=True)
    assert str(raw / "train-images-idx3-ubyte") in str(e.value) and "download: true" in str(e.value)
    with pytest.raises(DataError) as e:
        extract_mnist_regnet("m", str(tmp_path), download=False, weights=None, torch_home=str(tmp_path))
    msg = str(e.value)
    assert "train-labels-idx1-ubyte" in msg and "t10k-images" not in msg
