"""Estimators that a problem carries itself (``problem.solvers``): adjoint-gradient inversions
through a PDE solver and least squares through an ODE integrator. Each method here runs the
problem's estimator of the same name; a plugin whose problem has an estimator of another name
registers it with :func:`solver_method`."""

from __future__ import annotations

import time
from typing import Any

from ..problems.estimation import Estimate, Observations
from ..registry import Parameter, parameters_of
from ..solvers.history import History
from .base import register

__all__ = ["solver_method"]

_SEED = Parameter("seed", int, 0, "seed of the estimator's random choices", low=0)


def solver_method(name: str, description: str) -> None:
    """Register method ``name``: it applies to problems with ``problem.solvers[name]``, a
    function ``(problem, data, seed, **params) -> Estimate``, and takes that function's
    keyword parameters (defaults from ``problem.methods[name]``)."""

    def parameters_for(problem: Any) -> tuple[Parameter, ...]:
        return (*parameters_of(problem.solvers[name], skip=("problem", "data", "seed")), _SEED)

    def applies_to(problem: Any) -> bool | str:
        return name in getattr(problem, "solvers", {}) or f"{problem.name} has no {name} estimator"

    @register(name, description, applies_to=applies_to, parameters=(_SEED,), parameters_for=parameters_for)
    def run(problem: Any, data: Observations, truth: Any = None, *, seed: int = 0, **params) -> tuple[Estimate, History]:
        start = time.perf_counter()
        estimate = problem.solvers[name](problem, data, seed, **params)
        estimate.seconds = estimate.seconds or time.perf_counter() - start
        return estimate, History(seconds=[estimate.seconds], iterations=1, stop_reason="direct")


solver_method("adjoint", "the unknown field by L-BFGS with adjoint-state gradients through the problem's PDE solver")
solver_method("least-squares", "least squares through the problem's integrator (multiple shooting, L-BFGS)")
solver_method("gradient-matching", "linear least squares on smoothed derivatives (no integration)")
