"""Joseph's projector as compiled CPU kernels: forward, exact adjoint and sparse matrix.

Rays come in Joseph's parametrisation (``_RayTransform._joseph_lines``): a steep ray steps over
the image rows ``k`` and crosses row ``k`` at the fractional column ``p = f0 + f1 k``; a flat
ray steps over the columns and crosses column ``k`` at the fractional row ``p``. At each step
the image is interpolated linearly between the pixels ``floor(p)`` and ``floor(p) + 1`` of that
row (column), with weights ``1 - frac(p)`` and ``frac(p)``, and the sum over the steps is
multiplied by the step length.

Flat rays are steep rays of the transposed image, so every kernel walks along the rows of a
C-ordered array. The images are padded with one zero pixel at each end of their rows: every
step of a ray's clipped range ``[k0, k1)`` (the steps with ``-1 <= p < n_cross``, found once per
operator) then reads two entries of the array, with no test in the inner loop.

* Forward: a gather, in tasks of rays dealt round-robin to the threads; a task crosses one band
  of rows at a time with all its rays, so that the band stays in cache.
* Adjoint: a scatter, in tasks of bands of rows dealt round-robin to the threads. A steep ray's
  step ``k`` writes to row ``k`` only, so each pixel is written by one task: no races, and the
  result does not depend on the number of threads.
* Matrix: rows counted, then filled in parallel (a flat ray's entries sorted by a counting sort
  on the image row), and transposed by a parallel counting sort.

Ray parameters are float64, and so is all arithmetic: float32 inputs are converted when they
are padded, and the results are rounded once to the input's precision.

Numba is imported with this module, which the operators import the first time they run a
kernel. Unless ``NUMBA_THREADING_LAYER`` chooses otherwise, its fork-safe threading layer is
used (TBB where installed, else the workqueue), launches being serialised by a lock.

Notes
-----
The weights are those of Joseph's method [1]_, the model of ASTRA's ``linear`` projector.

References
----------
.. [1] P. M. Joseph, "An improved algorithm for reprojecting rays through pixel images",
   IEEE Transactions on Medical Imaging 1(3), 192-196, 1982.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

__all__ = ["Rays", "rays", "project", "backproject", "nonzeros", "matrix"]

if numba.config.THREADING_LAYER == "default":
    # GNU OpenMP, Numba's first choice on Linux, aborts processes forked after a parallel
    # launch (DataLoader workers); its fork-safe choice is TBB where installed, else workqueue
    numba.config.THREADING_LAYER = "forksafe"

#: Rows of the (padded, possibly transposed) image that a task works on at a time.
_ROWS_PER_TASK = 32
#: Rays per forward task.
_RAYS_PER_TASK = 256
#: Held during each parallel launch: the workqueue layer must not be entered by two threads.
_LAUNCH = threading.Lock()


class Rays(NamedTuple):
    """Joseph parameters of ``R`` rays through an ``(ny, nx)`` image, with their step ranges.

    Attributes
    ----------
    steep : np.ndarray
        ``(R,)`` bool: the ray steps over rows (else over columns).
    f0, f1 : np.ndarray
        ``(R,)`` float64: crossing ``p = f0 + f1 k`` at step ``k``, in pixels.
    step : np.ndarray
        ``(R,)`` float64: length of one step, in the unit of the pixel size.
    k0, k1 : np.ndarray
        ``(R,)`` int64: the steps ``k0 <= k < k1`` that touch the image.
    groups : tuple of np.ndarray
        Indices (int64) of the steep rays and of the flat rays, in increasing order.
    tasks : np.ndarray
        ``(T, 3)`` int64 adjoint tasks ``(group, first row, end row)``.
    shape : tuple of int
        ``(ny, nx)``.
    """

    steep: np.ndarray
    f0: np.ndarray
    f1: np.ndarray
    step: np.ndarray
    k0: np.ndarray
    k1: np.ndarray
    groups: tuple[np.ndarray, np.ndarray]
    tasks: np.ndarray
    shape: tuple[int, int]


# -- ray set-up -----------------------------------------------------------------------------------
@njit(fastmath=False, cache=True)
def _touches(f0: float, f1: float, k: int, n_cross: int) -> bool:
    """Whether step ``k`` has a pixel of the crossed axis (``-1 <= p < n_cross``)."""
    p = f0 + f1 * k
    return -1.0 <= p < n_cross


@njit(fastmath=False, cache=True)
def _step_range(f0: float, f1: float, n_steps: int, n_cross: int) -> tuple[int, int]:
    """The steps ``[k0, k1)`` of ``0 .. n_steps - 1`` whose crossing ``p`` lies in
    ``[-1, n_cross)``: solved for ``k``, then corrected step by step for rounding (``p`` is
    monotonic in ``k``, so the set is one interval)."""
    if f1 == 0.0:
        return (0, n_steps) if _touches(f0, f1, 0, n_cross) else (0, 0)
    a, b = (-1.0 - f0) / f1, (n_cross - f0) / f1
    first = min(max(min(a, b), 0.0), float(n_steps))
    k0 = math.ceil(first)
    k1 = math.ceil(min(max(max(a, b), first), float(n_steps)))
    while k0 < k1 and not _touches(f0, f1, k0, n_cross):
        k0 += 1
    while k0 > 0 and _touches(f0, f1, k0 - 1, n_cross):
        k0 -= 1
    while k1 > k0 and not _touches(f0, f1, k1 - 1, n_cross):
        k1 -= 1
    while k1 < n_steps and _touches(f0, f1, k1, n_cross):
        k1 += 1
    return k0, k1


@njit(fastmath=False, cache=True)
def _step_ranges(
    steep: np.ndarray, f0: np.ndarray, f1: np.ndarray, ny: int, nx: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_step_range` of every ray: ``(k0, k1)``, each ``(R,)`` int64."""
    k0 = np.empty(f0.size, np.int64)
    k1 = np.empty(f0.size, np.int64)
    for r in range(f0.size):
        n_steps, n_cross = (ny, nx) if steep[r] else (nx, ny)
        k0[r], k1[r] = _step_range(f0[r], f1[r], n_steps, n_cross)
    return k0, k1


def _tasks(shape: tuple[int, int]) -> np.ndarray:
    """Adjoint tasks ``(group, first row, end row)``: runs of :data:`_ROWS_PER_TASK` rows of the
    steep rays' image (``ny`` rows) and of the flat rays' transposed image (``nx`` rows)."""
    tasks = [
        (group, start, min(start + _ROWS_PER_TASK, n))
        for group, n in enumerate(shape)
        for start in range(0, n, _ROWS_PER_TASK)
    ]
    return np.asarray(tasks, dtype=np.int64)


def rays(steep: np.ndarray, f0: np.ndarray, f1: np.ndarray, step: np.ndarray, shape: tuple[int, int]) -> Rays:
    """Ray table of Joseph parameters for the kernels of this module.

    Parameters
    ----------
    steep : np.ndarray
        ``(R,)`` bool, the ray steps over image rows.
    f0, f1 : np.ndarray
        ``(R,)`` crossing at step ``k`` is ``f0 + f1 k`` (fractional pixel index).
    step : np.ndarray
        ``(R,)`` step length (unit of the pixel size).
    shape : tuple of int
        Image shape ``(ny, nx)``.

    Returns
    -------
    Rays
    """
    steep = np.ascontiguousarray(steep, dtype=np.bool_)
    f0, f1, step = (np.ascontiguousarray(a, dtype=np.float64) for a in (f0, f1, step))
    ny, nx = shape
    k0, k1 = _step_ranges(steep, f0, f1, ny, nx)
    groups = (np.flatnonzero(steep), np.flatnonzero(~steep))
    return Rays(steep, f0, f1, step, k0, k1, groups, _tasks(shape), (ny, nx))


@contextmanager
def _threads(count: int) -> Iterator[int]:
    """A parallel launch on ``count`` threads (at most Numba's pool), one launch at a time;
    yields the thread count."""
    with _LAUNCH:
        count = max(1, min(int(count), numba.config.NUMBA_NUM_THREADS))
        numba.set_num_threads(count)
        yield count


# -- forward -----------------------------------------------------------------------------------------
@njit(fastmath=False, cache=True)
def _ray_sum(image: np.ndarray, stride: int, f0: float, f1: float, k0: int, k1: int) -> float:
    """Sum over steps ``k0 .. k1 - 1`` of the linear interpolation of row ``k`` of a padded
    image (flattened, rows of ``stride`` entries; pixel ``j`` is entry ``j + 1``) at
    ``f0 + f1 k``."""
    total = 0.0
    row = k0 * stride + 1
    k = float(k0)
    for _ in range(k0, k1):
        p = f0 + f1 * k
        lo = np.floor(p)
        f = p - lo
        j = np.uint64(row + int(lo))  # >= 0: unsigned, so no negative-index wraparound
        total += (1.0 - f) * image[j] + f * image[j + np.uint64(1)]
        row += stride
        k += 1.0
    return total


@njit(parallel=True, fastmath=False, cache=True)
def _project(
    steep_images: np.ndarray,
    flat_images: np.ndarray,
    shape: tuple[int, int],
    steep: np.ndarray,
    f0: np.ndarray,
    f1: np.ndarray,
    step: np.ndarray,
    k0: np.ndarray,
    k1: np.ndarray,
    out: np.ndarray,
    n_workers: int,
) -> None:
    """Line integrals ``out[b, r]`` (zeroed on entry) of flattened padded images
    (``(B, ny (nx + 2))``) and padded transposed images (``(B, nx (ny + 2))``).

    Tasks of :data:`_RAYS_PER_TASK` rays are dealt round-robin to ``n_workers`` threads; a
    task sums its rays over one band of :data:`_ROWS_PER_TASK` rows at a time, so that the
    band stays in cache while its rays cross it."""
    n_batch, n_rays = out.shape
    ny, nx = shape
    per_image = (n_rays + _RAYS_PER_TASK - 1) // _RAYS_PER_TASK
    for worker in prange(n_workers):
        for task in range(worker, n_batch * per_image, n_workers):
            b = task // per_image
            start = (task % per_image) * _RAYS_PER_TASK
            stop = min(start + _RAYS_PER_TASK, n_rays)
            for first in range(0, max(ny, nx), _ROWS_PER_TASK):
                end = first + _ROWS_PER_TASK
                for r in range(start, stop):
                    lo, hi = max(k0[r], first), min(k1[r], end)
                    if lo >= hi:
                        continue
                    if steep[r]:
                        out[b, r] += _ray_sum(steep_images[b], nx + 2, f0[r], f1[r], lo, hi)
                    else:
                        out[b, r] += _ray_sum(flat_images[b], ny + 2, f0[r], f1[r], lo, hi)
            for r in range(start, stop):
                out[b, r] *= step[r]


def _padded(images: np.ndarray) -> np.ndarray:
    """Images ``(B, m, n)`` with a zero column on each side, in float64 and flattened:
    ``(B, m (n + 2))``."""
    b, m, n = images.shape
    out = np.zeros((b, m, n + 2))
    out[:, :, 1:-1] = images
    return out.reshape(b, m * (n + 2))


def project(images: np.ndarray, rays: Rays, threads: int) -> np.ndarray:
    """Joseph forward projection.

    Parameters
    ----------
    images : np.ndarray
        ``(B, ny, nx)`` float32 or float64.
    rays : Rays
        From :func:`rays`, for the same image shape.
    threads : int
        Number of threads.

    Returns
    -------
    np.ndarray
        ``(B, R)`` line integrals (unit of the pixel size), computed in float64 and returned
        in the dtype of ``images``.
    """
    out = np.zeros((images.shape[0], rays.f0.size))
    steep_images = _padded(images)
    flat_images = _padded(images.transpose(0, 2, 1))
    params = (rays.steep, rays.f0, rays.f1, rays.step, rays.k0, rays.k1)
    with _threads(threads) as workers:
        _project(steep_images, flat_images, rays.shape, *params, out, workers)
    return out.astype(images.dtype, copy=False)


# -- adjoint -----------------------------------------------------------------------------------------
@njit(fastmath=False, cache=True)
def _spread(
    image: np.ndarray,
    stride: int,
    values: np.ndarray,
    ray_ids: np.ndarray,
    rays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    first: int,
    end: int,
) -> None:
    """Add ``values[r]`` of rays ``ray_ids``, times their weights, to rows ``first .. end - 1``
    of a padded image (flattened, rows of ``stride`` entries; pixel ``j`` is entry ``j + 1``).
    ``rays`` is ``(f0, f1, step, k0, k1)``."""
    f0, f1, step, k0, k1 = rays
    for r in ray_ids:
        start, stop = max(k0[r], first), min(k1[r], end)
        a, slope = f0[r], f1[r]
        v = values[r] * step[r]
        row = start * stride + 1
        k = float(start)
        for _ in range(start, stop):
            p = a + slope * k
            lo = np.floor(p)
            f = p - lo
            j = np.uint64(row + int(lo))
            image[j] += (1.0 - f) * v
            image[j + np.uint64(1)] += f * v
            row += stride
            k += 1.0


@njit(parallel=True, fastmath=False, cache=True)
def _backproject(
    values: np.ndarray,
    shape: tuple[int, int],
    groups: tuple[np.ndarray, np.ndarray],
    rays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    tasks: np.ndarray,
    steep_images: np.ndarray,
    flat_images: np.ndarray,
    n_workers: int,
) -> None:
    """Scatter ``values`` ``(B, R)`` into zeroed, flattened padded images (``(B, ny (nx + 2))``)
    and padded transposed images (``(B, nx (ny + 2))``). Tasks (runs of rows of one image) are
    dealt round-robin to ``n_workers`` threads; each row is written by one task only."""
    ny, nx = shape
    n_tasks = tasks.shape[0]
    for worker in prange(n_workers):
        for job in range(worker, values.shape[0] * n_tasks, n_workers):
            b, t = job // n_tasks, job % n_tasks
            group, first, end = tasks[t, 0], tasks[t, 1], tasks[t, 2]
            if group == 0:
                _spread(steep_images[b], nx + 2, values[b], groups[0], rays, first, end)
            else:
                _spread(flat_images[b], ny + 2, values[b], groups[1], rays, first, end)


def backproject(values: np.ndarray, rays: Rays, threads: int) -> np.ndarray:
    """Exact adjoint of :func:`project`.

    Parameters
    ----------
    values : np.ndarray
        ``(B, R)`` float32 or float64, one value per ray.
    rays : Rays
        From :func:`rays`.
    threads : int
        Number of threads.

    Returns
    -------
    np.ndarray
        ``(B, ny, nx)`` back-projection, computed in float64 and returned in the dtype of
        ``values``.
    """
    ny, nx = rays.shape
    b = values.shape[0]
    steep_images = np.zeros((b, ny * (nx + 2)))
    flat_images = np.zeros((b, nx * (ny + 2)))
    params = (rays.f0, rays.f1, rays.step, rays.k0, rays.k1)
    with _threads(threads) as workers:
        values64 = values.astype(np.float64, copy=False)
        _backproject(values64, rays.shape, rays.groups, params, rays.tasks, steep_images, flat_images, workers)
    steep_part = steep_images.reshape(b, ny, nx + 2)[:, :, 1:-1]
    out = steep_part + flat_images.reshape(b, nx, ny + 2)[:, :, 1:-1].transpose(0, 2, 1)
    return out.astype(values.dtype, copy=False)


# -- sparse matrix ------------------------------------------------------------------------------------
@njit(fastmath=False, cache=True)
def _row(
    shape: tuple[int, int],
    steep: bool,
    f0: float,
    f1: float,
    step: float,
    k0: int,
    k1: int,
    indices: np.ndarray,
    data: np.ndarray,
) -> int:
    """One ray's nonzero weights in step order: flat pixel indices into ``indices`` and weights
    into ``data`` (when they are not empty); returns their number."""
    ny, nx = shape
    n_cross = nx if steep else ny
    count = 0
    for k in range(k0, k1):
        p = f0 + f1 * k
        lo = math.floor(p)
        f = p - lo
        for other, w in ((lo, 1.0 - f), (lo + 1, f)):
            if 0 <= other < n_cross and w > 0.0:
                if indices.size:
                    indices[count] = k * nx + other if steep else other * nx + k
                    data[count] = w * step
                count += 1
    return count


@njit(parallel=True, fastmath=False, cache=True)
def _row_counts(
    shape: tuple[int, int], steep: np.ndarray, f0: np.ndarray, f1: np.ndarray, k0: np.ndarray, k1: np.ndarray
) -> np.ndarray:
    """Number of nonzero weights of each ray, ``(R,)`` int64."""
    counts = np.empty(f0.size, np.int64)
    nothing = np.empty(0, np.int32)
    for r in prange(f0.size):
        counts[r] = _row(shape, steep[r], f0[r], f1[r], 1.0, k0[r], k1[r], nothing, np.empty(0))
    return counts


@njit(fastmath=False, cache=True)
def _sort_by_row(indices: np.ndarray, data: np.ndarray, nx: int) -> None:
    """Stable counting sort of a flat ray's entries (in step order, so ordered by column within
    each image row) by image row: afterwards the flat pixel indices increase."""
    if indices.size == 0:
        return
    rows = indices // nx
    first = rows.min()
    starts = np.zeros(rows.max() - first + 2, np.int64)
    for row in rows:
        starts[row - first + 1] += 1
    starts = np.cumsum(starts)
    sorted_indices, sorted_data = np.empty_like(indices), np.empty_like(data)
    for e in range(indices.size):
        dst = starts[rows[e] - first]
        sorted_indices[dst], sorted_data[dst] = indices[e], data[e]
        starts[rows[e] - first] += 1
    indices[:] = sorted_indices
    data[:] = sorted_data


@njit(parallel=True, fastmath=False, cache=True)
def _fill_rows(
    shape: tuple[int, int],
    steep: np.ndarray,
    f0: np.ndarray,
    f1: np.ndarray,
    step: np.ndarray,
    k0: np.ndarray,
    k1: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
) -> None:
    """Rows of the CSR matrix (rays x pixels), with increasing pixel indices."""
    for r in prange(f0.size):
        lo, hi = indptr[r], indptr[r + 1]
        _row(shape, steep[r], f0[r], f1[r], step[r], k0[r], k1[r], indices[lo:hi], data[lo:hi])
        if not steep[r]:
            _sort_by_row(indices[lo:hi], data[lo:hi], shape[1])


@njit(parallel=True, fastmath=False, cache=True)
def _chunk_counts(indptr: np.ndarray, indices: np.ndarray, bounds: np.ndarray, n_cols: int) -> np.ndarray:
    """Entries per column of each chunk of rows ``bounds[c] .. bounds[c + 1] - 1``:
    ``(C, n_cols)`` int64."""
    counts = np.zeros((bounds.size - 1, n_cols), np.int64)
    for c in prange(bounds.size - 1):
        for e in range(indptr[bounds[c]], indptr[bounds[c + 1]]):
            counts[c, indices[e]] += 1
    return counts


@njit(parallel=True, fastmath=False, cache=True)
def _transpose(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n_cols: int, n_chunks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transpose of a CSR matrix by a counting sort, in parallel over ``n_chunks`` chunks of
    rows of about equal numbers of entries; each row of the result lists its column indices
    in increasing order (whatever ``n_chunks``)."""
    targets = np.linspace(0.0, float(indices.size), n_chunks + 1)
    bounds = np.searchsorted(indptr, targets)
    bounds[0], bounds[-1] = 0, indptr.size - 1
    counts = _chunk_counts(indptr, indices, bounds, n_cols)
    indptr_t = np.zeros(n_cols + 1, np.int64)
    indptr_t[1:] = np.cumsum(counts.sum(axis=0))
    fill = np.empty_like(counts)
    fill[0] = indptr_t[:-1]
    for c in range(1, n_chunks):
        fill[c] = fill[c - 1] + counts[c - 1]
    indices_t = np.empty(indices.size, indices.dtype)
    data_t = np.empty(data.size, data.dtype)
    for c in prange(n_chunks):
        for row in range(bounds[c], bounds[c + 1]):
            for e in range(indptr[row], indptr[row + 1]):
                col = indices[e]
                indices_t[fill[c, col]] = row
                data_t[fill[c, col]] = data[e]
                fill[c, col] += 1
    return indptr_t, indices_t, data_t


def nonzeros(rays: Rays, threads: int) -> int:
    """Number of nonzero weights of the Joseph matrix of ``rays``, counted on ``threads``
    threads."""
    with _threads(threads):
        return int(_row_counts(rays.shape, rays.steep, rays.f0, rays.f1, rays.k0, rays.k1).sum())


def matrix(rays: Rays, dtype: np.dtype, threads: int) -> tuple[np.ndarray, ...]:
    """The Joseph matrix (rays x pixels) and its transpose as CSR arrays.

    Parameters
    ----------
    rays : Rays
        From :func:`rays`.
    dtype : np.dtype
        Precision of the stored weights (computed in float64).
    threads : int
        Number of threads.

    Returns
    -------
    tuple of np.ndarray
        ``(indptr, indices, data)`` of the matrix, then of its transpose: row pointers and
        column indices (increasing within each row) as int32, or int64 from 2^31 nonzeros on;
        weights in ``dtype`` (unit of the pixel size).
    """
    params = (rays.steep, rays.f0, rays.f1, rays.step, rays.k0, rays.k1)
    with _threads(threads) as workers:
        counts = _row_counts(rays.shape, rays.steep, rays.f0, rays.f1, rays.k0, rays.k1)
        indptr = np.zeros(counts.size + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        index = np.int32 if indptr[-1] < 2**31 else np.int64
        indices = np.empty(indptr[-1], index)
        data = np.empty(indptr[-1], dtype)
        _fill_rows(rays.shape, *params, indptr, indices, data)
        indptr_t, indices_t, data_t = _transpose(indptr, indices, data, rays.shape[0] * rays.shape[1], workers)
    return indptr.astype(index), indices, data, indptr_t.astype(index), indices_t, data_t
