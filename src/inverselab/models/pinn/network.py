"""Coordinate networks and unknown scalars of a PINN, with their scaling to O(1)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ...errors import InputError, check_choice, check_positive

Tensor = torch.Tensor

__all__ = ["Box", "Net", "Scalar"]


class Box:
    """An axis-aligned domain, one named interval per coordinate.

    ``Box(x=(-1, 1), t=(0, 1))``: coordinates keep the order given. Networks see the
    coordinates mapped to ``[-1, 1]`` (input scaling); residuals see physical values.

    Parameters
    ----------
    **intervals : (float, float)
        ``name=(low, high)`` with ``low < high``.
    """

    def __init__(self, **intervals: tuple[float, float]) -> None:
        if not intervals:
            raise InputError("a Box needs at least one coordinate, e.g. Box(x=(0, 1))")
        for name, bounds in intervals.items():
            if len(tuple(bounds)) != 2 or not float(bounds[0]) < float(bounds[1]):
                raise InputError(f"Box coordinate {name!r} needs (low, high) with low < high, got {bounds!r}")
        self.names = tuple(intervals)
        self.low = torch.tensor([float(intervals[n][0]) for n in self.names], dtype=torch.float64)
        self.high = torch.tensor([float(intervals[n][1]) for n in self.names], dtype=torch.float64)

    @property
    def dim(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Column of coordinate ``name``."""
        return self.names.index(check_choice("coordinate", name, self.names))

    def normalise(self, points: Tensor) -> Tensor:
        """Physical ``(N, dim)`` points to ``[-1, 1]^dim``."""
        low, high = self.low.to(points), self.high.to(points)
        return 2 * (points - low) / (high - low) - 1

    def sample(self, n: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
        """``n`` uniform points ``(n, dim)`` in the box."""
        u = torch.rand(n, self.dim, generator=generator, dtype=torch.float64)
        return (self.low + u * (self.high - self.low)).to(dtype)

    def sample_face(self, n: int, names: Sequence[str], side: str, generator: torch.Generator,
                    dtype: torch.dtype) -> Tensor:
        """``n`` uniform points on the faces where coordinates ``names`` sit at their bounds.

        ``side`` is ``"low"``, ``"high"`` or ``"both"``; faces are drawn with probability
        proportional to their measure.
        """
        check_choice("side", side, ("low", "high", "both"))
        faces = [(self.index(name), s) for name in names for s in (("low", "high") if side == "both" else (side,))]
        extent = self.high - self.low
        measure = torch.tensor([float(extent.prod() / extent[i]) for i, _ in faces])
        choice = torch.multinomial(measure, n, replacement=True, generator=generator)
        points = self.sample(n, generator, torch.float64)
        for k, (i, s) in enumerate(faces):
            rows = choice == k
            points[rows, i] = self.low[i] if s == "low" else self.high[i]
        return points.to(dtype)

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}=({float(lo):g}, {float(hi):g})" for n, lo, hi in zip(self.names, self.low, self.high))
        return f"Box({parts})"


class _Sine(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(x)


class Net(nn.Module):
    """A fully connected coordinate network for one or more unknown fields.

    Parameters
    ----------
    hidden : sequence of int
        Widths of the hidden layers.
    inputs : sequence of str, optional
        Coordinates the field depends on (default: all of the domain's), e.g. ``("x", "y")``
        for a time-independent conductivity in a space-time problem.
    outputs : sequence of str, optional
        Names of the output components (default: the field's own name, one output).
    activation : {"tanh", "sin"}
        ``"sin"`` uses SIREN initialisation (first-layer frequency ``omega``).
    fourier : int
        Number of random Fourier features ``[cos(2 pi B x), sin(2 pi B x)]`` (0: none).
    sigma : float
        Standard deviation of the Fourier frequencies (in normalised coordinates).
    scale, offset : float
        The output is ``offset + scale * network`` (output scaling to O(1) for the network).
    transform : callable, optional
        ``transform(value, v) -> value`` applied last, with ``v`` the coordinates namespace:
        hard constraints and positivity, e.g. ``lambda a, v: 2 + (1 - v.x**2) * a``.
    """

    def __init__(
        self,
        hidden: Sequence[int] = (32, 32, 32),
        inputs: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
        activation: str = "tanh",
        fourier: int = 0,
        sigma: float = 1.0,
        omega: float = 30.0,
        scale: float = 1.0,
        offset: float = 0.0,
        transform: Callable | None = None,
    ) -> None:
        super().__init__()
        check_choice("activation", activation, ("tanh", "sin"))
        if not hidden or any(int(h) < 1 for h in hidden):
            raise InputError(f"hidden widths must be positive integers, got {tuple(hidden)!r}")
        if int(fourier) < 0:
            raise InputError(f"fourier must be >= 0, got {fourier}")
        self.hidden = tuple(int(h) for h in hidden)
        self.inputs = None if inputs is None else tuple(inputs)
        self.outputs = None if outputs is None else tuple(outputs)
        self.activation = activation
        self.fourier = int(fourier)
        self.sigma = check_positive("sigma", sigma)
        self.omega = check_positive("omega", omega)
        self.scale = float(scale)
        self.offset = float(offset)
        self.transform = transform
        self.layers: nn.ModuleList | None = None

    def build(self, n_inputs: int, n_outputs: int, generator: torch.Generator) -> None:
        """Create the layers (called by :class:`~inverselab.models.pinn.PINN`), seeded."""
        width_in = n_inputs
        if self.fourier:
            freq = self.sigma * torch.randn(n_inputs, self.fourier, generator=generator)
            self.register_buffer("frequencies", freq)
            width_in = 2 * self.fourier
        sizes = (width_in, *self.hidden, n_outputs)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        for k, layer in enumerate(self.layers):
            fan_in, fan_out = layer.in_features, layer.out_features
            if self.activation == "tanh":  # Glorot uniform
                bound = math.sqrt(6.0 / (fan_in + fan_out))
            elif k == 0:  # SIREN
                bound = 1.0 / fan_in
            else:
                bound = math.sqrt(6.0 / fan_in) / self.omega
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.zero_()
        self._act = nn.Tanh() if self.activation == "tanh" else _Sine()

    def forward(self, z: Tensor) -> Tensor:
        """Raw output ``(N, n_outputs)`` for normalised coordinates ``z`` ``(N, n_inputs)``."""
        if self.layers is None:
            raise InputError("Net has no layers yet: pass it to PINN(...), which builds it")
        if self.fourier:
            proj = 2 * math.pi * z @ self.frequencies
            z = torch.cat([torch.cos(proj), torch.sin(proj)], dim=-1)
        for k, layer in enumerate(self.layers[:-1]):
            z = layer(z)
            z = self._act(self.omega * z if (self.activation == "sin" and k == 0) else z)
        return self.offset + self.scale * self.layers[-1](z)


@dataclass
class Scalar:
    """An unknown scalar (a PDE or ODE coefficient).

    The optimiser works on ``raw = value / scale`` (or ``log(value / scale)`` when
    ``positive``), so parameters of any magnitude are O(1) to it.

    Attributes
    ----------
    init : float
        Starting value.
    scale : float, optional
        Typical magnitude (default ``|init|``, or 1 for ``init == 0``).
    positive : bool
        Constrain to positive values through an exponential.
    """

    init: float
    scale: float | None = None
    positive: bool = False

    def __post_init__(self) -> None:
        if not math.isfinite(float(self.init)):
            raise InputError(f"Scalar init must be finite, got {self.init!r}")
        if self.scale is None:
            self.scale = abs(float(self.init)) or 1.0
        check_positive("Scalar scale", self.scale)
        if self.positive and not float(self.init) > 0:
            raise InputError(f"a positive Scalar needs init > 0, got {self.init!r}")

    def raw_init(self) -> float:
        ratio = float(self.init) / float(self.scale)
        return math.log(ratio) if self.positive else ratio

    def value(self, raw: Tensor) -> Tensor:
        return self.scale * (torch.exp(raw) if self.positive else raw)


def check_names(kind: str, names: Mapping[str, object]) -> None:
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise InputError(f"{kind} name {name!r} must be a Python identifier, e.g. 'u' or 'kappa'")
