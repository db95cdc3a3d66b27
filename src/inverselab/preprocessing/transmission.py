"""From measured intensities to line integrals (Beer–Lambert)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError, check_positive
from ._arrays import ArrayLike, as_float64, like


def flat_dark_correction(projections: ArrayLike, flat: ArrayLike, dark: ArrayLike | float = 0.0,
                         floor: float = 1e-6) -> ArrayLike:
    """Normalised transmission ``(I - D) / (F - D)`` from raw counts.

    Parameters
    ----------
    projections : array or Tensor, shape (..., n_detectors)
        Raw detector counts ``I``.
    flat : array or Tensor
        Open-beam (flat-field) counts ``F``, broadcastable to ``projections``; a stack of flat
        fields ``(k, ..., n_detectors)`` with one more axis is averaged over its first axis.
    dark : array, Tensor or float
        Dark-current counts ``D`` (broadcastable, or stacked like ``flat``).
    floor : float
        Smallest transmission kept (dead pixels, photon starvation), so the logarithm of
        :func:`line_integrals` stays finite.

    Returns
    -------
    array or Tensor
        Transmission in ``[floor, ...)``, the type of ``projections``.
    """
    check_positive("floor", floor)
    counts = as_float64("projections", projections, min_ndim=1)
    f = _averaged("flat", flat, counts.ndim)
    d = np.float64(dark) if np.isscalar(dark) else _averaged("dark", dark, counts.ndim)
    try:
        open_beam = np.broadcast_to(f - d, counts.shape)
    except ValueError:
        raise InputError(f"flat {np.shape(f)} and dark {np.shape(d)} do not broadcast to the projections "
                         f"{counts.shape}: give one field per detector element") from None
    if (open_beam <= 0).any():
        raise InputError("flat - dark must be positive on every detector element: check that flat and dark are "
                         "not swapped, and mask dead elements")
    return like(np.maximum((counts - d) / open_beam, floor), projections)


def _averaged(name: str, field: ArrayLike, ndim: int) -> np.ndarray:
    a = as_float64(name, field, min_ndim=1)
    return a.mean(0) if a.ndim == ndim + 1 else a


def line_integrals(transmission: ArrayLike, open_region: slice | tuple[int, int] | None = None,
                   floor: float = 1e-6) -> ArrayLike:
    """Line integrals ``-log(T / T0)`` of transmission ``T``.

    Parameters
    ----------
    transmission : array or Tensor, shape (..., n_angles, n_detectors)
        Transmission (flat-field corrected), or raw intensities when ``open_region`` is given.
    open_region : slice or (int, int), optional
        Detector columns that see no object in any projection (the open beam beside it): each
        projection is divided by its own mean there, which removes drifts of the source
        intensity between projections. ``None``: ``T`` is already normalised (``T0 = 1``).
    floor : float
        Smallest transmission kept before the logarithm.

    Returns
    -------
    array or Tensor
        Line integrals (attenuation times length), the type of ``transmission``.
    """
    check_positive("floor", floor)
    t = as_float64("transmission", transmission, min_ndim=1)
    if open_region is not None:
        region = slice(*open_region) if isinstance(open_region, tuple) else open_region
        reference = t[..., region]
        if reference.shape[-1] == 0:
            raise InputError(f"open_region {open_region} selects no detector column of {t.shape[-1]}")
        t0 = reference.mean(-1, keepdims=True)
        if (t0 <= 0).any():
            raise InputError("the open-beam region has no positive intensity in some projection: choose columns "
                             "outside the object")
        t = t / t0
    if (t < 0).any():
        raise InputError("transmission must not be negative: subtract the dark field before, not after, "
                         "flat-field correction")
    return like(-np.log(np.maximum(t, floor)), transmission)
