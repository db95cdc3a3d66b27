"""Conditional WGAN-GP: the generator, the critic, warm starts and the adversarial objective."""

import pytest
import torch
from torch import nn

import inverselab as il
from inverselab.errors import InputError
from inverselab.models import ConditionalWGAN, InversionNet, build_model
from inverselab.training import Trainer, make_loss
from inverselab.training.adversarial import WassersteinGP

SMALL = dict(shots=3, nt=200, receivers=20, output_shape=(20, 20), time_last=True)


def _gan(**options) -> ConditionalWGAN:
    return ConditionalWGAN(**{**SMALL, "width": 4, "critic_width": 4, **options})


def test_draws_have_their_shape_follow_the_seed_and_average_to_forward():
    torch.manual_seed(0)
    gan = _gan(mean_samples=5).eval()
    with torch.no_grad():
        y = torch.randn(2, 3, 20, 200)
        a = gan.sample(y, 4, generator=torch.Generator().manual_seed(1))
        b = gan.sample(y, 4, generator=torch.Generator().manual_seed(1))
        torch.manual_seed(3)
        mean = gan(y)
        torch.manual_seed(3)
        draws = gan.sample(y, 5)
    assert a.shape == (2, 4, 20, 20)
    assert torch.equal(a, b)
    assert float((a[:, 0] - a[:, 1]).abs().max()) > 0.01  # m/s: different draws differ
    assert torch.allclose(mean, draws.mean(1))
    assert float(a.min()) >= 1500.0 and float(a.max()) <= 4500.0


def test_warm_start_from_inversionnet_reproduces_it_without_noise():
    torch.manual_seed(0)
    net = InversionNet(**SMALL, width=4, velocity_output=True).eval()
    gan = _gan().eval()
    assert not bool(gan.frozen_norms)
    missing = gan.warm_start(net.state_dict())
    assert sorted(missing) == ["mix.bias", "mix.weight"]
    assert bool(gan.frozen_norms) and "frozen_norms" in gan.state_dict()  # kept on resume
    y = torch.randn(2, 3, 20, 200)
    with torch.no_grad():
        g = gan.generator
        assert torch.allclose(g.decode(g.encode(y), torch.zeros(2, g.noise_dim)), net(y), atol=1e-4)
        draws = gan.sample(y, 3)
    assert float((draws[:, 0] - draws[:, 1]).abs().max()) > 0  # the noise path is open from the start
    with pytest.raises(InputError, match=r"InversionNet's width \(--option width=W"):
        gan.warm_start(InversionNet(**SMALL, width=8).state_dict())


def test_critic_scores_pairs_and_takes_gathers_of_any_scale():
    torch.manual_seed(0)
    critic = _gan().critic
    y = torch.randn(2, 3, 20, 200)
    c = critic.condition(y)
    assert c.shape == (2, 3, 20, 20)
    assert torch.allclose(critic.condition(1e6 * y), c, atol=1e-5)  # unit-RMS conditioning
    x = torch.rand(2, 20, 20)
    assert critic(c, x, x).shape == (2,)
    assert not torch.allclose(critic(c, x, x), critic(c, x, x.flip(-1)))


class _ToyGenerator(nn.Module):
    noise_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(1, 16)
        self.dec = nn.Sequential(nn.Linear(20, 64), nn.LeakyReLU(0.2), nn.Linear(64, 4))

    def encode(self, y):
        return self.enc(y)[..., None, None]

    def decode(self, code, z):
        return self.dec(torch.cat([code[:, :, 0, 0], z], 1)).reshape(-1, 2, 2)


class _ToyCritic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(9, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def condition(self, y):
        return y

    def forward(self, c, a, b):
        return self.net(torch.cat([c, a.flatten(1), b.flatten(1)], 1)).squeeze(1)


class _Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.generator, self.critic = _ToyGenerator(), _ToyCritic()

    def normalise(self, v):
        return v


def _train_toy(loss: WassersteinGP, steps: int) -> tuple[torch.Tensor, float, float]:
    """Train on x = y + 0.3 eps (4 independent pixels); returns the draws' mean error, mean
    spread and the coverage of their 90 % intervals on fresh truths."""
    torch.manual_seed(0)
    model = _Toy()
    optimizer = torch.optim.AdamW(model.parameters(), 2e-3, betas=loss.betas, weight_decay=0)
    sigma = 0.3
    for _ in range(steps):
        y = torch.rand(64, 1) * 2 - 1
        loss.step(model, y, y[:, :, None] + sigma * torch.randn(64, 2, 2), optimizer, clip=0)
    y = torch.linspace(-0.9, 0.9, 50)[:, None]
    with torch.no_grad():
        code = model.generator.encode(y)
        draws = torch.stack([model.generator.decode(code, torch.randn(50, 4)) for _ in range(200)], 1)
    lo, hi = torch.quantile(draws, torch.tensor([0.05, 0.95]), dim=1)
    x = y[:, :, None] + sigma * torch.randn(50, 2, 2)
    error = float((draws.mean(1) - y[:, :, None]).abs().mean())
    return error, float(draws.std(1).mean()), float(((x >= lo) & (x <= hi)).float().mean())


def test_objective_learns_the_posterior_mean_and_spread_of_a_toy_problem():
    """The draws must centre on y with spread 0.3."""
    error, spread, covered = _train_toy(WassersteinGP(mean_weight=10.0), 800)
    assert error < 0.1 and 0.2 < spread < 0.4 and 0.78 < covered < 0.97


def test_adversarial_loss_needs_a_critic_and_valid_settings():
    p = il.make_problem("ct-parallel", size=16, views=8)
    with pytest.raises(InputError, match="cwgan"):
        Trainer(build_model("unet", p, width=4, depth=2), p, make_loss("wgan-gp"))
    with pytest.raises(InputError, match="model 'cwgan'"):
        make_loss("wgan-gp")(torch.zeros(1), torch.zeros(1), torch.zeros(1), p)
    with pytest.raises(InputError, match="critic_steps"):
        make_loss("wgan-gp", critic_steps=0)
    with pytest.raises(InputError, match="gp"):
        make_loss("wgan-gp", gp=-1.0)
    with pytest.raises(InputError, match="seismic problem"):
        build_model("cwgan", p)
    with pytest.raises(InputError, match="mean_samples"):
        _gan(mean_samples=0)
    with pytest.raises(InputError, match="noise_dim"):
        _gan(noise_dim=0)


def test_a_warm_started_generator_keeps_its_batch_norm_statistics():
    torch.manual_seed(0)
    gan = _gan()
    gan.warm_start(InversionNet(**SMALL, width=4, velocity_output=True).state_dict())
    before = {k: v.clone() for k, v in gan.generator.state_dict().items() if "running" in k}
    mix = gan.generator.mix.weight.detach().clone()
    loss = WassersteinGP(critic_steps=1)
    optimizer = torch.optim.AdamW(gan.parameters(), 1e-3, betas=loss.betas)
    gan.train()
    loss.step(gan, torch.randn(2, 3, 20, 200), 1500 + 3000 * torch.rand(2, 20, 20), optimizer, clip=1.0)
    after = gan.generator.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    assert not torch.equal(gan.generator.mix.weight, mix)  # the generator did train


def test_crps_term_calibrates_the_draws_of_a_toy_problem():
    """As above with the CRPS term in place of the mean penalty, in half the steps."""
    error, _, covered = _train_toy(WassersteinGP(mean_weight=0.0, crps_weight=1.0), 400)
    assert error < 0.1 and 0.8 < covered < 0.97
    with pytest.raises(InputError, match="crps_weight"):
        WassersteinGP(crps_weight=-1.0)


def test_warm_start_from_a_trained_cwgan_loads_the_whole_model():
    torch.manual_seed(0)
    trained, fresh = _gan(), _gan()
    trained.frozen_norms.fill_(True)
    assert fresh.warm_start(trained.state_dict()) == []
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), trained.state_dict().values()))
    with pytest.raises(InputError, match="same width and critic_width"):
        _gan(critic_width=8).warm_start(trained.state_dict())
