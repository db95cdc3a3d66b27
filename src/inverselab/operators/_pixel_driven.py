"""FBP's pixel-driven back-projection as compiled CPU kernels, and its exact transpose.

Every pixel ``(x, y)`` is projected onto the detector at each view: at angle ``theta`` the
parallel-beam coordinate is ``u = x cos(theta) + y sin(theta)``; for a flat-detector fan beam
with the source at distance ``s`` from the axis, ``u = s * lateral / depth`` with the distance
weight ``(s / depth)^2`` (``depth`` along the central ray, ``lateral`` along the detector). The
filtered projection is interpolated linearly at the fractional detector index ``(u - offset) /
spacing + (D - 1) / 2`` (zero beyond the detector) and accumulated with the view's quadrature
weight: the same weights as ``grid_sample`` with ``align_corners=True`` and zero padding.

* Back-projection: tasks of image rows dealt to the threads; each pixel is written by one task.
* Transpose (the gradient of the back-projection): tasks of views; each view's detector row is
  written by one task. Neither depends on the number of threads.

All arithmetic is float64; results are rounded once to the input's precision.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ._joseph import _threads

__all__ = ["Geometry", "backproject", "backproject_transpose"]


class Geometry(NamedTuple):
    """Pixel-driven geometry of one X-ray transform (all float64).

    Attributes
    ----------
    xs, ys : np.ndarray
        Pixel-centre coordinates ``(nx,)`` and ``(ny,)`` (row 0 at the top).
    cos, sin : np.ndarray
        ``(V,)`` of the view angles.
    weights : np.ndarray
        ``(V,)`` quadrature weight of each view (times the redundancy factor).
    source_origin : float
        Source-to-axis distance for a fan beam, 0 for parallel beam.
    offset, spacing : float
        Detector offset and element width, both scaled to the rotation axis.
    n_detectors : int
        Detector elements ``D``.
    """

    xs: np.ndarray
    ys: np.ndarray
    cos: np.ndarray
    sin: np.ndarray
    weights: np.ndarray
    source_origin: float
    offset: float
    spacing: float
    n_detectors: int


@njit(fastmath=False, cache=True)
def _locate(x: float, y: float, c: float, s: float, so: float, offset: float, inv_spacing: float,
            centre: float) -> tuple[float, float]:
    """Fractional detector index of pixel ``(x, y)`` at a view, and its distance weight."""
    if so > 0.0:
        rel_x = x - so * s
        rel_y = y + so * c
        depth = rel_y * c - rel_x * s
        u = so * (rel_x * c + rel_y * s) / depth
        w = (so / depth) ** 2
    else:
        u = c * x + s * y
        w = 1.0
    return (u - offset) * inv_spacing + centre, w


@njit(parallel=True, fastmath=False, cache=True)
def _backproject(values, xs, ys, cos, sin, weights, so, offset, inv_spacing, out):  # pragma: no cover - compiled
    b, n_views, d = values.shape
    centre = (d - 1) / 2
    for iy in prange(ys.shape[0]):
        y = ys[iy]
        for v in range(n_views):
            c, s, wv = cos[v], sin[v], weights[v]
            for ix in range(xs.shape[0]):
                index, w = _locate(xs[ix], y, c, s, so, offset, inv_spacing, centre)
                lo = math.floor(index)
                f = index - lo
                j = int(lo)
                w *= wv
                if 0 <= j < d:
                    for k in range(b):
                        out[k, iy, ix] += w * (1.0 - f) * values[k, v, j]
                if 0 <= j + 1 < d:
                    for k in range(b):
                        out[k, iy, ix] += w * f * values[k, v, j + 1]


@njit(parallel=True, fastmath=False, cache=True)
def _transpose(images, xs, ys, cos, sin, weights, so, offset, inv_spacing, out):  # pragma: no cover - compiled
    b, n_views, d = out.shape
    centre = (d - 1) / 2
    for v in prange(n_views):
        c, s, wv = cos[v], sin[v], weights[v]
        for iy in range(ys.shape[0]):
            y = ys[iy]
            for ix in range(xs.shape[0]):
                index, w = _locate(xs[ix], y, c, s, so, offset, inv_spacing, centre)
                lo = math.floor(index)
                f = index - lo
                j = int(lo)
                w *= wv
                if 0 <= j < d:
                    for k in range(b):
                        out[k, v, j] += w * (1.0 - f) * images[k, iy, ix]
                if 0 <= j + 1 < d:
                    for k in range(b):
                        out[k, v, j + 1] += w * f * images[k, iy, ix]


def _arguments(geometry: Geometry) -> tuple:
    g = geometry
    return g.xs, g.ys, g.cos, g.sin, g.weights, float(g.source_origin), float(g.offset), 1.0 / g.spacing


def backproject(values: np.ndarray, geometry: Geometry, threads: int) -> np.ndarray:
    """Weighted pixel-driven back-projection of filtered projections.

    Parameters
    ----------
    values : np.ndarray
        ``(B, V, D)`` float32 or float64 filtered projections.
    geometry : Geometry
        The transform's pixel-driven geometry.
    threads : int
        Number of threads.

    Returns
    -------
    np.ndarray
        ``(B, ny, nx)`` images in the dtype of ``values``.
    """
    out = np.zeros((values.shape[0], len(geometry.ys), len(geometry.xs)))
    with _threads(threads):
        _backproject(values.astype(np.float64, copy=False), *_arguments(geometry), out)
    return out.astype(values.dtype, copy=False)


def backproject_transpose(images: np.ndarray, geometry: Geometry, threads: int) -> np.ndarray:
    """Exact transpose of :func:`backproject`: images ``(B, ny, nx)`` -> ``(B, V, D)``."""
    out = np.zeros((images.shape[0], len(geometry.cos), geometry.n_detectors))
    with _threads(threads):
        _transpose(images.astype(np.float64, copy=False), *_arguments(geometry), out)
    return out.astype(images.dtype, copy=False)
