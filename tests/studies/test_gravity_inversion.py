"""Gravity inversion: profile reading, Tikhonov and compact inversions of a synthetic block,
and the real Hartousov profile (skipped without the data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import data_file
from inverselab.errors import InputError
from inverselab.operators.base import Identity
from inverselab.operators.gravity import Gravity2D, Gravity3D, depth_weighting
from inverselab.studies.gravity import (
    HARTOUSOV_BOUNDS,
    HARTOUSOV_NOISE_MGAL,
    invert_gravity,
    invert_hartousov,
    profile_mesh,
    profile_noise_estimate,
    read_gravity_profile,
)

HARTOUSOV = ("potential_fields", "hartousov.txt")


# -- reading ---------------------------------------------------------------------------------------
def test_read_gravity_profile(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("# x\tg\n0.0\t1.5\n\n10.0\t-0.25\n25.5\t0.0\n")
    x, g = read_gravity_profile(path)
    np.testing.assert_array_equal(x, [0.0, 10.0, 25.5])
    np.testing.assert_array_equal(g, [1.5, -0.25, 0.0])
    assert x.dtype == np.float64


@pytest.mark.parametrize(
    "text,match",
    [
        ("# x g\n0 1 2\n1 2\n", "expected 2 columns"),
        ("# x g\n0 1\n1 abc\n", "cannot read two numbers"),
        ("# x g\n0 1\n", "at least 2"),
        ("# x g\n0 1\n1 nan\n", "NaN"),
        ("# x g\n0 1\n0 2\n", "repeats"),
    ],
)
def test_read_gravity_profile_rejects_bad_files(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        read_gravity_profile(path)


def test_read_gravity_profile_missing_or_binary(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_gravity_profile(tmp_path / "absent.txt")
    path = tmp_path / "binary.txt"
    path.write_bytes(b"\xff\xfe\x00\x01\x9c")
    with pytest.raises(InputError, match="not a text file"):
        read_gravity_profile(path)


# -- synthetic block -----------------------------------------------------------------------------
CELL = 50.0


def _block_problem(seed: int = 0):
    x_edges = np.arange(0.0, 2000.0 + CELL / 2, CELL)
    z_edges = np.arange(0.0, 1000.0 + CELL / 2, CELL)
    x_obs = np.linspace(-200.0, 2200.0, 49)
    op = Gravity2D(x_obs, x_edges, z_edges)
    truth = torch.zeros(op.domain_shape, dtype=torch.float64)
    truth[6:10, 16:22] = 400.0  # z 300-500 m, x 800-1100 m
    clean = op(truth[None])[0]
    sigma = 0.01 * float(clean.abs().max())
    noise = sigma * torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return op, truth, clean + noise, sigma


def _centroid(op, model):
    """(x, z) centroid in m of the core of the model: the cells above 70 % of its maximum.

    (Of the smooth Tikhonov model, the peak lies ~3 cells above the block centre and the
    half-maximum region extends ~2.5 cells below it; the 70 % core is centred on it.)"""
    m = model.clamp_min(0)
    m = torch.where(m >= 0.7 * m.max(), m, torch.zeros_like(m))
    zc, xc = op.z_centers[:, None], op.x_centers[None, :]
    return float((m * xc).sum() / m.sum()), float((m * zc).sum() / m.sum())


@pytest.mark.parametrize("method,kwargs", [("tikhonov", {}), ("compact", {}), ("compact", {"bounds": (0.0, 400.0)})])
def test_inversion_recovers_block(method, kwargs):
    op, truth, g, sigma = _block_problem()
    res = invert_gravity(op, g, sigma, method=method, **kwargs)
    assert res.model.shape == op.domain_shape
    assert res.chi2 == pytest.approx(1.0, rel=0.05)
    assert float(((res.predicted - g) / sigma).square().mean()) == pytest.approx(res.chi2)
    x_true, z_true = _centroid(op, truth)
    x_rec, z_rec = _centroid(op, res.model)
    assert abs(x_rec - x_true) <= 1.0 * CELL, (x_rec, x_true)
    assert abs(z_rec - z_true) <= 2.0 * CELL, (z_rec, z_true)
    if "bounds" in kwargs:  # bounded compact: the block itself, to within a cell
        assert float(res.model.min()) >= 0.0 and float(res.model.max()) <= 400.0
        assert abs(x_rec - x_true) <= 0.5 * CELL and abs(z_rec - z_true) <= CELL
        assert abs(int((res.model > 200.0).sum()) - int((truth > 0).sum())) <= 6  # 24 cells
    if method == "compact":
        assert res.iterations > 1 and len(res.history) == res.iterations
        tik = invert_gravity(op, g, sigma)
        # the compact model is more concentrated: fewer cells above 10 % of its peak
        def support(m):
            return int((m.abs() > 0.1 * m.abs().max()).sum())

        assert support(res.model) < support(tik.model)


def test_inversion_options_and_errors():
    op, _, g, sigma = _block_problem()
    fixed = invert_gravity(op, g, sigma, lam=1e-3, depth_weight=False)
    assert fixed.lam == 1e-3 and fixed.iterations == 1
    per_datum = invert_gravity(op, g, np.full(g.shape, sigma))
    single = invert_gravity(op, g, sigma)
    torch.testing.assert_close(per_datum.model, single.model)
    # any linear operator: its matrix comes from adjoint products, the weights are explicit
    generic = op @ Identity(op.domain_shape)
    explicit = invert_gravity(generic, g, sigma, depth_weight=depth_weighting(op, beta=1.0))
    torch.testing.assert_close(explicit.model, single.model)
    with pytest.raises(InputError, match="explicit weights"):
        invert_gravity(generic, g, sigma)
    with pytest.raises(InputError, match="method"):
        invert_gravity(op, g, sigma, method="l1")
    with pytest.raises(InputError, match="noise_std"):
        invert_gravity(op, g, 0.0)
    with pytest.raises(InputError, match="shape"):
        invert_gravity(op, g[:-1], sigma)
    with pytest.raises(InputError, match="bounds"):
        invert_gravity(op, g, sigma, bounds=(10.0, 400.0))


def test_inversion_works_on_a_3d_mesh():
    e = np.linspace(0.0, 400.0, 5)
    obs = np.stack(np.meshgrid(np.linspace(0, 400, 7), np.linspace(0, 400, 7), [0.0]), -1).reshape(-1, 3)
    op = Gravity3D(obs, e, e, np.linspace(0.0, 300.0, 4))
    truth = torch.zeros(op.domain_shape, dtype=torch.float64)
    truth[1, 1:3, 1:3] = 300.0
    g = op(truth[None])[0]
    sigma = 0.01 * float(g.abs().max())
    noise = torch.randn(g.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    res = invert_gravity(op, g + sigma * noise, sigma)
    assert res.model.shape == (3, 4, 4)
    assert res.chi2 == pytest.approx(1.0, rel=0.05)


# -- the real Hartousov profile -------------------------------------------------------------------
def test_profile_noise_estimate():
    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(0.0, 5000.0, 300))
    smooth = -5.0 * np.exp(-(((x - 2500.0) / 900.0) ** 2))
    est = profile_noise_estimate(x, smooth + 0.02 * rng.standard_normal(x.size))
    assert est == pytest.approx(0.02, rel=0.2)
    with pytest.raises(InputError, match="window"):
        profile_noise_estimate(x, smooth, window=4)


def test_profile_mesh_covers_the_stations():
    x = np.array([3.0, 120.0, 7249.5])
    x_edges, z_edges = profile_mesh(x, cell=100.0, depth=2000.0)
    assert x_edges[0] < -1000 and x_edges[-1] > 8000
    assert np.all(np.diff(x_edges) > 0)
    assert z_edges[0] == 0.0 and z_edges[-1] == 2000.0 and len(z_edges) == 21


@pytest.mark.realdata
@pytest.mark.parametrize("method", ["tikhonov", "compact"])
def test_hartousov_fits_to_the_noise_level(method):
    path = data_file(*HARTOUSOV)
    fit = invert_hartousov(path, method)
    assert fit.x.shape == (176,) and fit.noise_std == HARTOUSOV_NOISE_MGAL
    inv = fit.inversion
    assert 0.9 <= inv.chi2 <= 1.1
    if method == "compact":
        lo, hi = HARTOUSOV_BOUNDS
        assert lo <= float(inv.model.min()) and float(inv.model.max()) <= hi
    rms = float(torch.sqrt(((inv.predicted - torch.from_numpy(fit.g)) ** 2).mean()))
    assert rms == pytest.approx(HARTOUSOV_NOISE_MGAL * np.sqrt(inv.chi2), rel=1e-6)
    # the -9.4 mGal low needs a negative density contrast below it
    below_low = inv.model[:, (fit.op.x_centers > 5000) & (fit.op.x_centers < 6500)]
    assert float(below_low.mean()) < 0
