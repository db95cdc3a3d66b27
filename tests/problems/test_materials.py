"""Materials inverse design: microstructures, homogenisation, gradient design, design GAN."""

from __future__ import annotations

import json

import pytest
import torch

import inverselab as il
from inverselab.cli import main
from inverselab.data.microstructures import two_phase_microstructures
from inverselab.errors import InputError
from inverselab.operators import EffectiveConductivity
from inverselab.problems.materials import design_by_gradient


def test_microstructures_are_binary_with_the_asked_volume_fractions():
    m = two_phase_microstructures(32, 32, fraction=(0.3, 0.6), seed=3)
    assert m.shape == (32, 1, 32, 32)
    assert set(m.unique().tolist()) == {0.0, 1.0}
    share = m.mean((1, 2, 3))
    assert share.min() >= 0.29 and share.max() <= 0.61
    assert torch.equal(m, two_phase_microstructures(32, 32, fraction=(0.3, 0.6), seed=3))
    with pytest.raises(InputError, match="volume fraction"):
        two_phase_microstructures(2, 16, fraction=(0.5, 1.2))


def test_effective_conductivity_known_cases_and_bounds():
    op = EffectiveConductivity(16, k0=1.0, k1=10.0)
    uniform = torch.full((1, 1, 16, 16), 1.0, dtype=torch.float64)
    assert torch.allclose(op(uniform), torch.tensor([[10.0]], dtype=torch.float64), rtol=1e-12)
    layers = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    layers[..., ::2, :] = 1.0  # stripes along x: the arithmetic mean, exactly
    assert torch.allclose(op(layers), torch.tensor([[5.5]], dtype=torch.float64), rtol=1e-12)
    m = two_phase_microstructures(16, 16, seed=0)
    k, f = op(m)[:, 0], m.mean((1, 2, 3))
    harmonic, arithmetic = 1 / (f / 10 + (1 - f)), 10 * f + (1 - f)
    assert ((harmonic <= k) & (k <= arithmetic)).all()


def test_effective_conductivity_gradient_matches_finite_differences():
    op = EffectiveConductivity(8)
    phase = (0.2 + 0.6 * torch.rand(1, 1, 8, 8, dtype=torch.float64)).requires_grad_(True)
    (grad,) = torch.autograd.grad(op(phase).sum(), phase)
    direction = torch.randn_like(phase)
    eps = 1e-6
    fd = (op(phase.detach() + eps * direction) - op(phase.detach() - eps * direction)).sum() / (2 * eps)
    assert torch.allclose((grad * direction).sum(), fd, rtol=1e-5)


def test_gradient_design_meets_its_targets():
    p = il.make_problem("materials-design", size=16)
    truth = p.sample_truth(4, seed=1, dtype=torch.float64)
    design, history = design_by_gradient(p, p.operator(truth), iters=60)
    scores = p.evaluate(design, truth)
    assert max(scores["property_error"]) < 0.05
    assert set(design.unique().tolist()) <= {0.0, 1.0}
    assert history.objective[-1] < history.objective[0]


def test_design_gan_trains_from_the_cli_and_samples_diverse_designs(tmp_path):
    run = tmp_path / "gan"
    assert main(["train", "materials-design", "--set", "size=16", "--model", "design-gan", "--epochs", "2",
                 "--steps-per-epoch", "5", "--batch-size", "8", "--n", "8", "--option", "width=8", "critic_width=8",
                 "--out", str(run)]) == 0
    m = json.loads((run / "metrics.json").read_text())
    errors = m["per_sample"]["property_error"]
    assert m["method"] == "design-gan" and m["training_steps"] == 10 and len(errors) == 8
    # the scores summarise the designs' own property errors (0.43-0.81 measured after 10 steps)
    assert m["property_error"] == pytest.approx(sum(errors) / len(errors))
    assert m["within_tolerance"] == pytest.approx(sum(e <= 0.05 for e in errors) / len(errors))
    assert (run / "figures" / "designs.png").is_file()
    gan = il.models.load_run(run).network
    draws = gan.sample(torch.tensor([[3.0], [5.0]]), 4)
    assert draws.shape == (2, 4, 1, 16, 16)
    assert (draws[:, 0] != draws[:, 1]).any()  # different noise, different designs
