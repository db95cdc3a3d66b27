"""Sky models for radio-interferometric imaging: point and extended sources, Hubble deep field.

Images ``(n, size, size)`` of non-negative brightness with peak 1, row 0 at the top; the
phase centre is pixel ``(size // 2, size // 2)``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from .._tensor import generator
from ..errors import InputError, check_count, require

Tensor = torch.Tensor

__all__ = ["random_skies", "hubble_skies", "SKY_KINDS"]

SKY_KINDS = ("sources", "hubble")


def random_skies(n: int, size: int, seed: int = 0, points: tuple[int, int] = (3, 12), blobs: tuple[int, int] = (1, 4),
                 dtype: torch.dtype = torch.float32) -> Tensor:
    """Fields of unresolved point sources and resolved elliptical Gaussian sources.

    Per sky: a number of point sources uniform in ``points`` (fluxes from a power law,
    ``dN/dS ~ S^-2`` between 0.05 and 1, at random pixels away from the border) and of
    Gaussian blobs uniform in ``blobs`` (major axes 2 to 8 % of the field, axis ratio 0.3
    to 1, random orientation, peaks 0.1 to 0.6). Each sky is scaled to peak 1.
    """
    n, size = check_count("n", n), check_count("size", size, minimum=8)
    g = generator(seed)
    u = lambda *shape: torch.rand(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    skies = torch.zeros(n, size, size, dtype=torch.float64)
    coords = torch.arange(size, dtype=torch.float64)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    margin = max(1, size // 16)
    for k in range(n):
        count = int(points[0] + math.floor(u(1) * (points[1] - points[0] + 1)))
        flux = 1 / (1 / 0.05 - u(count) * (1 / 0.05 - 1))  # inverse CDF of S^-2 on [0.05, 1]
        rows = (margin + u(count) * (size - 2 * margin)).long()
        cols = (margin + u(count) * (size - 2 * margin)).long()
        skies[k].index_put_((rows, cols), flux, accumulate=True)
        for _ in range(int(blobs[0] + math.floor(u(1) * (blobs[1] - blobs[0] + 1)))):
            cy, cx = (margin + u(2) * (size - 2 * margin)).tolist()
            major = (0.02 + 0.06 * float(u(1))) * size
            minor = major * (0.3 + 0.7 * float(u(1)))
            angle = math.pi * float(u(1))
            dy, dx = yy - cy, xx - cx
            a = dx * math.cos(angle) + dy * math.sin(angle)
            b = -dx * math.sin(angle) + dy * math.cos(angle)
            skies[k] += (0.1 + 0.5 * float(u(1))) * torch.exp(-0.5 * ((a / major) ** 2 + (b / minor) ** 2))
    skies /= skies.flatten(1).amax(1)[:, None, None]
    return skies.to(dtype)


@lru_cache(maxsize=1)
def _hubble_field() -> Tensor:
    """The Hubble deep field in grayscale, background (the median) subtracted; read once, as
    training asks for skies at every step."""
    data = require("skimage.data", "data", "loading the Hubble deep-field image", package="scikit-image")

    gray = torch.from_numpy(data.hubble_deep_field()).to(torch.float64).mean(-1)
    return (gray - gray.median()).clamp_min(0)


def hubble_skies(n: int, size: int, seed: int = 0, split: str = "train", dtype: torch.dtype = torch.float32) -> Tensor:
    """Random crops of scikit-image's bundled Hubble deep field image (grayscale, background
    subtracted, peak 1).

    Crops of 96 to 192 pixels are resized to ``size``; training crops come from the left 60 %
    of the image and test crops from the right 40 %, so the two never overlap. Training crops
    are also turned by a random element of the square's symmetry group (rotations by multiples
    of 90 degrees, with or without a flip): the sky has no preferred orientation, and the
    eight variants stretch the small training half further.
    """
    n, size = check_count("n", n), check_count("size", size, minimum=8)
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', got {split!r}")
    gray = _hubble_field()
    height, width = gray.shape
    cut = int(0.6 * width)
    lo, hi = (0, cut) if split == "train" else (cut, width)
    g = generator(seed)
    out = torch.empty(n, size, size, dtype=torch.float64)
    for k in range(n):
        side = int(96 + torch.randint(97, (1,), generator=g))
        side = min(side, hi - lo, height)
        top = int(torch.randint(height - side + 1, (1,), generator=g))
        left = lo + int(torch.randint(hi - lo - side + 1, (1,), generator=g))
        crop = gray[top : top + side, left : left + side]
        if split == "train":
            turn = int(torch.randint(8, (1,), generator=g))
            crop = torch.rot90(crop, turn % 4, (0, 1))
            crop = crop.flip(1) if turn >= 4 else crop
        out[k] = F.interpolate(crop[None, None], size=(size, size), mode="area")[0, 0]
    out /= out.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    return out.to(dtype)
