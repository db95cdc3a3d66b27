"""A network that estimates a few unknowns together with its uncertainty about them.

:class:`GaussianMLP` maps a measurement to a diagonal Gaussian over the unknowns: a mean inside
the prior box and a standard deviation per unknown, trained with the Gaussian negative log
likelihood (heteroscedastic regression: the predicted spread follows the error the network
actually makes on each kind of measurement).
"""

from __future__ import annotations

import math

import torch
from torch import nn

Tensor = torch.Tensor

__all__ = ["GaussianMLP"]


class GaussianMLP(nn.Module):
    """Measurement ``(B, *shape)`` -> mean ``(B, P)`` (and standard deviation ``(B, P)``).

    Parameters
    ----------
    inputs : int
        Number of values in one measurement.
    low, high : Tensor
        ``(P,)`` box of the unknowns (the prior's support); the mean stays inside it.
    scale : float
        Measurement scale: inputs enter as ``asinh(y / scale)``, which keeps both weak and
        strong readings in range (e.g. the noise standard deviation).
    width, depth : int
        Hidden units per layer and number of hidden layers.
    dropout : float
        Dropout before each hidden layer's activation (0: none).
    """

    predicts_std = True

    def __init__(self, inputs: int, low: Tensor, high: Tensor, scale: float = 1.0, width: int = 256, depth: int = 3,
                 dropout: float = 0.0) -> None:
        super().__init__()
        low, high = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
        self.register_buffer("low", low)
        self.register_buffer("high", high)
        self.scale = float(scale)
        layers: list[nn.Module] = []
        size = inputs
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.LayerNorm(width), nn.Dropout(dropout), nn.GELU()]
            size = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(size, 2 * low.numel())

    def forward(self, y: Tensor, return_std: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """The mean ``(B, P)``; with ``return_std`` also the standard deviation ``(B, P)``."""
        h = torch.asinh(y.reshape(y.shape[0], -1).to(self.low.dtype) / self.scale)
        centre, spread = self.head(self.body(h)).chunk(2, dim=1)
        width = self.high - self.low
        mean = self.low + width * torch.sigmoid(centre)
        if not return_std:
            return mean
        std = width * (nn.functional.softplus(spread + math.log(math.e - 1) - 3) + 1e-4)
        return mean, std
