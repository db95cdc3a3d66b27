"""Estimation problems: one physical system with unknown coefficients (scalars or fields),
observed once, and several ways to estimate them (PINN, adjoint-gradient inversion through a
solver, least squares through an integrator, a trained recurrent network).

Unlike image reconstruction problems (:class:`~inverselab.problems.base.Problem`), which draw
many ground truths, these have one fixed truth with an analytic reference, as in the
literature's benchmark examples.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..errors import InputError, check_choice

Tensor = torch.Tensor

__all__ = ["Observations", "Estimate", "EstimationProblem", "EstimationMethod"]


@dataclass
class Observations:
    """Measured data of an estimation problem.

    Attributes
    ----------
    coordinates : tuple of str
        Names of the columns of ``points``, e.g. ``("x", "y", "t")``.
    points : Tensor
        ``(P, len(coordinates))`` where the data were taken (physical units).
    values : Tensor
        ``(P,)`` or ``(P, k)`` measured values.
    sigma : float
        Standard deviation of the Gaussian noise added (0 for clean data).
    """

    coordinates: tuple[str, ...]
    points: Tensor
    values: Tensor
    sigma: float


@dataclass
class Estimate:
    """What a method found.

    Attributes
    ----------
    parameters : dict of str to float
        Estimated unknown scalars.
    fields : dict of str to Tensor
        Estimated unknown fields on the problem's evaluation grid.
    history : dict
        Method-specific record: loss terms over time (PINN), objective per iteration (solvers).
    seconds : float
        Wall time of the estimation.
    """

    parameters: dict[str, float] = field(default_factory=dict)
    fields: dict[str, Tensor] = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class EstimationMethod:
    """A method: ``run(problem, data, seed, **params) -> Estimate``, what it is, and its
    hyper-parameters with their defaults for this problem (the only keywords it accepts)."""

    run: Callable[..., Estimate]
    description: str
    defaults: dict = field(default_factory=dict)


@dataclass(eq=False)
class EstimationProblem:
    """A parameter or field estimation problem, as made by :func:`inverselab.make_problem`.

    Attributes
    ----------
    name : str
        Preset name.
    observe : callable
        ``seed -> Observations``: the noisy data (same seed, same data).
    true_parameters : dict of str to float
        True unknown scalars.
    true_fields : dict of str to Tensor
        True unknown fields on ``grid``.
    grid : dict of str to Tensor
        Evaluation grid: coordinate name -> values, all of one shape (e.g. a 2-D mesh).
    methods : dict of str to EstimationMethod
        Available methods by name.
    default_method : str
        Method used when none is named.
    config : dict
        The preset's parameters after overrides.
    """

    name: str
    observe: Callable[[int], Observations]
    true_parameters: dict[str, float]
    true_fields: dict[str, Tensor]
    grid: dict[str, Tensor]
    methods: dict[str, EstimationMethod]
    default_method: str
    config: dict = field(default_factory=dict)

    def method(self, name: str | None) -> EstimationMethod:
        return self.methods[check_choice("method", name or self.default_method, self.methods)]

    def solve(self, method: str | None = None, data: Observations | None = None, seed: int = 0,
              **params) -> Estimate:
        """Estimate the unknowns with ``method`` from ``data`` (default: ``observe(seed)``)."""
        spec = self.method(method)
        unknown = sorted(set(params) - set(spec.defaults))
        if unknown:
            valid = ", ".join(spec.defaults) or "none"
            raise InputError(f"method {method or self.default_method!r} has no parameter {unknown[0]!r}: valid are {valid}")
        data = self.observe(seed) if data is None else data
        start = time.perf_counter()
        estimate = spec.run(self, data, seed, **{**spec.defaults, **params})
        estimate.seconds = estimate.seconds or time.perf_counter() - start
        return estimate

    def evaluate(self, estimate: Estimate) -> dict:
        """Errors of an estimate: relative error of each scalar, relative L2 error of each field
        on the evaluation grid, and ``rel_error``, the largest of them."""
        scores: dict = {"parameters": {}, "fields": {}}
        for name, truth in self.true_parameters.items():
            value = estimate.parameters.get(name)
            if value is None:
                raise InputError(f"the estimate has no value for parameter {name!r}")
            scores["parameters"][name] = {"estimate": value, "truth": truth, "rel_error": abs(value - truth) / abs(truth)}
        for name, truth in self.true_fields.items():
            value = estimate.fields.get(name)
            if value is None:
                raise InputError(f"the estimate has no field {name!r}")
            value = value.detach().to(truth)
            scores["fields"][name] = float((value - truth).norm() / truth.norm())
        errors = [s["rel_error"] for s in scores["parameters"].values()] + list(scores["fields"].values())
        scores["rel_error"] = max(errors)
        return scores
