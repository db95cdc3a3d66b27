"""POD bases and the POD-InversionNet."""

from __future__ import annotations

import torch

import inverselab as il
from inverselab.models import build_model
from inverselab.models.pod import pod_basis


def test_pod_recovers_a_low_dimensional_family_exactly():
    g = torch.Generator().manual_seed(0)
    modes = torch.linalg.qr(torch.randn(64, 3, generator=g, dtype=torch.float64)).Q.T  # 3 orthonormal 8x8 fields
    fields = 2.0 + torch.randn(50, 3, generator=g, dtype=torch.float64) @ modes
    mean, basis, energy = pod_basis(fields.reshape(50, 8, 8), 3)
    assert abs(float(energy[-1]) - 1) < 1e-12
    flat = basis.reshape(3, -1)
    assert torch.allclose(flat @ flat.T, torch.eye(3, dtype=torch.float64), atol=1e-12)
    centred = fields - mean.flatten()
    assert torch.allclose((centred @ flat.T) @ flat, centred, atol=1e-10)


def test_untrained_pod_network_returns_the_mean_model_inside_the_velocity_range():
    p = il.make_problem("fwi-flat")
    net = build_model("pod-inversionnet", p, width=4, modes=8, samples=64).eval()
    gathers = torch.randn(2, *p.operator.range_shape)
    with torch.no_grad():
        v = net(gathers)
    assert v.shape == (2, *p.operator.domain_shape)
    assert torch.allclose(v[0], v[1]) and torch.allclose(v[0], net.to_velocity(net.pod_mean.clamp(-1, 1)), atol=1e-3)
    vmin, vmax = p.value_range
    assert float(v.min()) >= vmin - 1e-3 and float(v.max()) <= vmax + 1e-3
    assert net.pod_energy.shape == (8,) and 0 < float(net.pod_energy[-1]) <= 1


def test_dynamic_quantisation_keeps_an_mlp_close_and_refuses_convolutions():
    from inverselab.errors import InputError
    from inverselab.models.compress import quantize_dynamic
    from inverselab.models.probabilistic import GaussianMLP

    net = GaussianMLP(40, torch.zeros(3), torch.ones(3), width=64).eval()
    y = torch.randn(16, 40)
    small = quantize_dynamic(net)
    with torch.no_grad():
        assert torch.allclose(small(y), net(y), atol=0.02)
    assert any("quantized" in type(m).__module__ for m in small.modules())
    with __import__("pytest").raises(InputError, match="distil"):
        quantize_dynamic(torch.nn.Conv2d(1, 1, 3))
