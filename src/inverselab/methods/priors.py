"""Methods with a learned prior from a training run: plug-and-play ADMM with a trained denoiser
and the latent search of a trained generator (compressed sensing with generative models)."""

from __future__ import annotations

import torch

from ..errors import InputError
from ..problems.base import Problem
from ..solvers.history import History
from .base import linear, register

Tensor = torch.Tensor

__all__: list[str] = []


def _image_problem(problem: Problem) -> bool | str:
    """Linear forward model and images scored by PSNR."""
    rule = linear(problem)
    if rule is not True:
        return rule
    return True if "psnr" in problem.metrics else f"{problem.name} does not reconstruct images"


def _real_image_problem(problem: Problem) -> bool | str:
    rule = _image_problem(problem)
    if rule is not True:
        return rule
    return True if not problem.operator.domain_complex else f"{problem.name} has complex images"


@register("pnp", "plug-and-play ADMM with a trained denoiser run (--param denoiser=RUN), from the baseline",
          applies_to=_image_problem, needs_run=True)
def _pnp(problem: Problem, y: Tensor, truth: Tensor | None, denoiser: str = "", rho: float = 1.0, iters: int = 30,
         cg_iters: int = 10) -> tuple[Tensor, History]:
    from ..models import load_run
    from ..solvers.pnp import pnp_admm

    if not denoiser:
        raise InputError("method 'pnp' needs a trained denoiser: --param denoiser=RUN (e.g. 'inverselab train denoise "
                         "--model unet --out RUN')")
    network = load_run(denoiser, device=y.device).network.eval()
    bounds = problem.methods.get("tv", {}).get("bounds")
    return pnp_admm(problem.operator, y, lambda v: network(v.float()), rho=rho, iters=iters, x0=problem.baseline(y),
                    cg_iters=cg_iters, bounds=bounds, truth=truth, data_range=problem.data_range)


@register("generative", "latent search of a trained generator run, optionally with sparse deviations "
          "(Bora et al. 2017; --param generator=RUN)", applies_to=_real_image_problem, needs_run=True)
def _generative(problem: Problem, y: Tensor, truth: Tensor | None, generator: str = "", lam: float = 0.01,
                restarts: int = 4, iters: int = 300, lr: float = 0.05, deviation: float = 0.0, rounds: int = 3,
                deviation_iters: int = 100, seed: int = 0) -> tuple[Tensor, History]:
    from ..models import load_run
    from ..solvers.generative import generative_prior

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
