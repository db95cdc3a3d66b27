"""Predictive distributions of trained networks: Monte Carlo dropout, ensembles, generator samples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .._tensor import generator as make_generator
from ..errors import InputError, check_count

Tensor = torch.Tensor

__all__ = ["Prediction", "mc_dropout", "ensemble", "generator_samples", "z_score"]


@dataclass
class Prediction:
    """A predictive distribution per measurement.

    Attributes
    ----------
    mean, std : Tensor
        ``(B, *shape)`` mean and standard deviation (over samples or members).
    samples : Tensor
        ``(B, S, *shape)`` the draws they summarise.
    """

    mean: Tensor
    std: Tensor
    samples: Tensor

    @classmethod
    def from_samples(cls, samples: Tensor) -> "Prediction":
        """Summarise draws ``(B, S, *shape)`` (``S >= 2``)."""
        if samples.ndim < 2 or samples.shape[1] < 2:
            raise InputError(f"a prediction needs at least 2 samples per measurement, got shape {tuple(samples.shape)}")
        return cls(samples.mean(1), samples.std(1), samples)

    def interval(self, level: float = 0.9, scale: float = 1.0) -> tuple[Tensor, Tensor]:
        """Gaussian central interval ``mean -/+ z(level) * scale * std``."""
        half = z_score(level) * scale * self.std
        return self.mean - half, self.mean + half


def z_score(level: float) -> float:
    """Half-width of the central ``level`` interval of a unit Gaussian (1.645 for 0.9)."""
    if not 0 < level < 1:
        raise InputError(f"interval level must be in (0, 1), got {level}")
    return math.sqrt(2) * torch.special.erfinv(torch.tensor(float(level), dtype=torch.float64)).item()


def _batched(fn, y: Tensor, batch_size: int) -> Tensor:
    return torch.cat([fn(y[i : i + batch_size]) for i in range(0, y.shape[0], batch_size)])


def mc_dropout(network: nn.Module, y: Tensor, samples: int = 32, seed: int = 0, batch_size: int = 8) -> Prediction:
    """``samples`` forward passes with dropout active (normalisation layers stay in evaluation
    mode), as Gal & Ghahramani's Monte Carlo dropout.

    Raises a clear error for a network without dropout layers (train it with ``dropout > 0``).
    """
    check_count("samples", samples, minimum=2)
    drops = [m for m in network.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]
    if not drops:
        raise InputError("the network has no dropout layers: train it with --option dropout=0.1 for MC dropout")
    network.eval()
    for m in drops:
        m.train()
    torch.manual_seed(seed)
    try:
        with torch.no_grad():
            draws = _batched(lambda part: torch.stack([network(part) for _ in range(samples)], 1), y, batch_size)
    finally:
        network.eval()
    return Prediction.from_samples(draws)


def ensemble(networks: Sequence[nn.Module], y: Tensor, batch_size: int = 8) -> Prediction:
    """Mean and spread over the members of a deep ensemble (Lakshminarayanan et al.)."""
    if len(networks) < 2:
        raise InputError(f"an ensemble needs at least 2 members, got {len(networks)}")
    with torch.no_grad():
        draws = _batched(lambda part: torch.stack([net.eval()(part) for net in networks], 1), y, batch_size)
    return Prediction.from_samples(draws)


def generator_samples(network: nn.Module, y: Tensor, samples: int = 32, seed: int = 0, batch_size: int = 8) -> Prediction:
    """Draws of a conditional generator (``network.sample(y, n, seed)``, e.g. the cWGAN-GP)."""
    check_count("samples", samples, minimum=2)
    if not hasattr(network, "sample"):
        raise InputError(f"{type(network).__name__} draws no samples: --uq samples needs a generator (cwgan)")
    g = make_generator(seed)  # the generators draw their noise on the CPU
    with torch.no_grad():
        draws = _batched(lambda part: network.eval().sample(part, samples, generator=g), y, batch_size)
    return Prediction.from_samples(draws)
