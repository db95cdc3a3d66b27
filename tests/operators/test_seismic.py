"""Post-stack convolutional model: adjoint, gradient, physics (interfaces, linearisation), checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inverselab.errors import InputError
from inverselab.operators.base import dottest, gradcheck
from inverselab.operators.seismic import (
    Poststack,
    PoststackLinear,
    acoustic_impedance,
    gardner_density,
    zero_phase_ricker,
)

DT, F0 = 0.004, 20.0


def wavelet() -> torch.Tensor:
    return zero_phase_ricker(F0, DT)  # 39 samples, peak at sample 19


def layered(nt: int, nx: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """Positive impedance sections (m/s * g/cm^3) with random layers."""
    g = torch.Generator().manual_seed(seed)
    steps = 0.15 * torch.randn(batch, nt, nx, generator=g, dtype=torch.float64) * (
        torch.rand(batch, nt, 1, generator=g, dtype=torch.float64) < 0.1
    )
    return 4000 * torch.exp(torch.cumsum(steps, dim=1))


@pytest.mark.parametrize("shape", [(60,), (50, 7), (12, 3, 4)])
def test_dottest_linear(shape, device):
    op = PoststackLinear(shape, wavelet()).to(device)
    assert dottest(op, device=device) < 1e-10
    assert dottest(op, dtype=torch.float32, device=device) < 1e-5


def test_dottest_asymmetric_and_long_wavelets():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(9, generator=g, dtype=torch.float64)
    assert dottest(PoststackLinear((30, 4), w)) < 1e-10
    # a wavelet longer than the trace still gives a same-size output and an exact adjoint
    op = PoststackLinear((10, 2), wavelet())
    assert op(torch.randn(1, 10, 2, dtype=torch.float64)).shape == (1, 10, 2)
    assert dottest(op) < 1e-10


def test_linear_matches_direct_convolution():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(7, generator=g, dtype=torch.float64)  # asymmetric: checks the orientation
    m = torch.randn(2, 25, 3, generator=g, dtype=torch.float64)
    op = PoststackLinear((25, 3), w)
    r = np.zeros((2, 25, 3))
    r[:, :-1] = 0.5 * (m[:, 1:] - m[:, :-1]).numpy()
    h = 3
    expected = np.zeros_like(r)
    for i in range(25):
        for k in range(7):
            j = i - (k - h)
            if 0 <= j < 25:
                expected[:, i] += w[k].item() * r[:, j]
    np.testing.assert_allclose(op(m).numpy(), expected, atol=1e-13)
    np.testing.assert_allclose(op.reflectivity(m).numpy(), r, atol=1e-15)


def test_float32_and_float64_paths_agree():
    """float64 on the CPU convolves by FFT, float32 by conv1d: same operator."""
    op = PoststackLinear((70, 5), wavelet())
    m = torch.randn(2, 70, 5, dtype=torch.float64)
    torch.testing.assert_close(op(m.float()).double(), op(m), rtol=0, atol=1e-6 * float(op(m).abs().max()))
    torch.testing.assert_close(
        op.adjoint(m.float()).double(), op.adjoint(m), rtol=0, atol=1e-6 * float(op.adjoint(m).abs().max())
    )
    z = layered(70, 5)
    exact = Poststack((70, 5), wavelet())
    torch.testing.assert_close(exact(z.float()).double(), exact(z), rtol=0, atol=1e-6)


def test_single_trace_and_batch_agree_with_sections():
    op2 = PoststackLinear((40, 5), wavelet())
    op1 = PoststackLinear(40, wavelet())
    m = torch.randn(3, 40, 5, dtype=torch.float64)
    y = op2(m)
    for j in range(5):
        torch.testing.assert_close(op1(m[:, :, j]), y[:, :, j])
    for b in range(3):
        torch.testing.assert_close(op2(m[b : b + 1]), y[b : b + 1])
    z = layered(40, 5, batch=3)
    torch.testing.assert_close(Poststack(40, wavelet())(z[:, :, 2]), Poststack((40, 5), wavelet())(z)[:, :, 2])


def test_gradient_of_nonlinear_model():
    op = Poststack((30, 4), wavelet())
    assert gradcheck(op) < 1e-7  # default point 1 + 0.1 N(0, 1): positive
    z = layered(20, 3, batch=1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: op_small(x), (z,), eps=1e-3, atol=1e-8)
    log_op = Poststack((30, 4), wavelet(), log=True)
    assert gradcheck(log_op, torch.randn(2, 30, 4, dtype=torch.float64)) < 1e-7


def op_small(z: torch.Tensor) -> torch.Tensor:
    return Poststack((20, 3), zero_phase_ricker(F0, DT, half_length=5))(z)


def test_log_parametrisation_is_the_same_model():
    z = layered(50, 3)
    torch.testing.assert_close(Poststack((50, 3), wavelet(), log=True)(z.log()), Poststack((50, 3), wavelet())(z))


def test_single_interface_gives_the_scaled_wavelet_at_the_interface():
    nt, k = 101, 40
    w = wavelet()
    h = w.shape[0] // 2
    z = torch.full((1, nt), 3000.0, dtype=torch.float64)
    z[:, k + 1 :] = 6000.0  # interface between samples k and k + 1: r_k = 3000 / 9000
    d = Poststack(nt, w)(z)[0]
    expected = torch.zeros(nt, dtype=torch.float64)
    expected[k - h : k + h + 1] = w / 3
    torch.testing.assert_close(d, expected, atol=1e-15, rtol=0)
    assert int(d.argmax()) == k
    # linearised: r_k = ln(2) / 2 instead of tanh(ln(2) / 2) = 1/3
    d_lin = PoststackLinear(nt, w)(z.log())[0]
    torch.testing.assert_close(d_lin, expected * (3 * math.log(2) / 2), atol=1e-15, rtol=0)
    # a drop in impedance flips the polarity
    d_down = Poststack(nt, w)(z.flip(1).contiguous())[0]
    assert int(d_down.argmin()) == nt - 2 - k and d_down.min().item() == pytest.approx(-1 / 3)


def test_linearisation_error_vanishes_with_the_contrast():
    """Poststack(Z) - PoststackLinear(ln Z) = W (tanh(Dm/2) - Dm/2): relative size (Dm)^2 / 12,
    so halving the contrast divides the mismatch by ~4 (first-order agreement, and more)."""
    g = torch.Generator().manual_seed(2)
    s = torch.cumsum(torch.randn(1, 200, 3, generator=g, dtype=torch.float64), dim=1)
    s = s / s.abs().max()
    w = wavelet()
    exact, lin = Poststack((200, 3), w), PoststackLinear((200, 3), w)
    errors = []
    for contrast in (0.4, 0.2, 0.1, 0.05):
        m = math.log(4000) + contrast * s
        y_lin = lin(m)
        errors.append(float((exact(m.exp()) - y_lin).norm() / y_lin.norm()))
    assert errors[-1] < 1e-4
    for a, b in zip(errors, errors[1:]):
        assert 0.2 < b / a < 0.3


def test_zero_phase_ricker():
    w = wavelet()
    assert w.shape == (39,) and w.dtype == torch.float64
    assert int(w.argmax()) == 19 and w[19].item() == pytest.approx(1.0)
    torch.testing.assert_close(w, w.flip(0))
    assert zero_phase_ricker(F0, DT, half_length=4).shape == (9,)


def test_gardner_and_impedance_units():
    assert gardner_density(2000.0) == pytest.approx(0.31 * 2000**0.25)
    assert gardner_density(2000.0) == pytest.approx(2.073, abs=1e-3)  # g/cm^3
    vp = torch.tensor([1500.0, 3000.0, 5500.0], dtype=torch.float64)
    torch.testing.assert_close(acoustic_impedance(vp), vp * 0.31 * vp**0.25)
    torch.testing.assert_close(acoustic_impedance(vp, 2.0), 2 * vp)
    with pytest.raises(InputError, match="m/s"):
        gardner_density(torch.tensor([1500.0, -1.0]))
    with pytest.raises(InputError, match="velocity"):
        gardner_density(0.0)
    with pytest.raises(InputError, match="density"):
        acoustic_impedance(vp, torch.zeros(3))


def test_bad_inputs_raise_input_error():
    w = wavelet()
    op = Poststack((20, 3), w)
    z = layered(20, 3)
    with pytest.raises(InputError, match="impedance must be > 0"):
        op(-z)
    bad = z.clone()
    bad[0, 5, 1] = 0.0
    with pytest.raises(InputError, match="impedance must be > 0"):
        op(bad)
    bad[0, 5, 1] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        op(bad)
    with pytest.raises(InputError, match="NaN"):
        Poststack((20, 3), w, log=True)(bad)
    with pytest.raises(InputError, match="batch dimension"):
        op(z[0])
    with pytest.raises(InputError, match=r"\(B, 20, 3\)"):
        PoststackLinear((20, 3), w)(torch.zeros(1, 20, 4, dtype=torch.float64))
    with pytest.raises(InputError, match="real"):
        PoststackLinear((20, 3), w)(torch.zeros(1, 20, 3, dtype=torch.complex128))
    with pytest.raises(InputError, match="odd"):
        PoststackLinear(20, torch.ones(4))
    with pytest.raises(InputError, match="odd"):
        PoststackLinear(20, torch.ones(3, 3))
    with pytest.raises(InputError, match="NaN"):
        PoststackLinear(20, torch.tensor([0.0, float("nan"), 0.0]))
    with pytest.raises(InputError, match="zeros"):
        PoststackLinear(20, torch.zeros(5))
    with pytest.raises(InputError, match="2 time samples"):
        PoststackLinear((1, 4), w)
    with pytest.raises(InputError, match="shape"):
        PoststackLinear((2, 3, 4, 5), w)
    with pytest.raises(InputError, match="frequency"):
        zero_phase_ricker(-1.0, DT)
