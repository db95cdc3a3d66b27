"""ODE parameter estimation: RK4, gradient matching, least squares by multiple shooting, and a
recurrent regressor, on DeepXDE's Lorenz inverse setting (sigma, rho, beta) = (10, 15, 8/3)."""

from __future__ import annotations

import math

import pytest
import torch

from inverselab.errors import InputError
from inverselab.models.recurrent import SeriesRegressor, series_statistics, train_series_regressor
from inverselab.solvers.history import History
from inverselab.solvers.ode import (
    LORENZ_STATE0,
    LORENZ_TRUE,
    LorenzTrajectory,
    fit_ode,
    gradient_matching,
    lorenz,
    lorenz_gradient_matching,
    lorenz_simulator,
    rk4,
)

TRUE = torch.tensor([LORENZ_TRUE], dtype=torch.float64)
TIMES = torch.linspace(0, 3, 101, dtype=torch.float64)  # 0.03 s sampling


def _oscillator(state, params):
    """x'' = -w^2 x as a first-order system; params = w^2."""
    return torch.stack((state[:, 1], -params[:, 0] * state[:, 0]), -1)


def _lorenz_data(noise: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    clean = LorenzTrajectory(TIMES, substeps=8)(TRUE)
    gen = torch.Generator().manual_seed(seed)
    noisy = clean + noise * clean.std(1, keepdim=True) * torch.randn(clean.shape, generator=gen, dtype=clean.dtype)
    return clean, noisy


def test_rk4_converges_at_fourth_order():
    w = torch.tensor([[1.5], [3.0]], dtype=torch.float64)
    x0 = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    times = torch.linspace(0, 2, 11, dtype=torch.float64)
    exact = torch.stack((torch.cos(w * times), -w * torch.sin(w * times)), -1)  # (B, T, 2)
    errors = [float((rk4(_oscillator, x0, w**2, times, substeps=n) - exact).abs().max()) for n in (2, 4, 8, 16)]
    orders = [math.log2(a / b) for a, b in zip(errors, errors[1:])]
    assert all(3.8 < p < 4.3 for p in orders), (errors, orders)
    # differentiable: d x(T) / d w^2 by autograd agrees with a central difference
    p = (w**2).clone().requires_grad_(True)
    rk4(_oscillator, x0, p, times, substeps=8)[:, -1, 0].sum().backward()
    eps = 1e-6
    fd = (rk4(_oscillator, x0, w**2 + eps, times, 8) - rk4(_oscillator, x0, w**2 - eps, times, 8))[:, -1, 0] / (2 * eps)
    assert torch.allclose(p.grad[:, 0], fd, rtol=1e-5, atol=1e-8)


def test_lorenz_trajectory_operator_matches_rk4():
    op = LorenzTrajectory(TIMES, substeps=4)
    assert op.domain_shape == (3,) and op.range_shape == (101, 3)
    params = torch.tensor([LORENZ_TRUE, (12.0, 20.0, 2.0)], dtype=torch.float64)
    out = op(params)
    ref = rk4(lorenz, torch.tensor([LORENZ_STATE0] * 2, dtype=torch.float64), params, TIMES, substeps=4)
    assert out.shape == (2, 101, 3) and torch.equal(out, ref)
    assert torch.allclose(out[:, 0], torch.tensor(LORENZ_STATE0, dtype=torch.float64))
    assert op(params.float()).dtype == torch.float32


def test_gradient_matching_on_clean_lorenz_data():
    clean, _ = _lorenz_data(0.0)
    est = lorenz_gradient_matching(TIMES, clean)
    assert est.shape == (1, 3)
    assert float(((est - TRUE) / TRUE).abs().max()) < 0.02  # well inside the ~10% asked of it
    # the generic form on a linear ODE x' = -k x, with A(x) = -x, b = 0
    t = torch.linspace(0, 1, 51, dtype=torch.float64)
    x = torch.exp(-torch.tensor([[0.7], [2.0]], dtype=torch.float64) * t)[..., None]  # (2, T, 1)
    k = gradient_matching(t, x, lambda s: (-s[..., None], torch.zeros_like(s)))
    assert torch.allclose(k[:, 0], torch.tensor([0.7, 2.0], dtype=torch.float64), rtol=1e-3)


def test_fit_ode_multiple_shooting_from_ones_recovers_lorenz():
    """From (1, 1, 1) and an unknown initial state: 20 shooting segments, then a single-shooting
    polish; 1% noise. (Single shooting from (1, 1, 1) lands in a wrong local minimum.)"""
    _, noisy = _lorenz_data(0.01)
    start = torch.ones(1, 3, dtype=torch.float64)
    params, state0, hist = fit_ode(
        lorenz, TIMES, noisy, start, segments=20, iters=150, substeps=2, tol=1e-8, return_state=True
    )
    rel = ((params - TRUE) / TRUE).abs()
    assert float(rel.max()) < 0.01, params
    assert torch.allclose(state0, torch.tensor([LORENZ_STATE0], dtype=torch.float64), atol=0.2)
    assert isinstance(hist, History) and hist.iterations == len(hist.seconds) == len(hist.criterion)
    assert hist.stop_reason == "tolerance" and hist.iterations < 150
    assert hist.objective_iters == list(range(1, hist.iterations + 1))
    assert hist.objective[-1] < hist.objective[0] and all(b >= a for a, b in zip(hist.seconds, hist.seconds[1:]))
    # the final misfit is at the noise level: 0.5 * mean squared residual ~ 0.5 * noise variance
    noise_var = float((0.01 * noisy.std(1)).pow(2).mean())
    assert 0.3 * noise_var < hist.objective[-1] < 0.7 * noise_var


def test_series_regressor_learns_lorenz_parameters():
    torch.manual_seed(0)
    low, high = (5.0, 10.0, 1.5), (15.0, 30.0, 4.0)
    simulate = lorenz_simulator(torch.linspace(0, 3, 61), noise=0.01, substeps=1)
    mean, std = series_statistics(simulate, low, high, n=128, seed=5)
    model = SeriesRegressor(3, 3, low, high, mean, std, hidden=16, cell="gru")
    hist = train_series_regressor(
        model, simulate, low, high, steps=300, batch_size=32, lr=1e-2, seed=1, progress=False, val_size=256
    )
    assert len(hist["loss"]) == hist["steps"] == 300 and hist["lr"][0] > hist["lr"][-1]
    prior, final = sum(hist["prior_mean_error"]) / 3, sum(hist["val_error"][-1]) / 3
    assert final < 0.5 * prior, (hist["prior_mean_error"], hist["val_error"][-1])
    # outputs stay in the box
    x = simulate(torch.tensor([LORENZ_TRUE, (6.0, 28.0, 3.5)]), torch.Generator().manual_seed(3))
    with torch.no_grad():
        pred = model(x)
    assert bool((pred > torch.tensor(low)).all() and (pred < torch.tensor(high)).all())
    # a saved state_dict (with standardisation and box) reproduces the predictions
    clone = SeriesRegressor(3, 3, 0.0, 1.0, hidden=16, cell="gru")
    clone.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(clone(x), pred)
    # an untrained model (any cell) predicts the centre of the box: the prior-mean predictor
    fresh = SeriesRegressor(3, 3, low, high, mean, std, hidden=8, layers=2, cell="lstm")
    with torch.no_grad():
        assert torch.allclose(fresh(x), torch.tensor([[10.0, 20.0, 2.75]] * 2))


def test_bad_inputs_raise_input_error():
    x0 = torch.tensor([LORENZ_STATE0], dtype=torch.float64)
    with pytest.raises(InputError, match=r"state0 must have shape \(B, n\)"):
        rk4(lorenz, x0[0], TRUE, TIMES)  # state without batch dimension
    with pytest.raises(InputError, match=r"params must have shape \(1, n\) to match the batch"):
        rk4(lorenz, x0, TRUE.repeat(2, 1), TIMES)  # batch mismatch
    with pytest.raises(InputError, match="state0 holds 3 NaN or infinite values"):
        rk4(lorenz, x0 * float("nan"), TRUE, TIMES)
    with pytest.raises(InputError, match="times must be uniformly spaced"):
        rk4(lorenz, x0, TRUE, TIMES**2)  # non-uniform times
    with pytest.raises(InputError, match="substeps must be an integer >= 1, got 0"):
        rk4(lorenz, x0, TRUE, TIMES, substeps=0)
    with pytest.raises(InputError, match=r"rhs must return the state's shape \(1, 3\), got \(1, 2\)"):
        rk4(lambda s, p: s[:, :2], x0, TRUE, TIMES)  # rhs returns the wrong shape
    with pytest.raises(InputError, match=r"lorenz expects states \(B, 3\)"):
        lorenz(torch.zeros(1, 2), TRUE)
    y = LorenzTrajectory(TIMES)(TRUE)
    with pytest.raises(InputError, match=r"y must have shape \(B, T, 3\) for the Lorenz system"):
        lorenz_gradient_matching(TIMES, y[..., :2])
    with pytest.raises(InputError, match="times has 100 samples but states has 101"):
        lorenz_gradient_matching(TIMES[:-1], y)
    with pytest.raises(InputError, match="window must be an odd integer > order = 3, got 4"):
        lorenz_gradient_matching(TIMES, y, window=4)
    bad = y.clone()
    bad[0, 5, 1] = float("inf")
    with pytest.raises(InputError, match="y holds 1 NaN or infinite values"):
        lorenz_gradient_matching(TIMES, bad)
    with pytest.raises(InputError, match="y holds 1 NaN or infinite values"):
        fit_ode(lorenz, TIMES, bad, TRUE)
    with pytest.raises(InputError, match=r"params0 must have shape \(1, n\) to match the batch"):
        fit_ode(lorenz, TIMES, y, TRUE.repeat(2, 1))
    with pytest.raises(InputError, match=r"segments must be an integer in \[1, T - 1 = 100\], got 0"):
        fit_ode(lorenz, TIMES, y, TRUE, segments=0)
    with pytest.raises(InputError, match=r"state0 must have shape \(1, 3\) to match the batch, got \(1, 2\)"):
        fit_ode(lorenz, TIMES, y, TRUE, state0=torch.zeros(1, 2))
    with pytest.raises(InputError, match=r"LorenzTrajectory expects input of shape \(B, 3\)"):
        LorenzTrajectory(TIMES)(torch.ones(3))
    with pytest.raises(InputError, match="state0 must hold 3 values"):
        LorenzTrajectory(TIMES, state0=(1.0, 2.0))
    model = SeriesRegressor(3, 3, 0.0, 1.0, hidden=4)
    with pytest.raises(InputError, match=r"SeriesRegressor expects series of shape \(B, T, 3\)"):
        model(torch.zeros(2, 10, 2))
    with pytest.raises(InputError, match="series holds 30 NaN or infinite values"):
        model(torch.full((1, 10, 3), float("nan")))
    with pytest.raises(InputError, match="the box needs low < high for every parameter"):
        SeriesRegressor(3, 3, (0.0, 1.0, 2.0), (1.0, 1.0, 3.0))  # empty box
    with pytest.raises(InputError, match="unknown recurrent cell 'rnn'"):
        SeriesRegressor(3, 3, 0.0, 1.0, cell="rnn")
    with pytest.raises(InputError, match="low must hold 3 values, got 2"):
        train_series_regressor(model, lambda p, g: torch.zeros(len(p), 5, 3), (0, 0), (1, 1), steps=1)
