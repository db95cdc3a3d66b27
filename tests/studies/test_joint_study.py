"""Per-instance optimisers and the joint-optimisation families."""

from __future__ import annotations

import math

import pytest
import torch

from inverselab.problems.families import FAMILIES, HeatSources, ToyLandscape, WavePacket
from inverselab.solvers.optimizers import adam, gradient_descent, lbfgs, random_restarts
from inverselab.studies.joint import compare
from inverselab.errors import InputError


def _rosenbrock(a: torch.Tensor):
    return lambda x: (a - x[:, 0]) ** 2 + 100 * (x[:, 1] - x[:, 0] ** 2) ** 2


def test_lbfgs_solves_each_instance_as_if_alone():
    a = 1 + torch.rand(5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x0 = torch.zeros(5, 2, dtype=torch.float64)
    x = lbfgs(_rosenbrock(a), x0, 100)
    assert torch.allclose(x[:, 0], a, atol=1e-6) and torch.allclose(x[:, 1], a**2, atol=1e-5)
    batched = lbfgs(_rosenbrock(a), x0, 20)
    alone = torch.cat([lbfgs(_rosenbrock(a[k : k + 1]), x0[:1], 20) for k in range(5)])
    assert torch.allclose(batched, alone, rtol=0, atol=1e-12)


def test_first_order_optimisers_and_restarts():
    target = torch.tensor([[0.3], [-0.5]], dtype=torch.float64)

    def quadratic(x):
        return (x - target).square().sum(1)

    x0 = torch.zeros(2, 1, dtype=torch.float64)
    assert torch.allclose(gradient_descent(quadratic, x0, 200, 0.1), target, atol=1e-8)
    assert torch.allclose(adam(quadratic, x0, 500, 0.01), target, atol=1e-3)

    def wells(x):  # two wells per instance; the deeper one at +0.7
        x = x[:, 0]
        return -torch.exp(-((x - 0.7) / 0.05) ** 2) - 0.5 * torch.exp(-((x + 0.7) / 0.05) ** 2)

    lo, hi = torch.tensor([-1.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)
    best = random_restarts(wells, (lo, hi), 3, restarts=32, iters=30)
    assert torch.allclose(best[:, 0], torch.full((3,), 0.7, dtype=torch.float64), atol=1e-3)
    with pytest.raises(InputError, match="instances, unknowns"):
        lbfgs(wells, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(InputError, match="one value per instance"):
        lbfgs(lambda x: x.sum(), torch.zeros(3, 1, dtype=torch.float64))


def test_toy_landscape_has_its_signal_to_noise_ratio_and_minimum():
    family = ToyLandscape(snr=2.0)
    inst = family.sample(50, seed=0)
    assert torch.allclose((inst["amp"] * inst["omega"]).sum(1), inst["lam"] / 2.0)
    # with snr > 1 the signal's slope wins everywhere: the only minimum is x*
    x = torch.linspace(-1, 1, 4001, dtype=torch.float64)
    values = torch.stack([family.loss(torch.full((50, 1), float(t), dtype=torch.float64), inst) for t in x], 1)
    assert torch.allclose(x[values.argmin(1)], inst["x_star"], atol=1e-3)
    with pytest.raises(InputError, match="snr"):
        ToyLandscape(snr=0.0)


def test_wave_packet_misfit_is_smallest_at_the_true_centre():
    family = WavePacket(noise=0.0)
    inst = family.sample(8, seed=1)
    assert float(family.loss(inst["t0"][:, None], inst).abs().max()) < 1e-20
    shifted = family.loss(inst["t0"][:, None] + 0.5 / family.frequency, inst)  # half a period off
    assert bool((shifted > 0.01).all())


def test_heat_sources_fit_at_the_truth_and_have_gradients():
    family = HeatSources(noise=0.0, grid=12, steps=4)
    inst = family.sample(3, seed=2)
    assert float(family.loss(inst["x"], inst).max()) < 1e-20
    x = inst["x"].clone().requires_grad_(True)
    family.loss(x + 0.05, inst).sum().backward()
    assert bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0


def test_compare_reports_every_method_on_both_splits():
    out = compare(ToyLandscape(snr=0.5, terms=4), n_train=32, n_test=16, iters=20, restarts=2, steps=50)
    methods = {"gradient descent", "adam", "l-bfgs", "l-bfgs, random restarts", "network", "network + l-bfgs"}
    for split, n in (("train", 32), ("test", 16)):
        assert set(out[split]) == methods
        assert all(len(v) == n and all(math.isfinite(t) for t in v) for v in out[split].values())
    # refining the network's answer never makes it worse
    assert all(b <= a + 1e-12 for a, b in zip(out["test"]["network"], out["test"]["network + l-bfgs"]))
    assert set(FAMILIES) == {"toy", "wave-packet", "heat-sources"}
