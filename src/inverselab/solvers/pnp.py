"""Plug-and-play ADMM: a learned denoiser in place of a proximal operator.

For ``min_x ||A x - y||^2 / 2 + R(x)`` with the splitting ``x = z``, ADMM alternates a
data-fidelity step, the proximal step of ``R`` and a dual update; plug-and-play (Venkatakrishnan
et al. 2013) replaces the proximal step by a denoiser ``D``:

    x <- argmin ||A x - y||^2 / 2 + rho / 2 ||x - (z - u)||^2      (conjugate gradients)
    z <- D(x + u)
    u <- u + x - z

``rho`` sets how much the data are trusted against the denoiser (larger: closer to the
data). Any ``D: (B, *shape) -> (B, *shape)`` works; a network trained on the truth class is
the point (e.g. ``inverselab train denoise --model unet``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import check_count, check_positive
from ..operators.base import LinearOperator
from .history import History, Monitor, prepare
from .linear import cg

Tensor = torch.Tensor

__all__ = ["pnp_admm"]


def pnp_admm(op: LinearOperator, y: Tensor, denoiser: Callable[[Tensor], Tensor], rho: float = 1.0, iters: int = 30,
             x0: Tensor | None = None, cg_iters: int = 10, bounds=None, truth: Tensor | None = None,
             data_range: float | None = None) -> tuple[Tensor, History]:
    r"""Plug-and-play ADMM (see the module docstring).

    Parameters
    ----------
    op : LinearOperator
        Forward operator ``A``.
    y : Tensor
        Measurements ``(B, *op.range_shape)``.
    denoiser : callable
        ``(B, *op.domain_shape) -> (B, *op.domain_shape)``; called without gradients.
    rho : float
        ADMM penalty, in units of ``||A||^2`` (the operator's norm is divided out, so one value
        suits operators of any scale).
    iters, cg_iters : int
        ADMM iterations and conjugate-gradient iterations per data step (warm-started).
    x0 : Tensor, optional
        Start (default ``A^T y`` scaled by ``1 / ||A||^2``).
    bounds, truth, data_range
        Box constraint applied to the denoiser's output; optional ground truth for the PSNR
        history.

    Notes
    -----
    ADMM for :math:`\min_x \tfrac12 \|A x - y\|^2 + R(x)` with the splitting :math:`x = v`
    alternates

    .. math::

        x &\leftarrow (A^H A + \rho I)^{-1} (A^H y + \rho (v - u)), \\
        v &\leftarrow D(x + u), \\
        u &\leftarrow u + x - v,

    where plug-and-play replaces the proximal map of :math:`R` by a denoiser :math:`D`; the data
    step is solved by warm-started CG.

    References
    ----------
    S. V. Venkatakrishnan, C. A. Bouman and B. Wohlberg, "Plug-and-play priors for model based
    reconstruction", *IEEE GlobalSIP*, 945-948, 2013.

    S. H. Chan, X. Wang and O. A. Elgendy, "Plug-and-play ADMM for image restoration: fixed-point
    convergence and applications", *IEEE Trans. Comput. Imaging* 3(1), 84-98, 2017.
    """
    y = prepare(op, y, truth, x0, bounds)
    check_positive("rho", rho)
    check_count("iters", iters)
    check_count("cg_iters", cg_iters)
    scale = op.norm(device=y.device) ** 2
    rhs_data = op.adjoint(y) / scale
    x = rhs_data.clone() if x0 is None else x0.clone()
    z, u = x.clone(), torch.zeros_like(x)
    lo, hi = bounds if bounds is not None else (None, None)
    monitor = Monitor(iters, 0.0, truth=truth, data_range=data_range)
    with torch.no_grad():
        for k in range(iters):
            x_prev = x
            x, _ = cg(lambda v: op.normal(v) / scale + rho * v, rhs_data + rho * (z - u), x0=x, iters=cg_iters, tol=1e-8)
            z = denoiser(x + u).to(x.dtype)
            if lo is not None or hi is not None:
                z = z.clamp(lo, hi)
            u = u + x - z
            if monitor.step(k, z, x_prev):
                break
    return z, monitor.history
