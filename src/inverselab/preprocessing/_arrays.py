"""Arrays in, the same type out: the preprocessing works in NumPy float64."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError

ArrayLike = np.ndarray | torch.Tensor


def as_float64(name: str, a: ArrayLike, min_ndim: int = 2) -> np.ndarray:
    """``a`` as a float64 NumPy array with at least ``min_ndim`` axes and finite values."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise InputError(f"{name} must be real numbers, got dtype {a.dtype}")
    if a.ndim < min_ndim:
        raise InputError(f"{name} must have at least {min_ndim} axes (..., n_angles, n_detectors), got shape "
                         f"{tuple(a.shape)}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise InputError(f"{name} contains NaN or infinite values: mask or replace them before preprocessing")
    return a


def like(result: np.ndarray, template: ArrayLike) -> ArrayLike:
    """``result`` as the type (and, for tensors, dtype and device) of ``template``."""
    if isinstance(template, torch.Tensor):
        dtype = template.dtype if template.is_floating_point() else torch.float32
        return torch.as_tensor(result, dtype=dtype, device=template.device)
    return result
