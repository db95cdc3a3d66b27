"""Averaging a reconstruction network over a problem's exact symmetries."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import InputError
from ..problems.base import Symmetry

Tensor = torch.Tensor

__all__ = ["Symmetrized"]


class Symmetrized(nn.Module):
    """``y -> mean over g in {identity} + symmetries of g.image(network(g.measurement(y)))``.

    When the forward model and the noise are exactly symmetric under ``g`` (see
    :class:`~inverselab.problems.base.Symmetry`), ``g.image(network(g.measurement(y)))`` is
    another estimate of the same truth, with errors partly independent of the first, so their
    mean is usually better than either (self-ensembling at test time). The cost is one
    network call per symmetry; the calls share one batch.

    Parameters
    ----------
    network : nn.Module
        Reconstruction network ``y -> x`` (e.g. a trained :class:`~inverselab.models.PostProcessing`).
    symmetries : sequence of Symmetry
        The problem's symmetries (``problem.symmetries``), at least one.
    """

    def __init__(self, network: nn.Module, symmetries: Sequence[Symmetry]) -> None:
        super().__init__()
        if not symmetries:
            raise InputError("this problem declares no exact symmetries to average over; evaluate without --symmetrize")
        if getattr(network, "predicts_std", False):
            raise InputError("symmetrising a network that predicts a standard deviation is not supported; "
                             "evaluate it without --symmetrize")
        self.network = network
        self.symmetries = tuple(symmetries)

    def forward(self, y: Tensor) -> Tensor:
        """Apply to measurements ``(B, ...)``; returns images ``(B, ...)``."""
        views = torch.cat([y, *(s.measurement(y) for s in self.symmetries)])
        out = self.network(views).split(y.shape[0])
        total = out[0]
        for s, x in zip(self.symmetries, out[1:]):
            total = total + s.image(x)
        return total / (1 + len(self.symmetries))
