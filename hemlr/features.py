"""The paper's feature extractor: torchvision regnet_x_400mf (IMAGENET1K_V1) with its fc removed.

Offline by design: the ImageNet weights are read from a local file or the torch hub cache and never downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision import transforms
from tqdm import tqdm

from hemlr.dataset import DataError

# File name of RegNet_X_400MF_Weights.IMAGENET1K_V1 (torchvision 0.18.1), as torch.hub caches it.
REGNET_WEIGHTS_FILE = "regnet_x_400mf-adf1edd5.pth"
REGNET_WEIGHTS_URL = "https://download.pytorch.org/models/" + REGNET_WEIGHTS_FILE


def _grey_to_rgb(t: torch.Tensor) -> torch.Tensor:
    # A module-level function (not a lambda) keeps the transform picklable.
    return t.repeat(3, 1, 1)


def paper_transform() -> transforms.Compose:
    """Resize(224), ToTensor(), grey channel repeated to 3; no mean/std normalisation, as in the paper."""
    return transforms.Compose([transforms.Resize(224), transforms.ToTensor(), transforms.Lambda(_grey_to_rgb)])


def _hub_weights_path(torch_home: str | None) -> str:
    # Same resolution order as torch.hub: explicit dir, $TORCH_HOME, $XDG_CACHE_HOME/torch, ~/.cache/torch.
    home = torch_home or os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache")), "torch"
    )
    return os.path.join(os.path.expanduser(home), "hub", "checkpoints", REGNET_WEIGHTS_FILE)


def regnet_backbone(weights: str | None, torch_home: str | None, pretrained: bool = True) -> nn.Module:
    """regnet_x_400mf with fc = Identity, in eval mode without gradients (400 features per image).

    pretrained=True loads IMAGENET1K_V1 from `weights` if given, else from the torch hub cache under
    torch_home / $TORCH_HOME / ~/.cache/torch; it never downloads. pretrained=False leaves the random
    initialisation (for tests; the caller seeds torch).
    """
    model = torchvision.models.regnet_x_400mf(weights=None)
    if pretrained:
        path = os.path.expanduser(weights) if weights else _hub_weights_path(torch_home)
        if not os.path.isfile(path):
            raise DataError(
                f"RegNet weights not found: {path}. This machine cannot download them: fetch {REGNET_WEIGHTS_URL} "
                f"elsewhere and copy it to {_hub_weights_path(torch_home)} (or set `weights:` to its path)"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as e:  # corrupt file, pickle error or a state dict of another model
            raise DataError(f"{path}: not the regnet_x_400mf IMAGENET1K_V1 state dict ({type(e).__name__}: {e})") from e
    model.fc = nn.Identity()
    model.eval()
    model.requires_grad_(False)
    return model


def _as_pil(img: Image.Image | np.ndarray) -> Image.Image:
    # Arrays go through PIL so they are resized exactly like torchvision's MNIST images.
    if isinstance(img, Image.Image):
        return img
    if isinstance(img, np.ndarray) and img.ndim == 2 and img.dtype == np.uint8:
        return Image.fromarray(img, mode="L")
    raise TypeError(f"expected a PIL image or an (H, W) uint8 array, got {type(img).__name__}")


def extract_features(
    backbone: nn.Module, images: Iterable[Image.Image | np.ndarray], batch_size: int = 64
) -> np.ndarray:
    """Run images (PIL or (H, W) uint8 arrays) through paper_transform and the backbone; (m, 400) float64."""
    transform = paper_transform()
    device = next(backbone.parameters()).device
    total = len(images) if hasattr(images, "__len__") else None
    out: list[np.ndarray] = []
    batch: list[torch.Tensor] = []

    def flush() -> None:
        feats = backbone(torch.stack(batch).to(device))
        out.append(feats.cpu().numpy().astype(np.float64))
        batch.clear()

    with torch.inference_mode():
        for img in tqdm(images, total=total, desc="features", unit="img", disable=None):
            batch.append(transform(_as_pil(img)))
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
    if not out:
        raise ValueError("extract_features: no images given")
    return np.concatenate(out)
