"""Stripes in sinograms (rings in reconstructions) from miscalibrated detector elements."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import InputError, check_count, check_positive
from ._arrays import ArrayLike, as_float64, like


def remove_stripes(sinogram: ArrayLike, neighbours: int = 2, snr: float = 10.0) -> ArrayLike:
    """Remove the stripes of miscalibrated detector elements (sorting-based).

    Parameters
    ----------
    sinogram : array or Tensor, shape (..., n_angles, n_detectors)
        Line integrals.
    neighbours : int
        Columns on each side whose sorted profiles give a column's stripe-free reference (their
        median); 2 tolerates one more bad element next to a stripe.
    snr : float
        A column is a stripe when its offset from the reference exceeds ``snr`` robust standard
        deviations (scaled median absolute deviations) of the offsets of all columns; only
        those columns are corrected. The offsets are heavy-tailed (columns that see only air
        have almost none), so the threshold is high; lower it to catch fainter stripes at the
        cost of correcting some columns that need none.

    Returns
    -------
    array or Tensor
        The sinogram without stripes, the type of ``sinogram``.

    Notes
    -----
    A detector element whose gain is off adds a constant to its column of line integrals
    (``-log(g T) = -log T - log g``): a stripe along the angles, a ring about the axis in the
    image. Sorting each column over the angles turns the object's contribution into a smooth
    profile that changes little from one column to the next (Vo et al.), so the median of the
    neighbouring sorted columns is a reference without the stripe, and the median over the
    angles of a column's difference from it is the column's offset. Columns whose offset stands
    out are corrected by subtracting it; every other column is left as it was, so the object's
    edges are not filtered.

    References
    ----------
    N. T. Vo, R. C. Atwood and M. Drakopoulos, "Superior techniques for eliminating ring artifacts
    in X-ray micro-tomography", *Opt. Express* 26(22), 28396-28412, 2018.
    """
    check_count("neighbours", neighbours)
    check_positive("snr", snr)
    s = as_float64("sinogram", sinogram)
    n = s.shape[-1]
    if 2 * neighbours >= n:
        raise InputError(f"{neighbours} neighbours on each side need more than {2 * neighbours} detector elements, "
                         f"the sinogram has {n}: choose fewer neighbours")
    ranked = np.sort(s, axis=-2)
    padded = np.pad(ranked, [(0, 0)] * (s.ndim - 1) + [(neighbours, neighbours)], mode="reflect")
    beside = [padded[..., neighbours + k : neighbours + k + n] for k in range(-neighbours, neighbours + 1) if k]
    reference = np.median(np.stack(beside), axis=0)
    offset = np.median(ranked - reference, axis=-2, keepdims=True)
    centred = offset - np.median(offset, axis=-1, keepdims=True)
    spread = 1.4826 * np.median(np.abs(centred), axis=-1, keepdims=True)
    stripes = np.abs(centred) > snr * np.maximum(spread, np.finfo(float).tiny)
    return like(s - np.where(stripes, offset, 0.0), sinogram)


def ring_energy(image: ArrayLike, centre: tuple[float, float] | None = None, width: int = 9) -> float:
    """Energy of ring artefacts about a centre: the mean square of the radial high-pass of the
    image's average over circles.

    Parameters
    ----------
    image : array or Tensor, shape (..., ny, nx)
        Reconstruction(s); leading axes are averaged.
    centre : (float, float), optional
        ``(row, column)`` of the rotation axis in pixels; default the middle of the image.
    width : int
        Median filter width (pixels along the radius) that estimates the smooth radial profile;
        what differs from it at one radius all around the circle is a ring.

    Returns
    -------
    float
        Mean square of the ring profile (image units squared).
    """
    check_count("width", width)
    x = as_float64("image", image).reshape(-1, *np.shape(image)[-2:]).mean(0)
    ny, nx = x.shape
    cy, cx = centre if centre is not None else ((ny - 1) / 2, (nx - 1) / 2)
    radii = np.arange(int(min(cy, cx, ny - 1 - cy, nx - 1 - cx)))
    angles = np.linspace(0, 2 * np.pi, 4 * max(ny, nx), endpoint=False)
    rows = cy + radii[:, None] * np.sin(angles)[None, :]
    cols = cx + radii[:, None] * np.cos(angles)[None, :]
    profile = ndimage.map_coordinates(x, [rows, cols], order=1).mean(1)
    rings = profile - ndimage.median_filter(profile, size=width, mode="nearest")
    return float(np.mean(rings**2))
