"""Image quality metrics, batched over the leading dimension.

Every metric takes ``(B, ...)`` tensors and returns a 0-d tensor (mean over the batch) or,
with ``reduction="none"``, a ``(B,)`` tensor. Complex images are compared by magnitude.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .errors import InputError, check_choice, format_shape, require

Tensor = torch.Tensor

__all__ = ["psnr", "ssim", "relative_error", "mcc", "otsu_threshold"]


def _pair(x: Tensor, ref: Tensor, name: str) -> tuple[Tensor, Tensor]:
    if not isinstance(x, Tensor) or not isinstance(ref, Tensor):
        raise InputError(f"{name} needs two tensors")
    if x.shape != ref.shape:
        raise InputError(
            f"{name}: estimate {format_shape(x.shape)} and reference {format_shape(ref.shape)} differ in shape"
        )
    if x.ndim < 2 or x.shape[0] == 0:
        raise InputError(f"{name} expects a non-empty batch (B, ...), got shape {format_shape(x.shape)}")
    for what, t in (("estimate", x), ("reference", ref)):
        if t.is_floating_point() or t.is_complex():
            if not bool(torch.isfinite(t).all()):
                raise InputError(f"{name}: the {what} holds NaN or infinite values: a score of it means nothing")
    if x.is_complex() or ref.is_complex():
        x, ref = x.abs(), ref.abs()
    dtype = torch.promote_types(torch.promote_types(x.dtype, ref.dtype), torch.float32)
    return x.to(dtype), ref.to(dtype)


def _reduce(v: Tensor, reduction: str) -> Tensor:
    check_choice("reduction", reduction, ("mean", "none"))
    return v.mean() if reduction == "mean" else v


def _data_range(ref: Tensor, data_range: float | None) -> Tensor:
    if data_range is None:
        flat = ref.reshape(ref.shape[0], -1)
        peak = flat.amax(1) - flat.amin(1)
        if not bool((peak > 0).all()):
            raise InputError("a reference is constant, so it has no data range: pass data_range")
        return peak
    if not isinstance(data_range, (int, float)) or not math.isfinite(data_range) or not data_range > 0:
        raise InputError(f"data_range must be > 0, got {data_range}")
    return torch.full((ref.shape[0],), float(data_range), dtype=ref.dtype, device=ref.device)


def psnr(x: Tensor, ref: Tensor, data_range: float | None = None, reduction: str = "mean") -> Tensor:
    """Peak signal-to-noise ratio in dB: ``10 log10(data_range^2 / MSE)``.

    Parameters
    ----------
    x, ref : Tensor
        Estimate and reference, ``(B, ...)``.
    data_range : float, optional
        Peak-to-peak range of the signal (1 for images in [0, 1]). Default: each reference's
        own ``max - min``.
    reduction : {"mean", "none"}
        Mean over the batch, or per sample.
    """
    x, ref = _pair(x, ref, "psnr")
    mse = ((x - ref) ** 2).reshape(x.shape[0], -1).mean(1)
    peak = _data_range(ref, data_range)
    return _reduce(10 * torch.log10(peak**2 / mse.clamp(min=torch.finfo(x.dtype).tiny)), reduction)


def relative_error(x: Tensor, ref: Tensor, reduction: str = "mean") -> Tensor:
    """Relative error ``||x - ref|| / ||ref||`` per sample."""
    if not isinstance(x, Tensor) or not isinstance(ref, Tensor):
        raise InputError("relative_error needs two tensors")
    if x.shape != ref.shape:
        raise InputError(f"relative_error: shapes {format_shape(x.shape)} and {format_shape(ref.shape)} differ")
    if x.ndim == 0 or x.shape[0] == 0:
        raise InputError(f"relative_error expects a non-empty batch (B, ...), got shape {format_shape(x.shape)}")
    if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(ref).all())):
        raise InputError("relative_error: the estimate or the reference holds NaN or infinite values")
    if not bool(ref.reshape(ref.shape[0], -1).abs().amax(1).gt(0).all()):
        raise InputError("relative_error: a reference is all zeros, so no error is relative to it")
    diff = torch.linalg.vector_norm((x - ref).reshape(x.shape[0], -1), dim=1)
    norm = torch.linalg.vector_norm(ref.reshape(ref.shape[0], -1), dim=1)
    return _reduce(diff / norm.clamp(min=torch.finfo(diff.dtype).tiny), reduction)


def _window(win_size: int, gaussian: bool, sigma: float, dtype: torch.dtype, device) -> Tensor:
    if gaussian:
        r = torch.arange(win_size, dtype=dtype, device=device) - (win_size - 1) / 2
        g = torch.exp(-(r**2) / (2 * sigma**2))
        g = g / g.sum()
    else:
        g = torch.full((win_size,), 1.0 / win_size, dtype=dtype, device=device)
    return g


def ssim(
    x: Tensor,
    ref: Tensor,
    data_range: float | None = None,
    reduction: str = "mean",
    win_size: int | None = None,
    gaussian_weights: bool = False,
) -> Tensor:
    """Structural similarity (Wang et al. 2004) of 2-D images, as scikit-image computes it.

    Defaults match ``skimage.metrics.structural_similarity``: a 7x7 uniform window with
    sample covariances, ``K1 = 0.01``, ``K2 = 0.03``, the mean taken over the valid interior
    (windows that fit entirely inside the image). ``gaussian_weights=True`` uses the 11x11
    Gaussian window (sigma 1.5) and population covariances of the original paper.

    Parameters
    ----------
    x, ref : Tensor
        ``(B, C, H, W)`` (or ``(B, H, W)``); channels are averaged.
    data_range : float, optional
        As for :func:`psnr`.
    """
    x, ref = _pair(x, ref, "ssim")
    if x.ndim == 3:
        x, ref = x[:, None], ref[:, None]
    if x.ndim != 4:
        raise InputError(f"ssim expects (B, C, H, W) images, got {format_shape(x.shape)}")
    b, c, h, w = x.shape
    win = win_size or (11 if gaussian_weights else 7)
    if min(h, w) < win:
        raise InputError(f"ssim window {win} is larger than the image ({h}, {w})")
    g = _window(win, gaussian_weights, 1.5, x.dtype, x.device)
    kernel_h = g.reshape(1, 1, win, 1)
    kernel_w = g.reshape(1, 1, 1, win)

    def filt(t: Tensor) -> Tensor:
        t = t.reshape(b * c, 1, h, w)
        return F.conv2d(F.conv2d(t, kernel_h), kernel_w)

    n_px = win * win
    cov_norm = n_px / (n_px - 1) if not gaussian_weights else 1.0
    ux, uy = filt(x), filt(ref)
    uxx, uyy, uxy = filt(x * x), filt(ref * ref), filt(x * ref)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    peak = _data_range(ref, data_range).repeat_interleave(c).reshape(b * c, 1, 1, 1)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    # skimage averages over the interior only: crop (win - 1) // 2 from the filtered map, which
    # here is already the 'valid' part of the convolution.
    per_sample = s.reshape(b, -1).mean(1)
    return _reduce(per_sample, reduction)


def otsu_threshold(x: Tensor, bins: int = 256) -> Tensor:
    """Otsu's threshold per sample, ``(B,)`` (scikit-image's method on the flattened sample)."""
    filters = require("skimage.filters", "data", "Otsu's threshold (otsu_threshold)", package="scikit-image")

    flat = x.detach().reshape(x.shape[0], -1).cpu().double().numpy()
    return torch.tensor([filters.threshold_otsu(v, nbins=bins) for v in flat], dtype=torch.float64, device=x.device)


def mcc(seg: Tensor, ref: Tensor, reduction: str = "mean") -> Tensor:
    """Matthews correlation coefficient of binary segmentations (as scored in HTC2022).

    Parameters
    ----------
    seg, ref : Tensor
        ``(B, ...)`` masks (nonzero = foreground).
    """
    if seg.shape != ref.shape:
        raise InputError(f"mcc: shapes {format_shape(seg.shape)} and {format_shape(ref.shape)} differ")
    a = (seg != 0).reshape(seg.shape[0], -1).double()
    b = (ref != 0).reshape(ref.shape[0], -1).double()
    tp = (a * b).sum(1)
    tn = ((1 - a) * (1 - b)).sum(1)
    fp = (a * (1 - b)).sum(1)
    fn = ((1 - a) * b).sum(1)
    denom = torch.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    value = torch.where(denom > 0, (tp * tn - fp * fn) / denom.clamp(min=1e-300), torch.zeros_like(denom))
    return _reduce(value, reduction)
