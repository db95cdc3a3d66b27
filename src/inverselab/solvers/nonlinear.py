"""Gradient-based inversion through any differentiable forward model (autograd).

``min_x ||F(x) - y||^2 / 2 + lam R(x)`` by L-BFGS (strong Wolfe line search) or Adam, for
nonlinear operators (and linear ones, where the dedicated solvers are usually faster).
Box constraints are enforced by optimising over ``z`` with ``x = clamp(z)``, so gradients
vanish for components pushed against a bound.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .._tensor import batch_norm
from ..errors import InputError, check_choice, check_nonnegative, check_positive
from ..operators.base import Operator
from ..regularizers import Tikhonov, TotalVariation
from .history import Bounds, History, Monitor, prepare, project

Tensor = torch.Tensor

__all__ = ["minimize"]


def _regularizer(reg: str | Callable[[Tensor], Tensor] | None) -> Callable[[Tensor], Tensor] | None:
    if reg is None or callable(reg):
        return reg
    check_choice("regulariser", reg, ("tikhonov", "smoothness", "tv"))
    if reg == "tikhonov":
        return Tikhonov("identity").value
    if reg == "smoothness":
        return Tikhonov("gradient").value
    return TotalVariation().smooth_value


def minimize(
    op: Operator,
    y: Tensor,
    x0: Tensor,
    lam: float = 0.0,
    reg: str | Callable[[Tensor], Tensor] | None = None,
    method: str = "lbfgs",
    iters: int = 100,
    tol: float = 1e-7,
    lr: float = 1e-2,
    bounds: Bounds = None,
    truth: Tensor | None = None,
    data_range: float | None = None,
    callback: Callable[[int, Tensor, float], bool | None] | None = None,
) -> tuple[Tensor, History]:
    r"""Regularised nonlinear least squares through autograd.

    Parameters
    ----------
    op : Operator
        Differentiable forward model ``F``.
    y : Tensor
        Measurements ``(B, *op.range_shape)``.
    x0 : Tensor
        Starting model ``(B, *op.domain_shape)`` (required: nonlinear problems depend on it).
    lam : float
        Regularisation weight.
    reg : {"tikhonov", "smoothness", "tv"} or callable, optional
        ``||x||^2/2``, ``||D x||^2/2``, smoothed TV, or a function ``x -> (B,)``.
    method : {"lbfgs", "adam"}
        Optimiser; one L-BFGS iteration includes its line search.
    iters, tol
        Maximum iterations; stop when the relative change falls below ``tol``.
    lr : float
        Adam's learning rate (L-BFGS uses unit initial steps with its line search).
    bounds : (lower, upper), optional
        Box constraint.
    truth, data_range
        Optional ground truth for the PSNR history.
    callback : callable, optional
        ``callback(k, x, loss)`` after iteration ``k`` (0-based) with the new iterate ``x``
        and the objective (summed over the batch) of the iterate the step started from;
        returning True stops the solver (``stop_reason = "callback"``). It may change the
        operator's state between iterations (e.g. draw a new mini-batch for Adam).

    Notes
    -----
    Minimises :math:`\tfrac12 \|F(x) - y\|^2 + \lambda R(x)` with gradients by autograd (through
    any adjoint-state rule the operator defines). L-BFGS builds a limited-memory approximation of
    the inverse Hessian from recent gradient differences and takes line-searched steps; Adam scales
    each coordinate's step by running estimates of the gradient's first and second moments.

    References
    ----------
    D. C. Liu and J. Nocedal, "On the limited memory BFGS method for large scale optimization",
    *Math. Program.* 45, 503-528, 1989.

    D. P. Kingma and J. Ba, "Adam: a method for stochastic optimization", *ICLR*, 2015.
    """
    y = prepare(op, y, truth, x0, bounds)
    check_nonnegative("lam", lam)
    check_positive("lr", lr)
    check_choice("optimiser", method, ("lbfgs", "adam"))
    reg_fn = _regularizer(reg)
    if lam > 0 and reg_fn is None:
        raise InputError("lam > 0 needs a regulariser: pass reg='tikhonov', 'smoothness', 'tv' or a function")

    def objective(x: Tensor) -> Tensor:
        value = 0.5 * batch_norm(op(x) - y) ** 2
        if reg_fn is not None and lam > 0:
            value = value + lam * reg_fn(x)
        return value

    # contiguous: torch's L-BFGS flattens gradients with view(), which fails on permuted tensors
    z = project(x0.detach().clone(memory_format=torch.contiguous_format), bounds).requires_grad_(True)
    if method == "lbfgs":
        # one iteration per step (for the history); max_eval must allow the line search to work
        opt = torch.optim.LBFGS(
            [z], lr=1.0, max_iter=1, max_eval=25, history_size=20, line_search_fn="strong_wolfe"
        )
    else:
        opt = torch.optim.Adam([z], lr=lr)

    def closure() -> Tensor:
        opt.zero_grad()
        loss = objective(project(z, bounds)).sum()
        loss.backward()
        return loss

    monitor = Monitor(iters, tol, lambda x: objective(x).detach(), truth, data_range)
    x = project(z.detach(), bounds).clone()  # z changes in place: keep a copy to compare with
    for k in range(int(iters)):
        loss = opt.step(closure)
        x_prev, x = x, project(z.detach(), bounds).clone()
        with torch.no_grad():
            if monitor.step(k, x, x_prev):
                break
            if callback is not None and callback(k, x, float(loss)):
                monitor.history.stop_reason = "callback"
                break
    return x, monitor.history
