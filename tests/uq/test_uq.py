"""Uncertainty quantification: predictive distributions, calibration, and the --uq command."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from inverselab.cli import main
from inverselab.errors import InputError
from inverselab.uq import Prediction, calibration_curve, coverage, ensemble, fit_scale, mc_dropout, standardised_errors


def gaussian_case(std_claimed: float):
    g = torch.Generator().manual_seed(0)
    truth = torch.randn(64, 1, 16, 16, generator=g, dtype=torch.float64)
    mean = torch.zeros_like(truth)
    std = torch.full_like(truth, std_claimed)
    return Prediction(mean, std, torch.stack([mean, mean], 1)), truth


def test_calibrated_prediction_covers_its_levels():
    pred, truth = gaussian_case(1.0)
    curve = calibration_curve(pred, truth, levels=(0.5, 0.9))
    assert curve[0] == pytest.approx(0.5, abs=0.02) and curve[1] == pytest.approx(0.9, abs=0.02)
    assert float(standardised_errors(pred, truth).std()) == pytest.approx(1.0, abs=0.03)


def test_post_hoc_scale_repairs_an_overconfident_prediction():
    pred, truth = gaussian_case(0.5)
    assert float(coverage(pred, truth, 0.9).mean()) < 0.65
    scale = fit_scale(pred, truth, 0.9)
    assert scale == pytest.approx(2.0, rel=0.05)
    assert float(coverage(pred, truth, 0.9, scale).mean()) == pytest.approx(0.9, abs=0.005)


def test_mc_dropout_draws_differ_and_leave_the_network_in_eval_mode():
    net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 4))
    pred = mc_dropout(net, torch.randn(3, 4), samples=16)
    assert pred.samples.shape == (3, 16, 4)
    assert (pred.std > 0).all()
    assert not any(m.training for m in net.modules())
    with pytest.raises(InputError, match="no dropout"):
        mc_dropout(nn.Linear(4, 4), torch.randn(2, 4))


def test_ensemble_spread_is_the_members_disagreement():
    a, b = nn.Linear(2, 1, bias=False), nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        a.weight.fill_(1.0)
        b.weight.fill_(3.0)
    pred = ensemble([a, b], torch.ones(1, 2))
    assert pred.mean.item() == pytest.approx(4.0) and pred.std.item() == pytest.approx(2 * 2**0.5)
    with pytest.raises(InputError, match="at least 2"):
        ensemble([a], torch.ones(1, 2))


def test_uq_commands_write_calibrated_tables(tmp_path):
    common = ["ct-parallel", "--set", "size=32", "--model", "unet", "--epochs", "2", "--steps-per-epoch", "10", "--n", "4"]
    ens = tmp_path / "ens"
    assert main(["train", *common, "--option", "width=8", "--ensemble", "2", "--out", str(ens)]) == 0
    assert main(["evaluate", str(ens), "--uq", "ensemble", "--n", "20"]) == 0
    m = json.loads((ens / "uq-ensemble.json").read_text())
    assert m["calibrated"]["coverage_90"] == pytest.approx(0.9, abs=0.08)
    # the calibrated interval is the raw one scaled by the fitted factor (36.4 measured here)
    assert m["calibrated"]["width_90"] == pytest.approx(m["scale"] * m["raw"]["width_90"], rel=1e-5)
    assert (m["calibrated"]["coverage_90"] - m["raw"]["coverage_90"]) * (m["scale"] - 1) >= 0, (
        "widening the intervals (scale > 1) must not lower their coverage, nor narrowing raise it"
    )
    assert (ens / "metrics.json").is_file() and (ens / "figures" / "uq-ensemble-maps.png").is_file()
    drop = tmp_path / "drop"
    assert main(["train", *common, "--option", "width=8", "dropout=0.1", "--out", str(drop)]) == 0
    assert main(["evaluate", str(drop), "--uq", "dropout", "--n", "20", "--samples", "8"]) == 0
    assert json.loads((drop / "uq-dropout.json").read_text())["calibrated"]["coverage_90"] == pytest.approx(0.9, abs=0.08)
    assert main(["report", str(ens), str(drop), "--out", str(tmp_path / "r.html")]) == 0
    assert "Uncertainty" in (tmp_path / "r.html").read_text()


def test_generator_samples_summarise_the_draws_and_need_a_generator():
    from inverselab.uq import generator_samples

    class Toy(nn.Module):  # draws y + N(0, 0.5^2), the way ConditionalWGAN.sample lays them out
        def sample(self, y, n, generator=None):
            return y[:, None] + 0.5 * torch.randn(y.shape[0], n, *y.shape[1:], generator=generator)

    pred = generator_samples(Toy(), torch.zeros(4, 3, 3), samples=400)
    assert pred.samples.shape == (4, 400, 3, 3)
    assert float(pred.std.mean()) == pytest.approx(0.5, rel=0.1)
    with pytest.raises(InputError, match="needs a generator"):
        generator_samples(nn.Linear(2, 2), torch.zeros(1, 2))


def _gaussian_crps(mu: float, sigma: float, x: torch.Tensor) -> torch.Tensor:
    """Closed form of the CRPS of N(mu, sigma^2) at x (Gneiting and Raftery, 2007)."""
    z = (x - mu) / sigma
    normal = torch.distributions.Normal(0.0, 1.0)
    return sigma * (z * (2 * normal.cdf(z) - 1) + 2 * normal.log_prob(z).exp() - 1 / math.sqrt(math.pi))


@pytest.mark.parametrize("m", [2, 5])
def test_crps_is_unbiased_and_lowest_for_the_true_spread(m):
    from inverselab.uq import crps

    g = torch.Generator().manual_seed(0)
    x = torch.tensor([[-1.0, 0.0, 0.5, 2.0]], dtype=torch.float64).expand(20_000, 4)
    draws = torch.randn(20_000, m, 4, generator=g, dtype=torch.float64)
    assert torch.allclose(crps(draws, x).mean(0), _gaussian_crps(0.0, 1.0, x[0]), atol=0.01)
    # truths from N(0, 1): draws with the right spread score best, too narrow or too wide worse
    truth = torch.randn(20_000, 1, generator=g, dtype=torch.float64)
    scores = {s: float(crps(s * draws[..., :1], truth).mean()) for s in (0.5, 1.0, 2.0)}
    assert scores[1.0] < scores[0.5] and scores[1.0] < scores[2.0]
    with pytest.raises(InputError, match="at least 2 draws"):
        crps(draws[:, :1], x)
    with pytest.raises(InputError, match="crps needs samples"):
        crps(draws, x[:, :3])
