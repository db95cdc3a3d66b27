"""Compressed sensing with a generative prior: the latent search, sparse deviations, the VAE and its
loss, the 'generative' method and the command line."""

from __future__ import annotations

import json

import pytest
import torch

import inverselab as il
from inverselab.cli import main
from inverselab.errors import InputError
from inverselab.methods import available_methods, make_method
from inverselab.models import VAE, build_model
from inverselab.operators.wavelet import Wavelet2D
from inverselab.solvers import generative_prior
from inverselab.training import make_loss

SIZE, LATENT = 16, 4


@pytest.fixture
def generator() -> VAE:
    torch.manual_seed(0)
    return VAE((1, SIZE, SIZE), latent=LATENT, width=4, levels=2).eval().requires_grad_(False)


def _spread(x: torch.Tensor) -> float:
    """Size of the variation between images (an untrained decoder's outputs differ little)."""
    return float((x - x.mean(0)).norm())


def test_latent_search_recovers_an_image_in_the_generators_range(generator):
    p = il.make_problem("cs", size=SIZE, ratio=0.5, noise=0.0)
    x = generator.decode(torch.randn(3, LATENT, generator=torch.Generator().manual_seed(1)))
    y = p.operator(x)
    errors = []
    for iters in (2, 150):
        est, history = generative_prior(p.operator, y, generator.decode, LATENT, lam=0.0, restarts=3, iters=iters,
                                        truth=x, data_range=1.0)
        errors.append(float((est - x).norm()) / _spread(x))
    assert est.shape == x.shape and history.iterations == 150 and len(history.objective) == 150
    assert float((p.operator(est) - y).norm() / y.norm()) < 1e-3
    assert errors[1] < 0.05 < errors[0]


def test_sparse_deviations_fit_what_the_generator_cannot(generator):
    p = il.make_problem("cs", size=SIZE, ratio=0.6, noise=0.0)
    in_range = generator.decode(torch.randn(2, LATENT, generator=torch.Generator().manual_seed(2)))
    wavelet = Wavelet2D((1, SIZE, SIZE), "db4")
    coefficients = torch.zeros(2, *wavelet.range_shape)
    coefficients.view(2, -1)[:, [40, 90, 200]] = torch.tensor([0.5, -0.4, 0.3])
    x = in_range + wavelet.adjoint(coefficients)  # off the generator's range by a wavelet-sparse image
    y = p.operator(x)
    plain, _ = generative_prior(p.operator, y, generator.decode, LATENT, lam=0.0, restarts=2, iters=100)
    sparse, history = generative_prior(p.operator, y, generator.decode, LATENT, lam=0.0, restarts=2, iters=100,
                                       deviation=1e-3, rounds=2, deviation_iters=100)
    assert history.iterations == 300
    assert float((sparse - x).norm()) < 0.2 * float((plain - x).norm())


@pytest.mark.parametrize("call, message", [
    (lambda op, g: generative_prior(op, torch.zeros(2, 5), g.decode, LATENT), "measurement"),
    (lambda op, g: generative_prior(op, torch.zeros(2, *op.range_shape), g.decode, LATENT, lam=-1.0), "lam"),
    (lambda op, g: generative_prior(op, torch.zeros(2, *op.range_shape), g.decode, LATENT, restarts=0), "restarts"),
    (lambda op, g: generative_prior(il.make_problem("cs", size=32).operator, torch.zeros(2, 256), g.decode, LATENT),
     "generator makes images of shape (1, 16, 16)"),
])
def test_bad_input_is_one_clear_line(generator, call, message):
    op = il.make_problem("cs", size=SIZE, ratio=0.5).operator
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        call(op, generator)
    assert "\n" not in str(info.value)


def test_the_method_needs_a_generator_run(tmp_path):
    p = il.make_problem("cs", size=SIZE, ratio=0.5)
    assert "generative" in available_methods(p, with_models=True)
    assert "generative" not in available_methods(p)
    y = p.simulate(p.sample_truth(1))
    with pytest.raises(InputError, match="--param generator=RUN"):
        make_method("generative", p).reconstruct(y)
    with pytest.raises(InputError, match="not a training run"):
        make_method("generative", p, generator=str(tmp_path)).reconstruct(y)
    assert "generative" not in available_methods(il.make_problem("mri", size=32), with_models=True)


def test_vae_loss_decreases_on_a_toy_batch():
    p = il.make_problem("cs", size=SIZE, ratio=0.5)
    torch.manual_seed(0)
    model = build_model("vae", p, latent=8, width=4, levels=2)
    loss = make_loss("vae", beta=0.01)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    truth = p.sample_truth(8, seed=3, split="train")
    values = [float(loss.step(model, p.simulate(truth), truth, optimizer, clip=1.0)) for _ in range(60)]
    assert sum(values[-5:]) / 5 < 0.5 * sum(values[:5]) / 5
    recon, kl = loss.terms(model, truth)
    assert recon.shape == kl.shape == (8,) and bool((kl >= 0).all())
    with pytest.raises(InputError, match="model 'vae'"):
        loss(truth, truth, p.simulate(truth), p)
    with pytest.raises(InputError, match="beta"):
        make_loss("vae", beta=-1.0)


def test_vae_rejects_what_it_cannot_model():
    with pytest.raises(InputError, match="divisible by 16"):
        build_model("vae", il.make_problem("cs", size=24))
    with pytest.raises(InputError, match="real images"):
        build_model("vae", il.make_problem("mri", size=32))


def test_train_a_vae_and_solve_with_it_from_the_cli(tmp_path):
    run = tmp_path / "vae"
    problem = ["cs", "--set", f"size={SIZE}", "ratio=0.5"]
    assert main(["train", *problem, "--model", "vae", "--option", f"latent={LATENT}", "width=4", "levels=2",
                 "--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "4", "--n", "2", "--out", str(run)]) == 0
    assert json.loads((run / "training.json").read_text())["loss"]["name"] == "VAELoss"
    out = tmp_path / "solve"
    assert main(["solve", *problem, "--method", "generative", "--param", f"generator={run}", "iters=5", "restarts=2",
                 "deviation=0.01", "rounds=1", "deviation_iters=5", "--n", "2", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "generative" and len(metrics["history"]["psnr"]) == 10
    assert main(["solve", *problem, "--method", "generative", "--n", "1", "--out", str(tmp_path / "x")]) == 2
