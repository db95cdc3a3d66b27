"""Heat equation with unknown conductivity: adjoint gradients against finite differences,
second-order convergence on manufactured solutions, conservation, observation map, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from inverselab.errors import InputError
from inverselab.operators.base import gradcheck
from inverselab.operators.heat import (
    Grid2D,
    HeatEquation2D,
    SteadyDiffusion2D,
    diffusion,
    diffusion_matrix,
    interpolate,
    solve_heat,
    solve_steady,
)

PI = math.pi
F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


@pytest.fixture
def grid() -> Grid2D:
    # non-square cells and an offset origin, so hx / hy or x / y mix-ups show up
    return Grid2D((8, 10), ((-0.5, 1.5), (0.25, 1.25)))


def rand_kappa(grid: Grid2D, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.exp(0.4 * torch.randn(batch, *grid.shape, generator=gen(seed), dtype=F64))


def random_points(grid: Grid2D, n: int, t_max: float | None, seed: int = 1) -> torch.Tensor:
    (x0, x1), (y0, y1) = grid.extent
    r = torch.rand(n, 3 if t_max is not None else 2, generator=gen(seed), dtype=F64)
    cols = [x0 + (x1 - x0) * r[:, 0], y0 + (y1 - y0) * r[:, 1]]
    if t_max is not None:
        cols.append(t_max * r[:, 2])
    return torch.stack(cols, 1)


# -- grid and the discrete operator -----------------------------------------------------------
def test_grid_geometry():
    g = Grid2D((4, 5), ((1.0, 2.0), (-1.0, 1.0)))
    assert g.hx == pytest.approx(0.2) and g.hy == pytest.approx(0.5)
    X, Y = g.centres()
    assert X.shape == Y.shape == (4, 5) and X.dtype == F64
    assert float(X[0, 0]) == pytest.approx(1.1) and float(X[0, -1]) == pytest.approx(1.9)
    assert float(Y[0, 0]) == pytest.approx(-0.75) and float(Y[-1, 0]) == pytest.approx(0.75)
    assert torch.all(X[1:] == X[:1]) and torch.all(Y[:, 1:] == Y[:, :1])


@pytest.mark.parametrize(
    "shape, extent, match",
    [
        ((1, 5), ((0, 1), (0, 1)), ">= 2"),
        ((4, 5), ((1, 0), (0, 1)), "swap the bounds"),
        ((4, 5), ((0, 1), (0, float("nan"))), "finite"),
        ((4,), ((0, 1), (0, 1)), r"\(ny, nx\)"),
    ],
)
def test_grid_validation(shape, extent, match):
    with pytest.raises(InputError, match=match):
        Grid2D(shape, extent)


@pytest.mark.parametrize("boundary", ["dirichlet", "neumann"])
def test_matrix_is_symmetric_and_matches_diffusion(grid, boundary):
    kappa = rand_kappa(grid, 1)[0]
    u = torch.randn(grid.shape, generator=gen(3), dtype=F64)
    A, b = diffusion_matrix(kappa, grid, boundary, boundary_value=0.7)
    assert abs(A - A.T).max() == 0.0  # exactly symmetric: the solver's transpose solve is a plain one
    Lu = diffusion(kappa, u, grid, boundary, 0.7).reshape(-1).numpy()
    assert np.abs(A @ u.reshape(-1).numpy() + b - Lu).max() < 1e-10 * np.abs(Lu).max()
    eig = np.linalg.eigvalsh(A.toarray())
    if boundary == "dirichlet":
        assert eig.max() < 0  # negative definite
    else:
        assert abs(eig.max()) < 1e-9 * abs(eig.min()) and np.abs(A.sum(axis=0)).max() < 1e-9


def test_diffusion_exact_cases(grid):
    kappa = rand_kappa(grid, 2)
    # constants equal to the boundary value are steady states; with Neumann every constant is
    c = torch.full((2, *grid.shape), 0.3, dtype=F64)
    assert diffusion(kappa, c, grid, "dirichlet", 0.3).abs().max() < 1e-11
    assert diffusion(kappa, c, grid, "neumann").abs().max() < 1e-11
    assert diffusion(kappa, c, grid, "dirichlet", 0.0).abs().max() > 0.1
    # a linear u in x with constant kappa: zero in the interior columns (second differences)
    X, _ = grid.centres()
    Lu = diffusion(torch.full(grid.shape, 2.0, dtype=F64), 3 * X[None], grid, "dirichlet", 0.0)
    assert Lu[:, 1:-1, 1:-1].abs().max() < 1e-10


# -- gradients: adjoint state against central differences -------------------------------------
@pytest.mark.parametrize("scheme", ["crank-nicolson", "backward-euler"])
@pytest.mark.parametrize("boundary", ["dirichlet", "neumann"])
def test_kappa_gradient_matches_finite_differences(grid, scheme, boundary):
    X, Y = grid.centres()
    u0 = torch.exp(-((X - 0.5) ** 2 + (Y - 0.75) ** 2) / 0.1)
    steps, dt = 5, 0.02
    source = torch.randn(steps + 1, *grid.shape, generator=gen(5), dtype=F64)
    points = random_points(grid, 30, steps * dt)
    op = HeatEquation2D(grid, points, dt, steps, u0, source, scheme, boundary, boundary_value=0.4)
    err = gradcheck(op, rand_kappa(grid, 2, seed=7))
    assert err < 1e-6, err


@pytest.mark.parametrize("scheme", ["crank-nicolson", "backward-euler"])
@pytest.mark.parametrize("boundary", ["dirichlet", "neumann"])
def test_u0_and_source_gradients_match_finite_differences(grid, scheme, boundary):
    steps, dt, B = 5, 0.03, 2
    kappa = rand_kappa(grid, B, seed=2)
    u0 = torch.randn(B, *grid.shape, generator=gen(8), dtype=F64)
    source = torch.randn(B, steps + 1, *grid.shape, generator=gen(9), dtype=F64)
    W = torch.randn(B, steps + 1, *grid.shape, generator=gen(10), dtype=F64)

    def J(k, a, f):
        return (W * solve_heat(k, a, f, grid, dt, steps, scheme, boundary, 0.25)).sum()

    u0.requires_grad_(True)
    source.requires_grad_(True)
    kappa.requires_grad_(True)
    gk, ga, gf = torch.autograd.grad(J(kappa, u0, source), (kappa, u0, source))
    eps = 1e-6
    args = [kappa, u0, source]
    for i, grad in ((1, ga), (2, gf), (0, gk)):
        x = args[i]
        v = torch.randn(x.shape, generator=gen(11 + i), dtype=F64)
        with torch.no_grad():
            plus, minus = list(args), list(args)
            plus[i], minus[i] = x + eps * v, x - eps * v
            fd = (J(*plus) - J(*minus)) / (2 * eps)
        ad = (grad * v).sum()
        assert abs(float(fd - ad)) < 1e-6 * max(abs(float(fd)), abs(float(ad))), (i, float(fd), float(ad))


def test_adjoint_gradient_equals_autograd_through_dense_time_loop(grid):
    """The adjoint sweep agrees with plain autograd through a dense re-implementation of the
    theta scheme (built from `diffusion` only), including the boundary-value term."""
    steps, dt, theta, g = 4, 0.05, 0.5, 0.6
    kappa = rand_kappa(grid, 1, seed=4).requires_grad_(True)
    u0 = torch.randn(1, *grid.shape, generator=gen(1), dtype=F64)
    W = torch.randn(1, steps + 1, *grid.shape, generator=gen(2), dtype=F64)
    n = grid.ny * grid.nx
    basis = torch.eye(n, dtype=F64).reshape(n, *grid.shape)

    def dense(k):
        b = diffusion(k, torch.zeros_like(u0), grid, "dirichlet", g).reshape(-1)
        A = (diffusion(k.expand(n, *grid.shape), basis, grid, "dirichlet", g).reshape(n, n) - b[None]).T
        M = torch.eye(n, dtype=F64) - theta * dt * A
        u, out = u0.reshape(-1), [u0.reshape(-1)]
        for _ in range(steps):
            u = torch.linalg.solve(M, u + (1 - theta) * dt * (A @ u) + dt * b)
            out.append(u)
        return torch.stack(out).reshape(1, steps + 1, *grid.shape)

    ref = dense(kappa)
    U = solve_heat(kappa, u0, None, grid, dt, steps, boundary_value=g)
    assert (U - ref).abs().max() < 1e-12
    (g_ref,) = torch.autograd.grad((W * ref).sum(), kappa)
    (g_adj,) = torch.autograd.grad((W * U).sum(), kappa)
    assert (g_adj - g_ref).abs().max() < 1e-10 * g_ref.abs().max()


def _numpy_diffusion_matrix(kappa: np.ndarray, grid: Grid2D, g: float) -> tuple[np.ndarray, np.ndarray]:
    """Dense finite-volume ``div(kappa grad u) = A u + b`` assembled cell by cell: harmonic-mean
    conductivities on interior faces, the half cell to the Dirichlet value ``g`` on the boundary."""
    ny, nx = grid.shape
    A, b = np.zeros((ny * nx, ny * nx)), np.zeros(ny * nx)
    for j in range(ny):
        for i in range(nx):
            p = j * nx + i
            for dj, di, h in ((0, -1, grid.hx), (0, 1, grid.hx), (-1, 0, grid.hy), (1, 0, grid.hy)):
                jj, ii = j + dj, i + di
                if 0 <= jj < ny and 0 <= ii < nx:
                    c = 2 * kappa[j, i] * kappa[jj, ii] / (kappa[j, i] + kappa[jj, ii]) / h**2
                    A[p, jj * nx + ii] += c
                else:
                    c = 2 * kappa[j, i] / h**2
                    b[p] += c * g
                A[p, p] -= c
    return A, b


@pytest.mark.parametrize("scheme, theta", [("crank-nicolson", 0.5), ("backward-euler", 1.0)])
def test_heat_solve_matches_a_dense_numpy_theta_step(grid, scheme, theta):
    """Each step solves ``(I - theta dt A) u1 = (I + (1 - theta) dt A) u0 + dt b + dt (theta f1 +
    (1 - theta) f0)``, written out with dense NumPy matrices, with a source and ``g != 0`` so that
    every weight of the scheme counts."""
    steps, dt, g = 3, 0.02, 0.3
    kappa = rand_kappa(grid, 1, seed=6)[0]
    u0 = torch.randn(*grid.shape, generator=gen(7), dtype=F64)
    source = torch.randn(1, steps + 1, *grid.shape, generator=gen(8), dtype=F64)
    A, b = _numpy_diffusion_matrix(kappa.numpy(), grid, g)
    eye = np.eye(A.shape[0])
    f = source[0].reshape(steps + 1, -1).numpy()
    u, expected = u0.reshape(-1).numpy(), [u0.reshape(-1).numpy()]
    for m in range(steps):
        rhs = (eye + (1 - theta) * dt * A) @ u + dt * b + dt * (theta * f[m + 1] + (1 - theta) * f[m])
        u = np.linalg.solve(eye - theta * dt * A, rhs)
        expected.append(u)
    U = solve_heat(kappa, u0, source, grid, dt, steps, scheme, "dirichlet", g)
    np.testing.assert_allclose(U.reshape(steps + 1, -1).numpy(), np.stack(expected), rtol=0, atol=1e-12,
                               err_msg=f"solve_heat ({scheme}) differs from the dense theta step")


def test_steady_gradients_match_finite_differences(grid):
    source = torch.randn(*grid.shape, generator=gen(3), dtype=F64)
    op = SteadyDiffusion2D(grid, random_points(grid, 25, None), source, boundary_value=0.3)
    assert gradcheck(op, rand_kappa(grid, 2, seed=5)) < 1e-6
    kappa = rand_kappa(grid, 2)
    f = torch.randn(2, *grid.shape, generator=gen(4), dtype=F64, requires_grad=True)
    W = torch.randn(2, *grid.shape, generator=gen(6), dtype=F64)
    (gf,) = torch.autograd.grad((W * solve_steady(kappa, f, grid, 0.3)).sum(), f)
    v = torch.randn(f.shape, generator=gen(7), dtype=F64)
    with torch.no_grad():
        plus = (W * solve_steady(kappa, f + 1e-6 * v, grid, 0.3)).sum()
        fd = (plus - (W * solve_steady(kappa, f - 1e-6 * v, grid, 0.3)).sum()) / 2e-6
    assert abs(float(fd - (gf * v).sum())) < 1e-6 * abs(float(fd))


def test_broadcast_kappa_and_source_sum_gradients(grid):
    steps, dt = 3, 0.05
    kappa = rand_kappa(grid, 1)[0].requires_grad_(True)  # (ny, nx), shared
    source = torch.randn(1, steps + 1, *grid.shape, generator=gen(1), dtype=F64, requires_grad=True)
    u0 = torch.randn(3, *grid.shape, generator=gen(2), dtype=F64)
    U = solve_heat(kappa, u0, source, grid, dt, steps)
    assert U.shape == (3, steps + 1, *grid.shape)
    gk, gf = torch.autograd.grad(U.square().sum(), (kappa, source))
    gk_sum = torch.zeros_like(gk)
    gf_sum = torch.zeros_like(gf)
    for b in range(3):
        k = kappa.detach().clone().requires_grad_(True)
        f = source.detach().clone().requires_grad_(True)
        Ub = solve_heat(k[None], u0[b : b + 1], f, grid, dt, steps)
        assert torch.allclose(Ub[0], U[b], atol=1e-14)
        a, c = torch.autograd.grad(Ub.square().sum(), (k, f))
        gk_sum += a
        gf_sum += c
    assert torch.allclose(gk, gk_sum, rtol=1e-12) and torch.allclose(gf, gf_sum, rtol=1e-12)


def test_float32_input_gives_float32_outputs_and_gradients(grid, device):
    steps, dt = 3, 0.05
    X, Y = grid.centres()
    op = HeatEquation2D(grid, random_points(grid, 12, steps * dt), dt, steps, torch.sin(X) * Y, boundary_value=1.0)
    op = op.to(device)
    k64 = rand_kappa(grid, 2).to(device)
    k32 = k64.float().requires_grad_(True)
    y32 = op(k32)
    assert y32.dtype == torch.float32 and y32.device.type == torch.device(device).type
    (g32,) = torch.autograd.grad(y32.sum(), k32)
    assert g32.dtype == torch.float32 and g32.device == k32.device
    k = k32.detach().double().requires_grad_(True)
    (g64,) = torch.autograd.grad(op(k).sum(), k)
    assert torch.allclose(g32.double(), g64, rtol=1e-4, atol=1e-6 * float(g64.abs().max()))


# -- accuracy: manufactured solutions ---------------------------------------------------------
def transient_error(n: int, T: float = 0.5) -> float:
    grid = Grid2D((n, n), ((-1.0, 1.0), (-1.0, 1.0)))
    X, Y = grid.centres()
    steps = n // 4  # dt = T / steps = h (h = 2 / n)
    dt = T / steps
    sx, sy, cx, cy = torch.sin(PI * X), torch.sin(PI * Y), torch.cos(PI * X), torch.cos(PI * Y)
    kappa = 2 + sx * sy
    e = torch.exp(-dt * torch.arange(steps + 1, dtype=F64))[:, None, None]
    u = e * sx * sy
    # f = u_t - div(kappa grad u) = u_t - kappa lap(u) - grad(kappa) . grad(u)
    f = -u - (kappa * (-2 * PI**2 * u) + e * PI**2 * (cx**2 * sy**2 + sx**2 * cy**2))
    U = solve_heat(kappa, u[0], f[None], grid, dt, steps, "crank-nicolson")
    return float((U[0] - u).abs().max())


def steady_error(n: int) -> float:
    grid = Grid2D((n, n), ((0.0, 1.0), (0.0, 1.0)))
    X, Y = grid.centres()
    D = 1 + X**2 + Y**2 + (X - 1) ** 2 + (Y - 1) ** 2
    u = torch.sin(PI * X) * torch.sin(PI * Y)
    # a = 1 / D, grad a = -grad D / D^2, f = -(a lap u + grad a . grad u)
    f = 2 * PI**2 * u / D + (
        (4 * X - 2) * PI * torch.cos(PI * X) * torch.sin(PI * Y)
        + (4 * Y - 2) * PI * torch.sin(PI * X) * torch.cos(PI * Y)
    ) / D**2
    return float((solve_steady(1 / D, f, grid)[0] - u).abs().max())


@pytest.mark.parametrize("error", [transient_error, steady_error])
def test_second_order_convergence(error):
    sizes = [8, 16, 32, 64]
    errs = [error(n) for n in sizes]
    orders = [math.log2(a / b) for a, b in zip(errs, errs[1:])]
    assert all(o >= 1.8 for o in orders), (errs, orders)
    assert errs[-1] < 5e-3


def semidiscrete_errors(scheme: str) -> list[float]:
    """Time-discretisation error only: against exp(T A) u0 of the same spatial operator."""
    grid = Grid2D((10, 10), ((0.0, 1.0), (0.0, 1.0)))
    kappa = 1 + torch.rand(grid.shape, generator=gen(0), dtype=F64)
    X, Y = grid.centres()
    u0 = torch.sin(PI * X) * torch.sin(2 * PI * Y) + X * (1 - X)
    T = 0.05
    A, _ = diffusion_matrix(kappa, grid)
    exact = scipy.linalg.expm(T * A.toarray()) @ u0.reshape(-1).numpy()
    errs = []
    for steps in (4, 8, 16, 32):
        U = solve_heat(kappa, u0, None, grid, T / steps, steps, scheme)
        errs.append(float(np.abs(U[0, -1].reshape(-1).numpy() - exact).max()))
    return errs


@pytest.mark.parametrize("scheme, order", [("backward-euler", 1.0), ("crank-nicolson", 2.0)])
def test_temporal_order(scheme, order):
    errs = semidiscrete_errors(scheme)
    orders = [math.log2(a / b) for a, b in zip(errs, errs[1:])]
    assert all(abs(o - order) < 0.2 for o in orders[1:]), (errs, orders)


@pytest.mark.parametrize("scheme", ["crank-nicolson", "backward-euler"])
def test_neumann_conserves_total_heat(grid, scheme):
    kappa = rand_kappa(grid, 2)
    u0 = torch.rand(2, *grid.shape, generator=gen(1), dtype=F64) + 1.0
    U = solve_heat(kappa, u0, None, grid, 0.05, 20, scheme, "neumann")
    heat = U.sum((-2, -1)) * grid.hx * grid.hy
    assert (heat - heat[:, :1]).abs().max() < 1e-10 * heat.abs().max()
    assert (U[:, -1] - U[:, 0]).abs().max() > 0.1  # it did diffuse
    # the Dirichlet problem with a cold boundary loses heat
    Ud = solve_heat(kappa, u0, None, grid, 0.05, 20, scheme, "dirichlet", 0.0)
    assert float(Ud[:, -1].sum()) < 0.5 * float(Ud[:, 0].sum())


def test_steady_state_is_the_limit_of_the_transient(grid):
    kappa = rand_kappa(grid, 1)
    f = torch.randn(1, *grid.shape, generator=gen(2), dtype=F64)
    u_inf = solve_steady(kappa, f, grid, boundary_value=0.5)
    f_t = f[:, None].expand(1, 31, *grid.shape)
    U = solve_heat(kappa, torch.zeros_like(f), f_t, grid, 1.0, 30, "backward-euler", boundary_value=0.5)
    assert (U[:, -1] - u_inf).abs().max() < 1e-8 * u_inf.abs().max()


# -- observations -----------------------------------------------------------------------------
def test_interpolate_is_exact_for_linear_fields(grid):
    steps, dt = 4, 0.1
    X, Y = grid.centres()
    t = dt * torch.arange(steps + 1, dtype=F64)[:, None, None]

    def field(x, y, t):
        return 0.3 + 1.7 * x - 0.9 * y + 2.5 * t

    U = torch.stack([field(X, Y, t), 2 * field(X, Y, t)])  # (2, steps + 1, ny, nx)
    (x0, x1), (y0, y1) = grid.extent
    r = torch.rand(50, 3, generator=gen(0), dtype=F64)
    # interior: inside the hull of the cell centres
    pts = torch.stack(
        [
            x0 + grid.hx / 2 + (x1 - x0 - grid.hx) * r[:, 0],
            y0 + grid.hy / 2 + (y1 - y0 - grid.hy) * r[:, 1],
            steps * dt * r[:, 2],
        ],
        1,
    )
    pts[0] = torch.tensor([x0 + grid.hx / 2, y1 - grid.hy / 2, steps * dt], dtype=F64)  # hull corner, last level
    obs = interpolate(U, grid, pts, dt)
    expected = field(pts[:, 0], pts[:, 1], pts[:, 2])
    assert obs.shape == (2, 50)
    assert (obs[0] - expected).abs().max() < 1e-12 and (obs[1] - 2 * expected).abs().max() < 1e-12
    # steady fields with (x, y) points
    obs2 = interpolate(U[:, 2], grid, pts[:, :2])
    assert (obs2[0] - field(pts[:, 0], pts[:, 1], 2 * dt)).abs().max() < 1e-12
    # near the boundary the coordinate is clamped to the outermost centres
    edge = torch.tensor([[x0, y0 + 0.3, 0.0], [x1, y0 + 0.3, 0.0]], dtype=F64)
    clamped = torch.tensor([[x0 + grid.hx / 2, y0 + 0.3, 0.0], [x1 - grid.hx / 2, y0 + 0.3, 0.0]], dtype=F64)
    assert torch.allclose(interpolate(U, grid, edge, dt), interpolate(U, grid, clamped, dt), atol=1e-14)


def test_interpolate_gradient_is_the_transpose(grid):
    U = torch.randn(2, 4, *grid.shape, generator=gen(0), dtype=F64, requires_grad=True)
    pts = random_points(grid, 7, 0.3)
    w = torch.randn(2, 7, generator=gen(1), dtype=F64)
    (gU,) = torch.autograd.grad((w * interpolate(U, grid, pts, 0.1)).sum(), U)
    # each observation spreads weights summing to 1 over at most 8 entries
    assert torch.allclose(gU.sum((1, 2, 3)), w.sum(1), atol=1e-12)


# -- errors -----------------------------------------------------------------------------------
@pytest.fixture
def heat_op(grid) -> HeatEquation2D:
    return HeatEquation2D(grid, random_points(grid, 5, 0.2), 0.1, 2, torch.zeros(grid.shape, dtype=F64))


def test_bad_conductivity_is_rejected(grid, heat_op):
    k = rand_kappa(grid, 1)
    bad = k.clone()
    bad[0, 2, 3] = -0.1
    with pytest.raises(InputError, match=r"conductivity must be positive.*exp\(log_kappa\)"):
        heat_op(bad)
    bad[0, 2, 3] = float("nan")
    with pytest.raises(InputError, match="conductivity must be positive and finite, got 1 NaN"):
        heat_op(bad)
    with pytest.raises(InputError, match=r"expects input of shape \(B, 8, 10\), got \(8, 10\) \(add a batch"):
        heat_op(k[0])
    with pytest.raises(InputError, match=r"kappa must have shape \(B, 8, 10\)"):
        solve_heat(torch.ones(1, 10, 8, dtype=F64), torch.zeros(8, 10), None, grid, 0.1, 2)
    with pytest.raises(InputError, match="conductivity must be positive"):
        solve_steady(torch.zeros(grid.shape), torch.zeros(grid.shape), grid)


def test_bad_settings_are_rejected(grid):
    u0 = torch.zeros(grid.shape, dtype=F64)
    pts = random_points(grid, 4, 0.2)
    with pytest.raises(InputError, match="dt must be a finite number > 0"):
        HeatEquation2D(grid, pts, 0.0, 2, u0)
    with pytest.raises(InputError, match="steps must be an integer >= 1"):
        HeatEquation2D(grid, pts, 0.1, 0, u0)
    with pytest.raises(InputError, match="unknown scheme 'crank-nicholson': did you mean 'crank-nicolson'"):
        HeatEquation2D(grid, pts, 0.1, 2, u0, scheme="crank-nicholson")
    with pytest.raises(InputError, match="unknown boundary 'periodic'"):
        HeatEquation2D(grid, pts, 0.1, 2, u0, boundary="periodic")
    with pytest.raises(InputError, match=r"source must be a float tensor of shape \(3, 8, 10\)"):
        HeatEquation2D(grid, pts, 0.1, 2, u0, source=torch.zeros(2, *grid.shape))
    with pytest.raises(InputError, match=r"source must have shape \(B, 3, 8, 10\)"):
        solve_heat(torch.ones(grid.shape), u0, torch.zeros(1, 2, *grid.shape), grid, 0.1, 2)
    with pytest.raises(InputError, match="batch sizes 2, 3 .* do not match"):
        solve_heat(torch.ones(2, *grid.shape), torch.zeros(3, *grid.shape), None, grid, 0.1, 2)


def test_points_outside_are_rejected(grid):
    u0 = torch.zeros(grid.shape, dtype=F64)
    (x0, x1), (y0, y1) = grid.extent
    with pytest.raises(InputError, match=r"1 of 2 observation points lie outside the domain .* enlarge"):
        HeatEquation2D(grid, [[0.0, 0.5, 0.1], [x1 + 0.01, 0.5, 0.1]], 0.1, 2, u0)
    with pytest.raises(InputError, match=r"observation times lie outside \[0, 0.2\].*run more steps"):
        HeatEquation2D(grid, [[0.0, 0.5, 0.25]], 0.1, 2, u0)
    with pytest.raises(InputError, match=r"points must have shape \(P, 2\)"):
        SteadyDiffusion2D(grid, [[0.0, 0.5, 0.1]], u0)
    with pytest.raises(InputError, match="outside the domain"):
        interpolate(torch.zeros(1, *grid.shape), grid, torch.tensor([[0.0, y0 - 1e-3]]))
    with pytest.raises(InputError, match="needs dt"):
        interpolate(torch.zeros(1, 3, *grid.shape), grid, torch.tensor([[0.0, 0.5, 0.0]]))
    # the closed domain and the final time are fine
    obs = interpolate(torch.ones(1, 3, *grid.shape), grid, torch.tensor([[x0, y1, 0.2]]), 0.1)
    assert torch.allclose(obs, torch.ones(1, 1))


def test_operator_contract(grid, heat_op):
    assert heat_op.domain_shape == grid.shape and heat_op.range_shape == (5,)
    assert heat_op.state_dict() == {}
    k = rand_kappa(grid, 3)
    y = heat_op(k)
    assert y.shape == (3, 5)
    U = heat_op.trajectory(k)
    assert U.shape == (3, 3, *grid.shape)
    assert torch.allclose(y, interpolate(U, grid, heat_op.points, 0.1))
