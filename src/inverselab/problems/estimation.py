"""Estimation problems: one physical system with unknown coefficients (scalars or fields),
observed once, and several ways to estimate them (PINN, adjoint-gradient inversion through a
solver, least squares through an integrator, a trained recurrent network).

Unlike image reconstruction problems (:class:`~inverselab.problems.base.Problem`), which draw
many ground truths, these have one fixed truth with an analytic reference, as in the
literature's benchmark examples. Both kinds answer the same calls (``test_data``,
``evaluate``, ``summarize``, ``kept_arrays``), so jobs and reports never ask which kind they
hold: here the truth is an :class:`Estimate` holding the true unknowns and the measurements
are :class:`Observations`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from dataclasses import dataclass, field

import torch

from ..errors import InputError

Tensor = torch.Tensor

__all__ = ["Observations", "Estimate", "EstimationProblem"]


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
    methods : dict of str to dict
        Default hyper-parameters of each method that applies (name -> defaults); the methods
        themselves are in :mod:`inverselab.methods`.
    default_method : str
        Method used when none is named.
    solvers : dict of str to callable
        Problem-specific estimators that need only operators and solvers (adjoint-gradient
        inversions, least squares through an integrator): ``name -> fn(problem, data, seed,
        **params) -> Estimate``; the method of the same name runs them.
    config : dict
        The preset's parameters after overrides.
    """

    name: str
    observe: Callable[[int], Observations]
    true_parameters: dict[str, float]
    true_fields: dict[str, Tensor]
    grid: dict[str, Tensor]
    methods: dict[str, dict]
    default_method: str
    config: dict = field(default_factory=dict)
    solvers: dict[str, Callable[..., Estimate]] = field(default_factory=dict)

    truths = 1

    def sample_truth(self, n: int = 1, seed: int = 0, split: str = "test", dtype: torch.dtype = torch.float64) -> Estimate:
        """The true unknowns (there is one system, whatever ``n`` and ``seed``)."""
        return Estimate(parameters=dict(self.true_parameters), fields=dict(self.true_fields))

    def test_data(self, n: int = 1, seed: int = 0, dtype: torch.dtype = torch.float64) -> tuple[Estimate, Observations]:
        """The true unknowns and the observations drawn with ``seed``."""
        return self.sample_truth(), self.observe(seed)

    def evaluate(self, estimate: Estimate, truth: Estimate | None = None, interval=None, y=None) -> dict:
        """Errors of an estimate: relative error of each scalar, relative L2 error of each field
        on the evaluation grid, and ``rel_error``, the largest of them. ``truth`` defaults to
        the problem's own; ``interval`` and ``y`` are unused."""
        truth = truth if truth is not None else self.sample_truth()
        scores: dict = {"parameters": {}, "fields": {}}
        for name, true in truth.parameters.items():
            value = estimate.parameters.get(name)
            if value is None:
                raise InputError(f"the estimate has no value for parameter {name!r}")
            scores["parameters"][name] = {"estimate": value, "truth": true, "rel_error": abs(value - true) / abs(true)}
        for name, true_field in truth.fields.items():
            value = estimate.fields.get(name)
            if value is None:
                raise InputError(f"the estimate has no field {name!r}")
            value = value.detach().to(true_field)
            scores["fields"][name] = float((value - true_field).norm() / true_field.norm())
        errors = [s["rel_error"] for s in scores["parameters"].values()] + list(scores["fields"].values())
        scores["rel_error"] = max(errors)
        return scores

    def summarize(self, estimate: Estimate, truth: Estimate, history: Any, y: Observations | None = None) -> dict:
        """The scores of a run for its ``metrics.json``: the errors of :meth:`evaluate`, the
        estimated scalars (``estimate``), the wall time and the method's own record
        (``history``: loss terms of a PINN, objective of a solver)."""
        return {"kind": "estimation", **self.evaluate(estimate, truth), "estimate": estimate.parameters,
                "seconds": estimate.seconds, "history": estimate.history}

    def kept_arrays(self, truth: Estimate, estimate: Estimate, count: int = 4) -> tuple[str, dict[str, Tensor]]:
        """The estimated fields, under the file name ``estimate.safetensors``."""
        return "estimate.safetensors", {k: v.detach().cpu().float().contiguous() for k, v in estimate.fields.items()}
