"""Classical methods: the problem's baseline, FBP, Tikhonov, TV (PDHG, ADMM), wavelet and
pixel L1, CLEAN, full-waveform inversion, posterior sampling, design by gradient descent and the
per-instance optimisers of joint-optimisation problems."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from ..operators.tomography import _RayTransform, fbp
from ..problems.base import Problem
from ..problems.materials import design_by_gradient
from ..problems.source import sample_posterior
from ..registry import parameters_of
from ..solvers import History, tikhonov, tv_admm, tv_pdhg, wavelet_fista
from ..solvers.clean import hogbom_clean
from ..solvers.fwi import fwi
from ..solvers.nonlinear import minimize
from ..solvers.optimizers import adam, gradient_descent, lbfgs, random_restarts
from ..solvers.proximal import fista
from .base import METHODS, declared, register

Tensor = torch.Tensor

__all__: list[str] = []


@register("baseline", "the problem's fast non-iterative reconstruction",
          applies_to=lambda problem: hasattr(problem, "baseline") or f"{problem.name} has no baseline reconstruction")
def _baseline(problem: Problem, y: Tensor, truth: Tensor | None) -> Tensor:
    return problem.baseline(y)


@register("fbp", "filtered back-projection (CT only)",
          applies_to=lambda problem: declared(problem, "fbp") is True and isinstance(problem.operator, _RayTransform)
          or f"{problem.name} is not a CT problem (try 'baseline')")
def _fbp(problem: Problem, y: Tensor, truth: Tensor | None, filter: str = "ramp", cutoff: float = 1.0) -> Tensor:
    return fbp(problem.operator, y, filter=filter, cutoff=cutoff)


@register("fwi", "full-waveform inversion from the problem's starting model (multiscale, bounded)",
          parameters=parameters_of(fwi, skip=("op", "observed", "v0", "truth", "progress")))
def _fwi(problem: Problem, y: Tensor, truth: Tensor | None, **params) -> tuple[Tensor, History]:
    params.setdefault("bounds", problem.value_range)
    return fwi(problem.operator, y, problem.baseline(y), truth=truth, **params)


@register("l1", "non-negative L1 in the pixel basis by FISTA (sparse images)")
def _l1(problem: Problem, y: Tensor, truth: Tensor | None, lam: float = 0.01, iters: int = 200,
        tol: float = 1e-5) -> tuple[Tensor, History]:
    """Non-negative L1 in the pixel basis (sparse skies): FISTA with a shifted ReLU prox."""
    return fista(problem.operator, y, lambda x, t: (x - t).clamp_min(0), lam, iters, tol, truth=truth,
                 data_range=problem.data_range, regularizer_value=lambda x: x.abs().flatten(1).sum(1))


@register("clean", "Högbom CLEAN (radio interferometry), restored or model image",
          parameters=parameters_of(hogbom_clean, skip=("op", "y", "truth", "data_range")))
def _clean(problem: Problem, y: Tensor, truth: Tensor | None, **params) -> tuple[Tensor, History]:
    return hogbom_clean(problem.operator, y, truth=truth, data_range=problem.data_range, **params)


@register("mcmc", "posterior mean and 90% intervals by adaptive random-walk Metropolis (pollutant sources)",
          parameters=parameters_of(sample_posterior, skip=("problem", "y")))
def _mcmc(problem: Problem, y: Tensor, truth: Tensor | None, **params) -> tuple[Tensor, History]:
    """Posterior mean and central 90 % interval by adaptive Metropolis (pollutant sources)."""
    start = time.perf_counter()
    result = sample_posterior(problem, y, **params)
    low, high = result.quantiles(0.9)
    dtype = y.real.dtype
    history = History(seconds=[time.perf_counter() - start], iterations=params.get("steps", 0), stop_reason="max_iters",
                      interval=(low.to(dtype), high.to(dtype)))
    return result.samples.mean(1).to(dtype), history


@register("optimise", "one design per target by Adam through the solver (materials design)",
          parameters=parameters_of(design_by_gradient, skip=("problem", "y", "truth")))
def _optimise(problem: Problem, y: Tensor, truth: Tensor | None, **params) -> tuple[Tensor, History]:
    return design_by_gradient(problem, y, **params)


@register("inversion", "regularised least squares through the forward model by L-BFGS (autograd), from the baseline",
          parameters=parameters_of(minimize, skip=("op", "y", "x0", "truth", "data_range", "callback")))
def _inversion(problem: Problem, y: Tensor, truth: Tensor | None, **params) -> tuple[Tensor, History]:
    return minimize(problem.operator, y, problem.baseline(y), truth=truth, data_range=problem.data_range, **params)


def _per_instance(optimiser: str) -> Callable:
    """A per-instance optimiser of a joint-optimisation problem's losses, from the box centre."""

    def run(problem: Problem, y: Tensor, truth: Tensor | None, **params) -> tuple[Tensor, History]:
        start = time.perf_counter()
        y64 = y.double()
        loss = lambda x: problem.objective(x, y64)  # noqa: E731
        if optimiser == "restarts":
            x = random_restarts(loss, problem.family.bounds(), y.shape[0], **params)
        else:
            fn = _OPTIMISERS[optimiser]
            x = fn(loss, problem.baseline(y).double(), **params)
        return x.to(y.dtype), History(seconds=[time.perf_counter() - start], iterations=params.get("iters", 0))

    return run


def _solver_method(name: str, solver: Callable, description: str, applies_to=None) -> None:
    """Register a solver ``solver(op, y, truth=..., data_range=..., **params)`` as a method."""

    def run(problem: Problem, y: Tensor, truth: Tensor | None, **params):
        return solver(problem.operator, y, truth=truth, data_range=problem.data_range, **params)

    parameters = parameters_of(solver, skip=("op", "y", "truth", "data_range"))
    rule = applies_to or (lambda problem: declared(problem, name))
    METHODS.add(name, run, description, parameters, applies_to=rule, parameters_for=None, needs_run=False)


_solver_method("tikhonov", tikhonov, "Tikhonov least squares by CG (or LSQR)")
_solver_method("tv", tv_pdhg, "isotropic total variation by PDHG (Chambolle-Pock)")
_solver_method("tv-admm", tv_admm, "isotropic total variation by ADMM",
               applies_to=lambda problem: declared(problem, "tv"))
_solver_method("wavelet", wavelet_fista, "L1 on orthogonal Daubechies wavelets by FISTA")

_OPTIMISERS = {"lbfgs": lbfgs, "gradient-descent": gradient_descent, "adam": adam}
for _name, _description, _fn in (
        ("lbfgs", "per-instance L-BFGS on each instance's loss (joint-* problems)", lbfgs),
        ("gradient-descent", "per-instance gradient descent (joint-* problems)", gradient_descent),
        ("adam", "per-instance Adam (joint-* problems)", adam),
        ("restarts", "per-instance L-BFGS from random starts, best kept (joint-* problems)", random_restarts)):
    METHODS.add(_name, _per_instance(_name), _description,
                parameters_of(_fn, skip=("loss", "x0", "bounds", "n")),
                applies_to=lambda problem, name=_name: declared(problem, name), parameters_for=None, needs_run=False)
