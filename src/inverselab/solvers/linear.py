"""Linear least squares: conjugate gradients, LSQR, and Tikhonov regularisation (batched).

All scalars of the Krylov recurrences are per sample, so a batch of problems is solved at the
cost of one, each sample with its own step lengths.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .._tensor import batch_dot, batch_norm, per_sample
from ..errors import InputError, check_choice, check_finite, check_nonnegative
from ..operators.base import LinearOperator, vstack
from ..operators.gradient import Gradient
from .history import History, Monitor, prepare

Tensor = torch.Tensor

__all__ = ["cg", "lsqr", "tikhonov"]


def _safe_div(a: Tensor, b: Tensor) -> Tensor:
    return torch.where(b.abs() > 0, a / torch.where(b.abs() > 0, b, torch.ones_like(b)), torch.zeros_like(a))


def cg(
    apply: Callable[[Tensor], Tensor],
    b: Tensor,
    x0: Tensor | None = None,
    iters: int = 100,
    tol: float = 1e-6,
    truth: Tensor | None = None,
    data_range: float | None = None,
) -> tuple[Tensor, History]:
    r"""Conjugate gradients for ``M x = b`` with a self-adjoint positive definite ``M``.

    Parameters
    ----------
    apply : callable
        ``x -> M x`` on batches shaped like ``b``.
    b : Tensor
        Right-hand sides ``(B, ...)``.
    x0 : Tensor, optional
        Starting point (default zero).
    iters : int
        Maximum iterations.
    tol : float
        Stop when every sample's residual ``||b - M x|| / ||b||`` is below ``tol``.
    truth, data_range
        Optional ground truth for the PSNR history.

    Returns
    -------
    x : Tensor
        The solution, shaped like ``b``.
    history : History
        Here ``criterion`` holds the relative residual.

    Notes
    -----
    For symmetric positive definite :math:`M`, CG minimises :math:`\tfrac12 x^T M x - b^T x` over
    growing Krylov spaces: with :math:`r_0 = p_0 = b - M x_0`,

    .. math::

        \alpha_k = \frac{r_k^H r_k}{p_k^H M p_k}, \quad x_{k+1} = x_k + \alpha_k p_k, \quad
        r_{k+1} = r_k - \alpha_k M p_k, \quad p_{k+1} = r_{k+1} + \frac{r_{k+1}^H r_{k+1}}{r_k^H
        r_k} p_k,

    each sample of the batch with its own scalars.

    References
    ----------
    M. R. Hestenes and E. Stiefel, "Methods of conjugate gradients for solving linear systems",
    *J. Res. Natl. Bur. Stand.* 49(6), 409-436, 1952.
    """
    monitor = Monitor(iters, tol, truth=truth, data_range=data_range)
    check_finite("right-hand side b", b)
    x = torch.zeros_like(b) if x0 is None else x0.clone()
    r = b - apply(x) if x0 is not None else b.clone()
    p = r.clone()
    rr = batch_dot(r, r)
    b_norm = batch_norm(b).clamp(min=torch.finfo(b.real.dtype).tiny)
    for k in range(int(iters)):
        mp = apply(p)
        alpha = _safe_div(rr, batch_dot(p, mp))
        x = x + per_sample(alpha, x) * p
        r = r - per_sample(alpha, r) * mp
        rr_new = batch_dot(r, r)
        p = r + per_sample(_safe_div(rr_new, rr), p) * p
        rr = rr_new
        residual = float((rr.detach().clamp(min=0).sqrt() / b_norm.detach()).max())
        if monitor.step(k, x, criterion=residual):
            break
    return x, monitor.history


def lsqr(
    op: LinearOperator,
    y: Tensor,
    damp: float = 0.0,
    iters: int = 100,
    tol: float = 1e-6,
    x0: Tensor | None = None,
    truth: Tensor | None = None,
    data_range: float | None = None,
) -> tuple[Tensor, History]:
    r"""LSQR (Paige and Saunders) for ``min ||A x - y||^2 + damp^2 ||x||^2``, batched.

    Parameters
    ----------
    op : LinearOperator
        ``A``.
    y : Tensor
        Measurements ``(B, *op.range_shape)``.
    damp : float
        Damping (the square root of a Tikhonov weight).
    iters, tol
        Maximum iterations; stop when every sample's relative change is below ``tol``.
    x0, truth, data_range
        Starting point and optional ground truth for the PSNR history.

    Notes
    -----
    LSQR applies Golub-Kahan bidiagonalisation to :math:`A` and solves the resulting bidiagonal
    least-squares problem by QR updates; it is mathematically equivalent to CG on the normal
    equations :math:`(A^H A + \text{damp}^2 I) x = A^H y` but numerically more stable, since it
    never forms :math:`A^H A`.

    References
    ----------
    C. C. Paige and M. A. Saunders, "LSQR: an algorithm for sparse linear equations and sparse
    least squares", *ACM Trans. Math. Softw.* 8(1), 43-71, 1982.
    """
    y = prepare(op, y, truth, x0)
    check_nonnegative("damp", damp)
    monitor = Monitor(
        iters,
        tol,
        objective=lambda x: batch_norm(op(x) - y) ** 2 + damp**2 * batch_norm(x) ** 2,
        truth=truth,
        data_range=data_range,
    )
    tiny = torch.finfo(y.real.dtype).tiny
    dtype = y.dtype if op.domain_complex else y.real.dtype
    x = torch.zeros((y.shape[0], *op.domain_shape), dtype=dtype, device=y.device) if x0 is None else x0.clone()
    u = y - op(x) if x0 is not None else y.clone()
    beta = batch_norm(u)
    u = u / per_sample(beta.clamp(min=tiny), u)
    v = op.adjoint(u)
    alpha = batch_norm(v)
    v = v / per_sample(alpha.clamp(min=tiny), v)
    w = v.clone()
    phibar, rhobar = beta, alpha
    for k in range(int(iters)):
        u = op(v) - per_sample(alpha, u) * u
        beta = batch_norm(u)
        u = u / per_sample(beta.clamp(min=tiny), u)
        v = op.adjoint(u) - per_sample(beta, v) * v
        alpha = batch_norm(v)
        v = v / per_sample(alpha.clamp(min=tiny), v)
        rhobar1 = torch.sqrt(rhobar**2 + damp**2)
        cs1 = _safe_div(rhobar, rhobar1)
        phibar = cs1 * phibar
        rho = torch.sqrt(rhobar1**2 + beta**2)
        cs, sn = _safe_div(rhobar1, rho), _safe_div(beta, rho)
        theta = sn * alpha
        rhobar = -cs * alpha
        phi = cs * phibar
        phibar = sn * phibar
        x_prev = x
        x = x + per_sample(_safe_div(phi, rho), w) * w
        w = v - per_sample(_safe_div(theta, rho), w) * w
        if monitor.step(k, x, x_prev):
            break
    return x, monitor.history


def tikhonov(
    op: LinearOperator,
    y: Tensor,
    lam: float,
    reg: str = "identity",
    method: str = "cg",
    iters: int = 100,
    tol: float = 1e-6,
    x0: Tensor | None = None,
    truth: Tensor | None = None,
    data_range: float | None = None,
) -> tuple[Tensor, History]:
    r"""Tikhonov-regularised least squares ``min ||A x - y||^2 + lam ||L x||^2``.

    Parameters
    ----------
    op : LinearOperator
        ``A``.
    y : Tensor
        Measurements ``(B, *op.range_shape)``.
    lam : float
        Regularisation weight (>= 0).
    reg : {"identity", "gradient"}
        ``L = I`` or the discrete gradient (smoothness prior).
    method : {"cg", "lsqr"}
        CG on the normal equations ``(A^H A + lam L^H L) x = A^H y`` or LSQR on the stacked
        system ``[A; sqrt(lam) L] x = [y; 0]`` (better conditioned, twice the operator calls).
    iters, tol, x0, truth, data_range
        As for :func:`cg` / :func:`lsqr`.

    Notes
    -----
    The minimiser of :math:`\|A x - y\|^2 + \lambda \|L x\|^2` solves the normal equations
    :math:`(A^H A + \lambda L^H L)\, x = A^H y`, equivalently the least-squares problem
    :math:`\min_x \|[A; \sqrt\lambda L] x - [y; 0]\|^2`.

    References
    ----------
    A. N. Tikhonov, "Solution of incorrectly formulated problems and the regularization method",
    *Soviet Math. Dokl.* 4, 1035-1038, 1963.

    P. C. Hansen, *Discrete Inverse Problems: Insight and Algorithms*. SIAM, 2010.
    """
    check_nonnegative("lam", lam)
    check_choice("Tikhonov regulariser", reg, ("identity", "gradient"))
    check_choice("Tikhonov method", method, ("cg", "lsqr"))
    y = prepare(op, y, truth, x0)
    grad = Gradient(op.domain_shape, op.domain_complex) if reg == "gradient" else None
    if method == "lsqr":
        if grad is None:
            return lsqr(op, y, lam**0.5, iters, tol, x0, truth, data_range)
        stacked = vstack([op, lam**0.5 * grad])
        rhs = torch.cat([y.reshape(y.shape[0], -1), y.new_zeros((y.shape[0], stacked.sizes[1]))], dim=1)
        return lsqr(stacked, rhs, 0.0, iters, tol, x0, truth, data_range)

    def normal(x: Tensor) -> Tensor:
        out = op.normal(x)
        return out + lam * (grad.normal(x) if grad is not None else x)

    b = op.adjoint(y)
    if not torch.isfinite(b).all():
        raise InputError("A^H y is not finite: check the operator and the measurement scale")
    return cg(normal, b, x0, iters, tol, truth, data_range)
