"""Measurement noise models: seeded, and aware of their own likelihood.

A noise model is called on clean measurements and returns noisy ones:
``y = noise(A(x), seed=1)``. The same seed gives the same noise on the same device.
"""

from __future__ import annotations

import torch
from torch import nn

from ._tensor import batch_norm, generator, per_sample
from .errors import InputError, check_nonnegative, check_positive

Tensor = torch.Tensor

__all__ = ["Noise", "NoNoise", "GaussianNoise", "PoissonNoise"]


class Noise(nn.Module):
    """Base class: ``forward(y_clean, seed)`` draws noisy measurements."""

    def forward(self, y: Tensor, seed: int | torch.Generator | None = 0) -> Tensor:
        raise NotImplementedError

    def negative_log_likelihood(self, y_model: Tensor, y_observed: Tensor) -> Tensor:
        """Per-sample negative log-likelihood (up to a constant), shape ``(B,)``."""
        raise NotImplementedError

    def config(self) -> dict:
        """Parameters as plain values."""
        return {"kind": type(self).__name__}


class NoNoise(Noise):
    """Noiseless measurements (for tests and ablations)."""

    def forward(self, y: Tensor, seed: int | torch.Generator | None = 0) -> Tensor:
        return y

    def negative_log_likelihood(self, y_model: Tensor, y_observed: Tensor) -> Tensor:
        return 0.5 * batch_norm(y_model - y_observed) ** 2


class GaussianNoise(Noise):
    """Additive white Gaussian noise.

    Parameters
    ----------
    sigma : float
        Standard deviation; absolute, or relative to each sample's RMS value when
        ``relative=True`` (e.g. 0.05 = 5 % noise).
    relative : bool
        Interpret ``sigma`` relative to the root-mean-square of the clean measurement.

    For complex data the noise is circular: each of the real and imaginary parts has standard
    deviation ``sigma / sqrt(2)``, so ``E|n|^2 = sigma^2``.
    """

    def __init__(self, sigma: float, relative: bool = False) -> None:
        super().__init__()
        self.sigma = check_nonnegative("noise level sigma", sigma)
        self.relative = bool(relative)

    def std(self, y: Tensor) -> Tensor:
        """Absolute standard deviation per sample, shape ``(B,)``."""
        sigma = torch.full((y.shape[0],), self.sigma, dtype=y.real.dtype, device=y.device)
        if self.relative:
            rms = batch_norm(y) / y[0].numel() ** 0.5
            sigma = sigma * rms
        return sigma

    def forward(self, y: Tensor, seed: int | torch.Generator | None = 0) -> Tensor:
        g = generator(seed, y.device)
        std = per_sample(self.std(y), y)
        # complex randn is circular with E|n|^2 = 1
        n = torch.randn(y.shape, generator=g, dtype=y.dtype, device=y.device)
        return y + std * n

    def negative_log_likelihood(self, y_model: Tensor, y_observed: Tensor) -> Tensor:
        var = self.std(y_observed).clamp(min=torch.finfo(y_observed.real.dtype).tiny) ** 2
        return 0.5 * batch_norm(y_model - y_observed) ** 2 / var

    def config(self) -> dict:
        return {"kind": "gaussian", "sigma": self.sigma, "relative": self.relative}


class PoissonNoise(Noise):
    """Photon-counting noise for transmission CT.

    Counts ``N ~ Poisson(I0 exp(-p))`` for line integrals ``p``; the measurement returned is
    ``-log(max(N, 1/2) / I0)``. Zero counts are replaced by 1/2 so the log stays finite.

    Parameters
    ----------
    photons : float
        Incident photons per detector element ``I0``.
    attenuation : float
        Scale applied to the line integrals before exponentiation (``mu`` per unit of the
        phantom); the returned data are divided by it again.
    """

    def __init__(self, photons: float, attenuation: float = 1.0) -> None:
        super().__init__()
        self.photons = check_positive("photon count", photons)
        self.attenuation = check_positive("attenuation", attenuation)

    def forward(self, y: Tensor, seed: int | torch.Generator | None = 0) -> Tensor:
        if y.is_complex():
            raise InputError("Poisson noise needs real line integrals, got complex data")
        g = generator(seed, y.device)
        rate = self.photons * torch.exp(-self.attenuation * y)
        counts = torch.poisson(rate, generator=g).clamp(min=0.5)
        return -torch.log(counts / self.photons) / self.attenuation

    def negative_log_likelihood(self, y_model: Tensor, y_observed: Tensor) -> Tensor:
        counts = self.photons * torch.exp(-self.attenuation * y_observed)
        rate = self.photons * torch.exp(-self.attenuation * y_model)
        return (rate - counts * torch.log(rate)).reshape(y_model.shape[0], -1).sum(1)

    def config(self) -> dict:
        return {"kind": "poisson", "photons": self.photons, "attenuation": self.attenuation}
