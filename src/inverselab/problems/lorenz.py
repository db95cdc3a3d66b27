"""``lorenz``: the parameters (sigma, rho, beta) of the Lorenz system from a noisy trajectory.

Setting of DeepXDE's Lorenz inverse example: true (10, 15, 8/3), initial state (-8, 7, 27),
t in [0, 3]. Four estimators: gradient matching (no integration) and least squares through the
RK4 integrator (multiple shooting, from the gradient-matching estimate) here, a PINN with the
three parameters as unknown scalars (:mod:`inverselab.methods.pinn`) and a recurrent network
trained across many simulated trajectories (:mod:`inverselab.methods.recurrent`; amortised:
one forward pass per new series).
"""

from __future__ import annotations


import torch

from ..errors import check_nonnegative, check_positive
from ..operators.ode import LORENZ_STATE0, LORENZ_TRUE, LorenzTrajectory, lorenz
from ..solvers.ode import fit_ode, lorenz_gradient_matching
from .estimation import EstimationProblem, Estimate, Observations
from .registry import register

Tensor = torch.Tensor
NAMES = ("sigma", "rho", "beta")
PRIOR = ((5.0, 10.0, 1.5), (15.0, 30.0, 4.0))  # training box of the recurrent network


def lorenz_series(data: Observations) -> tuple[Tensor, Tensor]:
    return data.points[:, 0], data.values[None]


def lorenz_estimate(params: Tensor, history: dict) -> Estimate:
    return Estimate(parameters=dict(zip(NAMES, params.reshape(-1).tolist())), history=history)


def _gradient_matching(problem, data: Observations, seed: int) -> Estimate:
    times, y = lorenz_series(data)
    return lorenz_estimate(lorenz_gradient_matching(times, y), {"kind": "direct"})


def _least_squares(problem, data: Observations, seed: int, *, segments: int, iters: int) -> Estimate:
    times, y = lorenz_series(data)
    start = lorenz_gradient_matching(times, y)
    state0 = torch.tensor([LORENZ_STATE0], dtype=y.dtype)
    params, history = fit_ode(lorenz, times, y, start, state0=state0, iters=iters, segments=segments)
    return lorenz_estimate(params, {"kind": "solver", "start": start.reshape(-1).tolist(), **history.as_dict()})


@register("lorenz", kind="estimation",
          description="Lorenz parameters (sigma, rho, beta) from a noisy trajectory (DeepXDE example)")
def lorenz_problem(samples: int = 101, duration: float = 3.0, noise: float = 0.01) -> EstimationProblem:
    check_positive("samples", samples)
    check_positive("duration", duration)
    check_nonnegative("noise", noise)
    times = torch.linspace(0, duration, int(samples), dtype=torch.float64)

    def observe(seed: int) -> Observations:
        clean = LorenzTrajectory(times)(torch.tensor([LORENZ_TRUE], dtype=torch.float64))[0]
        g = torch.Generator().manual_seed(int(seed))
        noisy = clean + noise * clean.std(0, keepdim=True) * torch.randn(clean.shape, generator=g, dtype=clean.dtype)
        return Observations(("t",), times[:, None], noisy, float(noise))

    return EstimationProblem(
        name="lorenz",
        observe=observe,
        true_parameters=dict(zip(NAMES, LORENZ_TRUE)),
        true_fields={},
        grid={"t": times},
        methods={
            "least-squares": {"segments": 10, "iters": 300},
            "gradient-matching": {},
            "pinn": {"width": 64, "collocation": 400, "adam_steps": 10000, "lr": 3e-3, "lr_decay": 0.1,
                     "lbfgs_steps": 1000, "weighting": "annealing", "record_every": 100},
            "rnn": {"steps": 3000, "hidden": 64, "cell": "gru"},
        },
        solvers={"least-squares": _least_squares, "gradient-matching": _gradient_matching},
        default_method="least-squares",
    )
