"""The joint-optimisation study's instance families as problems (``joint-toy``,
``joint-wave-packet``, ``joint-heat-sources``).

Each sample is one *instance* of a family of :mod:`inverselab.analysis.landscape`: its
"measurement" ``y`` is the whole instance packed into one vector (the toy's landscape
parameters; the wave packet's noisy signal and amplitude; the heat sensors' readings) and the
unknown ``x`` the parameters the instance was built around. Methods minimise the instance's own
loss ``L_i(x)``: per-instance gradient descent, Adam, L-BFGS and L-BFGS from random restarts
(all from the centre of the box, as in the study); the ``joint-mlp`` network is trained on the
summed losses of many instances with the ``objective`` loss (no labels). Scores: the final
loss ``L_i`` (lower is better) and the distance to the instance's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .families import Family, HeatSources, ToyLandscape, WavePacket
from ..errors import InputError, check_finite, format_shape
from ..noise import GaussianNoise
from ..operators.base import Operator
from .base import Problem
from .registry import register

Tensor = torch.Tensor

__all__ = ["JointProblem", "InstanceSpace"]


class InstanceSpace(Operator):
    """The shapes of a joint-optimisation problem: unknowns ``(dim,)``, packed instances ``(K,)``.

    These problems have no forward operator: an instance is drawn whole (with its noise) by
    :meth:`JointProblem.simulate`, and methods minimise its loss.
    """

    def __init__(self, dim: int, size: int) -> None:
        super().__init__(dim, size)

    def _forward(self, x: Tensor) -> Tensor:
        raise InputError("joint-optimisation problems have no forward operator: use problem.simulate(x) to draw instances "
                         "and problem.objective(x, y) for their losses")


@dataclass(eq=False)
class JointProblem(Problem):
    """A :class:`Problem` over the instances of a joint-optimisation family.

    Attributes
    ----------
    family : Family
        The instance family (see :mod:`inverselab.analysis.landscape`).
    """

    family: Family | None = None

    metrics = ("objective", "error")

    def simulate(self, x: Tensor, seed: int = 0) -> Tensor:
        """Instances built around unknowns ``x`` ``(B, dim)``, everything else drawn from ``seed``;
        packed ``(B, K)``."""
        check_finite("ground truth x", x)
        x = self.operator._check(x, self.operator.domain_shape, False, "unknowns")
        with torch.no_grad():
            return self.family.pack(self.family.draw(x.shape[0], seed, truth=x.double())).to(x.dtype)

    def objective(self, x: Tensor, y: Tensor) -> Tensor:
        """Each instance's loss ``L_i(x_i)`` ``(B,)`` for unknowns ``(B, dim)`` and instances ``(B, K)``."""
        return self.family.loss(x, self.family.unpack(y))

    def evaluate(self, estimate: Tensor, truth: Tensor, interval=None, y: Tensor | None = None) -> dict[str, list[float]]:
        """Per instance: its final loss (needs the instances ``y``) and the distance of the
        estimate to the parameters the instance was built around."""
        if estimate.shape != truth.shape:
            raise InputError(f"estimate {format_shape(estimate.shape)} and truth {format_shape(truth.shape)} differ in shape")
        if y is None:
            raise InputError("scoring a joint-optimisation estimate needs its instances: evaluate(estimate, truth, y=y)")
        with torch.no_grad():
            loss = self.objective(estimate.double(), y.double())
        return {"objective": loss.tolist(), "error": (estimate.double() - truth.double()).norm(dim=1).tolist()}

def _joint_problem(name: str, family: Family, iters: int) -> JointProblem:
    lo, hi = family.bounds()
    size = family.pack(family.draw(1, 0)).shape[1]

    def truth(n: int, seed: int, split: str) -> Tensor:
        return family.truth(family.draw(n, seed if split == "test" else 2**31 - 1 - seed))

    return JointProblem(
        name=name,
        operator=InstanceSpace(family.dim, size),
        noise=GaussianNoise(0.0),
        truth_sampler=truth,
        baseline_fn=lambda y: (0.5 * (lo + hi)).to(y).expand(y.shape[0], family.dim).clone(),
        config={},
        methods={"lbfgs": {"iters": iters}, "gradient-descent": {"iters": iters, "lr": 0.01 * float((hi - lo).max())},
                 "adam": {"iters": iters, "lr": 0.01 * float((hi - lo).max())},
                 "restarts": {"restarts": 8, "iters": iters, "seed": 0}},
        default_method="lbfgs",
        data_range=float((hi - lo).max()),
        family=family,
    )


@register("joint-toy", "joint-optimisation toy landscape lam|x - x*| - sum A cos(omega x + phi); per-instance "
          "optimisers against a jointly trained network")
def joint_toy(snr: float = 0.3, terms: int = 8, iters: int = 100) -> JointProblem:
    """Toy landscapes. snr : signal slope / largest noise slope (below 1: local minima); terms :
    cosine terms of the noise; iters : iterations of the per-instance optimisers."""
    return _joint_problem("joint-toy", ToyLandscape(snr=snr, terms=terms), iters)


@register("joint-wave-packet", "joint optimisation: centre of a wave packet in a noisy 1-D signal")
def joint_wave_packet(samples: int = 256, width: float = 0.05, frequency: float = 20.0, noise: float = 0.1,
                      iters: int = 100) -> JointProblem:
    """Wave-packet localisation. samples : signal length; width, frequency : the packet's;
    noise : standard deviation of the white noise; iters : optimiser iterations."""
    return _joint_problem("joint-wave-packet", WavePacket(samples=samples, width=width, frequency=frequency, noise=noise), iters)


@register("joint-heat-sources", "joint optimisation: position and strength of a heat pulse from late-time sensors")
def joint_heat_sources(grid: int = 24, sensors: int = 6, noise: float = 0.02, iters: int = 100) -> JointProblem:
    """Heat-source localisation through the differentiable heat solver. grid : cells per side;
    sensors : on a circle about the centre; noise : relative to the readings' size; iters :
    optimiser iterations."""
    return _joint_problem("joint-heat-sources", HeatSources(grid=grid, sensors=sensors, noise=noise), iters)
