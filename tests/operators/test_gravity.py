"""Gravity2D / Gravity3D: exact adjoints, closed forms against quadrature and point masses,
superposition, symmetry, far fields, singular points and input errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate
import torch

from inverselab.errors import InputError
from inverselab.operators.base import dottest
from inverselab.operators.gravity import (
    GRAVITATIONAL_CONSTANT,
    SI_TO_MGAL,
    Gravity2D,
    Gravity3D,
    depth_weighting,
)

G = GRAVITATIONAL_CONSTANT * SI_TO_MGAL  # mGal per (kg/m^3 ...) in SI lengths


def _one(op, rho=1.0):
    """Field of a model with every cell at density ``rho``, float64, (n_obs,)."""
    return op(torch.full((1, *op.domain_shape), rho, dtype=torch.float64))[0].numpy()


# -- adjoints ------------------------------------------------------------------------------------
def test_dottests_float64():
    op2 = Gravity2D(np.linspace(-500, 1500, 23), np.linspace(0, 1000, 11), np.linspace(0, 400, 6))
    op3 = Gravity3D(
        np.random.default_rng(0).uniform([-100, -100, -50], [600, 500, 0], (17, 3)),
        np.linspace(0, 500, 6),
        np.linspace(0, 400, 5),
        np.linspace(0, 300, 4),
    )
    assert dottest(op2) < 1e-10
    assert dottest(op3) < 1e-10
    assert op2.nonnegative and op3.nonnegative


def test_batched_and_float32():
    op = Gravity2D([-50.0, 30.0, 400.0], [0, 100, 200, 300], [0, 50, 150])
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    y = op(x)
    assert y.shape == (4, 3) and y.dtype == torch.float64
    torch.testing.assert_close(y[2:3], op(x[2:3]))
    assert op.adjoint(y).shape == (4, 2, 3)
    y32 = op(x.float())
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32.double(), y, rtol=1e-5, atol=1e-6)


def test_moves_with_device(device):
    op = Gravity3D([[10.0, 20.0, -5.0], [300.0, -40.0, 0.0]], [0, 100, 200], [0, 150], [0, 60, 120]).to(device)
    x = torch.rand(2, *op.domain_shape, dtype=torch.float64)
    torch.testing.assert_close(op(x.to(device)).cpu(), x.reshape(2, -1) @ op.matrix.cpu().T)


# -- 2-D closed form -----------------------------------------------------------------------------
@pytest.mark.parametrize("x0,z0", [(0.0, 0.0), (200.0, 0.0), (450.0, -30.0), (150.0, 50.0)])
def test_2d_rectangle_against_quadrature(x0, z0):
    x1, x2, z1, z2, rho = 100.0, 300.0, 50.0, 250.0, 250.0
    op = Gravity2D([x0], [x1, x2], [z1, z2], z_obs=z0)
    cuts = sorted({x1 - x0, x2 - x0, *([0.0] if x1 < x0 < x2 else [])})  # split at a singular point
    value = sum(
        scipy.integrate.dblquad(
            lambda z, x: 2 * G * rho * z / (x * x + z * z), a, b, z1 - z0, z2 - z0, epsabs=0, epsrel=1e-11
        )[0]
        for a, b in zip(cuts[:-1], cuts[1:])
    )
    assert _one(op, rho)[0] == pytest.approx(value, rel=1e-6)


def test_2d_far_field_is_a_line_mass():
    # a 100 m square at 1 km depth; its quadrupole vanishes, so the error is O((a / r)^4)
    x_obs = np.array([-20000.0, -5000.0, 0.0, 3000.0, 15000.0])
    op = Gravity2D(x_obs, [-50.0, 50.0], [950.0, 1050.0])
    rho = 300.0
    line = 2 * G * rho * 100.0 * 100.0 * 1000.0 / (x_obs**2 + 1000.0**2)
    np.testing.assert_allclose(_one(op, rho), line, rtol=1e-5)


def test_2d_superposition_and_symmetry():
    x_obs = np.linspace(-400, 600, 21)
    split = Gravity2D(x_obs, [0, 80, 200], [10, 60, 200])
    merged = Gravity2D(x_obs, [0, 200], [10, 200])
    np.testing.assert_allclose(_one(split, 123.0), _one(merged, 123.0), rtol=1e-10, atol=0)
    sym = Gravity2D(np.array([-300.0, -75.0, 75.0, 300.0]), [-100, 100], [20, 300])
    v = _one(sym, 100.0)
    np.testing.assert_allclose(v, v[::-1], rtol=1e-12)
    assert v[1] > v[0] > 0  # larger above the body


def test_2d_singular_points_are_finite_and_continuous():
    # stations on the top surface, above a cell edge and a corner of the mesh
    x_obs = np.array([0.0, 100.0, 150.0, 200.0, -10.0])
    op = Gravity2D(x_obs, [0.0, 100.0, 200.0], [0.0, 100.0, 300.0])
    v = _one(op, 200.0)
    assert np.isfinite(v).all() and np.isfinite(op.matrix.numpy()).all()
    near = Gravity2D(x_obs + 1e-7, [0.0, 100.0, 200.0], [0.0, 100.0, 300.0], z_obs=-1e-7)
    np.testing.assert_allclose(v, _one(near, 200.0), rtol=1e-5)


# -- 3-D closed form -----------------------------------------------------------------------------
def _point_masses(edges, obs, n):
    """Field (mGal per kg/m^3) of a prism split into n^3 point masses at the sub-cell midpoints."""
    (x1, x2), (y1, y2), (z1, z2) = edges
    cx = x1 + (np.arange(n) + 0.5) * (x2 - x1) / n
    cy = y1 + (np.arange(n) + 0.5) * (y2 - y1) / n
    cz = z1 + (np.arange(n) + 0.5) * (z2 - z1) / n
    px, py, pz = (a.ravel() for a in np.meshgrid(cx, cy, cz, indexing="ij"))
    dv = (x2 - x1) * (y2 - y1) * (z2 - z1) / n**3
    out = []
    for o in obs:
        dx, dy, dz = px - o[0], py - o[1], pz - o[2]
        out.append(G * dv * np.sum(dz / (dx * dx + dy * dy + dz * dz) ** 1.5))
    return np.array(out)


def test_3d_prism_against_point_mass_sum():
    edges = ((0.0, 100.0), (0.0, 80.0), (20.0, 120.0))
    obs = np.array([[50.0, 40.0, 0.0], [-60.0, 150.0, -10.0], [200.0, -30.0, 0.0], [0.0, 0.0, 10.0]])
    op = Gravity3D(obs, *edges)
    np.testing.assert_allclose(_one(op), _point_masses(edges, obs, 40), rtol=2e-4)  # midpoint rule, O(h^2)


def test_3d_voxel_sphere_far_away_is_a_point_mass():
    # a ball of 20 m voxels (radius 175 m) at 2 km depth, seen from 0 to 3.2 km offset
    e = np.linspace(-200.0, 200.0, 21)
    xs = 0.5 * (e[1:] + e[:-1])
    zc, yc, xc = np.meshgrid(xs, xs, xs, indexing="ij")
    ball = (xc**2 + yc**2 + zc**2 <= 175.0**2).astype(np.float64)
    rho, depth = 500.0, 2000.0
    obs = np.stack([np.linspace(-3000, 3000, 13), np.full(13, 500.0), np.zeros(13)], axis=1)
    op = Gravity3D(obs, e, e, depth + e)
    g = op(torch.from_numpy(rho * ball)[None])[0].numpy()
    r3 = (obs[:, 0] ** 2 + obs[:, 1] ** 2 + depth**2) ** 1.5
    voxels = G * rho * ball.sum() * 20.0**3 * depth / r3
    np.testing.assert_allclose(g, voxels, rtol=1e-4)  # cubic symmetry: error O((a / r)^4)
    sphere = G * rho * 4.0 / 3.0 * np.pi * 175.0**3 * depth / r3
    np.testing.assert_allclose(g, sphere, rtol=5e-3)  # the voxel ball's volume is within 0.3 %


def test_3d_superposition_and_symmetry():
    obs = np.array([[-70.0, 30.0, 0.0], [250.0, 80.0, -20.0], [100.0, 100.0, 0.0], [40.0, -300.0, 5.0]])
    merged = Gravity3D(obs, [0, 200], [0, 150], [10, 210])
    for split in (
        Gravity3D(obs, [0, 60, 200], [0, 150], [10, 210]),
        Gravity3D(obs, [0, 200], [0, 20, 90, 150], [10, 210]),
        Gravity3D(obs, [0, 200], [0, 150], [10, 11, 100, 210]),
    ):
        np.testing.assert_allclose(_one(split, 77.0), _one(merged, 77.0), rtol=1e-10, atol=0)
    pts = np.array([[120.0, 40.0, 0.0], [-120.0, 40.0, 0.0], [40.0, 120.0, 0.0], [40.0, -120.0, 0.0]])
    cube = Gravity3D(pts, [-50, 50], [-50, 50], [30, 130])
    v = _one(cube, 10.0)
    np.testing.assert_allclose(v, np.full(4, v[0]), rtol=1e-12)


def test_3d_edges_and_corners_are_finite_and_continuous():
    # observation points on the top face, on edges, at corners and on the extensions of edges
    pts = np.array(
        [
            [0.0, 0.0, 0.0],
            [50.0, 0.0, 0.0],
            [50.0, 50.0, 0.0],
            [-50.0, 0.0, 0.0],
            [0.0, -50.0, 0.0],
            [100.0, 100.0, 0.0],
            [-30.0, -40.0, 0.0],
            [150.0, 0.0, 0.0],
            [0.0, 100.0, -25.0],
        ]
    )
    edges = ([0.0, 50.0, 100.0], [0.0, 100.0], [0.0, 40.0, 100.0])
    op = Gravity3D(pts, *edges)
    assert np.isfinite(op.matrix.numpy()).all()
    shifted = Gravity3D(pts + np.array([1e-7, 1e-7, -1e-7]), *edges)
    np.testing.assert_allclose(_one(op, 300.0), _one(shifted, 300.0), rtol=1e-5)
    # a point above a corner of the mesh sees a quarter of a symmetric mesh around it
    quarter = Gravity3D([[0.0, 0.0, 0.0]], [0.0, 100.0], [0.0, 100.0], [0.0, 100.0])
    whole = Gravity3D([[0.0, 0.0, 0.0]], [-100.0, 0.0, 100.0], [-100.0, 0.0, 100.0], [0.0, 100.0])
    assert _one(whole)[0] == pytest.approx(4 * _one(quarter)[0], rel=1e-12)


# -- depth weighting -----------------------------------------------------------------------------
def test_depth_weighting():
    op = Gravity2D([0.0, 10.0], [0.0, 100.0, 200.0, 300.0], [0.0, 100.0, 200.0])
    w = depth_weighting(op, beta=2.0)  # z0 = 50 m: centres 50 and 150 m
    assert w.shape == (2, 3)
    torch.testing.assert_close(w[:, 0], torch.tensor([1 / 100.0, 1 / 200.0], dtype=torch.float64))
    raw = depth_weighting(np.array([1.0, 3.0]), z0=1.0, beta=4.0)
    torch.testing.assert_close(raw, torch.tensor([0.25, 1 / 16], dtype=torch.float64))
    op3 = Gravity3D([[0.0, 0.0, 0.0]], [0, 1, 2], [0, 1], [0, 2, 4, 6])
    assert depth_weighting(op3).shape == (3, 1, 2)
    with pytest.raises(InputError, match="increase z0"):
        depth_weighting(np.array([1.0, 2.0]), z0=-5.0)
    with pytest.raises(InputError, match="beta"):
        depth_weighting(op, beta=0.0)


# -- errors --------------------------------------------------------------------------------------
def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(InputError, match="x_edges must be strictly increasing"):
        Gravity2D([0.0], [0.0, 100.0, 100.0], [0.0, 10.0])
    with pytest.raises(InputError, match="z_edges must be strictly increasing"):
        Gravity3D([[0.0, 0.0, 0.0]], [0, 1], [0, 1], [5.0, 2.0])
    with pytest.raises(InputError, match="below the top of the mesh"):
        Gravity2D([0.0], [0.0, 100.0], [10.0, 100.0], z_obs=20.0)
    with pytest.raises(InputError, match="below the top of the mesh"):
        Gravity3D([[0.0, 0.0, 50.0]], [0, 1], [0, 1], [0, 10])
    with pytest.raises(InputError, match="NaN"):
        Gravity2D([0.0, float("nan")], [0.0, 100.0], [0.0, 10.0])
    with pytest.raises(InputError, match="NaN"):
        Gravity3D([[0.0, float("nan"), 0.0]], [0, 1], [0, 1], [0, 10])
    with pytest.raises(InputError, match="NaN"):
        Gravity2D([0.0], [0.0, float("inf")], [0.0, 10.0])
    with pytest.raises(InputError, match="1-D"):
        Gravity2D(np.zeros((2, 2)), [0.0, 100.0], [0.0, 10.0])
    with pytest.raises(InputError, match="shape of x_obs"):
        Gravity2D([0.0, 1.0, 2.0], [0.0, 100.0], [0.0, 10.0], z_obs=[0.0, 0.0])
    with pytest.raises(InputError, match=r"\(n_obs, 3\)"):
        Gravity3D(np.zeros((4, 2)), [0, 1], [0, 1], [0, 10])
    with pytest.raises(InputError, match="at least 2"):
        Gravity2D([0.0], [0.0], [0.0, 10.0])
    op = Gravity2D([0.0], [0.0, 100.0, 200.0], [0.0, 10.0])
    with pytest.raises(InputError, match=r"expects input of shape \(B, 1, 2\)"):
        op(torch.zeros(1, 2, 1, dtype=torch.float64))
    with pytest.raises(InputError) as info:
        Gravity2D([0.0], [0.0, 1.0], [3.0, 1.0])
    assert "\n" not in str(info.value)
