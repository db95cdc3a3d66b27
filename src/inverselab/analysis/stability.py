"""Stability of reconstruction methods: noise sweeps, worst-case perturbations, local Lipschitz
constants.

A method is any ``fn(y) -> x`` (a network, FBP, TV with ``differentiable=True``). Following
Antun et al. (2020, "On instabilities of deep learning in image reconstruction"), the worst
case is searched by projected gradient ascent on the reconstruction error over measurement
perturbations ``||delta|| <= eps ||y||`` (per sample); the result is the PSNR drop it causes.
The local Lipschitz constant is the largest singular value of the method's Jacobian at ``y``,
by power iteration on ``J^T J`` (``J v`` by a finite difference, ``J^T u`` by autograd, so it
also works through operators without forward-mode rules), in units of image per measurement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .._tensor import batch_norm, generator, per_sample
from ..errors import check_count, check_positive
from ..metrics import psnr
from ..noise import GaussianNoise
from ..problems.base import Problem

Tensor = torch.Tensor
Method = Callable[[Tensor], Tensor]

__all__ = ["noise_sweep", "worst_case", "local_lipschitz", "stability_table", "stability_markdown"]


def noise_sweep(problem: Problem, methods: dict[str, Method], levels: Sequence[float], n: int = 50, seed: int = 0,
                batch_size: int = 10) -> dict[str, list[float]]:
    """Mean PSNR of each method on ``n`` held-out truths at each relative Gaussian noise level
    (``levels``: standard deviation relative to the RMS of the clean measurement)."""
    check_count("n", n)
    x = problem.sample_truth(n, seed=seed)
    with torch.no_grad():
        clean = problem.operator(x)
    out: dict[str, list[float]] = {name: [] for name in methods}
    for level in levels:
        y = GaussianNoise(check_positive("noise level", float(level)), relative=True)(clean, seed=seed + 1)
        for name, fn in methods.items():
            with torch.no_grad():
                est = torch.cat([fn(y[i : i + batch_size]) for i in range(0, n, batch_size)])
            out[name].append(float(psnr(est.to(x.dtype), x, problem.data_range)))
    return out


def _project(delta: Tensor, radius: Tensor) -> Tensor:
    norm = batch_norm(delta).clamp_min(1e-30)
    return delta * per_sample(torch.clamp(radius / norm, max=1.0), delta)


def worst_case(fn: Method, y: Tensor, truth: Tensor, eps: float, steps: int = 10, seed: int = 0,
               data_range: float = 1.0) -> dict:
    """Projected gradient ascent on ``||fn(y + delta) - truth||^2`` over ``||delta_b|| <= eps ||y_b||``.

    Starts from a random direction at half the radius and takes ``steps`` normalised steps of a
    quarter of the radius, keeping each sample's worst perturbation found.

    Returns
    -------
    dict
        ``psnr`` (unperturbed) and ``psnr_worst`` per sample (lists), their means, and
        ``delta`` ``(B, *y.shape[1:])``, the perturbations.
    """
    check_positive("eps", eps)
    check_count("steps", steps)
    radius = eps * batch_norm(y)
    with torch.no_grad():
        base = psnr(fn(y).to(truth.dtype), truth, data_range, reduction="none")
    delta = torch.randn(y.shape, generator=generator(seed), dtype=y.dtype).to(y.device)
    delta = delta * per_sample(0.5 * radius / batch_norm(delta), delta)
    best, best_psnr = delta.clone(), torch.full_like(base, float("inf"))
    for _ in range(steps):
        delta = delta.detach().requires_grad_(True)
        est = fn(y + delta).to(truth.dtype)
        error = (est - truth).flatten(1).square().sum(1)
        (g,) = torch.autograd.grad(error.sum(), delta)
        with torch.no_grad():
            value = psnr(est, truth, data_range, reduction="none")
            worse = value < best_psnr
            best = torch.where(per_sample(worse, delta), delta, best)
            best_psnr = torch.where(worse, value, best_psnr)
            step = g * per_sample(0.25 * radius / batch_norm(g).clamp_min(1e-30), g)
            delta = _project(delta + step, radius)
    with torch.no_grad():  # the last iterate too
        value = psnr(fn(y + delta).to(truth.dtype), truth, data_range, reduction="none")
        worse = value < best_psnr
        best = torch.where(per_sample(worse, delta), delta, best)
        best_psnr = torch.where(worse, value, best_psnr)
    return {"psnr": base.tolist(), "psnr_worst": best_psnr.tolist(), "mean_psnr": float(base.mean()),
            "mean_psnr_worst": float(best_psnr.mean()), "delta": best.detach()}


def local_lipschitz(fn: Method, y: Tensor, iters: int = 15, seed: int = 0, rel_step: float = 1e-3) -> Tensor:
    """Largest singular value of the Jacobian of ``fn`` at each measurement: ``(B,)``.

    Power iteration on ``J^T J``; ``J v`` is the central difference with a step of
    ``rel_step * ||y||`` along the unit vector ``v`` and ``J^T u`` a vector-Jacobian product.
    """
    check_count("iters", iters)
    v = torch.randn(y.shape, generator=generator(seed), dtype=y.dtype).to(y.device)
    v = v / per_sample(batch_norm(v), v)
    step = rel_step * batch_norm(y)
    sigma = torch.zeros(y.shape[0], dtype=y.dtype, device=y.device)
    for _ in range(iters):
        with torch.no_grad():
            plus, minus = fn(y + per_sample(step, y) * v), fn(y - per_sample(step, y) * v)
            jv = (plus - minus) / per_sample(2 * step.to(plus.dtype), plus)
        point = y.detach().requires_grad_(True)
        out = fn(point)
        (jtjv,) = torch.autograd.grad(out, point, grad_outputs=jv.to(out.dtype))
        sigma = batch_norm(jtjv).sqrt()
        v = (jtjv / per_sample(batch_norm(jtjv).clamp_min(1e-30), jtjv)).detach()
    return sigma.detach()


def stability_table(problem: Problem, methods: dict[str, Method], levels: Sequence[float], eps: Sequence[float],
                    n_sweep: int = 50, n_attack: int = 10, steps: int = 10, seed: int = 0) -> dict:
    """Noise sweep, worst-case PSNR drops and local Lipschitz constants of each method.

    Returns ``{"levels", "eps", "sweep": {method: [PSNR per level]}, "worst_case": {method:
    {eps: {"psnr", "psnr_worst", "drop"}}}, "lipschitz": {method: mean}}``; the attacks and
    Lipschitz estimates use the first ``n_attack`` held-out truths at the problem's own noise.
    """
    from ..solvers.history import progress_bar

    result: dict = {"levels": list(levels), "eps": list(eps), "sweep": noise_sweep(problem, methods, levels, n_sweep, seed)}
    x = problem.sample_truth(n_attack, seed=seed)
    y = problem.simulate(x, seed=seed + 1)
    result["worst_case"], result["lipschitz"] = {}, {}
    bar = progress_bar(len(methods) * (len(eps) + 1), "stability")
    for name, fn in methods.items():
        result["worst_case"][name] = {}
        for e in eps:
            r = worst_case(fn, y, x, e, steps=steps, seed=seed, data_range=problem.data_range)
            result["worst_case"][name][str(e)] = {"psnr": r["mean_psnr"], "psnr_worst": r["mean_psnr_worst"],
                                                  "drop": r["mean_psnr"] - r["mean_psnr_worst"]}
            if bar is not None:
                bar.update()
        result["lipschitz"][name] = float(local_lipschitz(fn, y, seed=seed).mean())
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return result


def stability_markdown(result: dict) -> str:
    """The table of :func:`stability_table` in markdown."""
    head = ["method", *[f"PSNR, noise {lv:g}" for lv in result["levels"]],
            *[f"worst-case drop, eps {e:g}" for e in result["eps"]], "local Lipschitz"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, sweep in result["sweep"].items():
        cells = [name, *[f"{v:.2f}" for v in sweep],
                 *[f"{result['worst_case'][name][str(e)]['drop']:.2f} dB" for e in result["eps"]],
                 f"{result['lipschitz'][name]:.3g}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
