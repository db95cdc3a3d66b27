"""Integration of autonomous ODEs ``x'(t) = f(x, p)`` as operators: classical Runge-Kutta
(:func:`rk4`, differentiable by autograd) and the Lorenz system's parameter-to-trajectory map
(:class:`LorenzTrajectory`). Estimation tools built on them are in :mod:`inverselab.solvers.ode`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import InputError, check_finite, format_shape
from .base import Operator

Tensor = torch.Tensor
RHS = Callable[[Tensor, Tensor], Tensor]

__all__ = ["LORENZ_STATE0", "LORENZ_TRUE", "LorenzTrajectory", "lorenz", "rk4"]

#: ``(sigma, rho, beta)`` and initial state of DeepXDE's Lorenz inverse example (t in [0, 3]).
LORENZ_TRUE = (10.0, 15.0, 8.0 / 3.0)
LORENZ_STATE0 = (-8.0, 7.0, 27.0)


# -- checks ---------------------------------------------------------------------------------------
def _tensor(name: str, value, ndim: int, dtype: torch.dtype | None = None, device=None) -> Tensor:
    """``value`` as a finite floating tensor with ``ndim`` dimensions, or InputError."""
    if not isinstance(value, Tensor):
        try:
            value = torch.as_tensor(value, dtype=dtype or torch.get_default_dtype())
        except (TypeError, ValueError, RuntimeError) as exc:
            raise InputError(f"{name} must be a tensor, got {type(value).__name__}") from exc
    if value.is_complex() or not value.is_floating_point():
        if value.is_complex():
            raise InputError(f"{name} must be real, got {value.dtype}")
        value = value.to(dtype or torch.get_default_dtype())
    if value.ndim != ndim:
        want = {1: "(T,)", 2: "(B, n)", 3: "(B, T, d)"}[ndim]
        raise InputError(f"{name} must have shape {want}, got {format_shape(value.shape)}")
    if dtype is not None or device is not None:
        value = value.to(dtype=dtype or value.dtype, device=device or value.device)
    check_finite(name, value)
    return value


def _step(times: Tensor) -> float:
    """The uniform step of ``times`` (T,), or InputError."""
    if times.shape[0] < 2:
        raise InputError(f"times needs at least 2 samples, got {times.shape[0]}")
    diffs = torch.diff(times.double())
    dt = float(diffs.mean())
    if dt == 0 or float((diffs - dt).abs().max()) > 1e-5 * abs(dt):
        raise InputError("times must be uniformly spaced and distinct (e.g. torch.linspace(0, 3, 301))")
    return dt


def _check_batch(name: str, t: Tensor, batch: int, width: int | None = None) -> None:
    if t.shape[0] != batch or (width is not None and t.shape[1] != width):
        w = "n" if width is None else str(width)
        raise InputError(f"{name} must have shape ({batch}, {w}) to match the batch, got {format_shape(t.shape)}")


# -- integration ----------------------------------------------------------------------------------
def rk4(rhs: RHS, state0: Tensor, params: Tensor, times: Tensor, substeps: int = 4) -> Tensor:
    """Integrate ``x' = rhs(x, p)`` with the classical fourth-order Runge-Kutta method.

    Parameters
    ----------
    rhs : callable
        ``(state (B, d), params (B, k)) -> (B, d)``, batched, autonomous.
    state0 : Tensor
        States at ``times[0]``, ``(B, d)``.
    params : Tensor
        Parameters ``(B, k)``.
    times : Tensor
        Uniformly spaced output times ``(T,)`` (decreasing times integrate backwards).
    substeps : int
        RK4 steps between consecutive output times (step ``dt / substeps``).

    Returns
    -------
    Tensor
        States ``(B, T, d)`` at ``times`` (``[:, 0]`` is ``state0``), in the dtype of
        ``state0``, differentiable with respect to ``state0`` and ``params``.
    """
    state0 = _tensor("state0", state0, 2)
    params = _tensor("params", params, 2, state0.dtype, state0.device)
    times = _tensor("times", times, 1)
    _check_batch("params", params, state0.shape[0])
    if not isinstance(substeps, int) or substeps < 1:
        raise InputError(f"substeps must be an integer >= 1, got {substeps!r}")
    return _rk4(rhs, state0, params, _step(times), times.shape[0], substeps)


def _rk4(rhs: RHS, x: Tensor, p: Tensor, dt: float, n_times: int, substeps: int) -> Tensor:
    h = dt / substeps
    first = rhs(x, p)
    if not isinstance(first, Tensor) or first.shape != x.shape:
        got = format_shape(first.shape) if isinstance(first, Tensor) else type(first).__name__
        raise InputError(f"rhs must return the state's shape {format_shape(x.shape)}, got {got}")
    out = [x]
    for n in range(n_times - 1):
        for s in range(substeps):
            k1 = first if n == 0 and s == 0 else rhs(x, p)
            k2 = rhs(torch.add(x, k1, alpha=0.5 * h), p)
            k3 = rhs(torch.add(x, k2, alpha=0.5 * h), p)
            k4 = rhs(torch.add(x, k3, alpha=h), p)
            x = torch.add(x, torch.add(k1 + k4, k2 + k3, alpha=2.0), alpha=h / 6.0)
        out.append(x)
    return torch.stack(out, 1)


# -- Lorenz ---------------------------------------------------------------------------------------
def lorenz(state: Tensor, params: Tensor) -> Tensor:
    """Lorenz right-hand side: ``state (B, 3)``, ``params = (sigma, rho, beta) (B, 3)`` -> ``(B, 3)``."""
    if state.shape[-1] != 3 or params.shape[-1] != 3:
        raise InputError(
            f"lorenz expects states (B, 3) and params (sigma, rho, beta) (B, 3), got "
            f"{format_shape(state.shape)} and {format_shape(params.shape)}"
        )
    x, y, z = state.unbind(-1)
    sigma, rho, beta = params.unbind(-1)
    return torch.stack((sigma * (y - x), x * (rho - z) - y, x * y - beta * z), -1)


class LorenzTrajectory(Operator):
    r"""The parameter-to-observation map of the Lorenz system: ``(sigma, rho, beta)`` ``(B, 3)``
    -> states ``(B, T, 3)`` at ``times`` from a fixed initial state (by :func:`rk4`).

    Parameters
    ----------
    times : Tensor or sequence
        Uniform observation times ``(T,)``; the initial state is taken at ``times[0]``.
    state0 : sequence of 3 floats
        Initial state (default DeepXDE's ``(-8, 7, 27)``).
    substeps : int
        RK4 steps per observation interval.

    Notes
    -----
    The Lorenz system :math:`\dot x = \sigma (y - x)`, :math:`\dot y = x (\rho - z) - y`,
    :math:`\dot z = x y - \beta z` is integrated by the classical fourth-order Runge-Kutta scheme
    with ``substeps`` steps per observation interval; gradients with respect to the parameters
    flow through the integrator by autograd.

    References
    ----------
    E. N. Lorenz, "Deterministic nonperiodic flow", *J. Atmos. Sci.* 20(2), 130-141, 1963.

    E. Hairer, S. P. Nørsett and G. Wanner, *Solving Ordinary Differential Equations I*, 2nd ed.
    Springer, 1993.
    """

    def __init__(self, times, state0=LORENZ_STATE0, substeps: int = 4) -> None:
        times = _tensor("times", times, 1, torch.float64)
        state0 = _tensor("state0", torch.as_tensor(state0, dtype=torch.float64).reshape(1, -1), 2)
        if state0.shape[1] != 3:
            raise InputError(f"state0 must hold 3 values (x, y, z), got {state0.shape[1]}")
        if not isinstance(substeps, int) or substeps < 1:
            raise InputError(f"substeps must be an integer >= 1, got {substeps!r}")
        self.dt = _step(times)
        super().__init__((3,), (times.shape[0], 3))
        self.substeps = substeps
        self.register_buffer("times", times, persistent=False)
        self.register_buffer("state0", state0, persistent=False)

    def _forward(self, params: Tensor) -> Tensor:
        x0 = self.state0.to(params).expand(params.shape[0], 3)
        return _rk4(lorenz, x0, params, self.dt, self.times.shape[0], self.substeps)


