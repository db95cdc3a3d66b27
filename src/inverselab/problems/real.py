"""Problems built from measured data files (no ground-truth sampler, no simulated noise)."""

from __future__ import annotations

import numpy as np
import torch

from ..data.io import CTScan
from ..errors import InputError
from ..metrics import mcc, otsu_threshold
from ..noise import NoNoise
from ..operators.tomography import ParallelBeam2D, fbp
from .base import Problem

Tensor = torch.Tensor

__all__ = [
    "ACRYLIC_UPPER_BOUND",
    "HTC2022_METHODS",
    "disc_mask",
    "fit_disc",
    "parallel_scan_problem",
    "scan_problem",
    "score_segmentation",
    "segment",
]

# Hyper-parameters for the HTC2022 discs (line integrals of attenuation in 1/mm, pixels of
# 0.148 mm at 512). The upper bound is 1.2 times the attenuation calibrated on the solid-disc
# scan (0.033 / mm; see benchmarks/htc2022.py); the TV weight was chosen on tb at 90
# degrees (0.03 against 0.05 and 0.1 at 256 and 512 pixels). TV uses diagonally preconditioned PDHG,
# which converges several times faster than scalar steps on these long-ray fan geometries.
ACRYLIC_UPPER_BOUND = 0.04
HTC2022_METHODS = {
    "fbp": {"filter": "hann"},
    "tikhonov": {"lam": 1.0, "reg": "gradient", "iters": 300},
    "tv": {
        "lam": 0.03,
        "iters": 1000,
        "tol": 1e-6,
        "bounds": (0.0, ACRYLIC_UPPER_BOUND),
        "preconditioned": True,
        "step_ratio": 1.0,
        "adaptive": False,
    },
}


def _no_truth(n: int, seed: int, split: str) -> Tensor:
    raise InputError("a measured scan has no ground-truth sampler: load the ground truth file instead")


def fit_disc(scan: CTScan, threshold: float = 0.1) -> tuple[float, float, float]:
    """Centre ``(cx, cy)`` and radius of a disc-shaped object from its shadow in the sinogram.

    In every view the outermost detector positions where the data exceed ``threshold`` times
    the view's maximum (located to sub-element accuracy) define two rays tangent to the
    object; a disc with centre ``c`` and radius ``R`` has signed distance ``+-R`` from each,
    which is linear in ``(c, R)``: least squares over all views.

    Returns
    -------
    (cx, cy, radius)
        In the length unit of the geometry (mm for HTC2022).
    """
    origin, direction = scan.operator.rays()
    sino = scan.sinogram[0, 0].double().cpu().numpy()
    rows, rhs = [], []
    for v, row in enumerate(sino):
        level = threshold * row.max()
        above = np.nonzero(row > level)[0]
        if above.size == 0 or above[0] == 0 or above[-1] == row.size - 1:
            continue  # empty view, or the shadow leaves the detector
        for inside, outside, side in ((above[0], above[0] - 1, -1.0), (above[-1], above[-1] + 1, 1.0)):
            f = (row[inside] - level) / (row[inside] - row[outside])
            d = direction[v, inside] * (1 - f) + direction[v, outside] * f
            d /= np.linalg.norm(d)
            o = origin[v, inside]
            # cross(c - o, d) = side * R
            rows.append([d[1], -d[0], -side])
            rhs.append(o[0] * d[1] - o[1] * d[0])
    if len(rows) < 3:
        raise InputError(f"{scan.name}: no object shadow found in the sinogram to fit a disc to")
    (cx, cy, radius), *_ = np.linalg.lstsq(np.asarray(rows), np.asarray(rhs), rcond=None)
    return float(cx), float(cy), abs(float(radius))


def disc_mask(scan: CTScan, centre: tuple[float, float], radius: float) -> Tensor:
    """``(1, 1, ny, nx)`` float mask of the pixels whose centres lie inside the disc."""
    xc, yc = scan.operator._pixel_centres()
    x, y = np.meshgrid(xc, yc)
    inside = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 <= radius**2
    return torch.from_numpy(inside.astype(np.float32))[None, None]


def scan_problem(scan: CTScan, support: bool = True, margin: float = 0.5) -> Problem:
    """Wrap a measured HTC2022 scan as a :class:`Problem` (operator, FBP baseline, methods).

    Parameters
    ----------
    scan : CTScan
        From :func:`inverselab.data.read_htc2022`.
    support : bool
        Constrain TV to the disc found by :func:`fit_disc` (grown by ``margin``): the
        targets are 70 mm discs, and in limited-angle data the support is the strongest
        prior there is. The fitted disc is recorded in ``problem.config["support"]``.
    margin : float
        Growth of the fitted radius (mm).
    """
    op = scan.operator
    methods = {k: dict(v) for k, v in HTC2022_METHODS.items()}
    config = {"scan": scan.name, **op.config()}
    if support:
        cx, cy, radius = fit_disc(scan)
        upper = ACRYLIC_UPPER_BOUND * disc_mask(scan, (cx, cy), radius + margin)
        methods["tv"]["bounds"] = (0.0, upper)
        config["support"] = {"centre_mm": [cx, cy], "radius_mm": radius, "margin_mm": margin}
    return Problem(
        name=scan.name,
        operator=op,
        noise=NoNoise(),
        truth_sampler=_no_truth,
        baseline_fn=lambda y: fbp(op, y, filter="hann"),
        config=config,
        methods=methods,
        default_method="tv",
        data_range=ACRYLIC_UPPER_BOUND,
    )


#: Relative TV weight of a measured parallel-beam scan: ``lam`` is this times ``||A||^2`` times
#: the 99th percentile of the FBP image (a starting point; tune it with ``--param lam=...``).
PARALLEL_SCAN_TV_WEIGHT = 2e-3


def parallel_scan_problem(sinogram: Tensor, angles: np.ndarray, detector_offset: float = 0.0,
                          image_size: int | None = None, pixel_size: float = 1.0, name: str = "scan") -> Problem:
    """Wrap a measured parallel-beam sinogram as a :class:`Problem` (operator, FBP baseline,
    classical methods with weights scaled to the data).

    Parameters
    ----------
    sinogram : Tensor, shape (B, 1, n_angles, n_detectors)
        Line integrals (one row per angle).
    angles : ndarray, shape (n_angles,)
        Projection angles in radians.
    detector_offset : float
        Of :class:`~inverselab.operators.ParallelBeam2D`: where the rotation axis projects (see
        :func:`inverselab.preprocessing.offset_for_centre`).
    image_size : int, optional
        Reconstruction grid; default ``n_detectors / sqrt(2)`` (every pixel seen at every angle).
    pixel_size : float
        Pixel side in the unit of the detector spacing (1: detector elements).
    name : str
        The scan's name in runs and figures.
    """
    n_det = int(sinogram.shape[-1])
    size = int(image_size or max(8, int(n_det / 2**0.5)))
    op = ParallelBeam2D(size, angles, n_det, detector_spacing=1.0, pixel_size=pixel_size,
                        detector_offset=detector_offset)
    y = sinogram.to(torch.float64)
    first = fbp(op, y, filter="hann")
    scale = float(torch.quantile(first.flatten(), 0.99).clamp(min=torch.finfo(torch.float64).tiny))
    lam = PARALLEL_SCAN_TV_WEIGHT * float(op.norm(dtype=torch.float64)) ** 2 * scale
    methods = {"fbp": {"filter": "hann"}, "tikhonov": {"lam": lam, "reg": "gradient", "iters": 200},
               "tv": {"lam": lam, "iters": 300, "bounds": (0.0, None)}}
    return Problem(
        name=name,
        operator=op,
        noise=NoNoise(),
        truth_sampler=_no_truth,
        baseline_fn=lambda v: fbp(op, v, filter="hann"),
        config={"scan": name, **op.config()},
        methods=methods,
        default_method="fbp",
        data_range=scale,
    )


def segment(image: Tensor, size: int | None = None) -> Tensor:
    """Binary segmentation by Otsu's threshold per sample, optionally resized (nearest) to
    ``size x size`` for scoring against a ground truth of another resolution."""
    threshold = otsu_threshold(image).to(image.dtype).reshape(-1, *([1] * (image.ndim - 1)))
    seg = (image > threshold).to(torch.float64)
    if size is not None and seg.shape[-1] != size:
        seg = torch.nn.functional.interpolate(seg, size=(size, size), mode="nearest")
    return seg


def score_segmentation(image: Tensor, truth: Tensor) -> float:
    """MCC of the Otsu segmentation of ``image`` against a binary ``truth`` (any grid size)."""
    return float(mcc(segment(image, truth.shape[-1]), truth.to(image.device)))
