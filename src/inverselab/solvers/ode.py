"""Parameter estimation for ordinary differential equations, with the Lorenz system as example.

The model is an autonomous ODE ``x'(t) = f(x, p)`` with a batch of states ``x`` ``(B, d)`` and
parameters ``p`` ``(B, k)``; observations are noisy states ``y`` ``(B, T, d)`` at uniformly
spaced times. Three tools:

* :func:`rk4` integrates the ODE (classical Runge-Kutta, differentiable by autograd).
* :func:`gradient_matching` is the fast classical estimate for right-hand sides that are linear
  in the parameters: differentiate the smoothed series with a local polynomial
  (Savitzky-Golay) filter and solve the linear least-squares problem ``x' ~ A(x) p + b(x)``.
  No integration, so no trouble with chaos; biased by smoothing and noise.
* :func:`fit_ode` is least squares through the integrator (single or multiple shooting, L-BFGS),
  the maximum-likelihood estimate for Gaussian noise. Over long windows a chaotic system has a
  wildly non-convex misfit; multiple shooting (``segments > 1``: every segment starts from its
  own unknown state, tied to the previous segment by a continuity penalty) keeps each segment
  short enough for the misfit to be well behaved, and a final single-shooting polish removes the
  small bias the penalty leaves.

Lorenz: ``x' = sigma (y - x), y' = x (rho - z) - y, z' = x y - beta z``, parameters
``(sigma, rho, beta)``; :func:`lorenz`, :func:`lorenz_gradient_matching`,
:class:`LorenzTrajectory` (the parameter-to-trajectory operator) and
:func:`lorenz_simulator` (noisy series for training learned estimators).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import InputError, check_nonnegative, format_shape
from ..operators.ode import (
    LORENZ_STATE0,
    LORENZ_TRUE,
    RHS,
    LorenzTrajectory,
    _check_batch,
    _rk4,
    _step,
    _tensor,
    lorenz,
    rk4,
)
from .history import History, Monitor

Tensor = torch.Tensor
LinearRHS = Callable[[Tensor], tuple[Tensor, Tensor]]

__all__ = [
    "LORENZ_STATE0",
    "LORENZ_TRUE",
    "LorenzTrajectory",
    "fit_ode",
    "gradient_matching",
    "lorenz",
    "lorenz_gradient_matching",
    "lorenz_linear",
    "lorenz_simulator",
    "rk4",
]

def lorenz_linear(states: Tensor) -> tuple[Tensor, Tensor]:
    r"""Lorenz in the form ``f(x, p) = A(x) p + b(x)``: states ``(..., 3)`` -> ``A (..., 3, 3)``,
    ``b (..., 3)`` (for :func:`gradient_matching`).

    Notes
    -----
    :math:`f(x, p) = A(x)\, p + b(x)` with :math:`p = (\sigma, \rho, \beta)`,

    .. math::

        A(x) = \begin{pmatrix} y - x & 0 & 0 \\ 0 & x & 0 \\ 0 & 0 & -z \end{pmatrix}, \qquad
        b(x) = \begin{pmatrix} 0 \\ -x z - y \\ x y \end{pmatrix}.

    References
    ----------
    E. N. Lorenz, "Deterministic nonperiodic flow", *J. Atmos. Sci.* 20(2), 130-141, 1963.
    """
    x, y, z = states.unbind(-1)
    zero = torch.zeros_like(x)
    a = torch.stack(
        (torch.stack((y - x, zero, zero), -1), torch.stack((zero, x, zero), -1), torch.stack((zero, zero, -z), -1)),
        -2,
    )
    b = torch.stack((zero, -x * z - y, x * y), -1)
    return a, b


def lorenz_simulator(
    times, state0=LORENZ_STATE0, noise: float = 0.01, substeps: int = 2
) -> Callable[[Tensor, torch.Generator | None], Tensor]:
    r"""A simulator ``simulate(params (B, 3), generator) -> noisy series (B, T, 3)``.

    The noise is Gaussian with standard deviation ``noise`` times the standard deviation (over
    time) of each component of each clean series. Runs without autograd.

    Notes
    -----
    Integrates :math:`\dot x = f(x, p)` of :func:`lorenz_linear` by RK4 from the fixed initial
    state and adds Gaussian noise scaled per series and component, the amortised estimator's
    training distribution.

    References
    ----------
    E. N. Lorenz, "Deterministic nonperiodic flow", *J. Atmos. Sci.* 20(2), 130-141, 1963.
    """
    op = LorenzTrajectory(times, state0, substeps)
    check_nonnegative("noise", float(noise))

    def simulate(params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        with torch.no_grad():
            clean = op(params)
            if noise == 0:
                return clean
            e = torch.randn(clean.shape, generator=generator, dtype=clean.dtype, device=clean.device)
            return clean + noise * clean.std(1, keepdim=True) * e

    return simulate


# -- gradient matching ----------------------------------------------------------------------------
def _local_polynomial(series: Tensor, dt: float, window: int, order: int) -> tuple[Tensor, Tensor]:
    """Savitzky-Golay smoothing and first derivative of ``series (B, T, d)`` along time.

    Each window of ``window`` samples is fitted with a polynomial of degree ``order`` by least
    squares; the centre sample takes the fit's value and slope. The first and last half windows
    use the polynomial of the first and last full window, evaluated off-centre.
    """
    m = window // 2
    offsets = torch.arange(-m, m + 1, dtype=torch.float64)
    powers = torch.arange(order + 1, dtype=torch.float64)
    vander = offsets[:, None] ** powers  # (n, q + 1)
    fit = torch.linalg.pinv(vander)  # polynomial coefficients from the window's samples
    slope = torch.zeros_like(vander)
    slope[:, 1:] = powers[1:] * offsets[:, None] ** (powers[1:] - 1)
    value_w = (vander @ fit).to(series)  # (n positions, n samples)
    slope_w = (slope @ fit / dt).to(series)
    windows = series.unfold(1, window, 1)  # (B, T - n + 1, d, n)

    def apply(w: Tensor) -> Tensor:
        head = (windows[:, 0] @ w[:m].T).transpose(1, 2)
        centre = windows @ w[m]
        tail = (windows[:, -1] @ w[m + 1 :].T).transpose(1, 2)
        return torch.cat((head, centre, tail), 1)

    return apply(value_w), apply(slope_w)


def gradient_matching(
    times: Tensor,
    states: Tensor,
    rhs_linear: LinearRHS,
    window: int | None = None,
    order: int = 3,
    trim: int = 0,
) -> Tensor:
    r"""Estimate parameters of an ODE linear in them, ``x' = A(x) p + b(x)``, without integrating.

    The series is smoothed and differentiated by a local polynomial (Savitzky-Golay) filter,
    then ``sum_t ||A(x_t) p + b(x_t) - x'_t||^2`` is minimised for each sample of the batch.

    Parameters
    ----------
    times : Tensor
        Uniform sample times ``(T,)``.
    states : Tensor
        Observed series ``(B, T, d)`` (noisy).
    rhs_linear : callable
        ``states (B, T, d) -> (A (B, T, d, k), b (B, T, d))``, e.g. :func:`lorenz_linear`.
    window : int, optional
        Odd filter length (default ``max(order + 2, T // 40)`` made odd, at least 5): longer
        windows suppress more noise but bias fast features.
    order : int
        Polynomial degree of the filter (>= 1).
    trim : int
        Samples dropped at each end before the least-squares fit (the filter is least accurate
        there).

    Returns
    -------
    Tensor
        Parameters ``(B, k)``.

    Notes
    -----
    Savitzky-Golay filtering fits a polynomial of degree ``order`` to each window by least squares
    and differentiates it at the centre, giving smoothed states :math:`\tilde x_t` and derivatives
    :math:`\dot{\tilde x}_t`; the parameters then solve the linear least-squares problem
    :math:`\min_p \sum_t \|A(\tilde x_t)\, p + b(\tilde x_t) - \dot{\tilde x}_t\|^2`.

    References
    ----------
    J. M. Varah, "A spline least squares method for numerical parameter estimation in
    differential equations", *SIAM J. Sci. Stat. Comput.* 3(1), 28-46, 1982.

    A. Savitzky and M. J. E. Golay, "Smoothing and differentiation of data by simplified least
    squares procedures", *Anal. Chem.* 36(8), 1627-1639, 1964.
    """
    states = _tensor("states", states, 3)
    times = _tensor("times", times, 1, states.dtype, states.device)
    n_times = states.shape[1]
    if times.shape[0] != n_times:
        raise InputError(f"times has {times.shape[0]} samples but states has {n_times} (axis 1)")
    dt = _step(times)
    if not isinstance(order, int) or order < 1:
        raise InputError(f"order must be an integer >= 1, got {order!r}")
    if window is None:
        window = max(order + 2, n_times // 40, 5)
        window += 1 - window % 2
    if not isinstance(window, int) or window % 2 == 0 or window <= order:
        raise InputError(f"window must be an odd integer > order = {order}, got {window!r}")
    if window > n_times:
        raise InputError(f"window = {window} is longer than the series (T = {n_times}); pass a smaller window")
    if not isinstance(trim, int) or trim < 0 or n_times - 2 * trim < 1:
        raise InputError(f"trim must be an integer in [0, T/2), got {trim!r}")
    smooth, slope = _local_polynomial(states, dt, window, order)
    a, b = rhs_linear(smooth)
    batch, _, d = states.shape
    if not isinstance(a, Tensor) or a.ndim != 4 or a.shape[:3] != states.shape or b.shape != states.shape:
        raise InputError(
            f"rhs_linear must return A (B, T, d, k) and b (B, T, d) for states {format_shape(states.shape)}"
        )
    keep = slice(trim, n_times - trim)
    lhs = a[:, keep].reshape(batch, -1, a.shape[-1])
    rhs = (slope - b)[:, keep].reshape(batch, -1, 1)
    # scale the columns so that the least-squares problem is well conditioned
    scale = torch.linalg.vector_norm(lhs, dim=1, keepdim=True).clamp(min=torch.finfo(lhs.dtype).tiny)
    sol = torch.linalg.lstsq(lhs / scale, rhs).solution
    return sol[..., 0] / scale[:, 0]


def lorenz_gradient_matching(times: Tensor, y: Tensor, window: int | None = None, order: int = 3) -> Tensor:
    r"""Gradient-matching estimate of ``(sigma, rho, beta)`` ``(B, 3)`` from Lorenz series ``y`` ``(B, T, 3)``.

    Notes
    -----
    :func:`gradient_matching` with :func:`lorenz_linear`: the Lorenz right-hand side is linear in
    :math:`(\sigma, \rho, \beta)`.

    References
    ----------
    E. N. Lorenz, "Deterministic nonperiodic flow", *J. Atmos. Sci.* 20(2), 130-141, 1963.
    """
    y = _tensor("y", y, 3)
    if y.shape[2] != 3:
        raise InputError(f"y must have shape (B, T, 3) for the Lorenz system, got {format_shape(y.shape)}")
    return gradient_matching(times, y, lorenz_linear, window=window, order=order)


# -- least squares through the integrator ---------------------------------------------------------
def fit_ode(
    rhs: RHS,
    times: Tensor,
    y: Tensor,
    params0: Tensor,
    state0: Tensor | None = None,
    iters: int = 200,
    segments: int = 1,
    continuity: float = 10.0,
    polish: bool = True,
    substeps: int = 4,
    tol: float = 1e-9,
    return_state: bool = False,
) -> tuple[Tensor, History] | tuple[Tensor, Tensor, History]:
    r"""Least-squares parameter estimation through the :func:`rk4` integrator (L-BFGS).

    Minimises ``sum_t ||x(t; p, x0) - y_t||^2 / (2 T d)`` over ``p`` (and ``x0`` when
    ``state0`` is None). With ``segments = S > 1`` (multiple shooting) the window is cut into
    ``S`` pieces, each integrated from its own unknown starting state (initialised at the
    observation there); the misfit gains ``continuity`` times the squared gaps between the end
    of each piece and the start of the next. When the relative change falls below ``1e-5`` (or
    after half the iterations) and ``polish`` is True, the estimate is refined by single
    shooting from the first segment's state, which removes the penalty's bias.

    Parameters
    ----------
    rhs : callable
        ``(state (B, d), params (B, k)) -> (B, d)``.
    times : Tensor
        Uniform observation times ``(T,)``.
    y : Tensor
        Observations ``(B, T, d)``; the computation runs in its dtype (float64 recommended for
        chaotic systems).
    params0 : Tensor
        Starting parameters ``(B, k)`` (e.g. from :func:`gradient_matching`).
    state0 : Tensor, optional
        Known initial state ``(B, d)``; None estimates it too, starting from ``y[:, 0]``.
    iters : int
        Maximum L-BFGS iterations (each with a strong-Wolfe line search), all stages together.
    segments : int
        Number of shooting segments (1: single shooting; at most ``T - 1``).
    continuity : float
        Weight of the continuity penalty relative to the data misfit.
    polish : bool
        Finish multiple shooting with single shooting.
    substeps : int
        RK4 steps per observation interval.
    tol : float
        Stop when the largest relative change of the unknowns (per sample) falls below it.
    return_state : bool
        Also return the estimated initial state ``(B, d)``.

    Returns
    -------
    params : Tensor
        ``(B, k)``.
    state0 : Tensor
        ``(B, d)``, only with ``return_state=True``.
    History
        Objective (mean over the batch, including the continuity term while multiple shooting)
        and relative change per iteration; ``stop_reason`` is ``"tolerance"`` or ``"max_iters"``.

    Notes
    -----
    Single shooting minimises the misfit of one trajectory integrated from :math:`x_0`. Multiple
    shooting cuts :math:`[t_0, t_T]` into segments with their own initial states :math:`s_j` and
    minimises

    .. math::

        \sum_j \sum_{t \in \text{segment } j} \|x(t; p, s_j) - y_t\|^2 + \mu \sum_j \|x(t_{j+1};
        p, s_j) - s_{j+1}\|^2,

    which keeps each integration short and the objective far less multimodal for chaotic
    systems.

    References
    ----------
    H. G. Bock, "Numerical treatment of inverse problems in chemical reaction kinetics", in
    *Modelling of Chemical Reaction Systems*, Springer, 102-125, 1981.

    J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed. Springer, 2006.
    """
    y = _tensor("y", y, 3)
    batch, n_times, d = y.shape
    times = _tensor("times", times, 1)
    if times.shape[0] != n_times:
        raise InputError(f"times has {times.shape[0]} samples but y has {n_times} (axis 1)")
    dt = _step(times)
    params0 = _tensor("params0", params0, 2, y.dtype, y.device)
    _check_batch("params0", params0, batch)
    if state0 is not None:
        state0 = _tensor("state0", state0, 2, y.dtype, y.device)
        _check_batch("state0", state0, batch, d)
    if not isinstance(segments, int) or not 1 <= segments <= n_times - 1:
        raise InputError(f"segments must be an integer in [1, T - 1 = {n_times - 1}], got {segments!r}")
    if not isinstance(substeps, int) or substeps < 1:
        raise InputError(f"substeps must be an integer >= 1, got {substeps!r}")
    check_nonnegative("continuity", float(continuity))
    check_nonnegative("tol", float(tol))
    if not isinstance(iters, int) or iters < 1:
        raise InputError(f"iters must be an integer >= 1, got {iters!r}")

    # L-BFGS skips curvature pairs with s.y < 1e-10, so the objective it sees must not be tiny:
    # squared residuals in units of each sample's data variance, summed (not averaged)
    scale = y.reshape(batch, -1).var(1).clamp(min=torch.finfo(y.dtype).tiny)

    def shooting(n_seg: int):
        """Scaled objective ``(params, free starts) -> (B,)`` for ``n_seg`` segments, the
        bounds of the segments, and the factor from the scaled to the reported objective."""
        bounds = torch.linspace(0, n_times - 1, n_seg + 1, dtype=torch.float64).round().long()
        lengths = torch.diff(bounds)
        longest = int(lengths.max())
        steps = torch.arange(longest + 1)
        index = (bounds[:-1, None] + steps).clamp(max=n_times - 1)  # (S, L + 1) global sample index
        mask = steps < lengths[:, None]
        mask[-1, int(lengths[-1])] = True  # the last segment also matches the final sample
        mask = mask.to(device=y.device, dtype=y.dtype)[None, :, :, None]
        target = y[:, index.to(y.device)]  # (B, S, L + 1, d)
        count = float(mask.sum()) * d
        gap_index = (torch.arange(n_seg - 1, device=y.device), lengths[:-1].to(y.device))
        weight = float(continuity)

        def objective(params: Tensor, free: Tensor) -> Tensor:
            starts = free if state0 is None else torch.cat((state0[:, None], free), 1)
            traj = _rk4(
                rhs, starts.reshape(-1, d), params.repeat_interleave(n_seg, 0), dt, longest + 1, substeps
            ).reshape(batch, n_seg, longest + 1, d)
            value = ((traj - target) * mask).pow(2).sum((1, 2, 3))
            if n_seg > 1:
                value = value + weight * (traj[:, gap_index[0], gap_index[1]] - starts[:, 1:]).pow(2).sum((1, 2))
            return 0.5 * value / scale

        return objective, bounds, scale / count

    monitor = Monitor(iters, tol, objective=lambda _x: torch.zeros(batch), objective_every=1)

    def run_stage(n_seg: int, params: Tensor, starts: Tensor, first: int, last: int, final: bool):
        """L-BFGS iterations ``first .. last - 1``; returns params, starts and the next iteration.

        Intermediate stages stop at a relative change of ``max(tol, 1e-5)``, the final one at
        ``tol`` (through the monitor, which then records ``"tolerance"``)."""
        objective, _, to_report = shooting(n_seg)
        p = params.detach().clone().requires_grad_(True)
        free = (starts if state0 is None else starts[:, 1:]).detach().clone().requires_grad_(True)
        variables = [p, free] if free.numel() else [p]
        opt = torch.optim.LBFGS(
            variables, lr=1.0, max_iter=1, max_eval=25, history_size=20, line_search_fn="strong_wolfe",
            tolerance_grad=0.0, tolerance_change=0.0,
        )

        def flat() -> Tensor:
            return torch.cat((p.detach(), free.detach().reshape(batch, -1)), 1)

        # value and gradient at the accepted point of the last iteration: recorded in the history
        # and handed to L-BFGS when its next step starts by evaluating that same point
        cache: dict[str, object] = {}

        def evaluate() -> Tensor:
            for v in variables:
                v.grad = None
            value = objective(p, free)
            total = value.sum()
            total.backward()
            grads = [v.grad.clone() for v in variables]
            cache.update(at=flat(), value=value.detach(), total=total.detach(), grads=grads)
            return total

        def closure() -> Tensor:
            if "at" in cache and torch.equal(cache["at"], flat()):
                for v, g in zip(variables, cache["grads"]):
                    v.grad = g.clone()
                return cache["total"]
            return evaluate()

        monitor.objective = lambda _x: cache["value"] * to_report
        k = first
        vec = flat()
        while k < last:
            opt.step(closure)
            prev, vec = vec, flat()
            if not bool(torch.isfinite(vec).all()):
                raise InputError(
                    "fit_ode diverged (the trajectory overflowed): start closer, e.g. from gradient_matching, "
                    "or use more segments"
                )
            evaluate()
            change = torch.linalg.vector_norm(vec - prev, dim=1) / torch.linalg.vector_norm(vec, dim=1)
            criterion = float(change.max())
            monitor.tol = float(tol) if final else 0.0
            stop = monitor.step(k, vec, criterion=criterion)
            k += 1
            if stop or (not final and criterion < max(float(tol), 1e-5)):
                break
        new_starts = free.detach() if state0 is None else torch.cat((state0[:, None], free.detach()), 1)
        return p.detach(), new_starts, k

    _, bounds, _ = shooting(segments)
    starts = y[:, bounds[:-1]].clone()  # (B, S, d): observations at the segment starts
    if state0 is not None:
        starts[:, 0] = state0
    params = params0
    if segments > 1 and polish:
        params, starts, k = run_stage(segments, params, starts, 0, max(1, iters // 2), final=False)
        if k < iters:
            params, starts, k = run_stage(1, params, starts[:, :1], k, iters, final=True)
    else:
        params, starts, k = run_stage(segments, params, starts, 0, iters, final=True)
    if monitor._bar is not None:
        monitor._bar.close()
    if return_state:
        return params, starts[:, 0], monitor.history
    return params, monitor.history
