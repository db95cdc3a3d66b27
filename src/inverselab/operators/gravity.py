"""Gravity forward models: the vertical attraction of 2-D and 3-D meshes of rectangular cells.

Both operators map a density-contrast model (kg/m³) on a rectilinear mesh to the vertical
component of gravity (mGal) at observation points, with the exact closed-form field of a
homogeneous rectangular cell. Coordinates are in metres with ``z`` positive **down**, so the
attraction of a positive density contrast below the observation point is **positive**
(``g_z = G rho z / r^3`` for a point source at depth ``z > 0``).

The kernel matrix (``n_obs`` rows, one column per cell) is computed once in float64, stored
as a buffer, and cast to the dtype of the input: the forward map is a matrix product and the
adjoint its transpose.

References: the 2-D rectangle is the integral of the line-mass field ``2 G rho z / r^2``
(e.g. Blakely 1995, Potential Theory in Gravity and Magnetic Applications, ch. 9); the 3-D
right rectangular prism is the formula of Plouff (1976) and Nagy, Papp & Benedek (2000), and
the depth weight is that of Li & Oldenburg (1998).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import InputError, format_shape
from .base import LinearOperator

Tensor = torch.Tensor
ArrayLike = Sequence[float] | np.ndarray | Tensor

__all__ = [
    "GRAVITATIONAL_CONSTANT",
    "SI_TO_MGAL",
    "Gravity2D",
    "Gravity3D",
    "depth_weighting",
]

GRAVITATIONAL_CONSTANT = 6.6743e-11
"""Newton's constant G in m³ kg⁻¹ s⁻² (CODATA 2018)."""

SI_TO_MGAL = 1e5
"""1 m/s² = 10⁵ mGal."""

_CHUNK_ELEMENTS = 2_000_000  # kernel nodes evaluated at once (memory of the set-up)


# -- input checks ---------------------------------------------------------------------------------
def _vector(name: str, values: ArrayLike) -> np.ndarray:
    """A finite 1-D float64 array, or an InputError naming ``name``."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().double().numpy()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a sequence of numbers, got {type(values).__name__}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {format_shape(arr.shape)}")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} holds {int((~np.isfinite(arr)).sum())} NaN or infinite values")
    return arr


def _edges(name: str, values: ArrayLike) -> np.ndarray:
    arr = _vector(name, values)
    if arr.size < 2:
        raise InputError(f"{name} needs at least 2 values (one cell), got {arr.size}")
    if not (np.diff(arr) > 0).all():
        i = int(np.argmin(np.diff(arr) > 0))
        raise InputError(
            f"{name} must be strictly increasing, but {name}[{i + 1}] = {arr[i + 1]:g} <= "
            f"{name}[{i}] = {arr[i]:g}"
        )
    return arr


def _check_above(z_obs: np.ndarray, z_top: float) -> None:
    deepest = float(z_obs.max())
    if deepest > z_top:
        raise InputError(
            f"observation depth {deepest:g} m is below the top of the mesh z_edges[0] = {z_top:g} m "
            "(z is positive down): put the observations at or above the mesh"
        )


# -- closed-form cell fields ------------------------------------------------------------------------
def _rectangle_antiderivative(x: Tensor, z: Tensor) -> Tensor:
    """``x ln(x² + z²) + 2 z atan(x / z)`` for ``z >= 0``, with its limits where ``r = 0``.

    Its double difference over the corners of a rectangle, times ``G rho``, is the vertical
    attraction of the rectangle (``2 G rho`` times the integral of ``z / r²``).
    """
    r2 = x * x + z * z
    safe = torch.where(r2 > 0, r2, torch.ones_like(r2))
    xlog = torch.where(r2 > 0, x * torch.log(safe), torch.zeros_like(r2))
    return xlog + 2 * z * torch.atan2(x, z)  # z atan2(x, z) -> 0 as z -> 0


def _alog(a: Tensor, b: Tensor, c: Tensor, r: Tensor) -> Tensor:
    """``a ln(b + r)`` with ``r = sqrt(a² + b² + c²)``, finite everywhere.

    For ``b < 0`` it uses ``ln(b + r) = ln(a² + c²) - ln(r - b)``, which avoids the
    cancellation in ``b + r``; where ``a = 0`` the term is 0 (its limit), which removes the
    logarithmic singularities on the edges of a prism.
    """
    nonzero = a != 0
    one = torch.ones_like(r)
    up, down = nonzero & (b >= 0), nonzero & (b < 0)
    pos = torch.log(torch.where(up, b + r, one))
    neg = torch.log(torch.where(down, a * a + c * c, one)) - torch.log(torch.where(down, r - b, one))
    return torch.where(nonzero, a * torch.where(b >= 0, pos, neg), torch.zeros_like(r))


def _prism_antiderivative(x: Tensor, y: Tensor, z: Tensor) -> Tensor:
    """``z atan(xy / (z r)) - x ln(y + r) - y ln(x + r)`` for ``z >= 0``, finite everywhere.

    Its triple difference over the eight corners of a prism (upper minus lower bound along
    each axis), times ``G rho``, is the vertical attraction of the prism.
    """
    r = torch.sqrt(x * x + y * y + z * z)
    return z * torch.atan2(x * y, z * r) - _alog(x, y, z, r) - _alog(y, x, z, r)


def _chunks(n: int, per_row: int) -> list[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(per_row, 1))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _kernel_2d(x_obs: np.ndarray, z_obs: np.ndarray, x_edges: np.ndarray, z_edges: np.ndarray) -> Tensor:
    xo = torch.from_numpy(x_obs)
    zo = torch.from_numpy(z_obs)
    xe = torch.from_numpy(x_edges)
    ze = torch.from_numpy(z_edges)
    rows = []
    for sl in _chunks(xo.numel(), ze.numel() * xe.numel()):
        dx = (xe[None, :] - xo[sl, None])[:, None, :]  # (c, 1, nx+1)
        dz = (ze[None, :] - zo[sl, None])[:, :, None]  # (c, nz+1, 1)
        f = _rectangle_antiderivative(dx, dz)  # (c, nz+1, nx+1)
        rows.append(torch.diff(torch.diff(f, dim=1), dim=2).reshape(f.shape[0], -1))
    return torch.cat(rows) * (GRAVITATIONAL_CONSTANT * SI_TO_MGAL)


def _kernel_3d(obs: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray, z_edges: np.ndarray) -> Tensor:
    o = torch.from_numpy(obs)
    xe, ye, ze = (torch.from_numpy(e) for e in (x_edges, y_edges, z_edges))
    rows = []
    for sl in _chunks(o.shape[0], ze.numel() * ye.numel() * xe.numel()):
        dx = (xe[None, :] - o[sl, 0, None])[:, None, None, :]
        dy = (ye[None, :] - o[sl, 1, None])[:, None, :, None]
        dz = (ze[None, :] - o[sl, 2, None])[:, :, None, None]
        f = _prism_antiderivative(dx, dy, dz)  # (c, nz+1, ny+1, nx+1)
        k = torch.diff(torch.diff(torch.diff(f, dim=1), dim=2), dim=3)
        rows.append(k.reshape(k.shape[0], -1))
    return torch.cat(rows) * (GRAVITATIONAL_CONSTANT * SI_TO_MGAL)


# -- operators ----------------------------------------------------------------------------------------
class _DenseGravity(LinearOperator):
    """Shared core: a dense float64 kernel ``(n_obs, n_cells)``; forward = matmul."""

    matrix: Tensor

    def _set_matrix(self, k: Tensor) -> None:
        self.register_buffer("matrix", k.contiguous(), persistent=False)
        self.nonnegative = bool((k >= 0).all())

    def _k(self, x: Tensor) -> Tensor:
        return self.matrix.to(device=x.device, dtype=x.dtype)

    def _forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1) @ self._k(x).T

    def _adjoint(self, y: Tensor) -> Tensor:
        return (y @ self._k(y)).reshape(y.shape[0], *self.domain_shape)

    @property
    def n_obs(self) -> int:
        """Number of observation points."""
        return self.range_shape[0]

    @property
    def z_centers(self) -> Tensor:
        """Depths of the cell centres, ``(nz,)`` in m (float64)."""
        ze = torch.from_numpy(self.z_edges)
        return 0.5 * (ze[1:] + ze[:-1])

    @property
    def x_centers(self) -> Tensor:
        """Horizontal positions of the cell centres along x, ``(nx,)`` in m (float64)."""
        xe = torch.from_numpy(self.x_edges)
        return 0.5 * (xe[1:] + xe[:-1])

    def _observation_depth(self) -> float:
        raise NotImplementedError


class Gravity2D(_DenseGravity):
    r"""Vertical gravity along a profile above a 2-D section of infinitely long rectangular cells.

    The cells are homogeneous rectangles in the (x, z) plane, infinite in the strike
    direction y, so each one is the integral of the line-mass field: the vertical attraction
    of a rectangle ``[x1, x2] x [z1, z2]`` seen from ``(x0, z0)`` is the exact closed form

    ``g = G rho sum_corners s [x ln(x² + z²) + 2 z atan(x / z)]``,

    with ``x = x_corner - x0``, ``z = z_corner - z0`` and ``s = +1`` at ``(x2, z2)`` and
    ``(x1, z1)``, ``-1`` at the other two corners (Blakely 1995).

    Conventions: metres, ``z`` positive **down**; the result is the vertical component in
    **mGal**, positive for the downward attraction of a positive density contrast below the
    observation point (so every kernel entry is >= 0).

    Parameters
    ----------
    x_obs : array_like, shape (n_obs,)
        Horizontal positions of the observation points along the profile, m.
    x_edges : array_like, shape (nx + 1,)
        Strictly increasing cell boundaries along the profile, m.
    z_edges : array_like, shape (nz + 1,)
        Strictly increasing cell boundaries in depth (positive down), m. The top of the mesh
        ``z_edges[0]`` must not be above any observation point.
    z_obs : float or array_like, shape (n_obs,)
        Depths of the observation points (positive down), m; default 0 (the surface).

    Notes
    -----
    Shapes: ``(B, nz, nx)`` density contrast in kg/m³ ``-> (B, n_obs)`` gravity in mGal.
    The kernel is held as ``matrix`` ``(n_obs, nz * nx)`` (float64, row-major cells).

    The data are linear in the density, :math:`g = G \rho`, with one column of :math:`G` per cell;
    the closed form above is the vertical attraction of a 2-D rectangle, multiplied by the
    gravitational constant and by :math:`10^5` for mGal.

    References
    ----------
    R. J. Blakely, *Potential Theory in Gravity and Magnetic Applications*. Cambridge University
    Press, 1995.

    M. Talwani, J. L. Worzel and M. Landisman, "Rapid gravity computations for two-dimensional
    bodies with application to the Mendocino submarine fracture zone", *J. Geophys. Res.* 64(1),
    49-59, 1959.
    """

    def __init__(
        self,
        x_obs: ArrayLike,
        x_edges: ArrayLike,
        z_edges: ArrayLike,
        z_obs: float | ArrayLike = 0.0,
    ) -> None:
        x_obs = _vector("x_obs", x_obs)
        x_edges = _edges("x_edges", x_edges)
        z_edges = _edges("z_edges", z_edges)
        z_obs = _vector("z_obs", z_obs)
        if z_obs.size == 1:
            z_obs = np.full_like(x_obs, z_obs[0])
        if z_obs.shape != x_obs.shape:
            raise InputError(
                f"z_obs must be a number or have the shape of x_obs {format_shape(x_obs.shape)}, "
                f"got {format_shape(z_obs.shape)}"
            )
        if x_obs.size == 0:
            raise InputError("x_obs is empty: give at least one observation point")
        _check_above(z_obs, float(z_edges[0]))
        super().__init__((z_edges.size - 1, x_edges.size - 1), (x_obs.size,))
        self.x_obs, self.z_obs, self.x_edges, self.z_edges = x_obs, z_obs, x_edges, z_edges
        self._set_matrix(_kernel_2d(x_obs, z_obs, self.x_edges, self.z_edges))

    def _observation_depth(self) -> float:
        return float(self.z_obs.mean())

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, cells {self.domain_shape[0]}x{self.domain_shape[1]}"


class Gravity3D(_DenseGravity):
    r"""Vertical gravity of a 3-D mesh of homogeneous right rectangular prisms.

    Each prism ``[x1, x2] x [y1, y2] x [z1, z2]`` seen from an observation point contributes
    the exact closed form of Plouff (1976) and Nagy et al. (2000):

    ``g = G rho sum_corners s [z atan(x y / (z r)) - x ln(y + r) - y ln(x + r)]``,

    with corner coordinates relative to the observation point, ``r`` their distance, and
    ``s`` the product over the three axes of +1 (upper bound) or -1 (lower bound). The
    logarithms are evaluated in a form without cancellation, and their limits are taken
    where the observation point lies on the extension of a prism edge or at a corner, so
    observation points on the top face, an edge or a corner give finite values.

    Conventions: metres, ``z`` positive **down**; vertical component in **mGal**, positive
    for the downward attraction of a positive density contrast below the observation point.

    Parameters
    ----------
    observations : array_like, shape (n_obs, 3)
        Observation points ``[x, y, z]`` in m (z positive down), none below ``z_edges[0]``.
    x_edges, y_edges, z_edges : array_like, shapes (nx + 1,), (ny + 1,), (nz + 1,)
        Strictly increasing cell boundaries along each axis, m.

    Notes
    -----
    Shapes: ``(B, nz, ny, nx)`` density contrast in kg/m³ ``-> (B, n_obs)`` gravity in mGal.
    The kernel is held as ``matrix`` ``(n_obs, nz * ny * nx)`` (float64); its memory is
    ``8 n_obs nz ny nx`` bytes.

    As for :class:`Gravity2D`, :math:`g = G \rho` is linear in the density, with the prism formula
    above as the kernel of each cell.

    References
    ----------
    D. Plouff, "Gravity and magnetic fields of polygonal prisms and application to magnetic
    terrain corrections", *Geophysics* 41(4), 727-741, 1976.

    D. Nagy, G. Papp and J. Benedek, "The gravitational potential and its derivatives for the
    prism", *J. Geodesy* 74, 552-560, 2000.
    """

    def __init__(
        self,
        observations: ArrayLike,
        x_edges: ArrayLike,
        y_edges: ArrayLike,
        z_edges: ArrayLike,
    ) -> None:
        if isinstance(observations, Tensor):
            observations = observations.detach().cpu().double().numpy()
        try:
            obs = np.asarray(observations, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(
                f"observations must be an (n_obs, 3) array of numbers, got {type(observations).__name__}"
            ) from None
        if obs.ndim == 1 and obs.size == 3:
            obs = obs[None]
        if obs.ndim != 2 or obs.shape[1] != 3 or obs.shape[0] == 0:
            raise InputError(f"observations must have shape (n_obs, 3) = [x, y, z], got {format_shape(obs.shape)}")
        if not np.isfinite(obs).all():
            raise InputError(f"observations hold {int((~np.isfinite(obs)).sum())} NaN or infinite values")
        x_edges = _edges("x_edges", x_edges)
        y_edges = _edges("y_edges", y_edges)
        z_edges = _edges("z_edges", z_edges)
        _check_above(obs[:, 2], float(z_edges[0]))
        super().__init__((z_edges.size - 1, y_edges.size - 1, x_edges.size - 1), (obs.shape[0],))
        self.observations, self.x_edges, self.y_edges, self.z_edges = obs, x_edges, y_edges, z_edges
        self._set_matrix(_kernel_3d(obs, self.x_edges, self.y_edges, self.z_edges))

    @property
    def y_centers(self) -> Tensor:
        """Positions of the cell centres along y, ``(ny,)`` in m (float64)."""
        ye = torch.from_numpy(self.y_edges)
        return 0.5 * (ye[1:] + ye[:-1])

    def _observation_depth(self) -> float:
        return float(self.observations[:, 2].mean())

    def extra_repr(self) -> str:
        nz, ny, nx = self.domain_shape
        return f"{super().extra_repr()}, cells {nz}x{ny}x{nx}"


def depth_weighting(
    source: Gravity2D | Gravity3D | ArrayLike,
    z0: float | None = None,
    beta: float = 2.0,
) -> Tensor:
    """Depth weight of Li & Oldenburg (1998), ``w(z) = (z + z0) ** (-beta / 2)``, per cell.

    A regulariser ``||W m||²`` with ``W = diag(w)`` counteracts the decay of the kernel with
    depth, which otherwise puts the recovered density at the top of the mesh. ``beta`` should
    match that decay: 2 for 3-D gravity (a cell's field falls off as ``1/z²``, Li & Oldenburg's
    value), 1 for 2-D sections (a strike-infinite cell's field falls off as ``1/z``).

    Parameters
    ----------
    source : Gravity2D, Gravity3D or array_like
        An operator (depth ``z`` = depth of the cell centres below the mean observation
        depth) or the cell-centre depths themselves in m (any shape).
    z0 : float, optional
        Offset in m; default half the thickness of the top cell layer for an operator, 0 for
        raw depths. ``z + z0`` must be positive everywhere.
    beta : float
        Decay exponent (> 0).

    Returns
    -------
    Tensor
        float64 weights: the operator's domain shape ``(nz, nx)`` or ``(nz, ny, nx)`` for an
        operator, else the shape of ``source``. The scale is arbitrary (it is absorbed by the
        regularisation weight).
    """
    if not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta <= 0:
        raise InputError(f"beta must be a finite number > 0, got {beta!r}")
    if isinstance(source, _DenseGravity):
        z = source.z_centers - source._observation_depth()
        if z0 is None:
            z0 = 0.5 * float(source.z_edges[1] - source.z_edges[0])
        shape = source.domain_shape
        z = z.reshape(-1, *([1] * (len(shape) - 1)))
    else:
        if isinstance(source, Tensor):
            z = source.detach().to(torch.float64).cpu()
        else:
            try:
                z = torch.as_tensor(np.asarray(source, dtype=np.float64))
            except (TypeError, ValueError):
                raise InputError(
                    f"depth_weighting needs a gravity operator or cell depths, got {type(source).__name__}"
                ) from None
        if not bool(torch.isfinite(z).all()):
            raise InputError("cell depths hold NaN or infinite values")
        shape = tuple(z.shape)
        z0 = 0.0 if z0 is None else z0
    if not isinstance(z0, (int, float)) or not math.isfinite(z0):
        raise InputError(f"z0 must be a finite number, got {z0!r}")
    depth = z + z0
    if not bool((depth > 0).all()):
        raise InputError(
            f"depth weighting needs z + z0 > 0 in every cell, got a minimum of {float(depth.min()):g} m: "
            "increase z0"
        )
    return torch.broadcast_to(depth ** (-beta / 2), shape).clone()
