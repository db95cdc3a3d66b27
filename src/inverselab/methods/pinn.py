"""Physics-informed neural networks as an estimation method.

A *formulation* poses one problem as a PINN: ``build(problem, data, seed, width) -> PINN`` with
its fields, unknown scalars, residuals, conditions and observations (:mod:`inverselab.models.pinn`).
Method ``pinn`` applies to every problem with a formulation; it trains the network (Adam, then
L-BFGS) and evaluates the unknown fields on the problem's grid. A plugin adds a formulation for
its own problem with :func:`formulation`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch

from ..models.pinn import PINN, Box, Constraint, Dirichlet, FitConfig, Initial, Net, Observed, Scalar, fit
from ..operators.ode import LORENZ_STATE0
from ..problems.estimation import EstimationProblem, Estimate, Observations
from ..problems.lorenz import NAMES as LORENZ_NAMES
from ..problems.pde import _diffusion_exact, _heat_source, _poisson_source
from ..registry import Parameter, parameters_of
from ..solvers.history import History
from .base import register

Tensor = torch.Tensor
pi = math.pi

__all__ = ["FORMULATIONS", "formulation"]

#: Problem name -> (builder, description).
FORMULATIONS: dict[str, tuple[Callable[..., PINN], str]] = {}


def formulation(problem: str, description: str) -> Callable[[Callable], Callable]:
    """Decorator registering ``build(problem, data, seed, width) -> PINN`` for problem ``problem``."""

    def wrap(build: Callable) -> Callable:
        FORMULATIONS[problem] = (build, description)
        return build

    return wrap


_PARAMETERS = (Parameter("width", int, 32, "neurons per hidden layer", low=1),
               *parameters_of(FitConfig, skip=("seed",)),
               Parameter("seed", int, 0, "seed of the initial weights and collocation points", low=0))


@register("pinn", "physics-informed neural network: the unknowns as networks or scalars, trained on the "
          "composite loss (data + PDE residual + conditions)",
          applies_to=lambda problem: problem.name in FORMULATIONS or f"{problem.name} has no PINN formulation",
          parameters=_PARAMETERS)
def _pinn(problem: EstimationProblem, data: Observations, truth=None, *, width: int = 32, seed: int = 0,
          **settings) -> tuple[Estimate, History]:
    start = time.perf_counter()
    build, _ = FORMULATIONS[problem.name]
    model = build(problem, data, seed, int(width))
    history = fit(model, seed=seed, **settings)
    points = {c: values.reshape(-1) for c, values in problem.grid.items()}
    n = next(iter(points.values())).numel()
    for c in model.domain.names:  # time-independent fields: any time will do
        points.setdefault(c, torch.zeros(n, dtype=torch.float64))
    fields = {name: model.evaluate(name, points).reshape(true.shape).double()
              for name, true in problem.true_fields.items()}
    estimate = Estimate(parameters=model.scalars(), fields=fields,
                        history={"kind": "pinn", **history.as_dict()}, seconds=history.seconds[-1])
    return estimate, History(seconds=[time.perf_counter() - start], iterations=len(history.seconds),
                             stop_reason="max_iters")


@formulation("pinn-diffusion-1d", "PINN (tanh MLP, Adam then L-BFGS) with C as an unknown scalar")
def _diffusion_pinn(problem: EstimationProblem, data: Observations, seed: int, width: int):
    def exact(v):
        return _diffusion_exact(v.x, v.t)

    def pde(v):
        source = torch.exp(-v.t) * (torch.sin(pi * v.x) - pi**2 * torch.sin(pi * v.x))
        return v.u_t - v.C * v.u_xx + source

    return PINN(
        domain=Box(x=(-1, 1), t=(0, 1)),
        fields={"u": Net(hidden=(width,) * 3)},
        parameters={"C": Scalar(problem.config["C_init"])},
        residuals={"pde": pde},
        conditions={"bc": Dirichlet("u", exact, points=20),
                    "ic": Initial("u", exact, points=10)},
        observations={"data": Observed("u", data.points.float(), data.values.float())},
        seed=seed,
    )



@formulation("heat-conductivity", "PINN: networks for u and a (a = 2 on the boundary built in)")
def _heat_pinn(problem: EstimationProblem, data: Observations, seed: int, width: int):
    def a_known_on_boundary(a, v):  # a = 2 on the boundary, by construction
        return 2 + (1 - v.x**2) * (1 - v.y**2) * a

    def pde(v):
        div = v.a_x * v.u_x + v.a_y * v.u_y + v.a * (v.u_xx + v.u_yy)
        return v.u_t - div - _heat_source(v.x, v.y, v.t)

    return PINN(
        domain=Box(x=(-1, 1), y=(-1, 1), t=(0, 1)),
        fields={"u": Net(hidden=(width,) * 3),
                "a": Net(hidden=(width,) * 3, inputs=("x", "y"), transform=a_known_on_boundary)},
        residuals={"pde": pde},
        conditions={"bc": Dirichlet("u", 0.0, points=500),
                    "ic": Initial("u", lambda v: torch.sin(pi * v.x) * torch.sin(pi * v.y), points=500)},
        observations={"data": Observed("u", data.points.float(), data.values.float())},
        seed=seed,
    )



@formulation("poisson-conductivity", "PINN: networks for u and a (a = 0.4 exp(net) > 0)")
def _poisson_pinn(problem: EstimationProblem, data: Observations, seed: int, width: int):
    def pde(v):
        return v.a_x * v.u_x + v.a_y * v.u_y + v.a * (v.u_xx + v.u_yy) + _poisson_source(v.x, v.y)

    return PINN(
        domain=Box(x=(0, 1), y=(0, 1)),
        fields={"u": Net(hidden=(width,) * 3),
                "a": Net(hidden=(width,) * 3, scale=0.1, transform=lambda a, v: 0.4 * torch.exp(a))},
        residuals={"pde": pde},
        conditions={"bc": Dirichlet("u", 0.0, points=400)},
        observations={"data": Observed("u", data.points.float(), data.values.float())},
        seed=seed,
    )


@formulation("lorenz", "PINN: one network for (X, Y, Z), the three parameters as unknown scalars")
def _lorenz_pinn(problem, data: Observations, seed: int, width: int):
    def ode(v):
        return (v.X_t - v.sigma * (v.Y - v.X), v.Y_t - (v.X * (v.rho - v.Z) - v.Y), v.Z_t - (v.X * v.Y - v.beta * v.Z))

    x0, y0, z0 = LORENZ_STATE0
    t = data.points.float()
    return PINN(
        domain=Box(t=(0, float(problem.config["duration"]))),
        fields={"state": Net(hidden=(width,) * 3, outputs=("X", "Y", "Z"), scale=10.0)},
        parameters={name: Scalar(1.0, scale=10.0) for name in LORENZ_NAMES},
        residuals={"ode": ode},
        conditions={"initial": Constraint(lambda v: (v.X - x0, v.Y - y0, v.Z - z0), on="initial", points=1)},
        observations={f"data_{c}": Observed(c, t, data.values[:, k].float()) for k, c in enumerate("XYZ")},
        seed=seed,
    )
