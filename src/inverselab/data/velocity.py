"""Synthetic 2-D velocity models in the style of OpenFWI's families (Deng et al. 2022).

OpenFWI's "Vel" and "Fault" families are layered P-wave velocity models on a 70 x 70 grid
(10 m cells) with velocities between 1500 and 4500 m/s: flat layers (FlatVel), layers with
curved interfaces (CurveVel), and layered models cut by faults (FlatFault, CurveFault). The
generators here draw models of the same kinds; they are our own construction, not OpenFWI's
code, and their statistics only resemble the benchmark's.

Conventions
-----------
* Models are ``(B, nz, nx)`` in m/s, row 0 at the surface and depth increasing with the row
  index (the layout of :class:`~inverselab.operators.acoustic.AcousticWave2D`). Cell
  ``(iz, ix)`` is evaluated at its centre ``(iz + 0.5, ix + 0.5)`` (in cells): models are
  piecewise constant, with sharp interfaces.
* Every generator is deterministic per seed (a seeded CPU ``torch.Generator``; a generator can
  be passed instead), and all random numbers are drawn before any model is rasterised, so the
  result does not depend on the internal chunking.
* Layer velocities: with ``increasing=True`` (default, like OpenFWI's "A" sets, where velocity
  generally grows with depth) the ``L`` layer velocities are ``vmin + (vmax - vmin) * c_j``,
  ``j = 0 .. L-1``, with ``c_j = (w_0 + ... + w_j - r w_0) / (w_0 + ... + w_L - r w_0 - r' w_L)``,
  weights ``w_k = 0.25 + U(0, 1)`` and ``r, r' ~ U(0, 1)``: strictly increasing downwards,
  strictly inside ``(vmin, vmax)`` (the top layer anywhere from near ``vmin``, the bottom one
  up to near ``vmax``), neighbouring layers differing by at least ``(vmax - vmin) / (5 (L + 1))``
  (100 m/s for five layers in [1500, 4500]). So every column of a flat or curved model is non-decreasing
  with depth. With ``increasing=False`` (like the "B" sets) the same values are put in a
  random order.
* Layer thicknesses: proportional to ``0.3 + U(0, 1)``, so the ``L`` layers fill the depth
  and none is thinner than ``nz * 0.3 / (1.3 L)`` (about 3 cells for 5 layers in 70 rows).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._tensor import generator
from ..errors import InputError, check_choice

Tensor = torch.Tensor

__all__ = [
    "FAMILIES",
    "curved_faulted_layers",
    "curved_layers",
    "faulted_layers",
    "flat_layers",
    "velocity_family",
]

_CHUNK = 128  # models rasterised at a time (bounds the (chunk, interfaces, nz, nx) buffers)
_SINES = 3  # sines summed per interface curve


def _check(n: int, shape, layers, vmin: float, vmax: float) -> tuple[int, int, int, int]:
    try:
        nz, nx = (int(s) for s in shape)
        lo, hi = (int(s) for s in layers)
    except (TypeError, ValueError):
        raise InputError(
            f"shape and layers must be pairs of integers, got shape={shape!r}, layers={layers!r}"
        ) from None
    if not isinstance(n, int) or n < 0:
        raise InputError(f"number of models n must be an integer >= 0, got {n!r}")
    if nz < 2 or nx < 2:
        raise InputError(f"model shape (nz, nx) must be at least (2, 2), got {(nz, nx)}")
    if not 1 <= lo <= hi:
        raise InputError(f"layers=(min, max) needs 1 <= min <= max, got {(lo, hi)}")
    if not (math.isfinite(vmin) and math.isfinite(vmax) and 0 < vmin < vmax):
        raise InputError(f"need finite 0 < vmin < vmax (m/s), got vmin={vmin}, vmax={vmax}")
    return nz, nx, lo, hi


@dataclass
class _Layers:
    """Random parameters of ``n`` layered models with at most ``L`` layers (float64).

    velocities ``(n, L)``; base interface depths ``(n, L-1)`` in cells (``inf`` for interfaces
    a model does not have); interface curves: depth offset ``shared_amp * f_shared(x) +
    amp_k * f_k(x)`` with ``f`` sums of unit-weight sines (so ``|f| <= 1``).
    """

    velocities: Tensor
    base: Tensor
    shared_amp: Tensor  # (n,)
    shared_sines: Tensor  # (n, S, 3): weight, cycles across the width, phase
    amp: Tensor  # (n, L-1)
    sines: Tensor  # (n, L-1, S, 3)
    nx: int
    curved: bool

    def depth(self, x: Tensor, rows: slice) -> Tensor:
        """Interface depths (cells) ``(b, L-1, *x.shape[1:])`` at lateral positions
        ``x`` ``(b, ...)`` (cells) for the models ``rows``."""

        def curve(s: Tensor, x: Tensor) -> Tensor:
            # s: (b, *lead, S, 3), x: (b, *spatial) -> (b, *lead, *spatial)
            lead, spatial = s.ndim - 3, x.ndim - 1
            w, k, phi = (s[..., i].reshape(*s.shape[:-1], *([1] * spatial)) for i in range(3))
            xx = x.reshape(x.shape[0], *([1] * (lead + 1)), *x.shape[1:])
            return (w * torch.sin(2 * math.pi * k * xx / self.nx + phi)).sum(1 + lead)

        extra = x.ndim - 1
        base = self.base[rows].reshape(*self.base[rows].shape, *([1] * extra))
        if not self.curved:
            return base.expand(*base.shape[:2], *x.shape[1:])
        shared = self.shared_amp[rows].reshape(-1, *([1] * extra)) * curve(self.shared_sines[rows], x)
        out = base + shared.unsqueeze(1)
        if self.amp.shape[1]:
            amp = self.amp[rows].reshape(*self.amp[rows].shape, *([1] * extra))
            out = out + amp * curve(self.sines[rows], x)
        return out

    def evaluate(self, z: Tensor, x: Tensor, rows: slice) -> Tensor:
        """Velocity at points ``(z, x)`` (cells, broadcasting to ``(b, nz, nx)``) of the models
        ``rows``."""
        depths = self.depth(x, rows)  # (b, L-1, *x.shape[1:])
        index = (z.unsqueeze(1) >= depths).sum(1)  # layer index: interfaces above the point
        return self.velocities[rows].gather(1, index.flatten(1)).view_as(index)


def _uniform(g: torch.Generator, lo: float, hi: float, shape) -> Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)


def _draw_layers(
    g: torch.Generator,
    n: int,
    nz: int,
    nx: int,
    lo: int,
    hi: int,
    vmin: float,
    vmax: float,
    increasing: bool,
    curvature: float,
) -> _Layers:
    """Draw layer counts, velocities, thicknesses and (if ``curvature > 0``) interface curves."""
    L = hi
    counts = torch.randint(lo, hi + 1, (n,), generator=g)
    j = torch.arange(L + 1)
    # Velocities: normalised cumulative sums of weights >= 0.25 (strictly increasing, see module doc).
    w = torch.where(j[None, :] <= counts[:, None], _uniform(g, 0.25, 1.25, (n, L + 1)), 0.0)
    # The first and last weights are cut by random fractions r so the top and bottom layers
    # can come close to vmin and vmax.
    r = _uniform(g, 0.0, 1.0, (n, 2))
    first = w[:, :1] * r[:, :1]
    last = w.gather(1, counts[:, None]) * r[:, 1:]
    c = (w.cumsum(1) - first) / (w.sum(1, keepdim=True) - first - last)
    velocities = vmin + (vmax - vmin) * c[:, :L]
    keys = _uniform(g, 0.0, 1.0, (n, L))
    if not increasing:  # shuffle the layers a model has; absent layers keep their (unused) place
        perm = torch.where(j[None, :L] < counts[:, None], keys, 2.0 + j[None, :L]).argsort(1)
        velocities = velocities.gather(1, perm)
    # Thicknesses and base interface depths.
    t = torch.where(j[None, :L] < counts[:, None], _uniform(g, 0.3, 1.3, (n, L)), 0.0)
    thickness = t / t.sum(1, keepdim=True) * nz  # (n, L); zero for absent layers
    base = thickness.cumsum(1)[:, : L - 1]
    active = j[None, : L - 1] < (counts[:, None] - 1)
    base = torch.where(active, base, math.inf)
    # Curves: a shared undulation and a smaller one per interface that cannot make them cross.
    shared_sines = _sine_params(g, (n, _SINES))
    sines = _sine_params(g, (n, L - 1, _SINES))
    shared_amp = curvature * nz * _uniform(g, 0.3, 1.0, (n,))
    neighbours = torch.minimum(thickness[:, : L - 1], thickness[:, 1:L])
    amp = torch.where(active, 0.25 * neighbours * _uniform(g, 0.0, 1.0, (n, L - 1)), 0.0)
    if curvature == 0:
        amp = torch.zeros_like(amp)
    return _Layers(velocities, base, shared_amp, shared_sines, amp, sines, nx, curvature > 0)


def _sine_params(g: torch.Generator, shape: tuple[int, ...]) -> Tensor:
    """``(*shape, 3)``: weights summing to 1 over the last axis of ``shape``, 0.5 to 2.5
    cycles across the width, random phases."""
    w = _uniform(g, 0.2, 1.0, shape)
    w = w / w.sum(-1, keepdim=True)
    cycles = _uniform(g, 0.5, 2.5, shape)
    phase = _uniform(g, 0.0, 2 * math.pi, shape)
    return torch.stack([w, cycles, phase], -1)


def _grid(nz: int, nx: int) -> tuple[Tensor, Tensor]:
    """Cell-centre coordinates ``z, x`` in cells, each ``(nz, nx)``."""
    z = torch.arange(nz, dtype=torch.float64) + 0.5
    x = torch.arange(nx, dtype=torch.float64) + 0.5
    return z[:, None].expand(nz, nx), x[None, :].expand(nz, nx)


def _rasterise(model: _Layers, n: int, nz: int, nx: int, faults: Tensor | None, dtype: torch.dtype) -> Tensor:
    """Velocities ``(n, nz, nx)``; ``faults`` ``(n, F, 5)`` rows (xc, zc, sin dip,
    direction * cos dip, slip along the fault), all in cells, are applied last-to-first to the
    sampling points (see :func:`faulted_layers`)."""
    out = torch.empty((n, nz, nx), dtype=dtype)
    z0, x0 = _grid(nz, nx)
    for start in range(0, n, _CHUNK):
        rows = slice(start, min(start + _CHUNK, n))
        b = rows.stop - rows.start
        if faults is None:  # interfaces depend on x only: evaluate them once per column
            z, x = z0[None, :, :1].expand(b, nz, 1), x0[None, :1, :].expand(b, 1, nx)
        else:
            z, x = z0.expand(b, nz, nx), x0.expand(b, nz, nx)
            for f in reversed(range(faults.shape[1])):  # the youngest fault moves points first
                xc, zc, s, c, slip = (faults[rows, f, i, None, None] for i in range(5))
                # Fault direction d = (c, s) in (x, z) (z down); normal (s, -c). The side where
                # the normal points slides by slip * d (so the vertical throw is slip * s).
                moving = (x - xc) * s - (z - zc) * c > 0
                x = torch.where(moving, x - slip * c, x)
                z = torch.where(moving, z - slip * s, z)
        out[rows] = model.evaluate(z, x, rows).to(dtype)
    return out


def flat_layers(
    n: int,
    seed: int | torch.Generator = 0,
    shape: tuple[int, int] = (70, 70),
    layers: tuple[int, int] = (2, 5),
    vmin: float = 1500.0,
    vmax: float = 4500.0,
    increasing: bool = True,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Horizontally layered models (OpenFWI's FlatVel).

    Parameters
    ----------
    n : int
        Number of models.
    seed : int or torch.Generator
        Seed (or a CPU generator to draw from).
    shape : (int, int)
        ``(nz, nx)`` in cells (OpenFWI: 70 x 70 cells of 10 m).
    layers : (int, int)
        Inclusive range of the number of layers, drawn uniformly per model.
    vmin, vmax : float
        Velocity range in m/s; every layer velocity lies strictly inside it.
    increasing : bool
        Velocity strictly increasing with depth (FlatVel-A like; default) or the same values in
        random order (FlatVel-B like). See the module docstring for the exact distribution.
    dtype : torch.dtype
        Output dtype (float32 like OpenFWI's files, or float64).

    Returns
    -------
    Tensor
        ``(n, nz, nx)`` velocities in m/s, constant along each row.
    """
    nz, nx, lo, hi = _check(n, shape, layers, vmin, vmax)
    g = generator(seed)
    model = _draw_layers(g, n, nz, nx, lo, hi, vmin, vmax, increasing, curvature=0.0)
    return _rasterise(model, n, nz, nx, None, dtype)


def curved_layers(
    n: int,
    seed: int | torch.Generator = 0,
    shape: tuple[int, int] = (70, 70),
    layers: tuple[int, int] = (2, 5),
    vmin: float = 1500.0,
    vmax: float = 4500.0,
    increasing: bool = True,
    curvature: float = 0.12,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Layered models with smoothly curved interfaces (OpenFWI's CurveVel).

    Interface ``k`` lies at depth ``base_k + A f(x) + a_k f_k(x)``: ``f`` and ``f_k`` are sums
    of three sines (0.5 to 2.5 cycles across the width, random phases, weights summing to 1),
    ``A`` is ``curvature * nz`` times U(0.3, 1) and shared by all interfaces (the folding), and
    ``a_k`` is at most a quarter of the thinner neighbouring layer, so interfaces never cross
    (each column stays ordered). Interfaces may leave the model locally.

    Parameters
    ----------
    curvature : float
        Largest shared undulation amplitude as a fraction of ``nz`` (>= 0). With 0 only the
        small individual undulations remain; :func:`flat_layers` gives exactly flat layers.
    n, seed, shape, layers, vmin, vmax, increasing, dtype
        As in :func:`flat_layers`.

    Returns
    -------
    Tensor
        ``(n, nz, nx)`` velocities in m/s.
    """
    nz, nx, lo, hi = _check(n, shape, layers, vmin, vmax)
    if not (math.isfinite(curvature) and curvature >= 0):
        raise InputError(f"curvature must be a finite number >= 0, got {curvature}")
    g = generator(seed)
    model = _draw_layers(g, n, nz, nx, lo, hi, vmin, vmax, increasing, curvature=max(curvature, 1e-12))
    return _rasterise(model, n, nz, nx, None, dtype)


def faulted_layers(
    n: int,
    seed: int | torch.Generator = 0,
    shape: tuple[int, int] = (70, 70),
    layers: tuple[int, int] = (2, 5),
    vmin: float = 1500.0,
    vmax: float = 4500.0,
    increasing: bool = True,
    faults: tuple[int, int] = (1, 2),
    dip: tuple[float, float] = (45.0, 80.0),
    throw: tuple[float, float] = (0.05, 0.25),
    curved: bool = False,
    curvature: float = 0.12,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Layered models cut by planar faults (OpenFWI's FlatFault; CurveFault with ``curved``).

    Each fault is a straight line through a pivot ``(xc, zc)``: ``xc`` uniform in the middle
    half of the width and ``zc`` on a randomly chosen interface of the unfaulted model at
    ``xc`` (so the fault offsets at least that interface where it crosses it). It dips at an
    angle drawn from ``dip`` (degrees from horizontal) towards the left or the right, and the
    block on one side of it slides along the fault plane by a vertical throw of
    ``U(throw) * nz`` cells (at least 1.5 cells), up or down at random; the other block stays.
    With two faults the second displaces the model already cut by the first. Points brought in
    from outside the grid take the layer they fall in (the top and bottom layers extend).
    The unfaulted layers are exactly those :func:`flat_layers` (or :func:`curved_layers`)
    draws for the same seed and options, so ``faults=(0, 0)`` reproduces them.

    Parameters
    ----------
    faults : (int, int)
        Inclusive range of the number of faults per model (each >= 0).
    dip : (float, float)
        Range of fault dips in degrees, within (0, 90].
    throw : (float, float)
        Range of the vertical displacement as a fraction of ``nz``.
    curved : bool
        Start from curved interfaces (:func:`curved_layers` with ``curvature``) instead of flat.
    n, seed, shape, layers, vmin, vmax, increasing, curvature, dtype
        As in :func:`flat_layers` and :func:`curved_layers`.

    Returns
    -------
    Tensor
        ``(n, nz, nx)`` velocities in m/s.
    """
    nz, nx, lo, hi = _check(n, shape, layers, vmin, vmax)
    f_lo, f_hi = (int(f) for f in faults)
    if not 0 <= f_lo <= f_hi:
        raise InputError(f"faults=(min, max) needs 0 <= min <= max, got {(f_lo, f_hi)}")
    d_lo, d_hi = (float(d) for d in dip)
    if not 0 < d_lo <= d_hi <= 90:
        raise InputError(f"dip=(min, max) in degrees needs 0 < min <= max <= 90, got {(d_lo, d_hi)}")
    t_lo, t_hi = (float(t) for t in throw)
    if not 0 <= t_lo <= t_hi < math.inf:
        raise InputError(f"throw=(min, max) as a fraction of nz needs 0 <= min <= max, got {(t_lo, t_hi)}")
    if curved and not (math.isfinite(curvature) and curvature >= 0):
        raise InputError(f"curvature must be a finite number >= 0, got {curvature}")
    g = generator(seed)
    bend = max(curvature, 1e-12) if curved else 0.0  # as curved_layers / flat_layers draw it
    model = _draw_layers(g, n, nz, nx, lo, hi, vmin, vmax, increasing, curvature=bend)
    F = f_hi
    count = torch.randint(f_lo, f_hi + 1, (n,), generator=g)
    xc = nx * _uniform(g, 0.25, 0.75, (n, F))
    which = _uniform(g, 0.0, 1.0, (n, F))  # which interface carries the pivot
    angle = torch.deg2rad(_uniform(g, d_lo, d_hi, (n, F)))
    direction = torch.where(_uniform(g, 0.0, 1.0, (n, F)) < 0.5, -1.0, 1.0)
    sign = torch.where(_uniform(g, 0.0, 1.0, (n, F)) < 0.5, -1.0, 1.0)
    vertical = (nz * _uniform(g, t_lo, t_hi, (n, F))).clamp(min=1.5) * sign
    # Pivot depth: an active interface of the unfaulted model at xc (mid-depth if none).
    finite = torch.isfinite(model.base)
    n_iface = finite.sum(1, keepdim=True)  # (n, 1)
    pick = (which * n_iface).long().clamp(max=(n_iface - 1).clamp(min=0))  # (n, F)
    depths = model.depth(xc, slice(0, n))  # (n, L-1, F)
    zc = depths.gather(1, pick[:, None, :]).squeeze(1) if depths.shape[1] else torch.full_like(xc, nz / 2)
    zc = torch.where(n_iface > 0, zc, nz / 2)
    s, c = torch.sin(angle), torch.cos(angle) * direction
    slip = torch.where(torch.arange(F)[None, :] < count[:, None], vertical / s, 0.0)
    params = torch.stack([xc, zc, s, c, slip], -1)
    return _rasterise(model, n, nz, nx, params, dtype)


def curved_faulted_layers(n: int, seed: int | torch.Generator = 0, **options) -> Tensor:
    """Faulted models with curved interfaces (OpenFWI's CurveFault):
    :func:`faulted_layers` with ``curved=True``; the other options are the same."""
    options.setdefault("curved", True)
    return faulted_layers(n, seed, **options)


_GENERATORS: dict[str, Callable[..., Tensor]] = {
    "flat": flat_layers,
    "curved": curved_layers,
    "faulted": faulted_layers,
    "curved-faulted": curved_faulted_layers,
}

#: Names accepted by :func:`velocity_family` (OpenFWI's FlatVel, CurveVel, FlatFault, CurveFault).
FAMILIES: tuple[str, ...] = tuple(_GENERATORS)


def velocity_family(name: str) -> Callable[..., Tensor]:
    """The generator of a family: ``velocity_family("curved")(n, seed=0, shape=(70, 70))``.

    Parameters
    ----------
    name : {"flat", "curved", "faulted", "curved-faulted"}
        Family name (see :data:`FAMILIES`).

    Raises
    ------
    InputError
        For an unknown name; the message lists the valid ones.
    """
    check_choice("velocity family", name, _GENERATORS)
    return _GENERATORS[name]
