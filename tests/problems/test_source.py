"""Pollutant source estimation: forward model, scan baseline, MCMC posterior, network with a spread."""

from __future__ import annotations

import json

import torch

import inverselab as il
from inverselab.cli import main
from inverselab.models import load_run
from inverselab.operators.advection import bilinear_weights
from inverselab.solvers.mcmc import metropolis


def test_point_release_equals_transport_of_the_spread_mass():
    p = il.make_problem("pollutant-source")
    t = p.operator.transport
    theta = torch.tensor([[0.2, 0.55, 0.5]], dtype=torch.float64)
    index, weight = bilinear_weights(theta[:, :2] * 1000, t.grid_shape, t.spacing)
    field = torch.zeros(1, t.grid_shape[0] * t.grid_shape[1], dtype=torch.float64)
    field[0, index[0]] = weight[0] * 10**0.5 / t.cell_area  # kg/m^2
    expected = t(field.reshape(1, 1, *t.grid_shape)) * 1e6  # mg/m^2
    assert torch.allclose(p.operator(theta), expected, rtol=1e-10, atol=1e-12)


def test_scan_finds_noise_free_releases_within_a_cell():
    p = il.make_problem("pollutant-source")
    x = p.sample_truth(8, dtype=torch.float64)
    found = p.baseline(p.operator(x))
    scores = p.evaluate(found, x)
    assert max(scores["location_error"]) < 1000 / 48  # one cell
    assert max(scores["mass_error"]) < 0.1


def test_metropolis_recovers_a_gaussian_posterior():
    # log-likelihood of N(mu, 0.1^2) per coordinate inside a wide box
    mu = torch.tensor([[0.3, -0.2], [0.0, 0.5]], dtype=torch.float64)
    result = metropolis(lambda t: -0.5 * ((t - mu[:, None]) / 0.1).square().sum(-1),
                        torch.tensor([-2.0, -2.0], dtype=torch.float64), torch.tensor([2.0, 2.0], dtype=torch.float64),
                        batch=2, chains=16, steps=3000, burn_in=1000, seed=0)
    assert torch.allclose(result.samples.mean(1), mu, atol=0.02)
    assert torch.allclose(result.samples.std(1), torch.full_like(mu, 0.1), rtol=0.15)
    low, high = result.quantiles(0.9)
    assert torch.allclose(high - low, torch.full_like(mu, 2 * 1.645 * 0.1), rtol=0.15)


def test_mcmc_intervals_cover_the_truth(tmp_path):
    out = tmp_path / "mcmc"
    assert main(["solve", "pollutant-source", "--n", "12", "--param", "steps=1500", "burn_in=500", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["method"] == "mcmc" and {"location_error", "coverage", "interval_width_m"} <= set(m["scores"])
    assert m["coverage"] >= 0.7  # 36 unknowns at a nominal 90 %
    assert m["location_error"] < 60.0
    assert (out / "figures" / "releases.png").is_file()


def test_gaussian_mlp_trains_and_reports_its_intervals(tmp_path):
    run = tmp_path / "net"
    assert main(["train", "pollutant-source", "--model", "gaussian-mlp", "--epochs", "6", "--steps-per-epoch", "50",
                 "--batch-size", "128", "--lr", "0.002", "--n", "40", "--out", str(run)]) == 0
    m = json.loads((run / "metrics.json").read_text())
    # measured on these 40 releases: location error 21.8 m (guessing the prior box's centre:
    # 155.7 m; the matched-filter baseline 19.4 m), coverage 0.97 of nominal 0.90, mean
    # interval width 70 m (the prior's own 90 % interval: 405 m)
    assert m["location_error"] < 60.0, f"location error {m['location_error']:.1f} m"
    assert m["coverage"] >= 0.8, f"90 % intervals cover {m['coverage']:.2f} of the unknowns"
    assert m["interval_width_m"] < 200.0, f"intervals {m['interval_width_m']:.0f} m wide: hardly narrower than the prior"
    trained = load_run(run)
    mean, std = trained.network(torch.zeros(2, 8, 30), return_std=True)
    assert mean.shape == std.shape == (2, 3) and (std > 0).all()
