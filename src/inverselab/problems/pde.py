"""PDE estimation problems with analytic references, each solvable by a PINN (the formulations
are in :mod:`inverselab.methods.pinn`) and, where a solver exists, by adjoint-gradient inversion
through our finite-volume solver (``solvers["adjoint"]`` here, run by method ``adjoint``).

- ``pinn-diffusion-1d``: ``u_t = C u_xx - e^{-t}(sin(pi x) - pi^2 sin(pi x))`` on
  ``[-1, 1] x [0, 1]``, ``u = e^{-t} sin(pi x)``, true ``C = 1``, ten observations at ``t = 1``
  (DeepXDE's published example).
- ``heat-conductivity``: ``u_t = div(a grad u) + f`` on ``[-1, 1]^2 x [0, 1]``,
  ``a = 2 + sin(pi x) sin(pi y)``, ``u = e^{-t} sin(pi x) sin(pi y)``; noisy observations of ``u`` at
  random space-time points; ``a`` known (= 2) on the boundary.
- ``poisson-conductivity``: ``-div(a grad u) = f`` on ``[0, 1]^2``,
  ``a = 1 / (1 + x^2 + y^2 + (x - 1)^2 + (y - 1)^2)``, ``u = sin(pi x) sin(pi y)``; noisy
  observations on a regular grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..errors import check_nonnegative, check_positive
from .estimation import EstimationProblem, Estimate, Observations
from .registry import register

Tensor = torch.Tensor
pi = math.pi


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _mesh(low: float, high: float, n: int) -> tuple[Tensor, Tensor]:
    s = torch.linspace(low, high, n, dtype=torch.float64)
    y, x = torch.meshgrid(s, s, indexing="ij")
    return x, y


# -- pinn-diffusion-1d ------------------------------------------------------------------------------


def _diffusion_exact(x: Tensor, t: Tensor) -> Tensor:
    return torch.exp(-t) * torch.sin(pi * x)


@register("pinn-diffusion-1d", kind="estimation",
          description="1-D diffusion coefficient C from 10 observations at t=1 (DeepXDE example)")
def pinn_diffusion_1d(observations: int = 10, noise: float = 0.0, C_init: float = 2.0) -> EstimationProblem:
    check_positive("observations", observations)
    check_nonnegative("noise", noise)

    def observe(seed: int) -> Observations:
        x = torch.linspace(-1, 1, int(observations), dtype=torch.float64)
        t = torch.ones_like(x)
        values = _diffusion_exact(x, t) + noise * torch.randn(x.shape, generator=_generator(seed), dtype=torch.float64)
        return Observations(("x", "t"), torch.stack([x, t], 1), values, float(noise))

    x, t = _mesh(-1, 1, 41)
    return EstimationProblem(
        name="pinn-diffusion-1d",
        observe=observe,
        true_parameters={"C": 1.0},
        true_fields={},
        grid={"x": x, "t": (t + 1) / 2},
        methods={"pinn": {"collocation": 40, "adam_steps": 1000, "lr": 1e-2, "lr_decay": 0.1, "resample_every": 10,
                          "lbfgs_steps": 2000, "record_every": 10}},
        default_method="pinn",
    )


# -- heat-conductivity ------------------------------------------------------------------------------


def _heat_u(x: Tensor, y: Tensor, t: Tensor) -> Tensor:
    return torch.exp(-t) * torch.sin(pi * x) * torch.sin(pi * y)


def _heat_a(x: Tensor, y: Tensor) -> Tensor:
    return 2 + torch.sin(pi * x) * torch.sin(pi * y)


def _heat_source(x: Tensor, y: Tensor, t: Tensor) -> Tensor:
    """``f = u_t - div(a grad u)`` for the reference ``u`` and ``a``."""
    sx, cx, sy, cy = torch.sin(pi * x), torch.cos(pi * x), torch.sin(pi * y), torch.cos(pi * y)
    u = torch.exp(-t) * sx * sy
    grad_a_dot_grad_u = torch.exp(-t) * pi**2 * (cx**2 * sy**2 + sx**2 * cy**2)
    return -u - grad_a_dot_grad_u + 2 * pi**2 * (2 + sx * sy) * u


def _invert_log_conductivity(problem: EstimationProblem, data: Observations, grid, observe: Callable[[Tensor], Tensor],
                             start: float, lam: float, iters: int, reg: str) -> Estimate:
    """``log a`` on ``grid`` by L-BFGS on the misfit of ``observe(a)`` plus ``lam`` times a
    regulariser of ``log a`` (``"smoothness"``: ``||D log a||^2 / 2``, ``"tv"``: smoothed total
    variation, ``"tikhonov"``), from the constant ``start``; ``a`` then interpolated to the
    problem's evaluation grid."""
    from ..operators.base import Operator
    from ..operators.heat import interpolate
    from ..solvers import minimize

    forward = Operator.from_function(lambda m: observe(torch.exp(m)), grid.shape, data.points.shape[0])
    m0 = torch.full((1, *grid.shape), math.log(start), dtype=torch.float64, device=data.values.device)
    m, history = minimize(forward, data.values[None].double(), m0, lam=lam, reg=reg, iters=iters)
    points = torch.stack([problem.grid["x"].reshape(-1), problem.grid["y"].reshape(-1)], 1)
    a = interpolate(torch.exp(m), grid, points).reshape(problem.grid["x"].shape)
    return Estimate(fields={"a": a}, history={"kind": "solver", **history.as_dict()})


def _heat_adjoint(problem: EstimationProblem, data: Observations, seed: int, *, cells: int, steps: int,
                  lam: float, iters: int, reg: str) -> Estimate:
    """log-conductivity by L-BFGS through the Crank-Nicolson finite-volume solver."""
    from ..operators.heat import Grid2D, HeatEquation2D

    grid = Grid2D((cells, cells), ((-1.0, 1.0), (-1.0, 1.0)))
    X, Y = grid.centres()
    dt = 1.0 / steps
    times = dt * torch.arange(steps + 1, dtype=torch.float64)
    source = _heat_source(X[None], Y[None], times[:, None, None])
    heat = HeatEquation2D(grid, data.points, dt, steps, u0=_heat_u(X, Y, torch.zeros(())), source=source)
    return _invert_log_conductivity(problem, data, grid, heat, 2.0, lam, iters, reg)


@register("heat-conductivity", kind="estimation",
          description="conductivity field a(x, y) of the 2-D heat equation from noisy space-time samples")
def heat_conductivity(observations: int = 2500, noise: float = 0.1) -> EstimationProblem:
    check_positive("observations", observations)
    check_nonnegative("noise", noise)

    def observe(seed: int) -> Observations:
        g = _generator(seed)
        points = torch.rand(int(observations), 3, generator=g, dtype=torch.float64)
        points[:, :2] = 2 * points[:, :2] - 1
        values = _heat_u(*points.unbind(1)) + noise * torch.randn(int(observations), generator=g, dtype=torch.float64)
        return Observations(("x", "y", "t"), points, values, float(noise))

    x, y = _mesh(-1, 1, 51)
    return EstimationProblem(
        name="heat-conductivity",
        observe=observe,
        true_parameters={},
        true_fields={"a": _heat_a(x, y)},
        grid={"x": x, "y": y},
        methods={
            "pinn": {"collocation": 2000, "adam_steps": 4000, "lr": 3e-3, "lr_decay": 0.1, "lbfgs_steps": 500,
                     "weights": {"pde": 1e-3}, "record_every": 50},
            "adjoint": {"cells": 32, "steps": 50, "lam": 0.1, "iters": 300, "reg": "smoothness"},
        },
        solvers={"adjoint": _heat_adjoint},
        default_method="pinn",
    )


# -- poisson-conductivity ---------------------------------------------------------------------------


def _poisson_a(x: Tensor, y: Tensor) -> Tensor:
    return 1 / (1 + x**2 + y**2 + (x - 1) ** 2 + (y - 1) ** 2)


def _poisson_u(x: Tensor, y: Tensor) -> Tensor:
    return torch.sin(pi * x) * torch.sin(pi * y)


def _poisson_source(x: Tensor, y: Tensor) -> Tensor:
    """``f = -div(a grad u)`` for the reference ``u`` and ``a``."""
    a = _poisson_a(x, y)
    a_x, a_y = -a**2 * (4 * x - 2), -a**2 * (4 * y - 2)
    u_x = pi * torch.cos(pi * x) * torch.sin(pi * y)
    u_y = pi * torch.sin(pi * x) * torch.cos(pi * y)
    return -(a_x * u_x + a_y * u_y - 2 * pi**2 * a * _poisson_u(x, y))


def _poisson_adjoint(problem: EstimationProblem, data: Observations, seed: int, *, cells: int, lam: float,
                     iters: int, reg: str) -> Estimate:
    """log-conductivity by L-BFGS through the steady finite-volume solver."""
    from ..operators.heat import Grid2D, SteadyDiffusion2D

    grid = Grid2D((cells, cells), ((0.0, 1.0), (0.0, 1.0)))
    X, Y = grid.centres()
    return _invert_log_conductivity(problem, data, grid, SteadyDiffusion2D(grid, data.points, _poisson_source(X, Y)),
                                    0.4, lam, iters, reg)


@register("poisson-conductivity", kind="estimation",
          description="conductivity a(x, y) of -div(a grad u) = f from noisy values on a 50x50 grid")
def poisson_conductivity(grid: int = 50, noise: float = 0.1) -> EstimationProblem:
    check_positive("grid", grid)
    check_nonnegative("noise", noise)

    def observe(seed: int) -> Observations:
        x, y = _mesh(0, 1, int(grid))
        points = torch.stack([x.reshape(-1), y.reshape(-1)], 1)
        values = _poisson_u(x, y).reshape(-1)
        values = values + noise * torch.randn(values.shape, generator=_generator(seed), dtype=torch.float64)
        return Observations(("x", "y"), points, values, float(noise))

    x, y = _mesh(0, 1, 51)
    return EstimationProblem(
        name="poisson-conductivity",
        observe=observe,
        true_parameters={},
        true_fields={"a": _poisson_a(x, y)},
        grid={"x": x, "y": y},
        methods={
            "pinn": {"collocation": 2000, "adam_steps": 3000, "lr": 3e-3, "lr_decay": 0.1, "lbfgs_steps": 500,
                     "weights": {"pde": 1e-2}, "record_every": 50},
            "adjoint": {"cells": 32, "lam": 1.0, "iters": 300, "reg": "smoothness"},
        },
        solvers={"adjoint": _poisson_adjoint},
        default_method="pinn",
    )


# -- wave-speed-1d ---------------------------------------------------------------------------------


def _wave_truth(x: Tensor) -> Tensor:
    """Two layers (2000 -> 2400 m/s at 600 m) with a slow Gaussian lens at 300 m."""
    return 2000 + 400 * torch.sigmoid((x - 600) / 15) - 250 * torch.exp(-(((x - 300) / 60) ** 2))


def _wave_operator(config: dict):
    from ..operators.wave import Wave1D

    nx = int(config["cells"])
    return Wave1D(nx, 10.0, int(config["steps"]), 0.002, sources=[2, nx - 3], receivers=[2, nx // 2, nx - 3],
                  frequency=float(config["frequency"]))


def _wave_adjoint(problem: EstimationProblem, data: Observations, seed: int, *, lam: float, iters: int) -> Estimate:
    """Wave speed by L-BFGS through the differentiable leapfrog solver, from a constant start."""
    from ..solvers import minimize

    op = _wave_operator(problem.config)
    c0 = torch.full((1, op.domain_shape[0]), 2100.0, dtype=torch.float64, device=data.values.device)
    y = data.values.reshape(1, *op.range_shape).double()
    def roughness(c: Tensor) -> Tensor:  # 1-D smoothness, (B,)
        return 0.5 * (c[:, 1:] - c[:, :-1]).pow(2).sum(1)

    c, history = minimize(op, y, c0, lam=lam, reg=roughness, iters=iters, bounds=(1000.0, 4000.0))
    return Estimate(fields={"c": c[0]}, history={"kind": "solver", **history.as_dict()})


@register("wave-speed-1d", kind="estimation",
          description="wave speed c(x) of the 1-D acoustic wave equation from two shots' receiver traces")
def wave_speed_1d(cells: int = 100, steps: int = 500, frequency: float = 10.0, noise: float = 0.01) -> EstimationProblem:
    check_positive("cells", cells)
    check_nonnegative("noise", noise)
    config = {"cells": cells, "steps": steps, "frequency": frequency}
    x = 10.0 * torch.arange(int(cells), dtype=torch.float64)
    truth = _wave_truth(x)

    def observe(seed: int) -> Observations:
        op = _wave_operator(config)
        with torch.no_grad():
            clean = op(truth[None])[0]
        values = clean + noise * clean.std() * torch.randn(clean.shape, generator=_generator(seed), dtype=clean.dtype)
        shots, receivers, nt = clean.shape
        axes = [torch.arange(n, dtype=torch.float64) for n in (shots, receivers, nt)]
        axes[2] = 0.002 * axes[2]  # seconds
        index = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        return Observations(("shot", "receiver", "t"), index, values.reshape(-1), float(noise))

    return EstimationProblem(
        name="wave-speed-1d",
        observe=observe,
        true_parameters={},
        true_fields={"c": truth},
        grid={"x": x},
        methods={"adjoint": {"lam": 1e-4, "iters": 60}},
        solvers={"adjoint": _wave_adjoint},
        default_method="adjoint",
    )
