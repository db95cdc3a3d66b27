"""Per-instance optimisers for many independent problems solved as one batch.

``loss(x) -> (n,)`` gives the loss of each of ``n`` instances at its own unknowns ``x``
``(n, d)``; instance ``i``'s loss depends only on ``x[i]``. Every optimiser here keeps the
instances independent: the result for one instance is the one it would get alone (unlike
``torch.optim.LBFGS`` on the summed loss, whose line search and curvature pairs mix them).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import InputError, check_count, check_positive

Tensor = torch.Tensor
LossFn = Callable[[Tensor], Tensor]

__all__ = ["gradient_descent", "adam", "lbfgs", "random_restarts", "value_and_grad"]


def value_and_grad(loss: LossFn, x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-instance losses ``(n,)`` and their gradients ``(n, d)``."""
    x = x.detach().requires_grad_(True)
    values = loss(x)
    if values.shape != x.shape[:1]:
        raise InputError(f"the loss must return one value per instance, shape ({x.shape[0]},), got {tuple(values.shape)}")
    (grad,) = torch.autograd.grad(values.sum(), x)
    return values.detach(), grad


def _check(x0: Tensor, iters: int) -> Tensor:
    if x0.ndim != 2:
        raise InputError(f"starting points must be (instances, unknowns), got shape {tuple(x0.shape)}")
    check_count("iters", iters, minimum=0)
    return x0.detach().clone()


def gradient_descent(loss: LossFn, x0: Tensor, iters: int = 100, lr: float = 0.01) -> Tensor:
    r"""Plain gradient descent with a fixed step ``lr``.

    Notes
    -----
    :math:`x_{k+1} = x_k - \eta \nabla f(x_k)` for each instance; the instances never interact,
    so the batch is a set of independent runs.

    References
    ----------
    J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., ch. 3. Springer, 2006.
    """
    x = _check(x0, iters)
    check_positive("lr", lr)
    for _ in range(iters):
        x = x - lr * value_and_grad(loss, x)[1]
    return x


def adam(loss: LossFn, x0: Tensor, iters: int = 100, lr: float = 0.01) -> Tensor:
    r"""Adam (elementwise, hence independent per instance).

    Notes
    -----
    With :math:`g_k = \nabla f(x_k)`, :math:`m_k = \beta_1 m_{k-1} + (1 - \beta_1) g_k`,
    :math:`v_k = \beta_2 v_{k-1} + (1 - \beta_2) g_k^2` and the bias-corrected
    :math:`\hat m_k, \hat v_k`, the step is :math:`x_{k+1} = x_k - \eta\, \hat m_k / (\sqrt{\hat v_k}
    + \epsilon)`, elementwise.

    References
    ----------
    D. P. Kingma and J. Ba, "Adam: a method for stochastic optimization", *ICLR*, 2015.
    """
    x = _check(x0, iters).requires_grad_(True)
    check_positive("lr", lr)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(iters):
        opt.zero_grad(set_to_none=True)
        loss(x).sum().backward()
        opt.step()
    return x.detach()


def lbfgs(loss: LossFn, x0: Tensor, iters: int = 100, memory: int = 10, max_backtracks: int = 30,
          first_step: float = 0.1) -> Tensor:
    r"""Limited-memory BFGS for each instance, vectorised over instances.

    Two-loop recursion with each instance's own curvature pairs, and a backtracking Armijo line
    search per instance (step 1, halved until the loss falls by ``1e-4`` times the predicted
    decrease). The first step of an instance is ``first_step / ||g||`` long. An instance whose
    line search fails keeps its point and forgets its curvature pairs.

    Parameters
    ----------
    loss : callable
        ``x (n, d) -> (n,)``, differentiable.
    x0 : Tensor
        Starting points ``(n, d)``.
    iters : int
        Iterations (each with one gradient and one or more loss evaluations).
    memory : int
        Curvature pairs kept per instance.
    max_backtracks : int
        Step halvings before a line search gives up.
    first_step : float
        Length of the first step, in the units of ``x``.

    Notes
    -----
    The two-loop recursion applies the inverse-Hessian approximation built from the last
    ``memory`` pairs :math:`s_i = x_{i+1} - x_i`, :math:`y_i = g_{i+1} - g_i` (initial scaling
    :math:`s^T y / y^T y`) to the gradient; the Armijo condition :math:`f(x + t d) \le f(x) +
    10^{-4}\, t\, g^T d` decides each backtracking step.

    References
    ----------
    J. Nocedal, "Updating quasi-Newton matrices with limited storage", *Math. Comput.* 35(151),
    773-782, 1980.

    D. C. Liu and J. Nocedal, "On the limited memory BFGS method for large scale optimization",
    *Math. Program.* 45, 503-528, 1989.
    """
    x = _check(x0, iters)
    check_count("memory", memory)
    n = x.shape[0]
    f, g = value_and_grad(loss, x)
    s_hist: list[Tensor] = []
    y_hist: list[Tensor] = []
    rho_hist: list[Tensor] = []
    have = torch.zeros(n, dtype=torch.bool, device=x.device)  # instance has curvature pairs
    gamma = torch.ones(n, dtype=x.dtype, device=x.device)  # initial Hessian scale s'y / y'y
    for _ in range(iters):
        q = g.clone()
        alphas = []
        for s, y, rho in reversed(list(zip(s_hist, y_hist, rho_hist))):
            a = rho * (s * q).sum(1)
            q = q - a[:, None] * y
            alphas.append(a)
        scale = torch.where(have, gamma, first_step / g.norm(dim=1).clamp_min(1e-300))
        r = scale[:, None] * q
        for (s, y, rho), a in zip(zip(s_hist, y_hist, rho_hist), reversed(alphas)):
            b = rho * (y * r).sum(1)
            r = r + (a - b)[:, None] * s
        d = -r
        slope = (g * d).sum(1)
        uphill = slope >= 0
        d = torch.where(uphill[:, None], -scale[:, None] * g, d)
        slope = (g * d).sum(1)
        step = torch.ones(n, dtype=x.dtype, device=x.device)
        accepted = torch.zeros(n, dtype=torch.bool, device=x.device)
        f_new = f.clone()
        for _ in range(max_backtracks):
            trial = x + step[:, None] * d
            with torch.no_grad():
                f_trial = loss(trial)
            ok = ~accepted & (f_trial <= f + 1e-4 * step * slope)
            f_new = torch.where(ok, f_trial, f_new)
            accepted = accepted | ok
            if bool(accepted.all()):
                break
            step = torch.where(accepted, step, 0.5 * step)
        x_new = torch.where(accepted[:, None], x + step[:, None] * d, x)
        f_new, g_new = value_and_grad(loss, x_new)
        s, y = x_new - x, g_new - g
        sy = (s * y).sum(1)
        good = accepted & (sy > 1e-12 * s.norm(dim=1) * y.norm(dim=1))
        gamma = torch.where(good, sy / (y * y).sum(1).clamp_min(1e-300), gamma)
        if bool(good.any()):
            s_hist.append(torch.where(good[:, None], s, torch.zeros_like(s)))
            y_hist.append(torch.where(good[:, None], y, torch.zeros_like(y)))
            rho_hist.append(torch.where(good, 1.0 / sy.where(good, torch.ones_like(sy)), torch.zeros_like(sy)))
            if len(s_hist) > memory:
                s_hist.pop(0), y_hist.pop(0), rho_hist.pop(0)
        if bool((~accepted).any()):  # a failed line search restarts that instance's memory
            for hist in (s_hist, y_hist, rho_hist):
                for k, t in enumerate(hist):
                    hist[k] = torch.where(accepted.reshape(-1, *([1] * (t.ndim - 1))), t, torch.zeros_like(t))
        have = (have | good) & accepted
        x, f, g = x_new, f_new, g_new
    return x


def random_restarts(loss: LossFn, bounds: tuple[Tensor, Tensor], n: int, restarts: int = 8, iters: int = 50,
                    seed: int = 0, **options) -> Tensor:
    """Best of ``restarts`` L-BFGS runs per instance from uniform random starts in ``bounds``.

    ``bounds`` are lower and upper corners ``(d,)`` (or ``(n, d)``); the runs of all instances
    and starts go as one batch. ``options`` go to :func:`lbfgs`.

    Notes
    -----
    A multistart strategy: the best of several local minimisations from uniform starting points,
    which finds the global minimum with a probability that grows with the number of starts when
    its basin has positive volume.

    References
    ----------
    A. H. G. Rinnooy Kan and G. T. Timmer, "Stochastic global optimization methods part I:
    clustering methods", *Math. Program.* 39, 27-56, 1987.
    """
    check_count("restarts", restarts)
    lo, hi = (torch.as_tensor(b) for b in bounds)
    d = lo.shape[-1]
    g = torch.Generator().manual_seed(seed)
    starts = torch.rand(restarts, n, d, generator=g, dtype=lo.dtype)
    starts = (lo + (hi - lo) * starts).to(lo.device).reshape(restarts * n, d)

    def repeated(x: Tensor) -> Tensor:
        return torch.cat([loss(part) for part in x.split(n)])

    x = lbfgs(repeated, starts, iters, **options).reshape(restarts, n, d)
    with torch.no_grad():
        values = repeated(x.reshape(restarts * n, d)).reshape(restarts, n)
    best = values.argmin(0)
    return x[best, torch.arange(n)]
