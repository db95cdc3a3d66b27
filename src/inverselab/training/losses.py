"""Training losses as objects: ``loss(estimate, truth, y, problem) -> scalar``.

``Supervised`` needs ground truth; ``MeasurementConsistency`` needs only the measurements and
the differentiable forward model (end-to-end training through the physics, no labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError, check_choice, check_nonnegative
from ..metrics import ssim
from ..problems.base import Problem
from ..regularizers import TotalVariation

Tensor = torch.Tensor

__all__ = ["Loss", "Supervised", "MeasurementConsistency", "make_loss", "LOSSES"]


class Loss:
    """Base class. ``needs_truth`` tells the trainer whether batches must carry ground truth."""

    needs_truth: bool = True

    def __call__(self, estimate: Tensor, truth: Tensor | None, y: Tensor, problem: Problem) -> Tensor:
        raise NotImplementedError

    def config(self) -> dict:
        """Plain description for run configs."""
        return {"name": type(self).__name__, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}


@dataclass
class Supervised(Loss):
    """``l2 * MSE + l1 * MAE + ssim * (1 - SSIM)`` against the ground truth.

    Errors are measured in units of the problem's data range, so the loss (and with it the
    gradient clipping threshold) has the same scale for images in [0, 1] and for velocities in
    m/s. Complex images enter MSE/MAE through the modulus of the difference and SSIM through
    magnitudes.
    """

    l2: float = 1.0
    l1: float = 0.0
    ssim: float = 0.0

    def __post_init__(self) -> None:
        for name in ("l2", "l1", "ssim"):
            check_nonnegative(f"loss weight {name}", getattr(self, name))
        if self.l2 + self.l1 + self.ssim == 0:
            raise InputError("supervised loss needs a positive weight on l2, l1 or ssim")

    def __call__(self, estimate: Tensor, truth: Tensor | None, y: Tensor, problem: Problem) -> Tensor:
        if truth is None:
            raise InputError("the supervised loss needs ground truth; use the consistency loss without it")
        diff = (estimate - truth).abs() / problem.data_range
        value = estimate.new_zeros((), dtype=diff.dtype)
        if self.l2:
            value = value + self.l2 * diff.square().mean()
        if self.l1:
            value = value + self.l1 * diff.mean()
        if self.ssim:
            est, ref = (estimate.abs(), truth.abs()) if estimate.is_complex() else (estimate, truth)
            value = value + self.ssim * (1 - ssim(est, ref, problem.data_range))
        return value


@dataclass
class MeasurementConsistency(Loss):
    """``0.5 ||F(x) - y||^2 + lam * TV(x)`` per sample, divided by the number of pixels.

    With ``lam`` equal to the problem's TV weight the network learns to minimise the TV
    objective of each measurement (amortised variational reconstruction); no ground truth is
    used. ``lam = None`` takes the problem's tuned TV weight; ``lam = 0`` is pure consistency.
    """

    lam: float | None = None
    needs_truth = False

    def __post_init__(self) -> None:
        if self.lam is not None:
            check_nonnegative("consistency loss lam", self.lam)
        self._tv = TotalVariation()

    def __call__(self, estimate: Tensor, truth: Tensor | None, y: Tensor, problem: Problem) -> Tensor:
        lam = self.lam if self.lam is not None else problem.methods.get("tv", {}).get("lam", 0.0)
        residual = problem.operator(estimate) - y
        value = 0.5 * residual.abs().square().flatten(1).sum(1)
        if lam:
            value = value + lam * self._tv.smooth_value(estimate)
        return value.mean() / estimate[0].numel()


LOSSES = ("supervised", "consistency", "wgan-gp")


def make_loss(name: str, **params) -> Loss:
    """A loss by name (one of :data:`LOSSES`) with its parameters."""
    from .adversarial import WassersteinGP  # it builds on Loss, so it is imported here

    check_choice("loss", name, LOSSES)
    kind = {"supervised": Supervised, "consistency": MeasurementConsistency, "wgan-gp": WassersteinGP}[name]
    try:
        return kind(**params)
    except TypeError as exc:
        raise InputError(f"loss {name!r}: {exc}") from None
