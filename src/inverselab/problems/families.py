"""Instance families for joint against per-instance optimisation.

A family gives instances (``sample``), the network's input per instance (``features``), the
per-instance loss (``loss``), the optimisers' start (``initial``) and the search box
(``bounds``):

- :class:`ToyLandscape` -- ``L_i(x) = lam_i |x - x_i*| - sum_j A_ij cos(omega_ij x + phi_ij)``,
  a V-shaped signal under oscillating noise whose strength sets the signal-to-noise ratio.
- :class:`WavePacket` -- find the centre of a Gaussian wave packet in a noisy 1-D signal (the
  misfit oscillates with the carrier: local minima every period).
- :class:`HeatSources` -- position and strength of a heat source from late-time sensor
  readings through the differentiable heat solver (flat, ill-conditioned directions).

The ``joint-*`` presets (:mod:`inverselab.problems.joint`) wrap each family as a problem; the
study :func:`inverselab.studies.joint.compare` runs the optimisers and a jointly trained network.
"""


from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..errors import InputError, check_count, check_positive

Tensor = torch.Tensor

__all__ = ["Family", "ToyLandscape", "WavePacket", "HeatSources", "FAMILIES"]


class Family:
    """Interface of an instance family (see the module docstring)."""

    name: str
    dim: int

    def draw(self, n: int, seed: int, truth: Tensor | None = None) -> dict[str, Tensor]:
        """``n`` instances from ``seed``; with ``truth`` ``(n, dim)``, instances built around
        those unknowns (everything else drawn as usual)."""
        raise NotImplementedError

    def sample(self, n: int, seed: int) -> dict[str, Tensor]:
        """``n`` random instances, deterministic per ``seed``."""
        return self.draw(n, seed)

    def truth(self, inst: dict[str, Tensor]) -> Tensor:
        """The unknowns each instance was built around ``(n, dim)`` (not always its minimiser)."""
        raise NotImplementedError

    def pack(self, inst: dict[str, Tensor]) -> Tensor:
        """Instances as one tensor ``(n, K)`` (the keys in sorted order, flattened)."""
        return torch.cat([inst[k].reshape(inst[k].shape[0], -1) for k in sorted(inst)], dim=1)

    def unpack(self, packed: Tensor) -> dict[str, Tensor]:
        """Inverse of :meth:`pack`."""
        if getattr(self, "_layout", None) is None:  # keys and per-instance shapes, from one instance
            self._layout = [(k, v.shape[1:]) for k, v in sorted(self.draw(1, 0).items())]
        out, start = {}, 0
        for k, shape in self._layout:
            width = math.prod(shape)
            out[k] = packed[:, start : start + width].reshape(-1, *shape)
            start += width
        if start != packed.shape[1]:
            raise InputError(f"a packed {self.name} instance has {start} values, got {packed.shape[1]}")
        return out

    def features(self, inst: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def loss(self, x: Tensor, inst: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def bounds(self) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def initial(self, inst: dict[str, Tensor]) -> Tensor:
        """The optimisers' common start: the centre of the search box."""
        lo, hi = self.bounds()
        n = next(iter(inst.values())).shape[0]
        return (0.5 * (lo + hi)).expand(n, self.dim).clone()

    def config(self) -> dict:
        return {"family": self.name, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}


@dataclass
class ToyLandscape(Family):
    """``L(x) = lam |x - x*| - sum_j A_j cos(omega_j x + phi_j)`` on ``x`` in [-1, 1].

    ``lam`` ~ U(0.5, 1.5), ``x*`` ~ U(-0.8, 0.8), ``omega_j`` ~ U(5, 40), ``phi_j`` ~ U(0, 2 pi),
    ``A_j`` ~ U(0, 1) scaled so that ``sum_j A_j omega_j = lam / snr``: ``snr`` is the ratio of the
    signal's slope to the largest slope of the noise (below 1 the noise makes local minima).

    Parameters
    ----------
    snr : float
        Signal-to-noise ratio of the landscape (> 0).
    terms : int
        Cosine terms of the noise.
    """

    snr: float = 1.0
    terms: int = 8
    name: str = field(default="toy", init=False)
    dim: int = field(default=1, init=False)

    def __post_init__(self) -> None:
        check_positive("snr", self.snr)
        check_count("terms", self.terms)

    def draw(self, n: int, seed: int, truth: Tensor | None = None) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(seed)
        u = lambda *shape: torch.rand(*shape, generator=g, dtype=torch.float64)  # noqa: E731
        lam = 0.5 + u(n)
        omega = 5 + 35 * u(n, self.terms)
        amp = u(n, self.terms)
        amp = amp * (lam / self.snr / (amp * omega).sum(1))[:, None]
        x_star = 1.6 * u(n) - 0.8
        if truth is not None:
            x_star = truth[:, 0].to(x_star)
        return {"lam": lam, "x_star": x_star, "amp": amp, "omega": omega, "phi": 2 * math.pi * u(n, self.terms)}

    def truth(self, inst: dict[str, Tensor]) -> Tensor:
        return inst["x_star"][:, None]

    def features(self, inst: dict[str, Tensor]) -> Tensor:
        scale = inst["lam"][:, None]
        return torch.cat([inst["lam"][:, None], inst["x_star"][:, None], inst["amp"] / scale, inst["omega"] / 40,
                          inst["phi"].sin(), inst["phi"].cos()], dim=1)

    def loss(self, x: Tensor, inst: dict[str, Tensor]) -> Tensor:
        x = x[:, 0]
        noise = (inst["amp"] * torch.cos(inst["omega"] * x[:, None] + inst["phi"])).sum(1)
        return inst["lam"] * (x - inst["x_star"]).abs() - noise + inst["amp"].sum(1)

    def bounds(self) -> tuple[Tensor, Tensor]:
        return torch.tensor([-1.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)


@dataclass
class WavePacket(Family):
    """Centre ``t0`` of a wave packet ``exp(-(t - t0)^2 / (2 w^2)) cos(2 pi f (t - t0))`` in noise.

    Signals of ``samples`` points on t in [0, 1]; ``t0`` ~ U(0.2, 0.8), amplitude ~ U(0.5, 1.5)
    (known to the loss, as in Holl & Thuerey's set-up only the position is sought), white
    Gaussian noise of standard deviation ``noise``. The loss is the mean squared misfit, which
    oscillates in ``t0`` with the carrier period ``1 / f``.
    """

    samples: int = 256
    width: float = 0.05
    frequency: float = 20.0
    noise: float = 0.5
    name: str = field(default="wave-packet", init=False)
    dim: int = field(default=1, init=False)

    def __post_init__(self) -> None:
        check_count("samples", self.samples, minimum=8)
        check_positive("width", self.width)
        check_positive("frequency", self.frequency)
        if not self.noise >= 0:
            raise InputError(f"noise must be >= 0, got {self.noise}")
        self._t = torch.linspace(0, 1, self.samples, dtype=torch.float64)

    def packet(self, t0: Tensor, amplitude: Tensor) -> Tensor:
        """Noise-free signals ``(n, samples)`` for centres and amplitudes ``(n,)``."""
        tau = self._t - t0[:, None]
        return amplitude[:, None] * torch.exp(-0.5 * (tau / self.width) ** 2) * torch.cos(2 * math.pi * self.frequency * tau)

    def draw(self, n: int, seed: int, truth: Tensor | None = None) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(seed)
        t0 = 0.2 + 0.6 * torch.rand(n, generator=g, dtype=torch.float64)
        if truth is not None:
            t0 = truth[:, 0].to(t0)
        amplitude = 0.5 + torch.rand(n, generator=g, dtype=torch.float64)
        signal = self.packet(t0, amplitude) + self.noise * torch.randn(n, self.samples, generator=g, dtype=torch.float64)
        return {"signal": signal, "amplitude": amplitude, "t0": t0}

    def truth(self, inst: dict[str, Tensor]) -> Tensor:
        return inst["t0"][:, None]

    def features(self, inst: dict[str, Tensor]) -> Tensor:
        return inst["signal"]

    def loss(self, x: Tensor, inst: dict[str, Tensor]) -> Tensor:
        return (self.packet(x[:, 0], inst["amplitude"]) - inst["signal"]).square().mean(1)

    def bounds(self) -> tuple[Tensor, Tensor]:
        return torch.tensor([0.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)


@dataclass
class HeatSources(Family):
    """Position ``(x, y)`` and strength ``q`` of a heat pulse from late-time sensor readings.

    Unit square, conductivity 1, zero Dirichlet boundary, a ``grid`` x ``grid`` cell-centred
    grid (:func:`~inverselab.operators.heat.solve_heat`, Crank-Nicolson, gradients by the
    adjoint state). The initial temperature is a Gaussian pulse of width 0.06 and peak ``q``
    at ``(x, y)``; ``sensors`` sensors on a circle of radius 0.3 about the centre read the
    temperature at time ``time`` (late: the diffusion length ``sqrt(2 time)`` exceeds the
    sensor spacing), with Gaussian noise of ``noise`` times the readings' typical size. The
    loss is the mean squared misfit in units of that size squared.
    Unknowns in [0.15, 0.85]^2 x [0.5, 2].
    """

    grid: int = 24
    time: float = 0.02
    steps: int = 8
    sensors: int = 6
    noise: float = 0.02
    name: str = field(default="heat-sources", init=False)
    dim: int = field(default=3, init=False)

    def __post_init__(self) -> None:
        from ..operators.heat import Grid2D

        check_count("grid", self.grid, minimum=4)
        check_count("steps", self.steps)
        check_count("sensors", self.sensors)
        check_positive("time", self.time)
        if not self.noise >= 0:
            raise InputError(f"noise must be >= 0, got {self.noise}")
        self._grid = Grid2D((self.grid, self.grid), ((0.0, 1.0), (0.0, 1.0)))
        angle = 2 * math.pi * torch.arange(self.sensors, dtype=torch.float64) / self.sensors
        self._points = torch.stack([0.5 + 0.3 * angle.cos(), 0.5 + 0.3 * angle.sin(),
                                    torch.full_like(angle, self.time)], dim=1)
        centres = (torch.arange(self.grid, dtype=torch.float64) + 0.5) / self.grid
        self._yy, self._xx = torch.meshgrid(centres, centres, indexing="ij")
        self._scale = 1.0
        self._scale = float(self.readings(torch.tensor([[0.5, 0.5, 1.0]], dtype=torch.float64)).abs().mean())

    def readings(self, x: Tensor) -> Tensor:
        """Noise-free sensor readings ``(n, sensors)`` of pulses ``x = (x, y, q)`` ``(n, 3)``,
        in units of the readings' typical size."""
        from ..operators.heat import interpolate, solve_heat

        px, py, q = x[:, 0, None, None], x[:, 1, None, None], x[:, 2, None, None]
        u0 = q * torch.exp(-((self._xx - px) ** 2 + (self._yy - py) ** 2) / (2 * 0.06**2))
        kappa = torch.ones(self.grid, self.grid, dtype=x.dtype)
        trajectory = solve_heat(kappa, u0, None, self._grid, self.time / self.steps, self.steps)
        return interpolate(trajectory, self._grid, self._points, self.time / self.steps) / self._scale

    def draw(self, n: int, seed: int, truth: Tensor | None = None) -> dict[str, Tensor]:
        g = torch.Generator().manual_seed(seed)
        lo, hi = self.bounds()
        x = lo + (hi - lo) * torch.rand(n, 3, generator=g, dtype=torch.float64)
        if truth is not None:
            x = truth.to(x)
        with torch.no_grad():
            clean = self.readings(x)
        return {"data": clean + self.noise * torch.randn(clean.shape, generator=g, dtype=torch.float64), "x": x}

    def truth(self, inst: dict[str, Tensor]) -> Tensor:
        return inst["x"]

    def features(self, inst: dict[str, Tensor]) -> Tensor:
        return inst["data"]

    def loss(self, x: Tensor, inst: dict[str, Tensor]) -> Tensor:
        return (self.readings(x) - inst["data"]).square().mean(1)

    def bounds(self) -> tuple[Tensor, Tensor]:
        return torch.tensor([0.15, 0.15, 0.5], dtype=torch.float64), torch.tensor([0.85, 0.85, 2.0], dtype=torch.float64)


FAMILIES = {"toy": ToyLandscape, "wave-packet": WavePacket, "heat-sources": HeatSources}


