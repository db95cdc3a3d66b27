"""Noise models: seeding, levels, likelihoods, validation."""

from __future__ import annotations

import pytest
import torch

from inverselab.errors import InputError
from inverselab.noise import GaussianNoise, PoissonNoise


def test_gaussian_is_seeded_and_has_requested_level():
    y = torch.full((3, 10000), 2.0, dtype=torch.float64)
    noise = GaussianNoise(0.1)
    a, b, c = noise(y, seed=5), noise(y, seed=5), noise(y, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a - y).std().item() == pytest.approx(0.1, rel=0.03)


def test_relative_gaussian_scales_with_rms():
    y = torch.stack([torch.full((20000,), 1.0), torch.full((20000,), 10.0)]).double()
    n = GaussianNoise(0.05, relative=True)(y, seed=0) - y
    assert n[0].std().item() == pytest.approx(0.05, rel=0.03)
    assert n[1].std().item() == pytest.approx(0.5, rel=0.03)


def test_complex_noise_is_circular():
    y = torch.zeros(1, 40000, dtype=torch.complex128)
    n = GaussianNoise(0.2)(y, seed=1)
    assert n.abs().square().mean().item() == pytest.approx(0.04, rel=0.03)
    assert n.real.std().item() == pytest.approx(n.imag.std().item(), rel=0.05)


def test_poisson_is_unbiased_for_many_photons():
    p = torch.full((1, 50000), 1.5, dtype=torch.float64)
    y = PoissonNoise(1e5)(p, seed=0)
    assert y.mean().item() == pytest.approx(1.5, abs=2e-3)
    # variance of -log(N / I0) is about 1 / (I0 exp(-p))
    assert y.var().item() == pytest.approx(1 / (1e5 * torch.exp(torch.tensor(-1.5)).item()), rel=0.05)


def test_likelihoods_are_minimal_at_the_observation():
    y = torch.rand(2, 50, dtype=torch.float64)
    for noise in (GaussianNoise(0.1), PoissonNoise(1000.0)):
        at = noise.negative_log_likelihood(y, y)
        off = noise.negative_log_likelihood(y + 0.05, y)
        assert (off > at).all()


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_invalid_levels_are_rejected(bad):
    with pytest.raises(InputError, match="sigma"):
        GaussianNoise(bad)
    with pytest.raises(InputError, match="photon"):
        PoissonNoise(bad if bad != -0.1 else 0.0)
