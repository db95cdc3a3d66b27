"""Reduced models: a proper orthogonal decomposition (POD) of the unknown fields, and a network
that predicts POD coefficients instead of every pixel.

:func:`pod_basis` takes the leading left singular vectors of centred training fields.
:class:`PODInversionNet` keeps InversionNet's encoder (shot gathers to a latent code) and
replaces its decoder by one linear layer to ``modes`` coefficients of a fixed POD basis of
velocity models: far fewer outputs to learn, and every prediction lies in the span of the
training models' leading modes.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError, check_count
from .inversionnet import InversionNet

Tensor = torch.Tensor

__all__ = ["pod_basis", "PODInversionNet"]


def pod_basis(fields: Tensor, modes: int) -> tuple[Tensor, Tensor, Tensor]:
    """POD of training fields ``(N, *shape)``: ``(mean (*shape), basis (modes, *shape),
    energy (modes,))``, where ``energy`` is the cumulative share of the variance captured."""
    check_count("modes", modes)
    n = fields.shape[0]
    if modes > min(n, fields[0].numel()):
        raise InputError(f"{modes} POD modes need at least as many training fields and pixels, got {n} fields")
    flat = fields.reshape(n, -1).double()
    mean = flat.mean(0)
    _, s, vh = torch.linalg.svd(flat - mean, full_matrices=False)
    energy = (s.square().cumsum(0) / s.square().sum())[:modes]
    shape = fields.shape[1:]
    return mean.reshape(shape), vh[:modes].reshape(modes, *shape), energy


class PODInversionNet(InversionNet):
    """InversionNet's encoder and ``modes`` POD coefficients: ``(B, shots, ...) -> (B, nz, nx)``.

    Parameters
    ----------
    fields : Tensor
        ``(N, nz, nx)`` training velocity models (m/s) for the basis.
    modes : int
        Number of POD modes.
    **kwargs
        InversionNet's arguments (the decoder's are unused).
    """

    def __init__(self, fields: Tensor, modes: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        del self.decoder, self.head
        mean, basis, energy = pod_basis(self.normalise(fields.double()), modes)
        self.register_buffer("pod_mean", mean.float())
        self.register_buffer("pod_basis", basis.float().reshape(modes, -1))
        self.register_buffer("pod_energy", energy.float())
        self.coefficients = nn.Linear(self.latent[0].out_channels, modes)
        nn.init.zeros_(self.coefficients.weight)
        nn.init.zeros_(self.coefficients.bias)  # the untrained network returns the mean model

    def forward(self, gathers: Tensor) -> Tensor:
        c = self.coefficients(self.encode(gathers).flatten(1))
        u = (self.pod_mean.flatten() + c @ self.pod_basis).reshape(-1, *self.output_shape).clamp(-1, 1)
        return self.to_velocity(u) if self.velocity_output else u
