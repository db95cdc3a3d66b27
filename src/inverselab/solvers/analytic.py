"""Closed-form, non-iterative reconstructions used as fast baselines."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError, check_positive
from ..operators.imaging import Blur, Downsampling, Inpainting, _centred_transfer
from .history import prepare

Tensor = torch.Tensor

__all__ = ["wiener", "fill_missing", "upsample"]


def wiener(op: Blur, y: Tensor, balance: float = 1e-2) -> Tensor:
    r"""Wiener deconvolution ``X = conj(H) Y / (|H|^2 + balance)`` on the image's FFT grid.

    Exact inverse filter for circular blur when ``balance -> 0``; with a zero boundary the
    image is treated as periodic (a fast approximation).

    Parameters
    ----------
    op : Blur
        The blur operator.
    y : Tensor
        Blurred images ``(B, C, H, W)``.
    balance : float
        Noise-to-signal power ratio (> 0).

    Notes
    -----
    For a circular blur :math:`\hat y = \hat h \hat x + \hat n`, the linear estimate minimising the
    mean squared error for white signal and noise spectra with power ratio ``balance`` is

    .. math::

        \hat x = \frac{\overline{\hat h}\, \hat y}{|\hat h|^2 + \text{balance}},

    Tikhonov regularisation with :math:`L = I` computed in the Fourier domain.

    References
    ----------
    N. Wiener, *Extrapolation, Interpolation, and Smoothing of Stationary Time Series*. MIT Press,
    1949.

    R. C. Gonzalez and R. E. Woods, *Digital Image Processing*, 4th ed., ch. 5. Pearson, 2018.
    """
    if not isinstance(op, Blur):
        raise InputError(f"wiener needs a Blur operator, got {type(op).__name__}")
    check_positive("balance", balance)
    y = prepare(op, y)
    h = _centred_transfer(op.kernel, tuple(y.shape[-2:])).to(device=y.device)
    h = h.to(torch.complex128 if y.dtype == torch.float64 else torch.complex64)
    spec = torch.fft.rfft2(y) * h.conj() / (h.abs() ** 2 + balance)
    return torch.fft.irfft2(spec, s=y.shape[-2:])


def fill_missing(op: Inpainting, y: Tensor, sigma: float = 2.0) -> Tensor:
    r"""Fill missing pixels by normalised convolution: Gaussian-smoothed observed values over
    the smoothed mask; observed pixels are kept as measured.

    Notes
    -----
    With the mask :math:`m` and a Gaussian :math:`g`, the estimate at missing pixels is
    :math:`(g * (m\, y)) / (g * m)`: a local weighted mean of the observed neighbours, widened where
    few are observed; observed pixels keep their measured values.

    References
    ----------
    H. Knutsson and C.-F. Westin, "Normalized and differential convolution", *CVPR*, 515-523,
    1993.
    """
    if not isinstance(op, Inpainting):
        raise InputError(f"fill_missing needs an Inpainting operator, got {type(op).__name__}")
    y = prepare(op, y)
    from ..operators.imaging import gaussian_kernel

    k = gaussian_kernel(sigma).to(dtype=y.dtype, device=y.device)
    mask = op.mask.to(dtype=y.dtype, device=y.device).expand_as(y)
    c = y.shape[1]
    weight = k.expand(c, 1, *k.shape)
    pad = k.shape[-1] // 2

    def smooth(t: Tensor) -> Tensor:
        return F.conv2d(F.pad(t, (pad,) * 4, mode="reflect"), weight, groups=c)

    filled = smooth(y * mask) / smooth(mask).clamp(min=1e-6)
    return torch.where(mask > 0, y, filled)


def upsample(op: Downsampling, y: Tensor) -> Tensor:
    """Bicubic interpolation of low-resolution images back to the operator's domain grid
    (aligned with the decimation lattice, which keeps pixel 0).

    Notes
    -----
    Bicubic interpolation is separable cubic convolution with Keys' kernel (:math:`a = -0.75`, as
    in PyTorch), evaluated on the fine grid aligned so that pixel 0 of the coarse image falls on
    pixel 0 of the fine one.

    References
    ----------
    R. G. Keys, "Cubic convolution interpolation for digital image processing", *IEEE Trans.
    Acoust. Speech Signal Process.* 29(6), 1153-1160, 1981.
    """
    if not isinstance(op, Downsampling):
        raise InputError(f"upsample needs a Downsampling operator, got {type(op).__name__}")
    y = prepare(op, y)
    f = op.factor
    h, w = op.domain_shape[1:]
    # sample positions of the low-res pixels are 0, f, 2f, ...: build the grid explicitly
    gy = torch.arange(h, dtype=y.dtype, device=y.device) / f
    gx = torch.arange(w, dtype=y.dtype, device=y.device) / f
    hl, wl = y.shape[-2:]
    grid = torch.stack(
        torch.meshgrid(2 * gx / (wl - 1) - 1, 2 * gy / (hl - 1) - 1, indexing="xy"), -1
    )
    return F.grid_sample(
        y, grid.expand(y.shape[0], h, w, 2), mode="bicubic", padding_mode="border", align_corners=True
    )
