"""Declaring a physics-informed network: domain, unknowns, residuals, conditions, observations.

>>> from math import pi
>>> import torch
>>> from inverselab.models.pinn import PINN, Box, Net, Scalar, Dirichlet, Initial, Observed
>>> exact = lambda v: torch.exp(-v.t) * torch.sin(pi * v.x)
>>> model = PINN(
...     domain=Box(x=(-1, 1), t=(0, 1)),
...     fields={"u": Net(hidden=(32, 32, 32))},
...     parameters={"C": Scalar(2.0)},
...     residuals={"pde": lambda v: v.u_t - v.C * v.u_xx
...                + torch.exp(-v.t) * (torch.sin(pi * v.x) - pi**2 * torch.sin(pi * v.x))},
...     conditions={"bc": Dirichlet("u", exact), "ic": Initial("u", exact)},
...     observations={"data": Observed("u", {"x": torch.linspace(-1, 1, 10), "t": torch.ones(10)},
...                                    torch.exp(torch.tensor(-1.0)) * torch.sin(pi * torch.linspace(-1, 1, 10)))},
... )

Inside a residual, ``v`` gives coordinates (``v.x``), unknown scalars (``v.C``), fields
(``v.u``) and their derivatives by name (``v.u_t``, ``v.u_xx``, ``v.u_xy``: one letter per
coordinate), or ``v.d("u", "x", "x")`` for coordinates with longer names. Derivatives come
from automatic differentiation over all points at once and are cached per evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ...errors import InputError, check_finite, check_positive
from .network import Box, Net, Scalar, check_names

Tensor = torch.Tensor

__all__ = ["PINN", "Values", "Constraint", "Dirichlet", "Initial", "Observed"]

Expression = Callable[["Values"], Tensor | Sequence[Tensor]]


class Values:
    """Coordinates, unknowns, fields and derivatives at a set of points (see module doc)."""

    def __init__(self, model: PINN, points: Tensor) -> None:
        self._model = model
        self._points = points
        self._outputs: dict[str, Tensor] = {}
        self._grads: dict[tuple[str, ...], Tensor] = {}

    @property
    def points(self) -> Tensor:
        """The physical points ``(N, dim)`` (requires grad)."""
        return self._points

    def __getattr__(self, name: str) -> Tensor:
        if name.startswith("_"):
            raise AttributeError(name)
        model = self._model
        if name in model.domain.names:
            return self._points[:, model.domain.index(name)]
        if name in model.scalar_specs:
            return model.scalar(name)
        if name in model.field_of:
            return self._output(name)
        base, _, suffix = name.rpartition("_")
        if base in model.field_of and suffix and all(c in model.domain.names for c in suffix):
            return self.d(base, *suffix)
        known = [*model.domain.names, *model.scalar_specs, *model.field_of]
        raise AttributeError(
            f"{name!r} is not a coordinate, unknown or field ({', '.join(known)}); derivatives are "
            f"written like u_x or u_xx, or v.d('u', 'x', 'x')"
        )

    def _output(self, name: str) -> Tensor:
        if name not in self._outputs:
            key = self._model.field_of[name]
            values = self._model.field_values(key, self._points, self)
            for k, out in enumerate(self._model.output_names(key)):
                self._outputs[out] = values[:, k]
        return self._outputs[name]

    def d(self, field: str, *coordinates: str) -> Tensor:
        """Derivative of ``field`` with respect to ``coordinates`` in order, ``(N,)``."""
        if field not in self._model.field_of:
            raise InputError(f"unknown field {field!r}: the fields are {', '.join(self._model.field_of)}")
        if not coordinates:
            return self._output(field)
        columns = [self._model.domain.index(c) for c in coordinates]
        value = self._output(field)
        for k in range(len(columns)):
            key = (field, *coordinates[:k])
            if key not in self._grads:
                (grad,) = torch.autograd.grad(value.sum(), self._points, create_graph=True)
                self._grads[key] = grad
            value = self._grads[key][:, columns[k]]
        return value


@dataclass
class Constraint:
    """A residual that must vanish on part of the domain's boundary.

    Attributes
    ----------
    residual : callable
        ``v -> (N,)`` tensor (or a sequence of them).
    on : str
        ``"boundary"`` (all faces of the non-time coordinates), ``"boundary:x"`` or
        ``"boundary:x,y"`` (faces of those coordinates), ``"initial"``/``"final"`` (time at
        its lower/upper bound).
    points : int
        Points drawn per (re)sampling.
    """

    residual: Expression
    on: str = "boundary"
    points: int = 100


def _as_expression(field: str, value: float | Expression) -> Expression:
    if callable(value):
        return lambda v: getattr(v, field) - value(v)
    return lambda v: getattr(v, field) - float(value)


def Dirichlet(field: str, value: float | Expression = 0.0, on: str = "boundary", points: int = 100) -> Constraint:
    """``field = value`` on the boundary (``value`` a number or ``v -> tensor``)."""
    return Constraint(_as_expression(field, value), on, points)


def Initial(field: str, value: float | Expression = 0.0, points: int = 100) -> Constraint:
    """``field = value`` at the initial time."""
    return Constraint(_as_expression(field, value), "initial", points)


class Observed:
    """Measurements of a field (or of any expression) at given points.

    Parameters
    ----------
    quantity : str or callable
        A field name, or ``v -> (N,)`` for derived observations.
    points : Tensor or dict
        ``(N, dim)`` physical coordinates in the domain's order, or ``{name: (N,)}``.
    values : Tensor
        ``(N,)`` observed values.
    """

    def __init__(self, quantity: str | Expression, points: Tensor | Mapping[str, Tensor], values: Tensor) -> None:
        self.quantity = quantity
        self._points = points
        self.values = torch.as_tensor(values).reshape(-1)
        check_finite("observed values", self.values)

    def points(self, domain: Box) -> Tensor:
        if isinstance(self._points, Mapping):
            missing = [n for n in domain.names if n not in self._points]
            if missing:
                raise InputError(f"observation points lack coordinate {missing[0]!r}")
            cols = [torch.as_tensor(self._points[n]).reshape(-1) for n in domain.names]
            if len({c.numel() for c in cols}) != 1:
                raise InputError("observation coordinates must all have the same length")
            pts = torch.stack(cols, dim=1)
        else:
            pts = torch.as_tensor(self._points)
            if pts.ndim != 2 or pts.shape[1] != domain.dim:
                raise InputError(f"observation points must be (N, {domain.dim}) in order {domain.names}, "
                                 f"got {tuple(pts.shape)}")
        if pts.shape[0] != self.values.numel():
            raise InputError(f"{pts.shape[0]} observation points but {self.values.numel()} values")
        check_finite("observation points", pts)
        return pts

    def residual(self, v: Values, rows: slice = slice(None)) -> Tensor:
        """Predicted minus observed, where ``rows`` of ``v`` are this term's points."""
        predicted = getattr(v, self.quantity) if isinstance(self.quantity, str) else self.quantity(v)
        return predicted[rows] - self.values.to(predicted)


class PINN(nn.Module):
    """A physics-informed network: networks for the fields, parameters for the unknowns, and
    the named loss terms that tie them to the physics and the data.

    Parameters
    ----------
    domain : Box
        Coordinates and their ranges.
    fields : dict of str to Net
        Networks of the unknown fields (solution fields and unknown coefficient fields).
    residuals : dict of str to callable
        Named PDE/ODE residuals ``v -> (N,)`` (or a sequence for a system), enforced at
        collocation points inside the domain.
    conditions : dict of str to Constraint, optional
        Named boundary and initial conditions.
    observations : dict of str to Observed, optional
        Named data terms.
    parameters : dict of str to Scalar, optional
        Unknown scalars.
    time : str, optional
        The time coordinate (for ``"initial"`` conditions and ``"boundary"`` faces); default
        ``"t"`` when the domain has one.
    seed : int
        Seed of the network initialisation.

    The loss terms are named by their dictionary keys, which must be distinct across
    residuals, conditions and observations.
    """

    def __init__(
        self,
        domain: Box,
        fields: Mapping[str, Net],
        residuals: Mapping[str, Expression],
        conditions: Mapping[str, Constraint] | None = None,
        observations: Mapping[str, Observed] | None = None,
        parameters: Mapping[str, Scalar] | None = None,
        time: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(domain, Box):
            raise InputError("domain must be a Box, e.g. Box(x=(0, 1), t=(0, 1))")
        self.domain = domain
        self.residual_terms = dict(residuals)
        self.condition_terms = dict(conditions or {})
        self.observation_terms = dict(observations or {})
        self.scalar_specs = dict(parameters or {})
        for kind, names in (("field", fields), ("residual", residuals), ("condition", self.condition_terms),
                            ("observation", self.observation_terms), ("parameter", self.scalar_specs)):
            check_names(kind, names)
        terms = [*self.residual_terms, *self.condition_terms, *self.observation_terms]
        if len(set(terms)) != len(terms):
            raise InputError(f"loss term names must be distinct, got {terms}")
        if not self.residual_terms:
            raise InputError("a PINN needs at least one residual, e.g. residuals={'pde': lambda v: ...}")
        self.time = time if time is not None else ("t" if "t" in domain.names else None)
        if self.time is not None:
            domain.index(self.time)

        generator = torch.Generator().manual_seed(int(seed))
        self.nets = nn.ModuleDict()
        self.field_of: dict[str, str] = {}
        self._columns: dict[str, list[int]] = {}
        for key, net in fields.items():
            if not isinstance(net, Net):
                raise InputError(f"field {key!r} must be a Net(...), got {type(net).__name__}")
            inputs = net.inputs or domain.names
            self._columns[key] = [domain.index(c) for c in inputs]
            outputs = net.outputs or (key,)
            check_names("field output", dict.fromkeys(outputs))
            net.build(len(inputs), len(outputs), generator)
            self.nets[key] = net
            for out in outputs:
                if out in self.field_of or out in domain.names or out in self.scalar_specs:
                    raise InputError(f"name {out!r} is used twice (fields, coordinates and parameters need distinct names)")
                self.field_of[out] = key
        self.raw = nn.ParameterDict({
            name: nn.Parameter(torch.tensor(spec.raw_init(), dtype=torch.float32))
            for name, spec in self.scalar_specs.items()
        })
        for name, cond in self.condition_terms.items():
            if not isinstance(cond, Constraint):
                raise InputError(f"condition {name!r} must be a Constraint (Dirichlet, Initial, ...)")
            self._faces(cond.on)  # validate early
            check_positive(f"points of condition {name!r}", cond.points)
        for name, obs in self.observation_terms.items():
            if not isinstance(obs, Observed):
                raise InputError(f"observation {name!r} must be an Observed(...)")
            obs.points(domain)

    # -- evaluation ---------------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def output_names(self, key: str) -> tuple[str, ...]:
        return self.nets[key].outputs or (key,)

    def field_values(self, key: str, points: Tensor, v: Values) -> Tensor:
        """Outputs ``(N, k)`` of network ``key`` at physical ``points``."""
        net = self.nets[key]
        cols = self._columns[key]
        z = self.domain.normalise(points)[:, cols]
        out = net(z)
        if net.transform is not None:
            single = out.shape[1] == 1
            out = net.transform(out[:, 0] if single else out, v)
            out = out[:, None] if single else out
        return out

    def scalar(self, name: str) -> Tensor:
        """Current value of unknown scalar ``name`` (0-d, differentiable)."""
        return self.scalar_specs[name].value(self.raw[name])

    def scalars(self) -> dict[str, float]:
        """Current values of all unknown scalars."""
        return {name: float(self.scalar(name).detach()) for name in self.scalar_specs}

    def values(self, points: Tensor) -> Values:
        """A :class:`Values` namespace at physical ``points`` ``(N, dim)``."""
        device = next(self.parameters()).device
        points = points.to(device=device, dtype=self.dtype).detach().requires_grad_(True)
        return Values(self, points)

    def evaluate(self, quantity: str | Expression, points: Tensor | Mapping[str, Tensor]) -> Tensor:
        """A field or expression at points (``(N, dim)`` or ``{name: (N,)}``), detached."""
        if isinstance(points, Mapping):
            points = Observed(quantity, points, torch.zeros(len(next(iter(points.values()))))).points(self.domain)
        v = self.values(torch.as_tensor(points))
        out = getattr(v, quantity) if isinstance(quantity, str) else quantity(v)
        return out.detach()

    # -- points and losses -------------------------------------------------------------------
    def _faces(self, on: str) -> tuple[list[str], str]:
        if on in ("initial", "final"):
            if self.time is None:
                raise InputError(f"condition on {on!r} needs a time coordinate (the domain has {self.domain.names})")
            return [self.time], "low" if on == "initial" else "high"
        if on == "boundary":
            names = [n for n in self.domain.names if n != self.time]
            if not names:
                raise InputError("'boundary' needs a coordinate other than time")
            return names, "both"
        if on.startswith("boundary:"):
            names = [n.strip() for n in on.split(":", 1)[1].split(",")]
            for n in names:
                self.domain.index(n)
            return names, "both"
        raise InputError(f"condition 'on' must be 'boundary', 'boundary:x', 'initial' or 'final', got {on!r}")

    def sample_points(self, collocation: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Fresh points for every residual and condition term (observations keep theirs)."""
        dtype = self.dtype
        points = {name: self.domain.sample(collocation, generator, dtype) for name in self.residual_terms}
        for name, cond in self.condition_terms.items():
            names, side = self._faces(cond.on)
            points[name] = self.domain.sample_face(cond.points, names, side, generator, dtype)
        for name, obs in self.observation_terms.items():
            points[name] = obs.points(self.domain).to(dtype)
        return points

    @property
    def term_names(self) -> list[str]:
        return [*self.residual_terms, *self.condition_terms, *self.observation_terms]

    def losses(self, points: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Mean squared residual of every named term at its points.

        All points go through the networks in one batch (one forward pass and one set of
        derivative passes), and each term reads its rows; terms with the same point tensor
        share rows.
        """
        rows: dict[int, slice] = {}
        chunks = []
        start = 0
        for name in self.term_names:
            key = id(points[name])
            if key not in rows:
                n = points[name].shape[0]
                rows[key] = slice(start, start + n)
                chunks.append(points[name])
                start += n
        v = self.values(torch.cat(chunks))
        out = {}
        for name in self.term_names:
            where = rows[id(points[name])]
            if name in self.observation_terms:
                out[name] = self.observation_terms[name].residual(v, where).pow(2).mean()
            else:
                out[name] = _mean_square(self._expression(name)(v), where)
        return out

    def _expression(self, name: str) -> Expression:
        if name in self.residual_terms:
            return self.residual_terms[name]
        return self.condition_terms[name].residual


def _mean_square(residual: Tensor | Sequence[Tensor], rows: slice) -> Tensor:
    if isinstance(residual, Tensor):
        return residual[rows].pow(2).mean()
    return torch.stack([r[rows].pow(2).mean() for r in residual]).sum()
