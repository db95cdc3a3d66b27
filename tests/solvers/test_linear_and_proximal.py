"""Classical solvers: exact solutions on small problems, agreement between algorithms,
constraints, histories and input validation."""

from __future__ import annotations

import pytest
import torch

from inverselab import solvers
from inverselab.errors import InputError
from inverselab.operators import Blur, Gradient, LinearOperator, Operator, ParallelBeam2D
from inverselab.regularizers import L1Wavelet, TotalVariation

G = torch.Generator().manual_seed(0)


def dense(m: int, n: int) -> tuple[LinearOperator, torch.Tensor]:
    a = torch.randn(m, n, generator=G, dtype=torch.float64)
    return LinearOperator.from_function(lambda x: x @ a.T, (n,), (m,)), a


def test_cg_solves_spd_systems_per_sample():
    a = torch.randn(20, 20, generator=G, dtype=torch.float64)
    m = a @ a.T + 20 * torch.eye(20, dtype=torch.float64)
    b = torch.randn(3, 20, generator=G, dtype=torch.float64)
    x, hist = solvers.cg(lambda v: v @ m, b, iters=100, tol=1e-12)
    torch.testing.assert_close(x, torch.linalg.solve(m, b.T).T)
    assert hist.stop_reason == "tolerance" and hist.iterations <= 20


def test_lsqr_and_tikhonov_match_closed_form():
    op, a = dense(30, 12)
    y = torch.randn(2, 30, generator=G, dtype=torch.float64)
    lam = 0.7
    exact = torch.linalg.solve(a.T @ a + lam * torch.eye(12, dtype=torch.float64), (y @ a).T).T
    for method in ("cg", "lsqr"):
        x, _ = solvers.tikhonov(op, y, lam, method=method, iters=200, tol=1e-13)
        torch.testing.assert_close(x, exact, atol=1e-9, rtol=1e-9)
    x, _ = solvers.lsqr(op, y, damp=0.0, iters=200, tol=1e-14)
    torch.testing.assert_close(x, torch.linalg.lstsq(a, y.T).solution.T, atol=1e-9, rtol=1e-9)


def test_tikhonov_gradient_regulariser_cg_equals_lsqr():
    op = Blur.gaussian(16, 1.5)
    x_true = torch.rand(2, 1, 16, 16, generator=G, dtype=torch.float64)
    y = op(x_true)
    a, _ = solvers.tikhonov(op, y, 0.05, reg="gradient", method="cg", iters=500, tol=1e-12)
    b, _ = solvers.tikhonov(op, y, 0.05, reg="gradient", method="lsqr", iters=500, tol=1e-13)
    torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-6)
    grad = Gradient((1, 16, 16))
    residual = op.normal(a) + 0.05 * grad.normal(a) - op.adjoint(y)
    assert residual.abs().max() < 1e-8


def tv_problem():
    torch.manual_seed(0)
    x = torch.zeros(2, 1, 32, 32, dtype=torch.float64)
    x[:, :, 8:24, 10:20] = 1.0
    x[1, :, 4:12, 4:28] += 0.5
    op = Blur.gaussian(32, 1.5)
    y = op(x) + 0.02 * torch.randn(op(x).shape, generator=G, dtype=torch.float64)
    return op, x, y


def objective(op, y, lam, x):
    return (0.5 * (op(x) - y).square().sum((1, 2, 3)) + lam * TotalVariation().value(x)).sum().item()


def test_tv_pdhg_and_admm_reach_the_same_minimum():
    op, x, y = tv_problem()
    lam = 0.02
    a, ha = solvers.tv_pdhg(op, y, lam, iters=1000, tol=1e-9)
    b, hb = solvers.tv_admm(op, y, lam, iters=400, cg_iters=20, tol=1e-9)
    fa, fb = objective(op, y, lam, a), objective(op, y, lam, b)
    assert abs(fa - fb) / fa < 1e-3
    assert (a - b).abs().mean() < 0.01
    assert ha.objective[-1] == pytest.approx(fa / 2, rel=1e-6)  # history holds the batch mean


def test_tv_bounds_and_histories():
    op, x, y = tv_problem()
    xb, hist = solvers.tv_pdhg(op, y, 0.02, iters=200, bounds=(0.0, 1.2), truth=x)
    assert xb.min() >= 0 and xb.max() <= 1.2
    assert len(hist.psnr) == hist.iterations == len(hist.seconds)
    assert hist.psnr[-1] > hist.psnr[0] + 10
    assert all(t2 >= t1 for t1, t2 in zip(hist.seconds, hist.seconds[1:]))
    xa, _ = solvers.tv_admm(op, y, 0.02, iters=100, bounds=(0.0, 1.2))
    assert xa.min() >= 0 and xa.max() <= 1.2


def test_tv_prox_and_fista_decrease_objective():
    op, x, y = tv_problem()
    tv = TotalVariation(prox_iters=50)
    x_f, hist = solvers.fista(op, y, tv.prox, 0.02, iters=150, regularizer_value=tv.value, tol=0)
    x_p, _ = solvers.tv_pdhg(op, y, 0.02, iters=2000, tol=1e-9)
    assert objective(op, y, 0.02, x_f) < 1.01 * objective(op, y, 0.02, x_p)
    assert hist.objective[-1] < hist.objective[0]


def test_wavelet_fista_recovers_sparse_image():
    from inverselab.operators import Wavelet2D

    w = Wavelet2D((1, 32, 32), "haar", levels=3)
    coeffs = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    coeffs[0, 0, torch.randint(0, 32, (30,), generator=G), torch.randint(0, 32, (30,), generator=G)] = 1.0
    x = w.adjoint(coeffs)
    from inverselab.operators import CompressedSensing

    op = CompressedSensing((1, 32, 32), 400, "hartley", seed=3)
    y = op(x)
    xh, _ = solvers.wavelet_fista(op, y, 1e-3, wavelet="haar", levels=3, iters=1500, tol=1e-10)
    assert torch.linalg.vector_norm(xh - x) / torch.linalg.vector_norm(x) < 0.05
    reg = L1Wavelet((1, 32, 32), "haar", 3)
    assert reg.value(xh).item() < 1.5 * reg.value(x).item()


def test_nonlinear_minimize_recovers_parameters():
    # F(x) = exp(-x) elementwise, with bounds
    op = Operator.from_function(lambda x: torch.exp(-x), (10,), (10,))
    x_true = torch.linspace(0.1, 2.0, 10, dtype=torch.float64)[None]
    y = op(x_true)
    for method, iters in (("lbfgs", 50), ("adam", 3000)):
        xh, hist = solvers.minimize(op, y, torch.ones_like(x_true), method=method, iters=iters, lr=0.02, tol=0)
        torch.testing.assert_close(xh, x_true, atol=2e-3, rtol=0)
        assert hist.objective[-1] < 1e-5
    xb, _ = solvers.minimize(op, y, torch.ones_like(x_true), iters=30, bounds=(0.5, 1.5))
    assert xb.min() >= 0.5 and xb.max() <= 1.5
    xr, _ = solvers.minimize(op, y, torch.ones_like(x_true), lam=10.0, reg="tikhonov", iters=50)
    assert torch.linalg.vector_norm(xr) < torch.linalg.vector_norm(x_true)


def test_solver_input_validation():
    op = ParallelBeam2D(16, 8)
    y = op(torch.rand(1, 1, 16, 16))
    bad = y.clone()
    bad[0, 0, 2, 3] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        solvers.tv_pdhg(op, bad, 0.1)
    with pytest.raises(InputError, match="lam"):
        solvers.tikhonov(op, y, -1.0)
    with pytest.raises(InputError, match="measurement of shape"):
        solvers.tv_pdhg(op, y[..., :-1], 0.1)
    with pytest.raises(InputError, match="iters"):
        solvers.tv_pdhg(op, y, 0.1, iters=0)
    with pytest.raises(InputError, match="truth must have shape"):
        solvers.tv_pdhg(op, y, 0.1, truth=torch.zeros(2, 1, 16, 16))
    with pytest.raises(InputError, match="lower <= upper"):
        solvers.tv_pdhg(op, y, 0.1, bounds=(1.0, 0.0))
    with pytest.raises(InputError, match="regulariser"):
        solvers.minimize(op, y, torch.zeros(1, 1, 16, 16), lam=1.0)


def test_progress_bar_context(capsys):
    op, x, y = tv_problem()
    with solvers.progress("tv"):
        solvers.tv_pdhg(op, y, 0.02, iters=5)
    assert "tv" in capsys.readouterr().err


def test_diagonal_preconditioning_reaches_the_same_tv_minimum():
    op, x, y = tv_problem()
    assert op.nonnegative
    a, _ = solvers.tv_pdhg(op, y, 0.02, iters=1000, tol=1e-8, preconditioned=False)
    b, _ = solvers.tv_pdhg(op, y, 0.02, iters=1000, tol=1e-8, preconditioned=True, adaptive=False)
    c, _ = solvers.tv_pdhg(op, y, 0.02, iters=1000, tol=1e-8, preconditioned=True, adaptive=True)
    fa, fb, fc = (objective(op, y, 0.02, t) for t in (a, b, c))
    assert abs(fa - fb) / fa < 1e-4 and abs(fa - fc) / fa < 1e-4
    # rays that miss the image (zero rows of a CT matrix) must not switch the step adaptation off
    ct = ParallelBeam2D(16, 12)
    assert bool((ct(torch.ones(1, 1, 16, 16)) == 0).any())
    yc = ct(x[:, :, ::2, ::2])
    fixed, _ = solvers.tv_pdhg(ct, yc, 0.02, iters=20, preconditioned=True, adaptive=False)
    adapted, _ = solvers.tv_pdhg(ct, yc, 0.02, iters=20, preconditioned=True, adaptive=True)
    assert torch.isfinite(adapted).all() and (fixed - adapted).abs().max() > 1e-4
    from inverselab.operators import CompressedSensing

    cs = CompressedSensing((1, 8, 8), 20)
    with pytest.raises(InputError, match="nonnegative entries"):
        solvers.tv_pdhg(cs, cs(torch.rand(1, 1, 8, 8)), 0.1, preconditioned=True)


def test_spatially_varying_bounds_act_as_a_support_constraint():
    op, x, y = tv_problem()
    support = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    support[..., 4:28, 4:28] = 1
    xs, _ = solvers.tv_pdhg(op, y, 0.02, iters=100, bounds=(0.0, 2.0 * support))
    assert torch.all(xs[..., :4, :] == 0) and xs.max() <= 2.0
    with pytest.raises(InputError, match="lower <= upper everywhere"):
        solvers.tv_pdhg(op, y, 0.02, bounds=(support, 0.5 * support - 0.1))
