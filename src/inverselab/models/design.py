"""Conditional generative design: microstructures drawn for a target property.

:class:`DesignGAN` holds a generator ``(target, z) -> phase field`` and a critic
``(phase field, target) -> score``; it is trained by
:class:`~inverselab.training.adversarial.PropertyWGAN`, which adds to the Wasserstein game a
penalty on the property of the generated (binarised) designs, computed through the problem's
differentiable solver. ``forward(y)`` returns one binarised design per target, so evaluation
and reports treat the generator like any reconstruction network.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._tensor import generator as make_generator
from ..operators.base import Operator

Tensor = torch.Tensor

__all__ = ["DesignGAN", "DesignGenerator", "DesignCritic"]


class DesignGenerator(nn.Module):
    """``(condition (B, 1), z (B, noise_dim)) -> logits (B, 1, size, size)``; ``size`` a
    multiple of 8 (three upsamplings from ``size / 8``)."""

    def __init__(self, size: int, noise_dim: int = 32, width: int = 32) -> None:
        super().__init__()
        self.noise_dim, self.width, self.start = noise_dim, width, size // 8
        self.project = nn.Sequential(nn.Linear(noise_dim + 1, 4 * width * self.start**2), nn.GELU())
        layers: list[nn.Module] = []
        channels = 4 * width
        for out in (2 * width, width, width):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(channels, out, 3, padding=1, padding_mode="circular"),
                       nn.BatchNorm2d(out), nn.GELU()]
            channels = out
        layers.append(nn.Conv2d(channels, 1, 3, padding=1, padding_mode="circular"))
        self.body = nn.Sequential(*layers)

    def forward(self, condition: Tensor, z: Tensor) -> Tensor:
        h = self.project(torch.cat([condition, z], 1)).reshape(-1, 4 * self.width, self.start, self.start)
        return self.body(h)


class DesignCritic(nn.Module):
    """``(phase (B, 1, n, n), condition (B, 1)) -> (B,)``: convolutions on the design with the
    condition as a constant extra channel (no batch norm, as the gradient penalty requires)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 2
        for out in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1, padding_mode="circular"), nn.LeakyReLU(0.2)]
            channels = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(channels + 1, 1)

    def forward(self, phase: Tensor, condition: Tensor) -> Tensor:
        plane = condition[:, :, None, None].expand(-1, 1, *phase.shape[-2:])
        h = self.body(torch.cat([phase, plane], 1)).mean((-2, -1))
        return self.head(torch.cat([h, condition], 1))[:, 0]


class DesignGAN(nn.Module):
    """Conditional WGAN for designs with a target property.

    Parameters
    ----------
    operator : Operator
        Design ``(B, 1, n, n)`` in [0, 1] -> property ``(B, 1)`` (positive), differentiable.
    low, high : float
        Range of the targets; the condition is ``log(target)`` scaled to [-1, 1] over it.
    noise_dim, width, critic_width : int
        Latent size and channel widths of the generator and the critic.
    """

    def __init__(self, operator: Operator, low: float, high: float, noise_dim: int = 32, width: int = 32,
                 critic_width: int = 32) -> None:
        super().__init__()
        self.operator = operator
        self.log_low, self.log_high = math.log(low), math.log(high)
        size = operator.domain_shape[-1]
        self.generator = DesignGenerator(size, noise_dim, width)
        self.critic = DesignCritic(critic_width)

    def condition(self, y: Tensor) -> Tensor:
        """Targets ``(B, 1)`` -> the networks' condition in [-1, 1]."""
        return 2 * (y.log() - self.log_low) / (self.log_high - self.log_low) - 1

    def draw(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Soft designs ``(B, 1, n, n)`` in (0, 1), one per target, with fresh noise."""
        z = torch.randn(y.shape[0], self.generator.noise_dim, generator=generator, dtype=y.dtype, device=y.device)
        return torch.sigmoid(self.generator(self.condition(y), z))

    def forward(self, y: Tensor) -> Tensor:
        """One binarised design per target ``(B, 1)``."""
        return (self.draw(y.to(next(self.parameters()).dtype)) > 0.5).to(y.dtype)

    def sample(self, y: Tensor, n: int, seed: int | torch.Generator | None = 0) -> Tensor:
        """``n`` binarised designs per target: ``(B, n, 1, size, size)``."""
        g = make_generator(seed, y.device)
        draws = self.draw(y.repeat_interleave(n, 0).to(next(self.parameters()).dtype), generator=g)
        return (draws > 0.5).to(y.dtype).reshape(y.shape[0], n, *draws.shape[1:])
