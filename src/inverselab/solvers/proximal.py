"""Proximal solvers: TV by PDHG and ADMM, L1-wavelet (or any prox) by FISTA. Batched.

Problems are of the form ``min_x ||A x - y||^2 / 2 + lam R(x)`` (plus box constraints where
noted). Internally the operator is normalised by its norm ``||A||`` (power iteration, cached on
the operator) so that default step sizes work for any scaling of ``A`` and ``y``; ``lam`` keeps
its meaning for the problem as written.
"""

from __future__ import annotations

import torch

from .._tensor import batch_norm
from ..errors import InputError, check_choice, check_count, check_nonnegative, check_positive
from ..operators.base import LinearOperator
from ..operators.gradient import Gradient
from ..regularizers import L1Wavelet, TotalVariation, project_l2_ball
from .history import Bounds, History, Monitor, prepare, progress, project
from .linear import cg

Tensor = torch.Tensor

__all__ = ["tv_pdhg", "tv_admm", "fista", "wavelet_fista"]


def _zeros(op: LinearOperator, y: Tensor) -> Tensor:
    dtype = y.dtype if op.domain_complex else y.real.dtype
    return torch.zeros((y.shape[0], *op.domain_shape), dtype=dtype, device=y.device)


def _tv_objective(op: LinearOperator, y: Tensor, lam: float):
    tv = TotalVariation()
    return lambda x: 0.5 * batch_norm(op(x) - y) ** 2 + lam * tv.value(x)


#: Data steps of :func:`tv_pdhg`.
DATA_STEPS = ("auto", "linearized", "exact", "cg")


def tv_pdhg(
    op: LinearOperator,
    y: Tensor,
    lam: float,
    iters: int = 300,
    tol: float = 1e-5,
    bounds: Bounds = None,
    x0: Tensor | None = None,
    truth: Tensor | None = None,
    data_range: float | None = None,
    step_ratio: float | None = None,
    adaptive: bool = False,
    preconditioned: bool = False,
    differentiable: bool = False,
    data_step: str = "auto",
    cg_iters: int = 3,
) -> tuple[Tensor, History]:
    r"""Isotropic TV by the primal-dual hybrid gradient method (Chambolle and Pock 2011).

    Solves ``min_x ||A x - y||^2 / 2 + lam TV(x)`` subject to ``x`` in ``bounds``. Two
    splittings of the same problem:

    * ``"linearized"``: ``K = [A; D]``, the data term handled through its conjugate; every
      iteration costs one ``A`` and one ``A^H``. Step sizes are either diagonal (Pock and
      Chambolle 2011: inverse row and column sums of ``|K|``, for operators with nonnegative
      entries such as the X-ray transforms) or scalar with ``A`` normalised by its norm,
      ``tau = step_ratio / ||K||``, ``sigma = 1 / (step_ratio ||K||)``, ``||K||^2 <= 1 + 8``.
    * ``"exact"`` / ``"cg"``: ``K = [D; I]`` (the identity only with bounds, whose indicator
      is handled through its conjugate), and the primal step is the proximal map of the data
      term, ``x = (A^H A + I / tau)^-1 (A^H y + v / tau)``: solved in closed form by
      operators diagonal in a fast transform (:attr:`LinearOperator.exact_normal_solve`:
      circular blurs, inpainting, single-coil Cartesian MRI) or by ``cg_iters`` conjugate
      gradient steps warm-started at the previous iterate. The exact step needs several
      times fewer iterations than the linearized one at about the same cost per iteration.

    ``"auto"`` picks ``"exact"`` where the operator has the closed form and ``"linearized"``
    elsewhere (warm-started CG costs ``cg_iters`` operator pairs per iteration and, on the
    X-ray transforms, does not pay for itself).

    Parameters
    ----------
    op : LinearOperator
        Forward operator ``A`` on images ``(C, H, W)``.
    y : Tensor
        Measurements ``(B, *op.range_shape)``.
    lam : float
        TV weight.
    iters, tol
        Maximum iterations; stop when every sample's relative change is below ``tol``.
    bounds : (lower, upper), optional
        Box constraint on the image (either may be None), e.g. ``(0, None)``.
    x0 : Tensor, optional
        Start (default zero).
    truth, data_range
        Optional ground truth for the PSNR history.
    step_ratio : float, optional
        Primal/dual step balance ``tau ||K||`` (``sigma = 1 / (step_ratio ||K||)``); > 1
        favours the primal step. Default: :data:`STEP_RULE` (per data step) times the root-mean-square of the
        normalised back-projection ``A^H y / ||A||^2`` over the dual radius ``lam / ||A||^2``,
        clipped to [0.1, 1e4] (the steps then follow the scales of the primal and dual
        variables, whatever the scaling of ``A``, ``y`` and ``lam``).
    adaptive : bool
        Rebalance the steps from the primal and dual residuals (Goldstein, Li and Yuan 2015;
        the product ``tau * sigma`` is kept, so convergence is preserved). Off by default:
        balancing the residuals was slower than the default rule on the benchmarks'
        problems (``benchmarks/tv.py``).
    preconditioned : bool
        Diagonal step sizes of the linearized step; only for operators that declare
        nonnegative entries (``op.nonnegative``, e.g. the X-ray transforms). Often faster on
        real scans with uneven ray coverage.
    differentiable : bool
        Keep the autograd graph through all iterations, so that the result can be
        differentiated with respect to ``y`` (sensitivity and worst-case perturbation
        analysis); memory grows with the iterations.
    data_step : {"auto", "linearized", "exact", "cg"}
        How the data term enters (see above).
    cg_iters : int
        Conjugate gradient steps per iteration of the ``"cg"`` data step.

    Returns
    -------
    x : Tensor
        ``(B, *op.domain_shape)``.
    history : History

    Notes
    -----
    PDHG solves the saddle-point form :math:`\min_x \max_p \langle K x, p \rangle + G(x) -
    F^*(p)` by

    .. math::

        p^{k+1} = \operatorname{prox}_{\sigma F^*}(p^k + \sigma K \bar x^k), \quad
        x^{k+1} = \operatorname{prox}_{\tau G}(x^k - \tau K^H p^{k+1}), \quad
        \bar x^{k+1} = 2 x^{k+1} - x^k,

    which converges for :math:`\tau \sigma \|K\|^2 < 1` (or diagonal steps from the row and column
    sums of :math:`|K|`). The TV term's conjugate is the indicator of the pointwise ball
    :math:`\{|p_{ij}| \le \lambda\}`, whose prox is a projection.

    References
    ----------
    Chambolle, A. and Pock, T. (2011). A first-order primal-dual algorithm for convex problems
    with applications to imaging. J. Math. Imaging Vis. 40, 120-145.
    Goldstein, T., Li, M. and Yuan, X. (2015). Adaptive primal-dual splitting methods for
    statistical learning and image processing. NeurIPS 28.
    """
    y = prepare(op, y, truth, x0, bounds)
    check_nonnegative("lam", lam)
    check_choice("data_step", data_step, DATA_STEPS)
    check_count("cg_iters", cg_iters)
    if data_step == "auto":
        data_step = "exact" if op.exact_normal_solve and not preconditioned else "linearized"
    if data_step == "exact" and not op.exact_normal_solve:
        raise InputError(f"{op.name} has no closed-form data step: use data_step='cg' or 'linearized'")
    if preconditioned and data_step != "linearized":
        raise InputError("diagonal preconditioning applies to the linearized data step: use data_step='linearized'")
    if step_ratio is None:  # diagonal steps are balanced by construction
        step_ratio = 1.0 if preconditioned else _default_step_ratio(op, y, lam, data_step)
    check_positive("step_ratio", step_ratio)
    x = project(_zeros(op, y) if x0 is None else x0.clone(), bounds)
    monitor = Monitor(iters, tol, _tv_objective(op, y, lam), truth, data_range)
    steps = _Steps(step_ratio, adaptive)
    with torch.enable_grad() if differentiable else torch.no_grad():
        if data_step == "linearized":
            x = _pdhg_linearized(op, y, lam, x, bounds, steps, preconditioned, monitor)
        else:
            x = _pdhg_proximal_data(op, y, lam, x, bounds, steps, data_step, int(cg_iters), monitor)
    return x, monitor.history


#: Constants of the default step rule per data step: ``step_ratio`` is this times the scale of
#: the image over the radius of the dual ball (fitted on validation images of deblurring,
#: inpainting, single- and multi-coil MRI and CT).
STEP_RULE = {"exact": 0.08, "cg": 0.08, "linearized": 0.02}


def _default_step_ratio(op: LinearOperator, y: Tensor, lam: float, data_step: str) -> float:
    """``step_ratio`` from the balance of the primal and dual variables: the dual of the
    gradient lives in the ball of radius ``lam / ||A||^2`` (normalised problem) and the image
    at the scale of the normalised back-projection ``A^H y / ||A||^2``, so the steps are scaled
    by the ratio of the two (Chambolle and Pock 2011, Section 5: the steps should reflect the
    relative scales of the primal and dual variables)."""
    scale2 = op.norm(device=y.device) ** 2
    with torch.no_grad():
        back = op.adjoint(y) / scale2
        image_rms = float(back.abs().square().mean().sqrt())
    dual_radius = lam / scale2
    if dual_radius <= 0 or image_rms <= 0:
        return 1.0
    return min(max(STEP_RULE[data_step] * image_rms / dual_radius, 0.1), 1e4)


class _Steps:
    """Primal and dual step sizes with the residual balancing of Goldstein et al. (2015): when
    one residual exceeds the other by 1.5x, the steps are rescaled (their product kept) by a
    factor whose strength starts at 0.5 and decays by 0.95 per change."""

    def __init__(self, step_ratio: float, adaptive: bool) -> None:
        self.ratio, self.adaptive, self.alpha = step_ratio, adaptive, 0.5

    def due(self, k: int) -> bool:
        """Whether iteration ``k`` checks the balance (every iteration early, then rarely)."""
        return self.adaptive and (k < 200 or k % 10 == 0)

    def factor(self, primal: Tensor, dual: Tensor) -> float:
        """Multiplier of the primal step (the dual steps are divided by it); 1 when balanced."""
        if primal > 1.5 * dual or dual > 1.5 * primal:
            factor = 1 / (1 - self.alpha) if primal > dual else 1 - self.alpha
            self.alpha *= 0.95
            return factor
        return 1.0


def _pdhg_linearized(op: LinearOperator, y: Tensor, lam: float, x: Tensor, bounds: Bounds, steps: _Steps,
                     preconditioned: bool, monitor: Monitor) -> Tensor:
    """``K = [A; D]``: the dual of the data term is ``p``, of the gradient ``q``."""
    grad = Gradient(op.domain_shape, op.domain_complex)
    if preconditioned:
        if not op.nonnegative:
            raise InputError(f"diagonal preconditioning needs an operator with nonnegative entries; {op.name} is not")
        # Pock and Chambolle (2011), alpha = 1: sigma_i = 1 / sum_j |K_ij|, tau_j = 1 / sum_i |K_ij|;
        # the gradient contributes 2 per row and at most 4 per column
        scale, lam_s = 1.0, lam
        ones = torch.ones((1, *op.domain_shape), dtype=y.dtype, device=y.device)
        rows = op(ones)
        # a ray that misses the image has a zero row: any dual step is admissible there (it
        # never reaches x); 1 keeps the residuals of the step adaptation finite
        sigma_a = torch.where(rows > 0, 1 / rows.clamp(min=torch.finfo(y.dtype).tiny), torch.ones_like(rows))
        sigma_a, sigma_d = sigma_a / steps.ratio, 0.5 / steps.ratio
        tau = steps.ratio / (op.adjoint(torch.ones_like(rows)) + 4)
    else:
        scale = op.norm(device=y.device)
        lam_s = lam / scale**2
        k_norm = (1 + Gradient.NORM_BOUND**2) ** 0.5
        tau, sigma_a = steps.ratio / k_norm, 1 / (steps.ratio * k_norm)
        sigma_d = sigma_a
    y_s = y / scale
    p = torch.zeros_like(y)
    q = grad(x).zero_()
    # K x is kept and K x_bar = 2 K x_new - K x formed by linearity: one application of K and
    # one of K^H per iteration.
    ax, gx = op(x) / scale, grad(x)
    ax_bar, gx_bar = ax, gx
    for k in range(monitor.iters):
        p_new = (p + sigma_a * (ax_bar - y_s)) / (1 + sigma_a)
        q_new = project_l2_ball(q + sigma_d * gx_bar, lam_s)
        x_new = project(x - tau * (op.adjoint(p_new) / scale + grad.adjoint(q_new)), bounds)
        ax_new, gx_new = op(x_new) / scale, grad(x_new)
        if steps.due(k):
            # optimality residuals of this dual-first ordering (the primal step already used
            # the new dual, so its residual has no K^H term)
            primal = batch_norm((x - x_new) / tau).square().sum().sqrt()
            dual = (
                batch_norm((p - p_new) / sigma_a - (ax_new - ax_bar)).square().sum()
                + batch_norm((q - q_new) / sigma_d - (gx_new - gx_bar)).square().sum()
            ).sqrt()
            f = steps.factor(primal, dual)
            tau, sigma_a, sigma_d = tau * f, sigma_a / f, sigma_d / f
        ax_bar, gx_bar = 2 * ax_new - ax, 2 * gx_new - gx
        x_prev, x, p, q, ax, gx = x, x_new, p_new, q_new, ax_new, gx_new
        if monitor.step(k, x, x_prev):
            break
    return x


def _pdhg_proximal_data(op: LinearOperator, y: Tensor, lam: float, x: Tensor, bounds: Bounds, steps: _Steps,
                        data_step: str, cg_iters: int, monitor: Monitor) -> Tensor:
    """``K = [D; I]``: the data term's proximal map is the primal step; the dual of the
    gradient is ``q`` and (with bounds) of the box constraint ``r``. ``A`` is normalised by
    its norm, which makes the default steps independent of the problem's scale."""
    grad = Gradient(op.domain_shape, op.domain_complex)
    scale = op.norm(device=y.device)
    lam_s = lam / scale**2
    aty = op.adjoint(y) / scale**2
    k_norm = (Gradient.NORM_BOUND**2 + (1 if bounds is not None else 0)) ** 0.5
    tau, sigma = steps.ratio / k_norm, 1 / (steps.ratio * k_norm)

    def solve(rhs: Tensor, shift: float, start: Tensor) -> Tensor:
        """``(A_s^H A_s + shift I)^-1 rhs`` with ``A_s = A / ||A||``."""
        if data_step == "exact":
            return op.normal_solve(rhs * scale**2, shift * scale**2)
        with progress(None):
            out, _ = cg(lambda v: op.normal(v) / scale**2 + shift * v, rhs, x0=start, iters=cg_iters, tol=0)
        return out

    q = grad(x).zero_()
    r = torch.zeros_like(x) if bounds is not None else None
    gx = grad(x)
    x_bar, gx_bar = x, gx
    for k in range(monitor.iters):
        q_new = project_l2_ball(torch.add(q, gx_bar, alpha=sigma), lam_s)
        kt_z = grad.adjoint(q_new)
        if r is not None:  # prox of the conjugate of the box's indicator (Moreau)
            v = torch.add(r, x_bar, alpha=sigma)
            r_new = v - sigma * project(v / sigma, bounds)
            kt_z = kt_z + r_new
        x_new = solve(torch.add(aty, x, alpha=1 / tau).sub_(kt_z), 1 / tau, x)
        gx_new = grad(x_new)
        if steps.due(k):
            primal = batch_norm((x - x_new) / tau).square().sum().sqrt()
            dual = batch_norm((q - q_new) / sigma - (gx_new - gx_bar)).square().sum()
            if r is not None:
                dual = dual + batch_norm((r - r_new) / sigma - (x_new - x_bar)).square().sum()
            f = steps.factor(primal, dual.sqrt())
            tau, sigma = tau * f, sigma / f
        x_bar, gx_bar = torch.lerp(x, x_new, 2.0), torch.lerp(gx, gx_new, 2.0)  # 2 new - old
        x_prev, x, q, gx = x, x_new, q_new, gx_new
        if r is not None:
            r = r_new
        # the bounds hold at convergence through r; the reported iterate meets them exactly
        if monitor.step(k, project(x, bounds), project(x_prev, bounds)):
            break
    return project(x, bounds)


def tv_admm(
    op: LinearOperator,
    y: Tensor,
    lam: float,
    iters: int = 100,
    tol: float = 1e-5,
    bounds: Bounds = None,
    rho: float = 0.1,
    cg_iters: int = 10,
    x0: Tensor | None = None,
    truth: Tensor | None = None,
    data_range: float | None = None,
) -> tuple[Tensor, History]:
    r"""Isotropic TV by ADMM with the splitting ``z = D x`` (and ``w = x`` for bounds).

    The x-update ``(A^H A / ||A||^2 + rho D^H D [+ rho I]) x = ...`` is solved by warm-started
    conjugate gradients; the z-update is a pointwise shrinkage and the w-update a clamp.

    Parameters
    ----------
    op, y, lam, iters, tol, bounds, x0, truth, data_range
        As for :func:`tv_pdhg`.
    rho : float
        Penalty parameter, in units of the normalised problem (``||A|| = 1``); 0.1 converged
        within 100 iterations on every preset (1 did not on inpainting and compressed sensing).
    cg_iters : int
        CG iterations per x-update.

    Notes
    -----
    ADMM for :math:`\min_x \tfrac12 \|A x - y\|^2 + \lambda \|z\|_{2,1}` subject to :math:`z = D x`
    alternates

    .. math::

        x &\leftarrow \arg\min_x \tfrac12 \|A x - y\|^2 + \tfrac\rho2 \|D x - z + u\|^2, \\
        z &\leftarrow \operatorname{shrink}_{\lambda/\rho}(D x + u), \\
        u &\leftarrow u + D x - z,

    with the isotropic shrinkage :math:`\operatorname{shrink}_t(q) = \max(1 - t/|q|, 0)\, q`
    pixelwise (the split Bregman method for TV).

    References
    ----------
    S. Boyd, N. Parikh, E. Chu, B. Peleato and J. Eckstein, "Distributed optimization and
    statistical learning via the alternating direction method of multipliers", *Found. Trends
    Mach. Learn.* 3(1), 1-122, 2011.

    T. Goldstein and S. Osher, "The split Bregman method for L1-regularized problems", *SIAM J.
    Imaging Sci.* 2(2), 323-343, 2009.
    """
    y = prepare(op, y, truth, x0, bounds)
    check_nonnegative("lam", lam)
    check_positive("rho", rho)
    scale = op.norm(device=y.device)
    grad = Gradient(op.domain_shape, op.domain_complex)
    lam_s = lam / scale**2
    aty = op.adjoint(y) / scale**2
    x = project(_zeros(op, y) if x0 is None else x0.clone(), bounds)
    z, u = grad(x), grad(x).zero_()
    w, v = x.clone(), torch.zeros_like(x)
    boxed = bounds is not None

    def system(t: Tensor) -> Tensor:
        out = op.normal(t) / scale**2 + rho * grad.normal(t)
        return out + rho * t if boxed else out

    monitor = Monitor(iters, tol, _tv_objective(op, y, lam), truth, data_range)
    with torch.no_grad():
        for k in range(int(iters)):
            rhs = aty + rho * grad.adjoint(z - u)
            if boxed:
                rhs = rhs + rho * (w - v)
            x_prev = x
            x, _ = cg(system, rhs, x0=x, iters=cg_iters, tol=0.0)
            dx = grad(x)
            shrink = dx + u
            mag = shrink.abs().pow(2).sum(1, keepdim=True).sqrt()
            z = shrink * (1 - (lam_s / rho) / mag.clamp(min=torch.finfo(mag.dtype).tiny)).clamp(min=0)
            u = u + dx - z
            if boxed:
                w = project(x + v, bounds)
                v = v + x - w
            if monitor.step(k, project(x, bounds), project(x_prev, bounds)):
                break
    return project(x, bounds), monitor.history


def fista(
    op: LinearOperator,
    y: Tensor,
    prox,
    lam: float,
    iters: int = 200,
    tol: float = 1e-5,
    x0: Tensor | None = None,
    truth: Tensor | None = None,
    data_range: float | None = None,
    regularizer_value=None,
) -> tuple[Tensor, History]:
    r"""FISTA (Beck and Teboulle 2009) for ``min ||A x - y||^2 / 2 + lam R(x)``.

    Parameters
    ----------
    op, y
        Operator and measurements.
    prox : callable
        ``(x, t) -> prox_{t R}(x)``.
    lam : float
        Regularisation weight.
    iters, tol, x0, truth, data_range
        As for :func:`tv_pdhg`.
    regularizer_value : callable, optional
        ``x -> R(x)`` per sample, for the objective history.

    Notes
    -----
    With step :math:`t = 1/\|A\|^2`,

    .. math::

        x_k = \operatorname{prox}_{t \lambda R}\big(z_k - t A^H (A z_k - y)\big), \quad
        s_{k+1} = \frac{1 + \sqrt{1 + 4 s_k^2}}{2}, \quad
        z_{k+1} = x_k + \frac{s_k - 1}{s_{k+1}} (x_k - x_{k-1}),

    which reaches :math:`O(1/k^2)` in the objective against :math:`O(1/k)` for plain proximal
    gradient (ISTA).

    References
    ----------
    A. Beck and M. Teboulle, "A fast iterative shrinkage-thresholding algorithm for linear
    inverse problems", *SIAM J. Imaging Sci.* 2(1), 183-202, 2009.
    """
    y = prepare(op, y, truth, x0)
    check_nonnegative("lam", lam)
    step = 1 / op.norm(device=y.device) ** 2
    x = _zeros(op, y) if x0 is None else x0.clone()
    z, t = x, 1.0
    objective = None
    if regularizer_value is not None:
        objective = lambda v: 0.5 * batch_norm(op(v) - y) ** 2 + lam * regularizer_value(v)  # noqa: E731
    monitor = Monitor(iters, tol, objective, truth, data_range)
    with torch.no_grad():
        for k in range(int(iters)):
            x_new = prox(z - step * op.adjoint(op(z) - y), step * lam)
            t_new = (1 + (1 + 4 * t * t) ** 0.5) / 2
            z = x_new + ((t - 1) / t_new) * (x_new - x)
            x_prev, x, t = x, x_new, t_new
            if monitor.step(k, x, x_prev):
                break
    return x, monitor.history


def wavelet_fista(
    op: LinearOperator,
    y: Tensor,
    lam: float,
    wavelet: str = "db4",
    levels: int | None = None,
    iters: int = 200,
    tol: float = 1e-5,
    x0: Tensor | None = None,
    truth: Tensor | None = None,
    data_range: float | None = None,
) -> tuple[Tensor, History]:
    r"""L1-wavelet regularisation ``min ||A x - y||^2 / 2 + lam ||W x||_1`` by FISTA, with an
    orthogonal periodised wavelet ``W`` (exact prox; approximation band not penalised).

    Parameters
    ----------
    wavelet, levels
        See :class:`~inverselab.operators.wavelet.Wavelet2D`.
    Others
        As for :func:`fista`.

    Notes
    -----
    For an orthogonal :math:`W` the prox of :math:`\lambda \|W x\|_1` is :math:`W^H
    \operatorname{soft}_{\lambda}(W x)`, with :math:`\operatorname{soft}_\lambda(c) =
    \operatorname{sign}(c) \max(|c| - \lambda, 0)` applied to the detail bands (complex: the
    modulus is shrunk and the phase kept); the approximation band is left as it is.

    References
    ----------
    I. Daubechies, M. Defrise and C. De Mol, "An iterative thresholding algorithm for linear
    inverse problems with a sparsity constraint", *Comm. Pure Appl. Math.* 57(11), 1413-1457,
    2004.

    A. Beck and M. Teboulle, "A fast iterative shrinkage-thresholding algorithm for linear
    inverse problems", *SIAM J. Imaging Sci.* 2(1), 183-202, 2009.
    """
    reg = L1Wavelet(op.domain_shape, wavelet, levels, is_complex=op.domain_complex)
    return fista(op, y, reg.prox, lam, iters, tol, x0, truth, data_range, reg.value)
