"""Everything computes where its input lives: classical methods, networks, a training step,
noise and metrics, parametrised over the available devices (CPU always, CUDA when present)."""

from __future__ import annotations

import math

import pytest
import torch

import inverselab as il
from inverselab.methods import available_methods, make_method
from inverselab.metrics import psnr, ssim
from inverselab.models import build_model
from inverselab.training import Trainer

PROBLEMS = {
    "ct-parallel": {"size": 24, "views": 10},
    "ct-fan": {"size": 24, "views": 12},
    "mri": {"size": 24, "coils": 2},
    "deblur": {"size": 24},
    "inpaint": {"size": 24},
    "superres": {"size": 24},
    "cs": {"size": 16},
}


def _on(problem_name: str, device: str):
    problem = il.make_problem(problem_name, **PROBLEMS[problem_name])
    x = problem.sample_truth(1, seed=0)
    y = problem.simulate(x, seed=1)
    problem.operator.to(device)
    return problem, x.to(device), y.to(device)


@pytest.mark.parametrize("name", PROBLEMS)
def test_classical_methods_run_on_the_input_device(name, device):
    problem, x, y = _on(name, device)
    for method in available_methods(problem):
        params = {"iters": 5} if "iters" in make_method(method, problem).params else {}
        estimate, _ = make_method(method, problem, **params).reconstruct(y, truth=x)
        assert estimate.device.type == device, method
        assert torch.isfinite(estimate).all(), method
        scores = problem.evaluate(estimate, x)
        assert all(math.isfinite(v) for values in scores.values() for v in values), method


@pytest.mark.parametrize("model", ["unet", "lgd", "lpd", "unrolled"])
def test_networks_train_and_infer_on_the_input_device(model, device):
    problem, x, y = _on("mri" if model == "unrolled" else "ct-parallel", device)
    options = {"width": 4, "depth": 2} if model == "unet" else {"width": 4, "iterations": 2}
    net = build_model(model, problem, **options).to(device)
    out = net(y)
    assert out.device.type == device and out.shape == x.shape
    (out - x).abs().pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.device.type == device for p in net.parameters() if p.requires_grad)


def test_trainer_step_runs_on_the_requested_device(device):
    problem = il.make_problem("ct-parallel", size=24, views=10)
    net = build_model("lpd", problem, width=4, iterations=2)
    trainer = Trainer(net, problem, device=device, batch_size=2, steps_per_epoch=2, val_size=2, warmup_steps=0)
    history = trainer.fit(epochs=1)
    assert next(net.parameters()).device.type == device
    assert history[-1]["step"] == 2 and math.isfinite(history[-1]["val_psnr"])


def test_noise_and_metrics_stay_on_the_input_device(device):
    problem, x, _ = _on("ct-parallel", device)
    y = problem.operator(x)
    noisy = problem.noise(y, seed=3)
    assert noisy.device.type == device
    assert torch.equal(noisy, problem.noise(y, seed=3)) and not torch.equal(noisy, y)
    elsewhere = y.to("meta") if device == "cpu" else y  # a CPU generator cannot draw for these
    with pytest.raises(il.InputError, match="integer seed"):
        problem.noise(elsewhere, seed=torch.Generator())
    assert float(psnr(x, x + 0.01, 1.0)) == pytest.approx(40.0, abs=1e-3)
    assert psnr(x, x + 0.01, 1.0).device.type == device
    assert ssim(x, x, 1.0).device.type == device
