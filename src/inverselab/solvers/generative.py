"""Compressed sensing with a generative prior (Bora et al. 2017), with optional sparse deviations
(Dhar et al. 2018).

With a generator ``G: R^k -> images`` trained on the image class (e.g. the decoder of
:class:`~inverselab.models.generative.VAE`), the estimate is ``G(z)`` for

    z = argmin_z ||A G(z) - y||^2 + lam ||z||^2,

found by Adam from ``restarts`` random starts per measurement, all in one batch; the start
with the smallest data misfit ``||A G(z) - y||`` is kept, per measurement. The latent search
cannot leave the generator's range, so its error is at least the generator's representation
error. Sparse deviations enlarge the model to ``x = G(z) + nu`` with ``nu`` sparse in a wavelet
basis,

    min_{z, nu} ||A (G(z) + nu) - y||^2 + lam ||z||^2 + 2 deviation ||W nu||_1,

solved here by alternating ``rounds`` times: L1-wavelet FISTA for ``nu`` given ``z`` (the
measurement minus ``A G(z)``; see :func:`~inverselab.solvers.proximal.wavelet_fista`, whose
objective is half this one), then Adam on ``z`` given ``nu``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import InputError, check_count, check_nonnegative, check_positive
from ..operators.base import LinearOperator
from .history import Bounds, History, Monitor, prepare, progress, project
from .proximal import wavelet_fista

Tensor = torch.Tensor

__all__ = ["generative_prior"]


def _latent_search(op: LinearOperator, y: Tensor, generator: Callable[[Tensor], Tensor], z: Tensor, lam: float,
                   iters: int, lr: float, offset: Tensor | None, monitor: Monitor | None, step0: int,
                   restarts: int) -> tuple[Tensor, Tensor]:
    """Adam on ``||A (G(z) + offset) - y||^2 + lam ||z||^2`` for every row of ``z`` (``(R B, k)``,
    restart-major). Returns the final ``z`` and each row's data misfit ``(R B,)``."""
    z = z.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    ys = y.repeat(restarts, *([1] * (y.ndim - 1)))
    shift = None if offset is None else offset.repeat(restarts, *([1] * (offset.ndim - 1)))
    batch = y.shape[0]

    def fit(z: Tensor) -> tuple[Tensor, Tensor]:  # images (R B, ...) and their data misfits (R B,)
        x = generator(z).to(y.dtype)
        x = x if shift is None else x + shift
        return x, (op(x) - ys).abs().square().flatten(1).sum(1)

    previous = None
    for k in range(iters):
        x, misfit = fit(z)
        objective = misfit + lam * z.square().sum(1)
        optimizer.zero_grad(set_to_none=True)
        objective.sum().backward()  # rows are independent: each gets its own gradient
        optimizer.step()
        if monitor is not None:
            with torch.no_grad():
                best = objective.detach().reshape(restarts, batch).argmin(0)
                current = x.detach().reshape(restarts, batch, *x.shape[1:])[best, torch.arange(batch)]
                monitor.step(step0 + k, current, current if previous is None else previous)
                previous = current
                monitor.history.objective.append(float(objective.detach().reshape(restarts, batch).min(0).values.mean()))
                monitor.history.objective_iters.append(step0 + k + 1)
    with torch.no_grad():
        _, misfit = fit(z)
    return z.detach(), misfit


def generative_prior(op: LinearOperator, y: Tensor, generator: Callable[[Tensor], Tensor], latent: int,
                     lam: float = 0.01, restarts: int = 4, iters: int = 300, lr: float = 0.05,
                     deviation: float = 0.0, rounds: int = 3, deviation_iters: int = 100, wavelet: str = "db4",
                     bounds: Bounds = None, seed: int = 0, truth: Tensor | None = None,
                     data_range: float | None = None) -> tuple[Tensor, History]:
    r"""Reconstruct by a search over a generator's latent space (see the module docstring).

    Parameters
    ----------
    op : LinearOperator
        Forward operator ``A`` with real images ``(C, H, W)``.
    y : Tensor
        Measurements ``(B, *op.range_shape)``.
    generator : callable
        ``G``: latent vectors ``(N, latent)`` -> images ``(N, *op.domain_shape)``, differentiable
        (e.g. ``VAE.decode``); its parameters are not changed. Latents are drawn in the dtype
        and on the device of its first parameter when it is a module's method, else of ``y``.
    latent : int
        Latent size ``k``.
    lam : float
        Weight of ``||z||^2`` (a Gaussian prior on the latent), in the units of
        ``||A x - y||^2``.
    restarts : int
        Random starts ``z ~ N(0, I)`` per measurement, searched together; the one with the
        smallest data misfit is kept.
    iters, lr : int, float
        Adam iterations and step size of the latent search.
    deviation : float
        L1-wavelet weight of the sparse deviation ``nu`` (0: none, the plain generative prior).
    rounds, deviation_iters : int
        Alternations of the sparse-deviation stage, and FISTA iterations and Adam iterations
        in each.
    wavelet : str
        Wavelet of the deviation (see :class:`~inverselab.operators.wavelet.Wavelet2D`).
    bounds : (lower, upper), optional
        Box applied to the final estimate.
    seed : int
        Seed of the random starts.
    truth, data_range
        Optional ground truth ``(B, *op.domain_shape)`` for the PSNR history, and its range.

    Returns
    -------
    x : Tensor
        Estimates ``(B, *op.domain_shape)``.
    history : History
        Per Adam iteration (latent search, then the Adam steps of each round): time, PSNR of the
        best start so far, its relative change (``criterion``) and the objective
        ``||A G(z) - y||^2 + lam ||z||^2`` of the best start (mean over the batch; in the
        sparse-deviation rounds with ``G(z) + nu`` and without the L1 term).

    Notes
    -----
    The estimate is :math:`x = G(z^\star)` with

    .. math::

        z^\star = \arg\min_z \|A G(z) - y\|^2 + \lambda \|z\|^2,

    found by Adam from several random starts. With sparse deviations the model is
    :math:`x = G(z) + \nu` and the objective gains :math:`\mu \|W \nu\|_1`; the search alternates
    FISTA on :math:`\nu` (exact wavelet prox) with Adam on :math:`z`.

    References
    ----------
    A. Bora, A. Jalal, E. Price and A. G. Dimakis, "Compressed sensing using generative models",
    *ICML*, 2017.

    M. Dhar, A. Grover and S. Ermon, "Modeling sparse deviations for compressed sensing using
    generative models", *ICML*, 2018.
    """
    y = prepare(op, y, truth, bounds=bounds)
    if op.domain_complex or y.is_complex():
        raise InputError("the generative prior needs a real image domain and real measurements")
    check_count("latent", latent)
    check_nonnegative("lam", lam)
    check_count("restarts", restarts)
    check_count("iters", iters)
    check_positive("lr", lr)
    check_nonnegative("deviation", deviation)
    check_count("rounds", rounds)
    check_count("deviation_iters", deviation_iters)
    owner = getattr(generator, "__self__", None)
    param = next(owner.parameters(), None) if isinstance(owner, torch.nn.Module) else None
    dtype, device = (param.dtype, param.device) if param is not None else (y.dtype, y.device)
    with torch.no_grad():
        probe = generator(torch.zeros(1, latent, dtype=dtype, device=device))
    if tuple(probe.shape[1:]) != tuple(op.domain_shape):
        raise InputError(f"the generator makes images of shape {tuple(probe.shape[1:])} but the operator takes "
                         f"{tuple(op.domain_shape)}: use a generator trained on this problem's image size")
    batch = y.shape[0]
    g = torch.Generator().manual_seed(seed)
    z0 = torch.randn(restarts * batch, latent, generator=g, dtype=dtype).to(device)
    total = iters + (rounds * deviation_iters if deviation else 0)
    monitor = Monitor(total, 0.0, truth=truth, data_range=data_range)
    with torch.enable_grad():
        z, misfit = _latent_search(op, y, generator, z0, lam, iters, lr, None, monitor, 0, restarts)
    best = misfit.reshape(restarts, batch).argmin(0)
    z = z.reshape(restarts, batch, latent)[best, torch.arange(batch)]
    with torch.no_grad():
        x = generator(z).to(y.dtype)
    if deviation:  # rounds of (nu given z, z given nu), then nu for the final z
        nu = torch.zeros_like(x)
        for r in range(rounds + 1):
            with torch.no_grad(), progress(None):
                nu, _ = wavelet_fista(op, y - op(x), deviation, wavelet=wavelet, iters=deviation_iters, tol=0.0, x0=nu)
            if r == rounds:
                break
            with torch.enable_grad():
                z, _ = _latent_search(op, y, generator, z, lam, deviation_iters, lr, nu, monitor,
                                      iters + r * deviation_iters, 1)
            with torch.no_grad():
                x = generator(z).to(y.dtype)
        x = x + nu
    return project(x, bounds), monitor.history
