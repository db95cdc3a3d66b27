"""The centre of rotation of a parallel-beam scan, from the data alone.

A rotation axis that does not project onto the middle of the detector shifts every projection
by the same amount; reconstructed with the wrong centre, edges double into arcs. Two estimates:

* :func:`centre_from_opposed` (scans over 360°): the projection at ``θ + π`` is the mirror image
  of the one at ``θ`` about the axis, so the shift that best aligns each projection with its
  mirrored opposite is twice the axis' distance from the detector middle.
* :func:`centre_by_sharpness` (any range, 180° scans included): reconstruct with candidate
  centres and keep the one whose image has the smallest integral of negative values, which
  the dark arcs of a wrong centre raise (one of the criteria compared by Donath et al.).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InputError, check_positive
from ..operators import ParallelBeam2D, fbp
from ._arrays import ArrayLike, as_float64

#: Fine steps (detector pixels) of the refinement in :func:`centre_by_sharpness`.
FINE_STEP = 0.05
#: Upsampling of the cross-correlation in :func:`centre_from_opposed` (its grid is 1 / this pixel).
UPSAMPLE = 16


def offset_for_centre(centre: float, n_detectors: int, detector_spacing: float = 1.0) -> float:
    """The ``detector_offset`` of :class:`~inverselab.operators.ParallelBeam2D` for a rotation
    axis that projects onto detector position ``centre``.

    Parameters
    ----------
    centre : float
        Position of the axis on the detector, in elements from the first one (0-based; the
        middle of the detector is ``(n_detectors - 1) / 2``).
    n_detectors : int
        Detector elements.
    detector_spacing : float
        Element width, in the unit of the operator's ``pixel_size``.
    """
    return -(float(centre) - (n_detectors - 1) / 2) * detector_spacing


def _angles_of(sinogram: np.ndarray, angles: ArrayLike) -> np.ndarray:
    a = np.asarray(torch.as_tensor(angles).detach().cpu(), dtype=np.float64).ravel()
    if a.size != sinogram.shape[-2]:
        raise InputError(f"{a.size} angles for a sinogram of {sinogram.shape[-2]} projections: give one angle "
                         "(radians) per projection, in the order of the sinogram's rows")
    return a


def _opposed_pairs(angles: np.ndarray) -> list[tuple[int, int]]:
    """``(i, j)`` with ``angles[j] = angles[i] + π`` within half the median angular step."""
    step = float(np.median(np.abs(np.diff(np.sort(angles))))) if angles.size > 1 else 0.0
    tolerance = max(step / 2, 1e-9)
    pairs = []
    for i, theta in enumerate(angles):
        gap = np.abs(np.angle(np.exp(1j * (angles - theta - math.pi))))
        j = int(np.argmin(gap))
        if gap[j] <= tolerance and j != i and (i, j)[::-1] not in pairs:
            pairs.append((i, j))
    return pairs


def centre_from_opposed(sinogram: ArrayLike, angles: ArrayLike) -> float:
    """Centre of rotation of a scan over 360° from its opposed projections.

    Parameters
    ----------
    sinogram : array or Tensor, shape (..., n_angles, n_detectors)
        Line integrals; leading axes (slices) are pooled.
    angles : sequence of float, shape (n_angles,)
        Projection angles in radians; the scan must hold projections ``π`` apart.

    Returns
    -------
    float
        The axis' position on the detector in elements (0-based, see :func:`offset_for_centre`).

    Notes
    -----
    For each pair ``(θ, θ + π)`` the projection at ``θ + π``, mirrored, equals the one at ``θ``
    shifted by ``d = 2 c - (n - 1)`` elements. Before correlating, the mean projection over all
    angles is subtracted from both: it is symmetric about the axis (so the relation holds for
    the differences too), and it holds every constant detector offset, so miscalibrated elements
    (stripes) cannot pull the estimate. The pooled cross-correlation is interpolated by zero
    padding its spectrum to 1/:data:`UPSAMPLE` element and refined by a parabola through its peak.
    """
    s = as_float64("sinogram", sinogram)
    a = _angles_of(s, angles)
    pairs = _opposed_pairs(a)
    if not pairs:
        raise InputError("no projections 180 degrees apart: centre_from_opposed needs a 360-degree scan; use "
                         "centre_by_sharpness for 180-degree scans")
    n = s.shape[-1]
    s = s - s.mean(-2, keepdims=True)
    first = s[..., [i for i, _ in pairs], :]
    mirrored = s[..., [j for _, j in pairs], ::-1]
    size = 2 * n
    spectrum = np.conj(np.fft.rfft(mirrored, size)) * np.fft.rfft(first, size)
    spectrum = spectrum.reshape(-1, spectrum.shape[-1]).sum(0)
    corr = np.fft.irfft(spectrum, size * UPSAMPLE) * UPSAMPLE
    k = int(np.argmax(corr))
    left, mid, right = corr[k - 1], corr[k], corr[(k + 1) % corr.size]
    denom = left - 2 * mid + right
    k_fine = k + (0.5 * (left - right) / denom if denom < 0 else 0.0)
    shift = k_fine / UPSAMPLE
    if shift > size / 2:
        shift -= size
    return float((n - 1 + shift) / 2)  # the lag is d = 2 c - (n - 1)


def centre_by_sharpness(sinogram: ArrayLike, angles: ArrayLike, search: float = 16.0,
                        image_size: int | None = None) -> float:
    """Centre of rotation by the sharpest reconstruction (any angular range).

    Parameters
    ----------
    sinogram : array or Tensor, shape (..., n_angles, n_detectors)
        Line integrals; leading axes (slices) are pooled.
    angles : sequence of float, shape (n_angles,)
        Projection angles in radians.
    search : float
        Half-width of the searched range, in detector elements about the detector middle.
    image_size : int, optional
        Grid of the trial reconstructions; default ``n_detectors / sqrt(2)``, the square that
        every projection covers.

    Returns
    -------
    float
        The axis' position on the detector in elements (0-based, see :func:`offset_for_centre`).

    Notes
    -----
    Filtered back-projections (ramp filter) with the axis at every whole element of the range,
    then every :data:`FINE_STEP` element within one element of the best; each is scored by the
    integral of its negative values (attenuation is not negative; the dark arcs beside the
    doubled edges of a wrong centre are). Unlike the integral of absolute values, it does not
    change when a shifted candidate axis moves part of the object out of the trial grid.

    References
    ----------
    T. Donath, F. Beckmann and A. Schreyer, "Automated determination of the center of rotation
    in tomography data", *J. Opt. Soc. Am. A* 23(5), 1048-1057, 2006.
    """
    check_positive("search", search)
    s = as_float64("sinogram", sinogram)
    a = _angles_of(s, angles)
    n = s.shape[-1]
    size = int(image_size or max(8, math.floor(n / math.sqrt(2))))
    y = torch.from_numpy(s.reshape(-1, 1, *s.shape[-2:]))
    middle = (n - 1) / 2

    def score(centre: float) -> float:
        op = ParallelBeam2D(size, a, n, detector_offset=offset_for_centre(centre, n), storage="matrix-free")
        return float(fbp(op, y).clamp(max=0).sum().neg())

    coarse = {c: score(c) for c in middle + np.arange(-math.floor(search), math.floor(search) + 1)}
    best = min(coarse, key=coarse.get)
    fine = {c: score(c) for c in best + np.arange(-1.0, 1.0 + FINE_STEP / 2, FINE_STEP)}
    return float(min(fine, key=fine.get))


def estimate_rotation_centre(sinogram: ArrayLike, angles: ArrayLike, method: str = "auto",
                             search: float = 16.0) -> float:
    """Centre of rotation of a parallel-beam scan.

    Parameters
    ----------
    sinogram : array or Tensor, shape (..., n_angles, n_detectors)
        Line integrals.
    angles : sequence of float, shape (n_angles,)
        Projection angles in radians.
    method : {"auto", "opposed", "sharpness"}
        :func:`centre_from_opposed` or :func:`centre_by_sharpness`; ``"auto"`` takes the first
        when the scan holds projections 180 degrees apart, else the second.
    search : float
        Half-width of the range searched by ``"sharpness"`` (detector elements).

    Returns
    -------
    float
        The axis' position on the detector in elements (0-based).
    """
    from ..errors import check_choice

    check_choice("centre method", method, ("auto", "opposed", "sharpness"))
    s = as_float64("sinogram", sinogram)  # converted once for the check and the estimate
    if method == "auto":
        method = "opposed" if _opposed_pairs(_angles_of(s, angles)) else "sharpness"
    if method == "opposed":
        return centre_from_opposed(s, angles)
    return centre_by_sharpness(s, angles, search)
