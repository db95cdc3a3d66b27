"""Natural test images from scikit-image's bundled data (no downloads).

Images are grayscale, float64 in [0, 1]. :func:`natural_images` draws random crops for
training and evaluation; :func:`natural_image` gives one named image at a fixed size.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .._tensor import generator
from ..errors import InputError, check_choice, require

Tensor = torch.Tensor

__all__ = ["NATURAL_IMAGES", "natural_image", "natural_images"]

# Bundled with scikit-image (loaded from the package, never fetched).
NATURAL_IMAGES = {
    "train": (
        "astronaut",
        "brick",
        "cat",
        "coffee",
        "coins",
        "grass",
        "gravel",
        "hubble_deep_field",
        "immunohistochemistry",
        "moon",
        "rocket",
        "retina",
    ),
    "test": ("camera", "clock", "cell"),
}


@lru_cache(maxsize=None)
def _load(name: str) -> np.ndarray:
    feature = "loading the natural test images (scikit-image's bundled data)"
    data = require("skimage.data", "data", feature, package="scikit-image")
    color = require("skimage.color", "data", feature, package="scikit-image")

    img = np.asarray(getattr(data, name)())
    if img.ndim == 3:
        img = color.rgb2gray(img[..., :3])
    img = img.astype(np.float64)
    if img.max() > 1:
        img = img / 255.0
    return img


def _resize(img: Tensor, size: int) -> Tensor:
    """Area-averaging resize of ``(N, 1, h, w)`` to ``(N, 1, size, size)``."""
    mode = "area" if img.shape[-1] >= size else "bicubic"
    return torch.nn.functional.interpolate(img, size=(size, size), mode=mode)


def natural_image(name: str = "camera", size: int = 256) -> Tensor:
    """One bundled image, centre-cropped to a square and resized: ``(1, 1, size, size)``."""
    check_choice("image", name, NATURAL_IMAGES["train"] + NATURAL_IMAGES["test"])
    img = _load(name)
    h, w = img.shape
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = torch.from_numpy(img[top : top + s, left : left + s].copy())[None, None]
    return _resize(crop, size).clamp(0, 1)


def natural_images(n: int, size: int = 128, seed: int | torch.Generator = 0, split: str = "train") -> Tensor:
    """Random square crops of bundled natural images, with random flips.

    The crop side is drawn between ``size`` and the image's smaller side (so crops show
    structure at several scales) and resized to ``size``.

    Parameters
    ----------
    n : int
        Number of images.
    size : int
        Output side length.
    seed : int or torch.Generator
        Seed; the same seed gives the same images.
    split : {"train", "test"}
        Which set of source images to crop from (disjoint sets).

    Returns
    -------
    Tensor
        ``(n, 1, size, size)`` float64 in [0, 1].
    """
    check_choice("image split", split, NATURAL_IMAGES)
    if n < 0 or size < 2:
        raise InputError(f"need n >= 0 and size >= 2, got n={n}, size={size}")
    g = generator(seed)
    names = NATURAL_IMAGES[split]
    out = torch.empty((n, 1, size, size), dtype=torch.float64)
    for i in range(n):
        img = _load(names[int(torch.randint(len(names), (), generator=g))])
        h, w = img.shape
        smallest = min(h, w)
        lo = min(size, smallest)
        side = int(torch.randint(lo, smallest + 1, (), generator=g))
        top = int(torch.randint(0, h - side + 1, (), generator=g))
        left = int(torch.randint(0, w - side + 1, (), generator=g))
        crop = torch.from_numpy(img[top : top + side, left : left + side].copy())[None, None]
        if bool(torch.rand((), generator=g) < 0.5):
            crop = crop.flip(-1)
        if bool(torch.rand((), generator=g) < 0.5):
            crop = crop.flip(-2)
        out[i] = _resize(crop, size)[0]
    return out.clamp(0, 1)
