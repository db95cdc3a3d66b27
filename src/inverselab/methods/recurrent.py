"""A recurrent network trained across simulated trajectories as an estimator of ODE parameters
(amortised: one forward pass per new series), for the ``lorenz`` problem."""

from __future__ import annotations

import time

import torch

from ..models.recurrent import SeriesRegressor, series_statistics, train_series_regressor
from ..problems.estimation import Estimate, Observations
from ..problems.lorenz import PRIOR, lorenz_estimate, lorenz_series
from ..solvers.history import History
from ..solvers.ode import lorenz_simulator
from .base import register

__all__: list[str] = []


@register("rnn", "GRU trained on simulated trajectories with parameters from a prior box (amortised)",
          applies_to=lambda problem: problem.name == "lorenz" or f"{problem.name} is not the Lorenz problem")
def _rnn(problem, y: Observations, truth=None, *, steps: int = 3000, hidden: int = 64, cell: str = "gru",
         seed: int = 0) -> tuple[Estimate, History]:
    times, series = lorenz_series(y)
    simulate = lorenz_simulator(times.float(), noise=problem.config["noise"])
    torch.manual_seed(seed)
    mean, std = series_statistics(simulate, *PRIOR, seed=seed)
    model = SeriesRegressor(3, 3, PRIOR[0], PRIOR[1], mean=mean, std=std, hidden=hidden, cell=cell)
    start = time.perf_counter()
    record = train_series_regressor(model, simulate, *PRIOR, steps=steps, seed=seed)
    trained = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        model(series.float())  # warm-up
        start = time.perf_counter()
        params = model(series.float())
        infer = time.perf_counter() - start
    estimate = lorenz_estimate(params.double(), {"kind": "trained", "training_seconds": trained,
                                              "inference_seconds": infer, **record})
    estimate.seconds = infer
    return estimate, History(seconds=[infer], iterations=steps, stop_reason="max_iters")
