"""Weights of the named loss terms: fixed, or adapted during training.

``L = sum_k w_k L_k`` over named terms (``data``, ``pde``, ``bc``, ``ic``, ...). Adaptive schemes
change the weights during the first-order (Adam) phase only; L-BFGS needs a fixed objective
and keeps the last weights.

- :class:`GradientAnnealing` (Wang, Teng & Perdikaris 2021, "learning-rate annealing"): every
  ``every`` steps, ``w_k <- (1 - alpha) w_k + alpha * max|grad L_ref| / mean|grad L_k|`` with the
  residual terms as reference, so that no term's gradient is drowned by the residual's.
- :class:`ReLoBRaLo` (Bischof & Kraus 2021): softmax of each term's loss ratio to its value
  at an earlier step (relative progress), with random look-back; needs no extra gradients.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ...errors import InputError, check_positive

Tensor = torch.Tensor

__all__ = ["Weighting", "FixedWeights", "GradientAnnealing", "ReLoBRaLo", "make_weighting"]


class Weighting:
    """Fixed weights by name (missing names weigh 1); subclasses adapt them."""

    def __init__(self, names: Sequence[str], weights: Mapping[str, float] | None = None) -> None:
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise InputError(f"weight for unknown loss term {unknown[0]!r}: the terms are {', '.join(names)}")
        for name, w in weights.items():
            if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0):
                raise InputError(f"weight of {name!r} must be a finite number >= 0, got {w!r}")
        self.names = list(names)
        self.base = {name: float(weights.get(name, 1.0)) for name in names}
        self.weights = dict(self.base)

    def total(self, losses: Mapping[str, Tensor]) -> Tensor:
        """``sum_k w_k L_k``."""
        return sum(self.weights[name] * losses[name] for name in self.names)

    def update(self, step: int, losses: Mapping[str, Tensor], model: nn.Module) -> None:
        """Adapt the weights after ``step`` (no-op for fixed weights)."""


FixedWeights = Weighting


class GradientAnnealing(Weighting):
    """Learning-rate annealing of the non-residual terms against the residual terms.

    Parameters
    ----------
    names, weights
        Terms and their base weights (multiplying the adapted factors).
    reference : sequence of str
        The residual terms (their summed gradient is the reference).
    every : int
        Update period in steps.
    alpha : float
        Moving-average factor.
    """

    def __init__(self, names: Sequence[str], weights: Mapping[str, float] | None = None,
                 reference: Sequence[str] = (), every: int = 10, alpha: float = 0.1) -> None:
        super().__init__(names, weights)
        self.reference = [n for n in reference if n in self.names]
        if not self.reference:
            raise InputError("gradient annealing needs at least one residual term as reference")
        self.every = int(check_positive("every", every))
        self.alpha = float(alpha)
        self.factor = dict.fromkeys(self.names, 1.0)

    def update(self, step: int, losses: Mapping[str, Tensor], model: nn.Module) -> None:
        if step % self.every:
            return
        params = [p for p in model.parameters() if p.requires_grad]

        def grads(loss: Tensor) -> Tensor:
            g = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            return torch.cat([x.reshape(-1) for x in g if x is not None]).abs()

        ref = grads(sum(self.base[n] * losses[n] for n in self.reference)).max()
        for name in self.names:
            if name in self.reference or not losses[name].requires_grad:
                continue
            mean = grads(self.base[name] * losses[name]).mean()
            if mean > 0 and torch.isfinite(ref / mean):
                target = float(ref / mean)
                self.factor[name] = (1 - self.alpha) * self.factor[name] + self.alpha * target
        self.weights = {n: self.base[n] * self.factor[n] for n in self.names}


class ReLoBRaLo(Weighting):
    """Relative loss balancing with random look-back.

    Parameters
    ----------
    names, weights
        Terms and their base weights.
    alpha : float
        Memory of the look-back to the first step (close to 1).
    temperature : float
        Softmax temperature.
    rho : float
        Probability of keeping the look-back to the start (Bernoulli), per step.
    seed : int
        Seed of the Bernoulli draws.
    """

    def __init__(self, names: Sequence[str], weights: Mapping[str, float] | None = None, alpha: float = 0.999,
                 temperature: float = 0.1, rho: float = 0.999, seed: int = 0) -> None:
        super().__init__(names, weights)
        self.alpha = float(alpha)
        self.temperature = check_positive("temperature", temperature)
        self.rho = float(rho)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.factor = dict.fromkeys(self.names, 1.0)
        self.first: dict[str, float] | None = None
        self.previous: dict[str, float] | None = None

    def _balance(self, now: Mapping[str, float], then: Mapping[str, float]) -> dict[str, float]:
        ratios = torch.tensor([now[n] / (self.temperature * max(then[n], 1e-30)) for n in self.names],
                              dtype=torch.float64)
        return dict(zip(self.names, (len(self.names) * torch.softmax(ratios, 0)).tolist()))

    def update(self, step: int, losses: Mapping[str, Tensor], model: nn.Module) -> None:
        now = {n: float(losses[n].detach()) for n in self.names}
        if self.first is None:
            self.first = self.previous = now
            return
        keep = float(torch.rand((), generator=self.generator)) < self.rho
        from_start = self._balance(now, self.first)
        from_last = self._balance(now, self.previous)
        for n in self.names:
            history = self.factor[n] if keep else from_start[n]
            self.factor[n] = self.alpha * history + (1 - self.alpha) * from_last[n]
        self.previous = now
        self.weights = {n: self.base[n] * self.factor[n] for n in self.names}


def make_weighting(scheme: str | Weighting | None, names: Sequence[str], weights: Mapping[str, float] | None,
                   reference: Sequence[str], seed: int = 0) -> Weighting:
    """A weighting by name: ``"fixed"`` (default), ``"annealing"`` or ``"relobralo"``."""
    if isinstance(scheme, Weighting):
        return scheme
    if scheme in (None, "fixed"):
        return Weighting(names, weights)
    if scheme == "annealing":
        return GradientAnnealing(names, weights, reference=reference)
    if scheme == "relobralo":
        return ReLoBRaLo(names, weights, seed=seed)
    raise InputError(f"unknown weighting {scheme!r}: choose fixed, annealing or relobralo")
