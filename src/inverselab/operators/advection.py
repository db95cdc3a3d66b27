"""Transport of a released substance by wind and turbulent diffusion, observed by point sensors.

:class:`AdvectionDiffusion2D` maps the concentration released at time 0 on a regular grid to
the time series that a set of sensors record:

    dc/dt + w . grad c = D lap c,   c(., 0) = c0,   c = 0 outside the domain (open boundary),

with a constant wind ``w = (u, v)`` (m/s) and eddy diffusivity ``D`` (m^2/s). The scheme is
explicit: first-order upwind advection and the five-point Laplacian, one 3 x 3 stencil per
step. The step is chosen below the positivity limit
``dt (|u| / hx + |v| / hy + 2 D / hx^2 + 2 D / hy^2) <= 1``, under which the scheme is stable
and never creates negative concentrations; a time step above it is refused. Sensors read the
bilinear interpolation of the field every ``sample_every`` seconds.

The map is linear, and its adjoint runs the transposed stencil backwards in time, so the dot
test holds to rounding. :meth:`AdvectionDiffusion2D.response` returns the whole matrix (one
row per reading) with one batched adjoint solve, which makes likelihoods of point releases
cost a gather and a sum.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import InputError, check_count, check_nonnegative, check_positive
from .base import LinearOperator

Tensor = torch.Tensor

__all__ = ["AdvectionDiffusion2D", "bilinear_weights"]


class AdvectionDiffusion2D(LinearOperator):
    r"""Released concentration ``(B, 1, ny, nx)`` -> sensor series ``(B, sensors, times)``.

    Parameters
    ----------
    shape : (int, int)
        Grid cells ``(ny, nx)``; cell centres at ``(i + 1/2) * h``.
    extent : (float, float)
        Domain size ``(Ly, Lx)`` in metres.
    sensors : Tensor
        ``(S, 2)`` sensor positions ``(x, y)`` in metres, inside the domain.
    wind : (float, float)
        Wind ``(u, v)`` in m/s along x and y.
    diffusivity : float
        Eddy diffusivity ``D`` in m^2/s.
    duration : float
        Observation time in seconds; readings at ``sample_every, 2 sample_every, ...``.
    sample_every : float
        Seconds between readings; must be a whole number of time steps.
    dt : float, optional
        Time step in seconds (default: the largest step under 0.9 x the positivity limit that
        divides ``sample_every``).

    Notes
    -----
    The concentration solves :math:`c_t + \mathbf w \cdot \nabla c = D \Delta c` with
    :math:`c(\cdot, 0) = c_0`, discretised by explicit first-order upwind advection and the
    five-point Laplacian,

    .. math::

        c^{n+1} = S c^n, \qquad \Delta t \Big(\frac{|u|}{h_x} + \frac{|v|}{h_y} + \frac{2D}{h_x^2}
        + \frac{2D}{h_y^2}\Big) \le 1,

    under which every entry of :math:`S` is nonnegative (no negative concentrations, stable in the
    maximum norm). A reading is :math:`P_s S^{k} c_0`; the adjoint runs :math:`S^T` backwards in
    time, and :meth:`response` stacks the rows :math:`(S^T)^k P_s^T` of all readings.

    References
    ----------
    R. J. LeVeque, *Finite Volume Methods for Hyperbolic Problems*. Cambridge University Press,
    2002.

    J. M. Stockie, "The mathematics of atmospheric dispersion modeling", *SIAM Review* 53(2),
    349-372, 2011.
    """

    def __init__(self, shape: tuple[int, int], extent: tuple[float, float], sensors: Tensor,
                 wind: tuple[float, float], diffusivity: float, duration: float, sample_every: float,
                 dt: float | None = None) -> None:
        ny, nx = (check_count("grid cells", int(n), minimum=3) for n in shape)
        ly, lx = (check_positive("domain extent", float(e)) for e in extent)
        sensors = torch.as_tensor(sensors, dtype=torch.float64)
        if sensors.ndim != 2 or sensors.shape[1] != 2 or sensors.shape[0] < 1:
            raise InputError(f"sensors must be (S, 2) positions (x, y) in metres, got shape {tuple(sensors.shape)}")
        if not ((sensors[:, 0] >= 0) & (sensors[:, 0] <= lx) & (sensors[:, 1] >= 0) & (sensors[:, 1] <= ly)).all():
            raise InputError(f"every sensor must lie inside the {lx:g} x {ly:g} m domain")
        u, v = (float(w) for w in wind)
        D = check_nonnegative("diffusivity", diffusivity)
        duration, sample_every = check_positive("duration", duration), check_positive("sample_every", sample_every)
        times = int(round(duration / sample_every))
        if times < 1 or abs(times * sample_every - duration) > 1e-9 * duration:
            raise InputError(f"duration {duration:g} s must be a whole number of sample intervals ({sample_every:g} s)")
        hx, hy = lx / nx, ly / ny
        rate = abs(u) / hx + abs(v) / hy + 2 * D / hx**2 + 2 * D / hy**2
        if dt is None:
            substeps = max(1, math.ceil(sample_every * rate / 0.9)) if rate > 0 else 1
        else:
            dt = check_positive("dt", dt)
            substeps = int(round(sample_every / dt))
            if substeps < 1 or abs(substeps * dt - sample_every) > 1e-9 * sample_every:
                raise InputError(f"dt {dt:g} s must divide the sample interval {sample_every:g} s")
        dt = sample_every / substeps
        if dt * rate > 1 + 1e-12:
            raise InputError(f"time step {dt:g} s exceeds the stability limit {1 / rate:.4g} s of this wind, "
                             "diffusivity and grid: pass a smaller dt (or leave dt=None)")
        super().__init__((1, ny, nx), (sensors.shape[0], times))
        self.grid_shape, self.extent, self.spacing = (ny, nx), (ly, lx), (hy, hx)
        self.wind, self.diffusivity, self.dt = (u, v), D, dt
        self.substeps, self.times, self.sample_every = substeps, times, sample_every
        stencil = torch.zeros(3, 3, dtype=torch.float64)  # [dy + 1, dx + 1]: weight of c(y + dy, x + dx)
        stencil[1, 1] = 1 - dt * rate
        stencil[1, 0] = dt * (max(u, 0.0) / hx + D / hx**2)   # upwind neighbour on the left when u > 0
        stencil[1, 2] = dt * (max(-u, 0.0) / hx + D / hx**2)
        stencil[0, 1] = dt * (max(v, 0.0) / hy + D / hy**2)
        stencil[2, 1] = dt * (max(-v, 0.0) / hy + D / hy**2)
        self.stencil = stencil
        # the step's weights as Python floats, forward and transposed (each neighbour's weight
        # taken from the mirrored side), so the time loop does no tensor bookkeeping
        weights = stencil.tolist()
        self._weights = {False: weights, True: [row[::-1] for row in weights[::-1]]}
        index, weight = bilinear_weights(sensors, (ny, nx), (hy, hx))
        self.register_buffer("sensors", sensors, persistent=False)
        self.register_buffer("index", index, persistent=False)
        self.register_buffer("weight", weight, persistent=False)
        self.nonnegative = True

    @property
    def cell_area(self) -> float:
        """Area of one grid cell (m^2)."""
        return self.spacing[0] * self.spacing[1]

    def _step(self, c: Tensor, transpose: bool) -> Tensor:
        """One time step ``S c`` (or ``S^T c``): the five-point stencil with zeros outside."""
        k = self._weights[transpose]
        p = F.pad(c, (1, 1, 1, 1))
        return (k[1][1] * c + k[1][0] * p[..., 1:-1, :-2] + k[1][2] * p[..., 1:-1, 2:]
                + k[0][1] * p[..., :-2, 1:-1] + k[2][1] * p[..., 2:, 1:-1])

    def _read(self, c: Tensor) -> Tensor:
        flat = c.reshape(c.shape[0], -1)
        return (flat[:, self.index.to(c.device)] * self.weight.to(c)).sum(-1)

    def _forward(self, x: Tensor) -> Tensor:
        c, readings = x, []
        for _ in range(self.times):
            for _ in range(self.substeps):
                c = self._step(c, transpose=False)
            readings.append(self._read(c))
        return torch.stack(readings, dim=-1)

    def _adjoint(self, y: Tensor) -> Tensor:
        ny, nx = self.grid_shape
        lam = y.new_zeros(y.shape[0], ny * nx)
        index, weight = self.index.to(y.device).reshape(-1), self.weight.to(y)
        lam = lam.index_add(1, index, (y[:, :, None, -1] * weight).reshape(y.shape[0], -1)).reshape(-1, 1, ny, nx)
        for k in range(self.times - 1, -1, -1):
            for _ in range(self.substeps):
                lam = self._step(lam, transpose=True)
            if k:
                spread = (y[:, :, None, k - 1] * weight).reshape(y.shape[0], -1)
                lam = lam.reshape(y.shape[0], -1).index_add(1, index, spread).reshape(-1, 1, ny, nx)
        return lam

    def response(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """The operator as a matrix ``(sensors * times, ny * nx)``: row ``s * times + k`` is the
        reading of sensor ``s`` at time ``k`` per unit concentration in each cell.

        The dynamics do not change in time, so row ``(s, k)`` is ``(S^T)^((k + 1) m) P_s^T``
        (``S`` one step, ``m`` steps per reading, ``P_s`` sensor ``s``'s interpolation): one
        adjoint march per sensor gives all of its rows.
        """
        ny, nx = self.grid_shape
        sensors = self.range_shape[0]
        lam = torch.zeros(sensors, ny * nx, dtype=dtype, device=self._device())
        lam = lam.scatter_add(1, self.index, self.weight.to(dtype)).reshape(sensors, 1, ny, nx)
        rows = []
        with torch.no_grad():
            for _ in range(self.times):
                for _ in range(self.substeps):
                    lam = self._step(lam, transpose=True)
                rows.append(lam.reshape(sensors, -1))
        return torch.stack(rows, 1).reshape(sensors * self.times, -1)

    def extra_repr(self) -> str:
        return (f"grid={self.grid_shape}, extent={self.extent} m, wind={self.wind} m/s, D={self.diffusivity:g} m^2/s, "
                f"dt={self.dt:.3g} s, sensors={self.range_shape[0]}, readings={self.times}")


def bilinear_weights(points: Tensor, shape: tuple[int, int], spacing: tuple[float, float]) -> tuple[Tensor, Tensor]:
    """Flat cell indices ``(P, 4)`` and weights ``(P, 4)`` interpolating cell-centred values at
    ``points`` ``(P, 2)`` (x, y in metres) on a grid of ``shape`` cells of ``spacing`` (hy, hx)
    metres. Values beyond the outer centres are interpolated towards zero, the concentration
    outside the domain. The same weights spread a point mass onto the grid (its transpose),
    differentiably in the point's position."""
    ny, nx = shape
    hy, hx = spacing
    fx, fy = points[:, 0] / hx - 0.5, points[:, 1] / hy - 0.5
    x0, y0 = fx.floor(), fy.floor()
    tx, ty = fx - x0, fy - y0
    index, weight = [], []
    for dy, wy in ((0, 1 - ty), (1, ty)):
        for dx, wx in ((0, 1 - tx), (1, tx)):
            ix, iy = (x0 + dx).long(), (y0 + dy).long()
            inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
            index.append(torch.where(inside, iy.clamp(0, ny - 1) * nx + ix.clamp(0, nx - 1), 0))
            weight.append(torch.where(inside, wx * wy, 0.0))
    return torch.stack(index, -1), torch.stack(weight, -1)
