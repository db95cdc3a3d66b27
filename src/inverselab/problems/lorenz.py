"""``lorenz``: the parameters (sigma, rho, beta) of the Lorenz system from a noisy trajectory.

Setting of DeepXDE's Lorenz inverse example: true (10, 15, 8/3), initial state (-8, 7, 27),
t in [0, 3]. Four estimators: gradient matching (no integration), least squares through the
RK4 integrator (multiple shooting, from the gradient-matching estimate), a PINN with the
three parameters as unknown scalars, and a recurrent network trained across many simulated
trajectories (amortised: one forward pass per new series).
"""

from __future__ import annotations

import time

import torch

from ..errors import check_nonnegative, check_positive
from ..solvers.ode import LORENZ_STATE0, LORENZ_TRUE, LorenzTrajectory, fit_ode, lorenz, lorenz_gradient_matching
from .estimation import EstimationMethod, EstimationProblem, Estimate, Observations
from .pde import _pinn_method
from .registry import register

Tensor = torch.Tensor
NAMES = ("sigma", "rho", "beta")
PRIOR = ((5.0, 10.0, 1.5), (15.0, 30.0, 4.0))  # training box of the recurrent network


def _series(data: Observations) -> tuple[Tensor, Tensor]:
    return data.points[:, 0], data.values[None]


def _as_estimate(params: Tensor, history: dict) -> Estimate:
    return Estimate(parameters=dict(zip(NAMES, params.reshape(-1).tolist())), history=history)


def _gradient_matching(problem, data: Observations, seed: int) -> Estimate:
    times, y = _series(data)
    return _as_estimate(lorenz_gradient_matching(times, y), {"kind": "direct"})


def _least_squares(problem, data: Observations, seed: int, *, segments: int, iters: int) -> Estimate:
    times, y = _series(data)
    start = lorenz_gradient_matching(times, y)
    state0 = torch.tensor([LORENZ_STATE0], dtype=y.dtype)
    params, history = fit_ode(lorenz, times, y, start, state0=state0, iters=iters, segments=segments)
    return _as_estimate(params, {"kind": "solver", "start": start.reshape(-1).tolist(), **history.as_dict()})


def _lorenz_pinn(problem, data: Observations, seed: int, width: int):
    from ..models.pinn import PINN, Box, Constraint, Net, Observed, Scalar

    def ode(v):
        return (v.X_t - v.sigma * (v.Y - v.X), v.Y_t - (v.X * (v.rho - v.Z) - v.Y), v.Z_t - (v.X * v.Y - v.beta * v.Z))

    x0, y0, z0 = LORENZ_STATE0
    t = data.points.float()
    return PINN(
        domain=Box(t=(0, float(problem.config["duration"]))),
        fields={"state": Net(hidden=(width,) * 3, outputs=("X", "Y", "Z"), scale=10.0)},
        parameters={name: Scalar(1.0, scale=10.0) for name in NAMES},
        residuals={"ode": ode},
        conditions={"initial": Constraint(lambda v: (v.X - x0, v.Y - y0, v.Z - z0), on="initial", points=1)},
        observations={f"data_{c}": Observed(c, t, data.values[:, k].float()) for k, c in enumerate("XYZ")},
        seed=seed,
    )


def _rnn(problem, data: Observations, seed: int, *, steps: int, hidden: int, cell: str) -> Estimate:
    from ..models.recurrent import SeriesRegressor, series_statistics, train_series_regressor
    from ..solvers.ode import lorenz_simulator

    times, y = _series(data)
    simulate = lorenz_simulator(times.float(), noise=problem.config["noise"])
    torch.manual_seed(seed)
    mean, std = series_statistics(simulate, *PRIOR, seed=seed)
    model = SeriesRegressor(3, 3, PRIOR[0], PRIOR[1], mean=mean, std=std, hidden=hidden, cell=cell)
    start = time.perf_counter()
    record = train_series_regressor(model, simulate, *PRIOR, steps=steps, seed=seed)
    trained = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        model(y.float())  # warm-up
        start = time.perf_counter()
        params = model(y.float())
        infer = time.perf_counter() - start
    estimate = _as_estimate(params.double(), {"kind": "trained", "training_seconds": trained,
                                              "inference_seconds": infer, **record})
    estimate.seconds = infer
    return estimate


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
            "least-squares": EstimationMethod(
                _least_squares, "least squares through RK4 (multiple shooting, L-BFGS) from gradient matching",
                {"segments": 10, "iters": 300}),
            "gradient-matching": EstimationMethod(
                _gradient_matching, "linear least squares on Savitzky-Golay derivatives (no integration)"),
            "pinn": _pinn_method(
                _lorenz_pinn, "PINN: one network for (X, Y, Z), the three parameters as unknown scalars",
                width=64, collocation=400, adam_steps=10000, lr=3e-3, lr_decay=0.1, lbfgs_steps=1000,
                weighting="annealing", record_every=100),
            "rnn": EstimationMethod(
                _rnn, "GRU trained on simulated trajectories with parameters from a prior box (amortised)",
                {"steps": 3000, "hidden": 64, "cell": "gru"}),
        },
        default_method="least-squares",
    )
