"""A variational autoencoder of a problem's images, the generator of the generative-prior solver.

The encoder maps an image to the mean and log variance of a diagonal Gaussian over a latent
vector, ``x -> (mu, log var)``; the decoder maps a latent vector to an image, ``z -> x``. Trained
with :class:`~inverselab.training.losses.VAELoss` (reconstruction + ``beta`` KL against
``N(0, I)``, on the truths only), the decoder ``G`` is a generator whose range holds images of
the training class; :func:`~inverselab.solvers.generative.generative_prior` then searches that
range for the image that explains a measurement (Bora et al. 2017).

``forward(y)`` keeps the ``model(y) -> x`` contract of every other network (and gives the
trainer's validation PSNR a meaning): the decoder at the encoder's mean for the problem's
baseline image. It is a cheap amortised estimate, not the reconstruction method; that is
``make_method("generative", problem, generator=RUN)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ..errors import InputError, check_count

Tensor = torch.Tensor

__all__ = ["VAE"]


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, padding=1), nn.SiLU())


class VAE(nn.Module):
    """Convolutional VAE of ``(C, H, W)`` images with ``H`` and ``W`` divisible by ``2**levels``.

    Parameters
    ----------
    shape : (C, H, W)
        Image shape (real images).
    latent : int
        Latent size ``k``. It bounds what the decoder's range can represent (larger: smaller
        representation error) and how many measurements a latent search needs (about ``k`` up
        to logarithmic factors).
    width : int
        Channels at full resolution; they double at each of the ``levels`` halvings.
    levels : int
        Halvings between the image and the coarsest feature map (64 x 64 -> 4 x 4 at 4).
    baseline : callable, optional
        The problem's fast reconstruction ``y -> x`` used by :meth:`forward` (identity if None).

    Attributes
    ----------
    latent : int
        Latent size.
    """

    def __init__(self, shape: tuple[int, int, int], latent: int = 128, width: int = 16, levels: int = 4,
                 baseline: Callable[[Tensor], Tensor] | None = None) -> None:
        super().__init__()
        if len(shape) != 3:
            raise InputError(f"model 'vae' needs images of shape (C, H, W), got {tuple(shape)}")
        check_count("latent", latent)
        check_count("width", width)
        check_count("levels", levels)
        channels, height, width_px = (int(s) for s in shape)
        factor = 2**levels
        if height % factor or width_px % factor:
            raise InputError(f"model 'vae' with levels={levels} needs image sides divisible by {factor}, got "
                             f"{height} x {width_px} (use --option levels=... or another size)")
        self.shape, self.latent, self.baseline = (channels, height, width_px), int(latent), baseline
        widths = [width * 2**i for i in range(levels + 1)]
        self._coarse = (widths[-1], height // factor, width_px // factor)
        flat = math.prod(self._coarse)
        down: list[nn.Module] = [nn.Conv2d(channels, widths[0], 3, padding=1), nn.SiLU()]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            down += [_block(c_in, c_in), nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.SiLU()]
        self.encoder = nn.Sequential(*down, nn.Flatten(), nn.Linear(flat, 2 * latent))
        self.project = nn.Linear(latent, flat)
        up: list[nn.Module] = []
        for c_in, c_out in zip(widths[::-1][:-1], widths[::-1][1:]):
            up += [nn.SiLU(), nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, padding=1),
                   nn.SiLU(), _block(c_out, c_out)]
        self.decoder = nn.Sequential(*up, nn.Conv2d(widths[0], channels, 3, padding=1))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior parameters: ``(B, C, H, W) -> (mu, log_var)``, each ``(B, latent)``."""
        mu, log_var = self.encoder(x).chunk(2, dim=1)
        return mu, log_var.clamp(-30.0, 20.0)

    def decode(self, z: Tensor) -> Tensor:
        """Generator ``G``: ``(B, latent) -> (B, C, H, W)``."""
        return self.decoder(self.project(z).reshape(z.shape[0], *self._coarse))

    def forward(self, y: Tensor) -> Tensor:
        """Amortised estimate ``G(mu(baseline(y)))``: measurements ``(B, ...)`` -> ``(B, C, H, W)``."""
        x = self.baseline(y) if self.baseline is not None else y
        return self.decode(self.encode(x.to(self.project.weight.dtype))[0])
