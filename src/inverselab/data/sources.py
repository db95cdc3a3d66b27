"""A user's own ground truths and measurements: image folders (PNG, TIFF, JPEG, NPY), HDF5
datasets, arrays, torch ``Dataset`` s and samplers, split deterministically into training,
validation and test sets.

A :class:`TruthPool` holds a finite set of truths and answers ``sample(n, seed, split)`` the way
built-in truth samplers do: the same seed gives the same samples, and the three splits never
share an item. Training draws from "train" (validation pairs, drawn with seeds from
:data:`VALIDATION_SEED` on, from "validation"); scores use "test".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError, format_shape

Tensor = torch.Tensor

__all__ = ["TruthPool", "VALIDATION_SEED", "IMAGE_SUFFIXES", "read_image_folder", "read_hdf5_array", "as_tensor_batch",
           "read_measured"]

#: First seed of validation pairs; training indices stay below it.
VALIDATION_SEED = 10_000_000

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".npy")
SPLITS = ("train", "validation", "test")


def as_tensor_batch(data: Any, what: str) -> Tensor:
    """``data`` (array, tensor, or a sequence of equally shaped ones) as one float64 (or
    complex128) tensor ``(N, ...)``."""
    if isinstance(data, Tensor):
        t = data.detach().cpu()
    elif isinstance(data, np.ndarray):
        if data.dtype.kind not in "biufc":
            raise InputError(f"{what} hold {data.dtype} values, not numbers: give a numeric array")
        t = torch.from_numpy(np.ascontiguousarray(data))
    elif isinstance(data, Sequence) and data and all(isinstance(d, (Tensor, np.ndarray)) for d in data):
        shapes = {tuple(d.shape) for d in data}
        if len(shapes) > 1:
            raise InputError(f"{what} have different shapes ({', '.join(format_shape(s) for s in sorted(shapes)[:3])}): "
                             "give items of one shape")
        t = torch.stack([torch.as_tensor(np.asarray(d)) for d in data])
    else:
        raise InputError(f"{what} must be an array, a tensor or a list of them, got {type(data).__name__}")
    if t.ndim < 2 or t.shape[0] == 0:
        raise InputError(f"{what} must be a non-empty batch (N, ...), got shape {format_shape(t.shape)}")
    if not (t.is_floating_point() or t.is_complex()):
        t = t.double()
    t = t.to(torch.complex128 if t.is_complex() else torch.float64)
    if not torch.isfinite(t).all():
        raise InputError(f"{what} contain NaN or infinite values: clean the data first")
    return t


def read_image_folder(folder: str | Path, size: int | None = None) -> Tensor:
    """Every image in ``folder`` (sorted by name) as ``(N, 1, H, W)`` float64 in [0, 1] (NPY
    files as stored, 2-D or ``(C, H, W)``); colour images are converted to grey.

    Parameters
    ----------
    folder : str or Path
        Folder of PNG, TIFF, JPEG or NPY files.
    size : int, optional
        Resize every image to ``size x size`` (bilinear, antialiased); without it, images of
        different sizes are refused.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    images = [_read_image(p) for p in files]
    if size is not None:
        images = [torch.nn.functional.interpolate(im[None], size=(size, size), mode="bilinear", antialias=True,
                                                  align_corners=False)[0] for im in images]
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) > 1:
        listed = ", ".join(f"{format_shape(s)}" for s in sorted(shapes)[:3])
        raise InputError(f"images in {folder} differ in size ({listed}): give a size to resize them, e.g. size=64")
    return torch.stack(images)


def _read_image(path: Path) -> Tensor:
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
            if array.ndim == 2:
                array = array[None]
            if array.ndim != 3:
                raise ValueError(f"expected a 2-D image or (C, H, W), got shape {array.shape}")
            return torch.from_numpy(np.ascontiguousarray(array)).double()
        from PIL import Image

        with Image.open(path) as image:
            grey = image.convert("F") if image.mode in ("I", "I;16", "F") else image.convert("L")
            array = np.asarray(grey, dtype=np.float64)
        peak = 255.0 if image.mode not in ("I", "I;16", "F") else max(float(array.max()), 1.0)
        return torch.from_numpy(array / peak)[None]
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read image {path}: {str(exc).splitlines()[0]}") from None


def read_hdf5_array(path: str | Path, key: str) -> Tensor:
    """Dataset ``key`` of HDF5 file ``path`` as a float64 (or complex128) tensor ``(N, ...)``."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if key not in f:
                raise InputError(f"{path} has no dataset {key!r}: it holds {', '.join(sorted(f.keys())) or 'nothing'}")
            return as_tensor_batch(f[key][()], f"{path}:{key}")
    except OSError as exc:
        raise InputError(f"cannot read {path} as HDF5: {str(exc).splitlines()[0]}") from None


def read_measured(source: str | Path) -> np.ndarray:
    """Measured values as stored (no rescaling), float64: ``file.npy``, a TIFF file (every page,
    stacked on a first axis when there are several) or ``file.h5:dataset``.

    Parameters
    ----------
    source : str or Path
        The file; for HDF5 the dataset follows a colon (``scan.h5:exchange/data``).

    Returns
    -------
    ndarray
        The array, e.g. a sinogram ``(n_angles, n_detectors)`` or a projection stack
        ``(n_angles, rows, n_detectors)``.
    """
    text = str(source)
    h5 = next((text.index(sfx) + len(sfx) for sfx in (".h5:", ".hdf5:") if sfx in text), None)
    path = Path(text[: h5 - 1] if h5 else text)
    if not path.is_file():
        raise InputError(f"{path} does not exist: give a .npy, .tif/.tiff or file.h5:dataset")
    suffix = path.suffix.lower()
    try:
        if suffix in (".h5", ".hdf5"):
            if h5 is None:
                raise InputError(f"name the dataset inside {path}: {path}:DATASET")
            return read_hdf5_array(path, text[h5:]).numpy().astype(np.float64)
        if suffix == ".npy":
            return np.load(path, allow_pickle=False).astype(np.float64)
        if suffix in (".tif", ".tiff"):
            from PIL import Image, ImageSequence

            with Image.open(path) as image:
                pages = [np.asarray(page, dtype=np.float64) for page in ImageSequence.Iterator(image)]
            return pages[0] if len(pages) == 1 else np.stack(pages)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    raise InputError(f"cannot read {path}: give a .npy, .tif/.tiff or file.h5:dataset")


class TruthPool:
    """A finite set of truths split deterministically into training, validation and test sets.

    Parameters
    ----------
    data : Tensor, array, torch Dataset or sequence
        ``(N, *shape)`` truths (a ``Dataset`` whose items are tensors, or ``(truth, ...)``
        tuples, is read once).
    fractions : (float, float, float)
        Shares of the training, validation and test sets (at least one item each).
    seed : int
        Seed of the one permutation that assigns items to sets.
    """

    def __init__(self, data: Any, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0) -> None:
        if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, Tensor):
            data = [item[0] if isinstance(item, (tuple, list)) else item for item in
                    (data[i] for i in range(len(data)))]  # type: ignore[arg-type]
        self.data = as_tensor_batch(data, "truths")
        n = self.data.shape[0]
        if len(fractions) != 3 or any(not f > 0 for f in fractions):
            raise InputError(f"splits must be three positive fractions (train, validation, test), got {fractions}")
        if n < 3:
            raise InputError(f"{n} truths cannot be split into training, validation and test sets: give at least 3")
        total = sum(fractions)
        sizes = [max(1, math.floor(n * f / total)) for f in fractions[1:]]
        sizes = [n - sum(sizes), *sizes]
        if sizes[0] < 1:
            raise InputError(f"{n} truths leave none for training with fractions {fractions}")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        bounds = np.cumsum([0, *sizes])
        self.indices = {name: order[bounds[i]:bounds[i + 1]] for i, name in enumerate(SPLITS)}

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one truth."""
        return tuple(self.data.shape[1:])

    def size(self, split: str) -> int:
        """Number of truths in ``split``."""
        return int(self.indices[split].numel())

    def pick(self, n: int, seed: int, split: str) -> Tensor:
        """Indices of ``n`` items of ``split`` ("train", "validation" or "test"; "train" with a
        seed from :data:`VALIDATION_SEED` on means validation), the same for the same seed: the
        first ``n`` of a seeded permutation of the set, cycling when ``n`` exceeds it."""
        if split == "train" and seed >= VALIDATION_SEED:
            split, seed = "validation", seed - VALIDATION_SEED
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
        pool = self.indices[split]
        order = pool[torch.randperm(pool.numel(), generator=torch.Generator().manual_seed(int(seed) % 2**63))]
        return order[torch.arange(n) % order.numel()]

    def sample(self, n: int, seed: int, split: str) -> Tensor:
        """``n`` truths of ``split`` (see :meth:`pick`)."""
        return self.data[self.pick(n, seed, split)].clone()
