"""Reconstruction methods behind one contract: ``reconstruct(y, truth=None) -> (x, History)``.

Classical methods are wrapped with their hyper-parameters; a problem supplies defaults
(``problem.methods``) and the user overrides them by keyword. Trained models will obey the
same contract, so benchmarks and reports treat both alike.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .errors import InputError, check_choice
from .operators.base import LinearOperator
from .operators.tomography import _RayTransform, fbp
from .problems.base import Problem
from .solvers import History, tikhonov, tv_admm, tv_pdhg, wavelet_fista

Tensor = torch.Tensor

__all__ = ["METHODS", "ClassicalMethod", "make_method", "available_methods"]


def _baseline(problem: Problem, y: Tensor, truth: Tensor | None) -> Tensor:
    return problem.baseline(y)


def _fbp(problem: Problem, y: Tensor, truth: Tensor | None, filter: str = "ramp", cutoff: float = 1.0) -> Tensor:
    if not isinstance(problem.operator, _RayTransform):
        raise InputError(f"method 'fbp' needs a CT problem; {problem.name} is not one (try 'baseline')")
    return fbp(problem.operator, y, filter=filter, cutoff=cutoff)


def _fwi(problem: Problem, y: Tensor, truth: Tensor | None, **params) -> tuple[Tensor, History]:
    from .solvers.fwi import fwi

    params.setdefault("bounds", problem.value_range)
    return fwi(problem.operator, y, problem.baseline(y), truth=truth, **params)


def _l1(problem: Problem, y: Tensor, truth: Tensor | None, lam: float = 0.01, iters: int = 200,
        tol: float = 1e-5) -> tuple[Tensor, History]:
    """Non-negative L1 in the pixel basis (sparse skies): FISTA with a shifted ReLU prox."""
    from .solvers.proximal import fista

    return fista(problem.operator, y, lambda x, t: (x - t).clamp_min(0), lam, iters, tol, truth=truth,
                 data_range=problem.data_range, regularizer_value=lambda x: x.abs().flatten(1).sum(1))


def _clean(problem: Problem, y: Tensor, truth: Tensor | None, **params) -> tuple[Tensor, History]:
    from .operators.interferometry import Interferometer
    from .solvers.clean import hogbom_clean

    if not isinstance(problem.operator, Interferometer):
        raise InputError(f"method 'clean' needs an interferometry problem (e.g. radio); {problem.name} is not one")
    return hogbom_clean(problem.operator, y, truth=truth, data_range=problem.data_range, **params)


def _mcmc(problem: Problem, y: Tensor, truth: Tensor | None, **params) -> tuple[Tensor, History]:
    """Posterior mean and central 90 % interval by adaptive Metropolis (pollutant sources)."""
    from .problems.source import SourceProblem, sample_posterior

    if not isinstance(problem, SourceProblem):
        raise InputError(f"method 'mcmc' needs a problem with a likelihood and a prior box (e.g. pollutant-source); "
                         f"{problem.name} is not one")
    start = time.perf_counter()
    result = sample_posterior(problem, y, **params)
    low, high = result.quantiles(0.9)
    dtype = y.real.dtype
    history = History(seconds=[time.perf_counter() - start], iterations=params.get("steps", 0), stop_reason="max_iters",
                      interval=(low.to(dtype), high.to(dtype)))
    return result.samples.mean(1).to(dtype), history


def _optimise(problem: Problem, y: Tensor, truth: Tensor | None, **params) -> tuple[Tensor, History]:
    from .problems.materials import DesignProblem, design_by_gradient

    if not isinstance(problem, DesignProblem):
        raise InputError(f"method 'optimise' needs a design problem (e.g. materials-design); {problem.name} is not one")
    return design_by_gradient(problem, y, **params)


def _pnp(problem: Problem, y: Tensor, truth: Tensor | None, denoiser: str = "", rho: float = 1.0, iters: int = 30,
         cg_iters: int = 10) -> tuple[Tensor, History]:
    from .models import load_run
    from .solvers.pnp import pnp_admm

    if not denoiser:
        raise InputError("method 'pnp' needs a trained denoiser: --param denoiser=RUN (e.g. 'inverselab train denoise "
                         "--model unet --out RUN')")
    network = load_run(denoiser, device=y.device).network.eval()
    bounds = problem.methods.get("tv", {}).get("bounds")
    return pnp_admm(problem.operator, y, lambda v: network(v.float()), rho=rho, iters=iters, x0=problem.baseline(y),
                    cg_iters=cg_iters, bounds=bounds, truth=truth, data_range=problem.data_range)


def _generative(problem: Problem, y: Tensor, truth: Tensor | None, generator: str = "", lam: float = 0.01,
                restarts: int = 4, iters: int = 300, lr: float = 0.05, deviation: float = 0.0, rounds: int = 3,
                deviation_iters: int = 100, seed: int = 0) -> tuple[Tensor, History]:
    from .models import load_run
    from .solvers.generative import generative_prior

    if not generator:
        raise InputError("method 'generative' needs a trained generator: --param generator=RUN (e.g. 'inverselab train "
                         "cs --model vae --out RUN')")
    network = load_run(generator, device=y.device).network.eval().requires_grad_(False)
    if not hasattr(network, "decode") or not hasattr(network, "latent"):
        raise InputError(f"method 'generative': {generator} is not a generator run (train one with --model vae)")
    bounds = problem.methods.get("tv", {}).get("bounds")
    return generative_prior(problem.operator, y, network.decode, network.latent, lam=lam, restarts=restarts,
                            iters=iters, lr=lr, deviation=deviation, rounds=rounds, deviation_iters=deviation_iters,
                            bounds=bounds, seed=seed, truth=truth, data_range=problem.data_range)


def _per_instance(optimiser: str) -> Callable:
    """A per-instance optimiser of a joint-optimisation problem's losses, from the box centre."""

    def run(problem: Problem, y: Tensor, truth: Tensor | None, **params) -> tuple[Tensor, History]:
        from .analysis import optimizers
        from .problems.joint import JointProblem

        if not isinstance(problem, JointProblem):
            raise InputError(f"method {optimiser!r} needs a joint-optimisation problem (joint-toy, joint-wave-packet, "
                             f"joint-heat-sources); {problem.name} is not one")
        start = time.perf_counter()
        y64 = y.double()
        loss = lambda x: problem.objective(x, y64)  # noqa: E731
        if optimiser == "restarts":
            x = optimizers.random_restarts(loss, problem.family.bounds(), y.shape[0], **params)
        else:
            fn = {"lbfgs": optimizers.lbfgs, "gradient-descent": optimizers.gradient_descent, "adam": optimizers.adam}[optimiser]
            x = fn(loss, problem.baseline(y).double(), **params)
        return x.to(y.dtype), History(seconds=[time.perf_counter() - start], iterations=params.get("iters", 0))

    return run


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: how to run it, what it is, which hyper-parameters it takes."""

    run: Callable
    description: str
    parameters: tuple[str, ...]


def _solver(fn: Callable, description: str) -> MethodSpec:
    def run(problem: Problem, y: Tensor, truth: Tensor | None, **params):
        return fn(problem.operator, y, truth=truth, data_range=problem.data_range, **params)

    skip = {"op", "y", "truth", "data_range"}
    return MethodSpec(run, description, tuple(p for p in inspect.signature(fn).parameters if p not in skip))


METHODS: dict[str, MethodSpec] = {
    "baseline": MethodSpec(_baseline, "the problem's fast non-iterative reconstruction", ()),
    "fbp": MethodSpec(_fbp, "filtered back-projection (CT only)", ("filter", "cutoff")),
    "tikhonov": _solver(tikhonov, "Tikhonov least squares by CG (or LSQR)"),
    "tv": _solver(tv_pdhg, "isotropic total variation by PDHG (Chambolle-Pock)"),
    "tv-admm": _solver(tv_admm, "isotropic total variation by ADMM"),
    "wavelet": _solver(wavelet_fista, "L1 on orthogonal Daubechies wavelets by FISTA"),
    "fwi": MethodSpec(_fwi, "full-waveform inversion from the problem's starting model (multiscale, bounded)",
                      ("frequencies", "iters_per_band", "optimizer", "lr", "bounds", "reg", "lam", "fixed",
                       "shots_per_batch", "depth_weight", "seconds", "seed")),
    "clean": MethodSpec(_clean, "Högbom CLEAN (radio interferometry), restored or model image",
                        ("gain", "threshold", "iters", "positive", "output")),
    "l1": MethodSpec(_l1, "non-negative L1 in the pixel basis by FISTA (sparse images)", ("lam", "iters", "tol")),
    "mcmc": MethodSpec(_mcmc, "posterior mean and 90% intervals by adaptive random-walk Metropolis (pollutant sources)",
                       ("chains", "steps", "burn_in", "thin", "seed")),
    "optimise": MethodSpec(_optimise, "one design per target by Adam through the solver (materials design)",
                           ("iters", "lr", "seed")),
    "pnp": MethodSpec(_pnp, "plug-and-play ADMM with a trained denoiser run (--param denoiser=RUN), from the baseline",
                      ("denoiser", "rho", "iters", "cg_iters")),
    "generative": MethodSpec(_generative, "latent search of a trained generator run, optionally with sparse deviations "
                             "(Bora et al. 2017; --param generator=RUN)",
                             ("generator", "lam", "restarts", "iters", "lr", "deviation", "rounds", "deviation_iters",
                              "seed")),
    "lbfgs": MethodSpec(_per_instance("lbfgs"), "per-instance L-BFGS on each instance's loss (joint-* problems)", ("iters",)),
    "gradient-descent": MethodSpec(_per_instance("gradient-descent"), "per-instance gradient descent (joint-* problems)",
                                   ("iters", "lr")),
    "adam": MethodSpec(_per_instance("adam"), "per-instance Adam (joint-* problems)", ("iters", "lr")),
    "restarts": MethodSpec(_per_instance("restarts"), "per-instance L-BFGS from random starts, best kept (joint-* problems)",
                           ("restarts", "iters", "seed")),
}


def available_methods(problem: Problem, with_models: bool = False) -> list[str]:
    """Methods that apply to ``problem`` with their defaults; ``with_models`` adds those that
    also need a trained network passed as a parameter (``pnp`` on linear image problems,
    ``generative`` on those with real images)."""
    names = ["baseline", *problem.methods]
    if "tv" in problem.methods:
        names.append("tv-admm")
    if with_models and isinstance(problem.operator, LinearOperator) and "psnr" in problem.metrics:
        names.append("pnp")
        if not problem.operator.domain_complex:
            names.append("generative")
    return names


def _defaults(name: str, problem: Problem) -> dict:
    if name == "tv-admm":  # shares the TV model; ADMM needs fewer, costlier iterations
        return {k: v for k, v in problem.methods.get("tv", {}).items() if k in ("lam", "bounds")}
    return dict(problem.methods.get(name, {}))


@dataclass
class ClassicalMethod:
    """A classical method bound to a problem and its hyper-parameters.

    Attributes
    ----------
    name : str
        Method name (see :data:`METHODS`).
    problem : Problem
        The problem whose operator the method inverts.
    params : dict
        Hyper-parameters passed to the solver.
    """

    name: str
    problem: Problem
    params: dict = field(default_factory=dict)

    def reconstruct(self, y: Tensor, truth: Tensor | None = None) -> tuple[Tensor, History]:
        """Reconstruct a batch of measurements; returns ``(x, history)``."""
        start = time.perf_counter()
        out = METHODS[self.name].run(self.problem, y, truth, **self.params)
        if isinstance(out, tuple):
            return out
        history = History(seconds=[time.perf_counter() - start], iterations=1, stop_reason="direct")
        return out, history


def make_method(name: str, problem: Problem, **params) -> ClassicalMethod:
    """Bind a classical method to a problem, with its default hyper-parameters overridden by
    ``params`` (e.g. ``make_method("tv", p, lam=0.01, iters=100)``)."""
    check_choice("method", name, available_methods(problem, with_models=True))
    accepted = METHODS[name].parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        valid = ", ".join(accepted) if accepted else "none"
        raise InputError(f"method {name!r} has no parameter {unknown[0]!r}: valid are {valid}")
    return ClassicalMethod(name, problem, {**_defaults(name, problem), **params})
