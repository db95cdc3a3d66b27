"""1-D acoustic wave solver: gradient, physics (travel times, amplitudes), boundaries, checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inverselab.errors import InputError
from inverselab.operators import gradcheck
from inverselab.operators.wave import Wave1D, ricker

DX, C0, F0 = 5.0, 2000.0, 10.0
DT = 0.5 * DX / C0  # Courant number 0.5; 40 grid points per dominant wavelength


def smooth_model(nx: int, batch: int = 2) -> torch.Tensor:
    x = torch.arange(nx, dtype=torch.float64)
    c = 2000 + 300 * torch.exp(-(((x - nx / 2) / (nx / 10)) ** 2)) + 2 * x
    return torch.stack([c, 1800 + 400 * torch.sigmoid((x - nx / 3) / 4)])[:batch]


def first_arrival(trace: np.ndarray, dt: float, delay: float) -> float:
    """Arrival of the wavelet's peak: the peak of the trace's time derivative (the 1-D
    Green's function is a step), minus the wavelet's delay."""
    rate = np.gradient(trace, dt)
    return float(np.argmax(rate)) * dt - delay


@pytest.mark.parametrize("absorbing", [10, 0])  # PML + one-way condition, one-way condition alone
def test_gradient_matches_finite_differences(absorbing):
    op = Wave1D(60, 10.0, 200, 0.002, [5, 50], [10, 30, 55], frequency=12.0, absorbing=absorbing)
    # c is O(1e3) m/s: a step of 1e-2 m/s keeps the central difference far from round-off,
    # whose relative size is 1e-16 / eps (~1e-6 with the default eps = 1e-6)
    assert gradcheck(op, smooth_model(60), eps=1e-2) < 1e-6


@pytest.mark.parametrize("courant", [0.5, 1.0])
def test_travel_time_and_amplitude_match_the_analytic_solution(courant):
    nt, src, dt = 400, 60, courant * DX / C0
    offsets = [0, 20, 50]
    op = Wave1D(200, DX, nt, dt, [src], [src + d for d in offsets], F0)
    y = op(torch.full((1, 200), C0, dtype=torch.float64))[0, 0].numpy()
    t = np.arange(nt) * dt
    delay = 1.5 / F0
    for trace, d in zip(y, offsets):
        expected = d * DX / C0
        assert abs(first_arrival(trace, dt, delay) - expected) <= 2 * dt
        # u = (c / 2) * integral of the Ricker wavelet, delayed by the travel time; the error
        # is numerical dispersion, growing with distance below Courant number 1
        tau = t - expected - delay
        analytic = C0 / 2 * tau * np.exp(-((math.pi * F0 * tau) ** 2))
        assert np.abs(trace - analytic).max() < 0.02 * np.abs(analytic).max()


def test_travel_time_through_two_layers():
    nx, nt, dt = 200, 500, 1e-3
    c = torch.full((1, nx), 1500.0, dtype=torch.float64)
    c[:, 100:] = 2500.0
    op = Wave1D(nx, DX, nt, dt, [40], [160], F0)
    trace = op(c)[0, 0, 0].numpy()
    expected = 60 * DX / 1500 + 60 * DX / 2500  # interface half-way between cells 99 and 100
    assert abs(first_arrival(trace, dt, 1.5 / F0) - expected) <= 2 * dt
    # a homogeneous model at either speed would be far off
    assert abs(120 * DX / 1500 - expected) > 20 * dt and abs(120 * DX / 2500 - expected) > 20 * dt


@pytest.mark.parametrize("absorbing, tolerance", [(20, 1e-4), (0, 1e-2)])
def test_edge_reflections_are_small(absorbing, tolerance):
    nx, nt, pad = 120, 480, 600
    c = smooth_model(nx, 1)
    src, receivers = 60, [60, 110]
    op = Wave1D(nx, DX, nt, DT, [src], receivers, F0, absorbing)
    # the reference sees the same model on a domain whose edges are too far to answer in time
    ref = Wave1D(nx + 2 * pad, DX, nt, DT, [src + pad], [r + pad for r in receivers], F0, absorbing)
    big = torch.nn.functional.pad(c[:, None], (pad, pad), mode="replicate")[:, 0]
    # the recording must include the echo from the farther model edge at both receivers
    echo = (2 * (nx - src) * DX) / float(c.max()) + 3 / F0
    assert nt * DT > echo
    with torch.no_grad():
        y, y_ref = op(c)[0, 0], ref(big)[0, 0]
    error = (y - y_ref).abs().amax(-1) / y_ref.abs().amax(-1)
    assert float(error.max()) < tolerance


def test_wavefield_matches_traces_and_energy_leaves():
    nx, nt = 120, 480
    op = Wave1D(nx, DX, nt, DT, [30, 90], [0, 45, 119], F0)
    with torch.no_grad():
        c = smooth_model(nx)
        u = op.wavefield(c)
        torch.testing.assert_close(u[..., [0, 45, 119]].transpose(2, 3), op(c))
        # after 0.6 s the waves have left a homogeneous model through the absorbing layers (a
        # heterogeneous one keeps a slowly decaying coda of internal reflections)
        u = op.wavefield(torch.full((1, nx), C0, dtype=torch.float64))
    assert u.shape == (1, 2, nt, nx)
    assert float(u[:, :, -1].abs().max()) < 1e-4 * float(u.abs().max())


def test_shots_and_batch_are_independent_and_float32_agrees():
    nx, nt = 80, 150
    c = smooth_model(nx)
    both = Wave1D(nx, DX, nt, DT, [10, 70], [20, 40, 60], F0)(c)
    assert both.shape == (2, 2, 3, nt)
    for shot, src in enumerate([10, 70]):
        single = Wave1D(nx, DX, nt, DT, [src], [20, 40, 60], F0)(c[1:])
        torch.testing.assert_close(single[0, 0], both[1, shot])
    single32 = Wave1D(nx, DX, nt, DT, [10, 70], [20, 40, 60], F0)(c.float())
    assert single32.dtype == torch.float32
    torch.testing.assert_close(single32, both.float(), rtol=0, atol=1e-4 * float(both.abs().max()))


def test_runs_on_the_input_device(device):
    op = Wave1D(50, DX, 100, DT, [25], [10, 40], F0).to(device)
    c = smooth_model(50).to(device).requires_grad_(True)
    y = op(c)
    assert y.device.type == torch.device(device).type
    (g,) = torch.autograd.grad(y.square().sum(), c)
    assert g.device == c.device and bool(torch.isfinite(g).all()) and float(g.abs().max()) > 0
    torch.testing.assert_close(y.cpu(), Wave1D(50, DX, 100, DT, [25], [10, 40], F0)(c.detach().cpu()))


def test_ricker():
    w = ricker(10.0, 1e-3, 400)
    assert w.shape == (400,) and w.dtype == torch.float32
    assert int(w.argmax()) == 150 and float(w.max()) == pytest.approx(1.0)
    torch.testing.assert_close(w[150 - 40 : 150], w[151 : 191].flip(0))  # symmetric about the peak
    assert abs(float(w.sum())) * 1e-3 < 1e-6  # zero mean
    assert int(ricker(25.0, 1e-3, 100, delay=0.05, dtype=torch.float64).argmax()) == 50
    with pytest.raises(InputError, match="frequency"):
        ricker(0.0, 1e-3, 10)


def test_invalid_inputs_raise_input_error():
    op = Wave1D(60, 10.0, 50, 0.002, [5], [10])
    c = torch.full((1, 60), 2000.0)
    with pytest.raises(InputError, match=r"CFL violated: max\(c\)\*dt/dx = 1\.2 > 1; reduce dt below 0\.001667"):
        op(torch.full((1, 60), 6000.0))
    for bad in (-1.0, 0.0):
        with pytest.raises(InputError, match="velocity must be > 0"):
            op(c.clone().index_fill_(1, torch.tensor([7]), bad))
    for bad in (math.nan, math.inf):
        with pytest.raises(InputError, match="NaN or infinite"):
            op(c.clone().index_fill_(1, torch.tensor([7]), bad))
    with pytest.raises(InputError, match="expects input of shape"):
        op(c[0])
    with pytest.raises(InputError, match="source index 60 is outside the model: use indices 0 to 59"):
        Wave1D(60, 10.0, 50, 0.002, [60], [10])
    with pytest.raises(InputError, match="receiver index -1 is outside"):
        Wave1D(60, 10.0, 50, 0.002, [5], [-1])
    with pytest.raises(InputError, match="integer grid indices"):
        Wave1D(60, 10.0, 50, 0.002, [5.5], [10])
    with pytest.raises(InputError, match="at least one"):
        Wave1D(60, 10.0, 50, 0.002, [], [10])
    with pytest.raises(InputError, match="dt must be"):
        Wave1D(60, 10.0, 50, -0.002, [5], [10])
    with pytest.raises(InputError, match="absorbing must be"):
        Wave1D(60, 10.0, 50, 0.002, [5], [10], absorbing=-1)


def test_a_few_lbfgs_steps_reduce_the_misfit():
    from inverselab.solvers import minimize

    nx = 40
    x = torch.arange(nx, dtype=torch.float64)
    truth = (2000 + 250 * torch.exp(-(((x - 20) / 5) ** 2)))[None]
    op = Wave1D(nx, 10.0, 150, 0.002, [0, 39], list(range(0, nx, 3)), 15.0, absorbing=10)
    y = op(truth).detach()
    x0 = torch.full_like(truth, 2000.0)
    x, hist = minimize(op, y, x0, iters=4, tol=0)
    misfit0 = float(torch.linalg.vector_norm(op(x0) - y))
    misfit = float(torch.linalg.vector_norm(op(x) - y))
    assert misfit < 0.5 * misfit0
    assert float(torch.linalg.vector_norm(x - truth)) < float(torch.linalg.vector_norm(x0 - truth))
