"""Materials inverse design: two-phase microstructures with a prescribed effective conductivity.

``materials-design``: the "measurement" is a target effective conductivity ``k*`` (along x) and
the unknown a binary 32 x 32 microstructure of a conductor (``k1 = 10``) in a matrix
(``k0 = 1``) that has it. The problem is deliberately non-unique: many microstructures share one
``k*``, and a good method finds diverse ones. Targets come from thresholded Gaussian random
fields (volume fraction 0.2-0.8), so every target is reachable. Scores: the relative error
``|k(design) / k* - 1|`` of the binarised design, measured with the same homogenisation solver,
and whether it is within 5 %.

Methods: ``baseline`` looks the target up in a library of 512 random microstructures (the one
with the closest conductivity); ``optimise`` designs one microstructure per target by gradient
descent through the solver; the ``design-gan`` network samples many designs at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import torch

from ..data.microstructures import two_phase_microstructures
from ..errors import InputError, check_count, check_positive, format_shape
from ..noise import GaussianNoise
from ..operators.homogenization import EffectiveConductivity
from ..solvers.history import History, progress_bar
from .base import Problem
from .registry import register

Tensor = torch.Tensor

__all__ = ["DesignProblem", "materials_design", "design_by_gradient", "binarise"]

TOLERANCE = 0.05


def binarise(phase: Tensor) -> Tensor:
    """Two-phase design from a phase field in [0, 1] (threshold at 1/2)."""
    return (phase > 0.5).to(phase.dtype)


@dataclass(eq=False)
class DesignProblem(Problem):
    """A :class:`Problem` whose measurement is a target property and whose unknown is any
    design that has it (the truths are just one such design each)."""

    metrics = ("property_error", "within_tolerance")

    def property_of(self, phase: Tensor) -> Tensor:
        """Effective conductivity ``(B,)`` of the binarised designs ``(B, 1, n, n)``."""
        with torch.no_grad():
            return self.operator(binarise(phase.detach().double()))[:, 0]

    def evaluate(self, estimate: Tensor, truth: Tensor, interval=None, y: Tensor | None = None) -> dict[str, list[float]]:
        """Per design: relative error of its (binarised) effective conductivity against the
        truth's, and 1.0 where it is within 5 %."""
        if estimate.shape != truth.shape:
            raise InputError(f"estimate {format_shape(estimate.shape)} and truth {format_shape(truth.shape)} differ in shape")
        error = (self.property_of(estimate) / self.property_of(truth) - 1).abs()
        return {"property_error": error.tolist(), "within_tolerance": (error <= TOLERANCE).double().tolist()}

def design_by_gradient(problem: DesignProblem, y: Tensor, iters: int = 60, lr: float = 0.3, seed: int = 0,
                       truth: Tensor | None = None) -> tuple[Tensor, History]:
    """Design one microstructure per target ``(B, 1)`` by Adam through the solver.

    The design is ``sigmoid(logits)``, started from a random Gaussian field (each run finds a
    different design); the property is taken of its binarisation with a straight-through
    gradient, so the loss ``(log k(design) - log k*)^2`` is that of the design returned.
    """
    from ..data.microstructures import gaussian_random_fields

    check_count("iters", iters)
    check_positive("lr", lr)
    op = problem.operator
    n = op.domain_shape[-1]
    start = time.perf_counter()
    logits = (2.0 * gaussian_random_fields(y.shape[0], n, 3.0, seed=seed)[:, None]).requires_grad_(True)
    optimiser = torch.optim.Adam([logits], lr=lr)
    goal = y.double().log()
    history, bar = History(), progress_bar(iters, "optimise")
    for k in range(iters):
        soft = torch.sigmoid(logits)
        hard = binarise(soft)
        design = hard + soft - soft.detach()
        misfit = (op(design).log() - goal).square()
        optimiser.zero_grad()
        misfit.sum().backward()
        optimiser.step()
        history.seconds.append(time.perf_counter() - start)
        history.objective.append(float(misfit.detach().mean()))
        history.objective_iters.append(k + 1)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    history.iterations = iters
    return binarise(torch.sigmoid(logits.detach())).to(y.dtype), history


@lru_cache(maxsize=4)
def _library(size: int, correlation: float, k0: float, k1: float, n: int = 512) -> tuple[Tensor, Tensor]:
    designs = two_phase_microstructures(n, size, correlation, seed=987_654)
    return designs, EffectiveConductivity(size, k0, k1)(designs)[:, 0]


@register("materials-design", "two-phase microstructures with a target effective conductivity (inverse design); "
          "library look-up baseline, gradient design, conditional GAN")
def materials_design(size: int = 32, k0: float = 1.0, k1: float = 10.0, correlation: float = 3.0) -> DesignProblem:
    """Materials inverse design. size : pixels per side; k0, k1 : conductivities of the matrix
    and of the conductor; correlation : correlation length (pixels) of the random fields that
    give the targets."""
    check_count("size", size, minimum=8)
    check_positive("correlation", correlation)
    op = EffectiveConductivity(size, k0, k1)
    if not k1 > k0:
        raise InputError(f"k1 (the conductor) must exceed k0, got k0={k0}, k1={k1}")

    def truth(n: int, seed: int, split: str) -> Tensor:
        return two_phase_microstructures(n, size, correlation, seed=seed if split == "test" else 2**31 - 1 - seed)

    def lookup(y: Tensor) -> Tensor:
        designs, values = _library(size, correlation, k0, k1)
        best = (values[None, :].log() - y.double().log()).abs().argmin(1)
        return designs[best].to(y.dtype)

    return DesignProblem(
        name="materials-design",
        operator=op,
        noise=GaussianNoise(0.0),
        truth_sampler=truth,
        baseline_fn=lookup,
        config={},
        methods={"optimise": {"iters": 60, "lr": 0.3, "seed": 0}},
        default_method="optimise",
        data_range=1.0,
        value_range=(0.0, 1.0),
    )

