"""Conditional Wasserstein GAN for posterior sampling of velocity models from shot gathers.

The generator ``G(y, z)`` is an :class:`~inverselab.models.inversionnet.InversionNet` whose
1 x 1 latent code is mixed with a Gaussian noise vector ``z`` before the decoder; different
``z`` give different velocity models for the same gathers ``y``. The critic ``D(y, x_a, x_b)``
sees the gathers (time-pooled onto the model grid) and *two* velocity models: the true one and
a generated one (real), or two generated ones (fake), after Adler & Öktem (2018), "Deep
Bayesian inversion": a generator that ignores ``z`` makes identical fake pairs and is caught,
so the samples keep the spread of the posterior. The critic is trained with the gradient
penalty of Gulrajani et al. (2017); see :class:`~inverselab.training.adversarial.WassersteinGP`.

``forward(y)`` returns the mean of ``mean_samples`` draws (a posterior-mean estimate, so the
model fits the ``model(y) -> x`` contract of every other network); :meth:`ConditionalWGAN.sample`
returns the draws themselves.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .inversionnet import InversionNet

Tensor = torch.Tensor

__all__ = ["VelocityGenerator", "GatherCritic", "ConditionalWGAN"]


class VelocityGenerator(InversionNet):
    """InversionNet with a noise input: ``(gathers, z) -> velocity``.

    Parameters
    ----------
    noise_dim : int
        Length of the Gaussian noise vector ``z`` joined to the ``16 w`` latent code.
    **kwargs
        :class:`~inverselab.models.inversionnet.InversionNet` arguments.

    Notes
    -----
    The mixing layer starts as the identity on the code and with weights of variance
    ``1 / noise_dim`` on the noise (unit-variance noise in every code channel), so a generator
    warm-started from a trained InversionNet (:meth:`ConditionalWGAN.warm_start`) begins as that
    network perturbed by the noise. (With zero noise weights it began collapsed, and the
    critic's gradients, which average out over independent draws, had not opened the noise path
    after 350 steps: a spread of 0.3 m/s.)
    """

    def __init__(self, noise_dim: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(noise_dim, int) or noise_dim < 1:
            raise InputError(f"noise_dim must be an integer >= 1, got {noise_dim!r}")
        self.noise_dim = noise_dim
        code = self.latent[0].out_channels
        self.mix = nn.Conv2d(code + noise_dim, code, 1)
        with torch.no_grad():
            self.mix.weight[:, :code] = torch.eye(code)[..., None, None]
            self.mix.weight[:, code:].normal_(0.0, noise_dim**-0.5)
            self.mix.bias.zero_()

    def decode(self, code: Tensor, z: Tensor) -> Tensor:
        """Velocity models from codes ``(B, 16 w, 1, 1)`` and noise ``(B, noise_dim)``; the
        units of ``forward`` (m/s with ``velocity_output``, else [-1, 1])."""
        h = self.mix(torch.cat([code, z[..., None, None].to(code.dtype)], dim=1))
        return self._decode(h)

    def sample(self, gathers: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws per measurement: ``(B, n, nz, nx)``."""
        code = self.encode(gathers)
        b = code.shape[0]
        z = torch.randn(n * b, self.noise_dim, generator=generator, dtype=code.dtype, device="cpu" if generator is not None else code.device).to(code.device)
        x = self.decode(code.repeat_interleave(n, dim=0), z)
        return x.reshape(b, n, *x.shape[1:])

    def forward(self, gathers: Tensor) -> Tensor:
        """One draw per measurement: ``(B, nz, nx)``."""
        return self.sample(gathers, 1)[:, 0]


def _pool_gathers(gathers: Tensor, shape: tuple[int, int], time_last: bool) -> Tensor:
    """Gathers ``(B, S, R, T)`` (or ``(B, S, T, R)``) resampled onto the model grid
    ``(B, S, nz, nx)`` (time down the rows), each sample scaled to unit RMS."""
    g = gathers.transpose(-1, -2) if time_last else gathers
    g = F.adaptive_avg_pool2d(g, shape)
    return g / g.square().mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(torch.finfo(g.dtype).tiny)


class GatherCritic(nn.Module):
    """Critic ``D(y, x_a, x_b) -> score`` of a pair of normalised velocity models given the gathers.

    The gathers are pooled onto the model grid and stacked with the two models as channels;
    four stride-2 convolution stages (LeakyReLU, no normalisation, as the gradient penalty
    requires) and a linear layer give one score per sample.

    Parameters
    ----------
    shots : int
        Shots (gather channels).
    output_shape : (int, int)
        Model grid ``(nz, nx)``.
    width : int
        Channels of the first stage (doubled at each of the next three).
    time_last : bool
        Gathers come as ``(B, shots, receivers, nt)``.
    """

    def __init__(self, shots: int, output_shape: tuple[int, int], width: int = 16, time_last: bool = True) -> None:
        super().__init__()
        self.output_shape, self.time_last = tuple(output_shape), time_last
        layers: list[nn.Module] = []
        c, h, w = shots + 2, *self.output_shape
        for k in range(4):
            c_out = width * 2**k
            layers += [nn.Conv2d(c, c_out, 3, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(c_out, c_out, 3, 1, 1), nn.LeakyReLU(0.2)]
            c, h, w = c_out, (h + 1) // 2, (w + 1) // 2
        self.features = nn.Sequential(*layers)
        self.score = nn.Linear(c * h * w, 1)

    def condition(self, gathers: Tensor) -> Tensor:
        """The gathers as critic input channels ``(B, S, nz, nx)`` (compute once per batch)."""
        return _pool_gathers(gathers, self.output_shape, self.time_last)

    def forward(self, condition: Tensor, x_a: Tensor, x_b: Tensor) -> Tensor:
        """Scores ``(B,)`` from :meth:`condition` output and two models ``(B, nz, nx)``."""
        h = torch.cat([condition.to(x_a.dtype), x_a[:, None], x_b[:, None]], dim=1)
        return self.score(self.features(h).flatten(1)).squeeze(1)


class ConditionalWGAN(nn.Module):
    """Generator and critic of a conditional WGAN-GP, trained and stored together.

    Parameters
    ----------
    shots, nt, receivers, output_shape, vmin, vmax, time_last
        As for :class:`~inverselab.models.inversionnet.InversionNet`; the generator returns
        velocities in m/s.
    width : int
        Generator width (InversionNet's ``w``).
    noise_dim : int
        Length of the generator's noise vector.
    critic_width : int
        Channels of the critic's first stage.
    mean_samples : int
        Draws averaged by ``forward`` (the posterior-mean estimate).
    norm : {"batch", "group", "none"}
        Generator normalisation.
    """

    def __init__(
        self,
        shots: int = 5,
        nt: int = 1000,
        receivers: int = 70,
        output_shape: tuple[int, int] = (70, 70),
        width: int = 16,
        noise_dim: int = 32,
        critic_width: int = 16,
        mean_samples: int = 16,
        norm: str = "batch",
        vmin: float = 1500.0,
        vmax: float = 4500.0,
        time_last: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(mean_samples, int) or mean_samples < 1:
            raise InputError(f"mean_samples must be an integer >= 1, got {mean_samples!r}")
        self.generator = VelocityGenerator(noise_dim=noise_dim, shots=shots, nt=nt, receivers=receivers,
                                           output_shape=output_shape, width=width, norm=norm, vmin=vmin, vmax=vmax,
                                           velocity_output=True, time_last=time_last)
        self.critic = GatherCritic(shots, output_shape, critic_width, time_last)
        self.mean_samples = mean_samples
        # set by warm_start and stored with the weights (a resumed run keeps it): fine-tuning
        # keeps the generator's batch-norm statistics
        self.register_buffer("frozen_norms", torch.tensor(False))

    def sample(self, gathers: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` posterior draws per measurement, ``(B, n, nz, nx)`` in m/s."""
        return self.generator.sample(gathers, n, generator)

    def forward(self, gathers: Tensor) -> Tensor:
        """Posterior-mean estimate ``(B, nz, nx)`` in m/s: the mean of ``mean_samples`` draws."""
        return self.sample(gathers, self.mean_samples).mean(dim=1)

    def normalise(self, v: Tensor) -> Tensor:
        """Velocities in m/s -> [-1, 1] (the units the critic sees)."""
        return self.generator.normalise(v)

    def warm_start(self, state: dict[str, Tensor]) -> list[str]:
        """Load a trained InversionNet's weights (same width and problem) into the generator,
        or a trained cWGAN's into the whole model (to go on with other loss settings).

        The generator's batch-norm statistics are then kept as trained (``frozen_norms``):
        adversarial batches hold repeated measurements with several draws each, whose
        statistics are not those of the data. Returns the generator parameters that were not
        in ``state`` (the noise mixing layer of a new generator).
        """
        if any(k.startswith("critic.") for k in state):
            try:
                self.load_state_dict(state)
            except RuntimeError as exc:
                raise InputError(f"warm start: the cWGAN weights do not fit this model ({str(exc).splitlines()[1].strip()}); "
                                 "use the same width and critic_width on the same problem") from None
            return []
        own = self.generator.state_dict()
        bad = [k for k, v in state.items() if k not in own or own[k].shape != v.shape]
        if bad:
            shape = tuple(state[bad[0]].shape)
            mine = tuple(own[bad[0]].shape) if bad[0] in own else "absent"
            raise InputError(f"warm start: weights do not fit the generator ({bad[0]!r}: {shape} in the run, {mine} "
                             "here); give the generator the InversionNet's width (--option width=W, as the run was "
                             "trained) on the same problem")
        missing = self.generator.load_state_dict(state, strict=False).missing_keys
        self.frozen_norms.fill_(True)
        return list(missing)
