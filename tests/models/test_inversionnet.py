"""InversionNet: shapes (OpenFWI and small configurations), gradients, fitting a tiny batch,
dropout, units, input layout and bad input."""

from __future__ import annotations

import pytest
import torch

from inverselab.data.velocity import flat_layers
from inverselab.errors import InputError
from inverselab.models.inversionnet import InversionNet


SMALL = dict(shots=3, nt=200, receivers=20, output_shape=(20, 20))


def small(**options) -> InversionNet:
    torch.manual_seed(0)
    return InversionNet(**{**SMALL, "width": 4, **options})


def test_openfwi_default_configuration():
    net = InversionNet().eval()
    assert (net.shots, net.nt, net.receivers, net.output_shape) == (5, 1000, 70, (70, 70))
    assert 20e6 < sum(p.numel() for p in net.parameters()) < 25e6  # OpenFWI's has 24.4 M
    with torch.no_grad():
        out = net(torch.randn(1, 5, 1000, 70))
    assert out.shape == (1, 70, 70)
    assert out.abs().max() <= 1


@pytest.mark.parametrize(
    "config",
    [
        SMALL,
        dict(shots=2, nt=64, receivers=96, output_shape=(33, 91)),
        dict(shots=1, nt=9, receivers=3, output_shape=(4, 5)),
    ],
)
def test_any_gather_and_model_size(config):
    net = InversionNet(**config, width=4)
    out = net(torch.randn(2, config["shots"], config["nt"], config["receivers"]))
    assert out.shape == (2, *config["output_shape"])


def test_gradient_reaches_every_parameter():
    net = small()
    net(torch.randn(2, 3, 200, 20)).square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_fits_a_tiny_batch():
    """4 random gathers -> 4 flat-layer models: Adam drives the normalised mean squared error
    from about 0.5 to below 0.01 in 100 steps (about 2 s)."""
    net = small()
    x = torch.randn(4, 3, 200, 20)
    target = net.normalise(flat_layers(4, seed=0, shape=(20, 20)))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        loss = (net(x) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[0] > 0.1
    assert losses[-1] < 0.01 and losses[-1] < losses[0] / 20


def test_dropout_and_monte_carlo_dropout():
    x = torch.randn(2, 3, 200, 20)
    plain = small()
    assert not any(isinstance(m, torch.nn.Dropout) for m in plain.modules())
    assert torch.equal(plain(x), plain(x))  # no randomness without dropout, even in training mode
    net = small(dropout=0.3)
    assert torch.equal(net(x), net(x)) is False  # training mode: dropout active
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net(x))  # evaluation: deterministic
        assert not net.mc_dropout
        net.mc_dropout = True  # Monte Carlo dropout: random again, batch norm still frozen
        assert net.mc_dropout and not net.training
        assert not torch.equal(net(x), net(x))
        net.mc_dropout = False
        assert torch.equal(net(x), net(x))


def test_velocity_units_and_time_last_layout():
    net = small().eval()
    v = torch.tensor([1500.0, 3000.0, 4500.0])
    torch.testing.assert_close(net.normalise(v), torch.tensor([-1.0, 0.0, 1.0]))
    torch.testing.assert_close(net.to_velocity(net.normalise(v)), v)
    x = torch.randn(2, 3, 200, 20, dtype=torch.float64)  # float64 gathers are accepted
    as_velocity = small(velocity_output=True, vmin=2000.0, vmax=4000.0).eval()
    transposed = small(time_last=True).eval()
    with torch.no_grad():
        u = net(x)
        assert u.dtype == torch.float32
        vel = as_velocity(x)
        torch.testing.assert_close(vel, 2000.0 + (u + 1) * 1000.0)  # same weights (same seed)
        assert vel.min() >= 2000 and vel.max() <= 4000
        torch.testing.assert_close(transposed(x.transpose(-1, -2)), u)


def test_bad_input_and_options_raise_input_errors():
    net = small()
    expected = r"InversionNet expects real shot gathers \(B, shots, nt, receivers\) = \(B, 3, 200, 20\)"
    with pytest.raises(InputError, match=expected + r", got \(2, 3, 20, 200\).*swapped: pass time_last=True"):
        net(torch.randn(2, 3, 20, 200))
    with pytest.raises(InputError, match=r"got \(3, 200, 20\); add a batch axis"):
        net(torch.randn(3, 200, 20))
    with pytest.raises(InputError, match="got complex"):
        net(torch.randn(1, 3, 200, 20, dtype=torch.complex64))
    with pytest.raises(InputError, match=r"\(B, 3, 200, 20\), got \(1, 5, 200, 20\)"):
        net(torch.randn(1, 5, 200, 20))
    with pytest.raises(InputError, match="dropout"):
        InversionNet(dropout=1.0)
    with pytest.raises(InputError, match="norm"):
        InversionNet(norm="layer")
    with pytest.raises(InputError, match="receivers >= 1"):
        InversionNet(receivers=0)
    with pytest.raises(InputError, match="vmin < vmax"):
        InversionNet(vmin=4500.0, vmax=1500.0)
