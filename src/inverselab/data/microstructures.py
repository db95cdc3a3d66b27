"""Two-phase microstructures: thresholded Gaussian random fields.

A stationary Gaussian field with a Gaussian covariance of correlation length ``correlation``
(pixels), cut at the level that leaves a chosen volume fraction of phase 1. Periodic in both
directions (the field is filtered white noise in Fourier space).
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError, check_count, check_positive

Tensor = torch.Tensor

__all__ = ["gaussian_random_fields", "two_phase_microstructures"]


def gaussian_random_fields(n: int, size: int, correlation: float, seed: int = 0, dtype: torch.dtype = torch.float64) -> Tensor:
    """``(n, size, size)`` standardised Gaussian fields with correlation length ``correlation``
    pixels (covariance ``exp(-r^2 / (2 correlation^2))``), deterministic per ``seed``."""
    check_count("n", n)
    check_count("size", size, minimum=4)
    check_positive("correlation", correlation)
    g = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(n, size, size, generator=g, dtype=torch.float64)
    k = torch.fft.fftfreq(size, dtype=torch.float64) * 2 * math.pi
    filt = torch.exp(-0.25 * correlation**2 * (k[:, None] ** 2 + k[None, :] ** 2))
    field = torch.fft.ifft2(torch.fft.fft2(noise) * filt).real
    field = (field - field.mean((1, 2), keepdim=True)) / field.std((1, 2), keepdim=True)
    return field.to(dtype)


def two_phase_microstructures(n: int, size: int = 32, correlation: float = 3.0, fraction: tuple[float, float] = (0.2, 0.8),
                              seed: int = 0, dtype: torch.dtype = torch.float64) -> Tensor:
    """``(n, 1, size, size)`` binary microstructures (1: phase 1) from thresholded Gaussian random
    fields, each with a volume fraction of phase 1 drawn uniformly from ``fraction``."""
    low, high = (float(f) for f in fraction)
    if not 0 < low <= high < 1:
        raise InputError(f"volume fraction range must satisfy 0 < low <= high < 1, got {fraction}")
    field = gaussian_random_fields(n, size, correlation, seed=seed)
    g = torch.Generator().manual_seed(int(seed) + 1)
    share = low + (high - low) * torch.rand(n, generator=g, dtype=torch.float64)
    values = field.reshape(n, -1).sort(dim=1).values
    cut = ((1 - share) * values.shape[1]).long().clamp(0, values.shape[1] - 1)
    level = values.gather(1, cut[:, None])  # phase 1 where the field exceeds its (1 - share) quantile
    return (field >= level[:, :, None]).to(dtype)[:, None]
