"""2-D X-ray transforms (parallel and flat-detector fan beam) and filtered back-projection.

Geometry convention (the flat "fanflat" convention of the HTC2022 data, ../shared/data/README):

* The image has ``(ny, nx)`` square pixels of side ``pixel_size``, centred on the rotation
  axis; row 0 is at +y (top) and the column index increases towards +x.
* At angle ``theta`` (radians, counter-clockwise) the detector axis is ``(cos, sin)`` and rays
  travel along ``(-sin, cos)``. Detector element ``i`` sits at offset
  ``u_i = (i - (n_detectors - 1) / 2) * detector_spacing + detector_offset`` along the axis.
* Fan beam: the source is at ``source_origin * (sin, -cos)``; the detector centre at
  ``(source_detector - source_origin) * (-sin, cos)``.

Sinograms are ``(B, 1, n_angles, n_detectors)``: rows are angles, columns detector elements.
Values are line integrals in the length unit of ``pixel_size``.

The forward projector is Joseph's method (linear interpolation along the axis each ray crosses
most steeply, the same model as ASTRA's "linear" projector). It is stored as a sparse matrix,
built once per operator, with its transpose: the adjoint is exact by construction, and both
directions are one sparse-times-dense product, batched over images.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import InputError, check_choice, check_positive
from .base import LinearOperator

Tensor = torch.Tensor

__all__ = ["ParallelBeam2D", "FanBeam2D", "fbp", "FBP_FILTERS"]

FBP_FILTERS = ("ramp", "shepp-logan", "cosine", "hann", "hamming")

# Number of candidate matrix entries processed per block while building (bounds peak memory).
_BUILD_BLOCK = 1 << 22


def _csr(crow: Tensor, col: Tensor, val: Tensor, shape: tuple[int, int], like: Tensor) -> Tensor:
    """A CSR tensor on ``like``'s device and in its dtype, sharing index arrays where possible."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            crow.to(like.device),
            col.to(like.device),
            val.to(device=like.device, dtype=like.dtype),
            size=shape,
            check_invariants=False,
        )


def _image_shape(size: int | Sequence[int]) -> tuple[int, int]:
    shape = (int(size), int(size)) if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)
    if len(shape) != 2 or min(shape) < 2:
        raise InputError(f"image size must be an int or (ny, nx) with both >= 2, got {size!r}")
    return shape


def _angles(angles: int | Sequence[float] | Tensor | np.ndarray, period: float) -> np.ndarray:
    if isinstance(angles, (int, np.integer)):
        if angles < 1:
            raise InputError(f"number of angles must be >= 1, got {angles}")
        return np.arange(int(angles), dtype=np.float64) * (period / int(angles))
    a = np.asarray(torch.as_tensor(angles).detach().cpu(), dtype=np.float64).reshape(-1)
    if a.size == 0 or not np.isfinite(a).all():
        raise InputError("angles must be a non-empty list of finite values in radians")
    return a


class _RayTransform(LinearOperator):
    """Shared machinery of the 2-D X-ray transforms: rays -> sparse Joseph matrix."""

    nonnegative = True

    def __init__(
        self,
        image_size: int | Sequence[int],
        angles: np.ndarray,
        n_detectors: int,
        detector_spacing: float,
        pixel_size: float,
        detector_offset: float,
    ) -> None:
        self.image_shape = _image_shape(image_size)
        check_positive("pixel_size", pixel_size)
        check_positive("detector_spacing", detector_spacing)
        if int(n_detectors) < 1:
            raise InputError(f"n_detectors must be >= 1, got {n_detectors}")
        super().__init__((1, *self.image_shape), (1, len(angles), int(n_detectors)))
        self.register_buffer("angles", torch.as_tensor(angles, dtype=torch.float64), persistent=False)
        self.n_detectors = int(n_detectors)
        self.detector_spacing = float(detector_spacing)
        self.pixel_size = float(pixel_size)
        self.detector_offset = float(detector_offset)
        self._master: tuple[Tensor, ...] | None = None
        self._fbp_master: tuple[Tensor, ...] | None = None
        self._matrices: dict[tuple, object] = {}  # per (dtype, device): CSR tensors

    # -- geometry -----------------------------------------------------------------------------
    def _detector_positions(self) -> np.ndarray:
        i = np.arange(self.n_detectors, dtype=np.float64)
        return (i - (self.n_detectors - 1) / 2) * self.detector_spacing + self.detector_offset

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Ray origins and unit directions, each ``(n_angles, n_detectors, 2)`` as (x, y)."""
        raise NotImplementedError

    def _pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        ny, nx = self.image_shape
        h = self.pixel_size
        x = (np.arange(nx) - (nx - 1) / 2) * h
        y = ((ny - 1) / 2 - np.arange(ny)) * h
        return x, y

    # -- system matrix ------------------------------------------------------------------------
    def _build(self) -> tuple[Tensor, ...]:
        """Joseph matrix (rays x pixels) and its transpose as CSR arrays (float32 weights)."""
        import scipy.sparse

        ny, nx = self.image_shape
        h = self.pixel_size
        origin, direction = (a.reshape(-1, 2) for a in self.rays())
        n_rays = origin.shape[0]
        xc, yc = self._pixel_centres()
        steep = np.abs(direction[:, 1]) >= np.abs(direction[:, 0])
        rows, cols, vals = [], [], []
        per_ray = 2 * max(ny, nx)
        block = max(1, _BUILD_BLOCK // per_ray)
        for start in range(0, n_rays, block):
            sl = slice(start, min(start + block, n_rays))
            for is_steep in (True, False):
                sel = np.nonzero(steep[sl] == is_steep)[0] + start
                if sel.size == 0:
                    continue
                o, d = origin[sel], direction[sel]
                if is_steep:  # step over rows, interpolate between columns
                    t = (yc[None, :] - o[:, 1:2]) / d[:, 1:2]
                    frac = (o[:, 0:1] + t * d[:, 0:1]) / h + (nx - 1) / 2
                    n_other, step = nx, h / np.abs(d[:, 1:2])
                else:  # step over columns, interpolate between rows
                    t = (xc[None, :] - o[:, 0:1]) / d[:, 0:1]
                    frac = (ny - 1) / 2 - (o[:, 1:2] + t * d[:, 1:2]) / h
                    n_other, step = ny, h / np.abs(d[:, 0:1])
                lo = np.floor(frac)
                f = frac - lo
                lo = lo.astype(np.int64)
                k = np.broadcast_to(np.arange(frac.shape[1]), frac.shape)
                ray = np.broadcast_to(sel[:, None], frac.shape)
                for other, w in ((lo, 1 - f), (lo + 1, f)):
                    ok = (other >= 0) & (other < n_other) & (w > 0)
                    pix = k[ok] * nx + other[ok] if is_steep else other[ok] * nx + k[ok]
                    rows.append(ray[ok])
                    cols.append(pix)
                    vals.append((w * step)[ok].astype(np.float32))
        rows_a = np.concatenate(rows)
        cols_a = np.concatenate(cols)
        vals_a = np.concatenate(vals)
        del rows, cols, vals
        a = scipy.sparse.coo_matrix((vals_a, (rows_a, cols_a)), shape=(n_rays, ny * nx))
        del rows_a, cols_a, vals_a
        a_t = a.T.tocsr()  # pixels x rays, sorted; duplicates cannot occur
        del a
        a = a_t.T.tocsr()
        out = []
        for m in (a, a_t):
            out += [
                torch.from_numpy(m.indptr.astype(np.int32, copy=False)),
                torch.from_numpy(m.indices.astype(np.int32, copy=False)),
                torch.from_numpy(m.data.astype(np.float32, copy=False)),
            ]
        return tuple(out)

    def _matrix(self, like: Tensor) -> tuple[Tensor, Tensor]:
        key = (like.dtype, like.device)
        if key not in self._matrices:
            if self._master is None:
                self._master = self._build()
            m = self._master
            n_rays, n_pix = math.prod(self.range_shape), math.prod(self.domain_shape)
            self._matrices[key] = (
                _csr(*m[:3], (n_rays, n_pix), like),
                _csr(*m[3:], (n_pix, n_rays), like),
            )
        return self._matrices[key]

    @property
    def nnz(self) -> int:
        """Number of stored weights of the forward matrix (builds it if needed)."""
        if self._master is None:
            self._master = self._build()
        return int(self._master[2].numel())

    def _apply(self, fn, *args, **kwargs):  # nn.Module.to(): drop device/dtype caches
        self._matrices = {}
        return super()._apply(fn, *args, **kwargs)

    def _forward(self, x: Tensor) -> Tensor:
        a, _ = self._matrix(x)
        y = a @ x.reshape(x.shape[0], -1).T
        return y.T.reshape(x.shape[0], *self.range_shape)

    def _adjoint(self, y: Tensor) -> Tensor:
        _, a_t = self._matrix(y)
        x = a_t @ y.reshape(y.shape[0], -1).T
        return x.T.reshape(y.shape[0], *self.domain_shape)

    # -- filtered back-projection -------------------------------------------------------------
    def _backprojection_geometry(self, pixels: np.ndarray, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Detector coordinate of each pixel at each angle, and its back-projection weight.

        ``pixels`` is ``(P, 2)``; returns two ``(V, P)`` arrays (coordinate in detector length
        units on the virtual detector through the origin, and the distance weight).
        """
        raise NotImplementedError

    def _magnification(self) -> float:
        """Ratio of detector to rotation-axis scale (1 for parallel beam)."""
        return 1.0

    def _cosine_weights(self) -> np.ndarray:
        """Per-element pre-weighting before filtering (ones for parallel beam)."""
        return np.ones(self.n_detectors)

    def _redundancy(self) -> float:
        """1/2 for scans that see every line twice (full 360 degrees), 1 for 180 degrees, and the
        average redundancy in between (short scans are not Parker-weighted)."""
        a = np.sort(np.mod(self.angles.cpu().numpy(), 2 * math.pi))
        gaps = np.diff(np.concatenate([a, a[:1] + 2 * math.pi]))
        coverage = 2 * math.pi - gaps.max() + (np.median(gaps) if len(a) > 1 else 0.0)
        return min(1.0, math.pi / max(coverage, 1e-12))

    def _angle_weights(self) -> np.ndarray:
        """Quadrature weights (radians) for the angle list, uniform for uniform angles."""
        a = self.angles.cpu().numpy()
        if len(a) == 1:
            return np.array([math.pi])
        order = np.argsort(a)
        s = a[order]
        gaps = np.diff(s)
        w_sorted = np.empty_like(s)
        w_sorted[1:-1] = (gaps[:-1] + gaps[1:]) / 2
        w_sorted[0], w_sorted[-1] = gaps[0], gaps[-1]
        w = np.empty_like(a)
        w[order] = w_sorted
        return w

    def _build_backprojector(self) -> tuple[Tensor, Tensor, Tensor]:
        """Pixel-driven, linearly interpolating, distance- and angle-weighted back-projection
        (pixels x rays) as CSR arrays: the second half of FBP."""
        import scipy.sparse

        ny, nx = self.image_shape
        d = self.n_detectors
        xc, yc = self._pixel_centres()
        gx, gy = np.meshgrid(xc, yc)
        pixels = np.stack([gx.ravel(), gy.ravel()], -1)
        n_pix = pixels.shape[0]
        angles = self.angles.cpu().numpy()
        weights = self._angle_weights() * self._redundancy()
        spacing = self.detector_spacing / self._magnification()
        offset = self.detector_offset / self._magnification()
        rows, cols, vals = [], [], []
        chunk = max(1, _BUILD_BLOCK // n_pix)
        for start in range(0, len(angles), chunk):
            views = np.arange(start, min(start + chunk, len(angles)))
            u, dist_w = self._backprojection_geometry(pixels, angles[views])
            index = (u - offset) / spacing + (d - 1) / 2
            lo = np.floor(index)
            f = index - lo
            lo = lo.astype(np.int64)
            w = dist_w * weights[views, None]
            for det, wi in ((lo, 1 - f), (lo + 1, f)):
                ok = (det >= 0) & (det < d) & (wi > 0)
                view_idx, pix_idx = np.nonzero(ok)
                rows.append(pix_idx)
                cols.append(views[view_idx] * d + det[ok])
                vals.append((wi * w)[ok].astype(np.float32))
        m = scipy.sparse.coo_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_pix, len(angles) * d),
        ).tocsr()
        m.sum_duplicates()
        return (
            torch.from_numpy(m.indptr.astype(np.int32, copy=False)),
            torch.from_numpy(m.indices.astype(np.int32, copy=False)),
            torch.from_numpy(m.data.astype(np.float32, copy=False)),
        )

    def _backprojector(self, like: Tensor) -> Tensor:
        key = ("fbp", like.dtype, like.device)
        if key not in self._matrices:
            if self._fbp_master is None:
                self._fbp_master = self._build_backprojector()
            shape = (math.prod(self.domain_shape), math.prod(self.range_shape))
            self._matrices[key] = _csr(*self._fbp_master, shape, like)
        return self._matrices[key]

    def fbp(self, y: Tensor, filter: str = "ramp", cutoff: float = 1.0) -> Tensor:
        """Filtered back-projection; see :func:`fbp`."""
        return fbp(self, y, filter=filter, cutoff=cutoff)

    def config(self) -> dict:
        """Geometry as plain values (for config files and reports)."""
        return {
            "image_shape": list(self.image_shape),
            "n_angles": int(self.angles.numel()),
            "angle_range_deg": [
                math.degrees(float(self.angles.min())),
                math.degrees(float(self.angles.max())),
            ],
            "n_detectors": self.n_detectors,
            "detector_spacing": self.detector_spacing,
            "detector_offset": self.detector_offset,
            "pixel_size": self.pixel_size,
        }

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config().items())


class ParallelBeam2D(_RayTransform):
    """2-D parallel-beam X-ray transform (exact adjoint).

    Parameters
    ----------
    image_size : int or (int, int)
        Image size ``n`` (square) or ``(ny, nx)``.
    angles : int or sequence of float
        Number of angles uniformly spaced over [0, pi), or the angles in radians.
    n_detectors : int, optional
        Number of detector elements; default ``ceil(sqrt(ny^2 + nx^2) * pixel_size /
        detector_spacing)``, enough to cover the image at every angle.
    detector_spacing : float, optional
        Element width (same unit as ``pixel_size``); default ``pixel_size``.
    pixel_size : float
        Pixel side length (e.g. mm); line integrals are in this unit.
    detector_offset : float
        Shift of the detector centre along its axis.

    Shapes: image ``(B, 1, ny, nx)`` -> sinogram ``(B, 1, n_angles, n_detectors)``.
    """

    def __init__(
        self,
        image_size: int | Sequence[int],
        angles: int | Sequence[float] | Tensor | np.ndarray = 180,
        n_detectors: int | None = None,
        *,
        detector_spacing: float | None = None,
        pixel_size: float = 1.0,
        detector_offset: float = 0.0,
    ) -> None:
        ny, nx = _image_shape(image_size)
        spacing = float(pixel_size if detector_spacing is None else detector_spacing)
        if n_detectors is None:
            n_detectors = math.ceil(math.hypot(ny, nx) * pixel_size / spacing)
        super().__init__(
            (ny, nx), _angles(angles, math.pi), n_detectors, spacing, pixel_size, detector_offset
        )

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        th = self.angles.cpu().numpy()
        axis = np.stack([np.cos(th), np.sin(th)], -1)
        direction = np.stack([-np.sin(th), np.cos(th)], -1)
        u = self._detector_positions()
        origin = u[None, :, None] * axis[:, None, :]
        return origin, np.broadcast_to(direction[:, None, :], origin.shape).copy()

    def _backprojection_geometry(self, pixels, angles):
        axis = np.stack([np.cos(angles), np.sin(angles)], -1)
        return axis @ pixels.T, np.ones((len(angles), pixels.shape[0]))


class FanBeam2D(_RayTransform):
    """2-D fan-beam X-ray transform with a flat detector (exact adjoint).

    Parameters
    ----------
    image_size : int or (int, int)
        Image size ``n`` (square) or ``(ny, nx)``.
    angles : int or sequence of float
        Number of source angles uniformly spaced over [0, 2 pi), or the angles in radians.
    n_detectors : int, optional
        Number of detector elements; default: enough to see the whole image at every angle.
    source_origin : float, optional
        Distance from source to rotation axis; default ``3 * max(ny, nx) * pixel_size``.
    source_detector : float, optional
        Distance from source to detector; default ``1.5 * source_origin``.
    detector_spacing : float, optional
        Element width on the detector; default ``pixel_size * source_detector /
        source_origin`` (one pixel at the rotation axis).
    pixel_size : float
        Pixel side length; all distances share its unit.
    detector_offset : float
        Shift of the detector centre along its axis.

    Shapes: image ``(B, 1, ny, nx)`` -> sinogram ``(B, 1, n_angles, n_detectors)``.
    """

    def __init__(
        self,
        image_size: int | Sequence[int],
        angles: int | Sequence[float] | Tensor | np.ndarray = 360,
        n_detectors: int | None = None,
        *,
        source_origin: float | None = None,
        source_detector: float | None = None,
        detector_spacing: float | None = None,
        pixel_size: float = 1.0,
        detector_offset: float = 0.0,
    ) -> None:
        ny, nx = _image_shape(image_size)
        dso = float(3 * max(ny, nx) * pixel_size if source_origin is None else source_origin)
        dsd = float(1.5 * dso if source_detector is None else source_detector)
        check_positive("source_origin", dso)
        radius = math.hypot(ny, nx) * pixel_size / 2
        if dsd <= dso:
            raise InputError(
                f"source_detector ({dsd}) must exceed source_origin ({dso}): the detector lies "
                "beyond the rotation axis"
            )
        if dso <= radius:
            raise InputError(
                f"source_origin ({dso}) must exceed the image's half-diagonal ({radius:.4g}): "
                "the source would sit inside the image"
            )
        spacing = float(pixel_size * dsd / dso if detector_spacing is None else detector_spacing)
        if n_detectors is None:
            half_width = dsd * math.tan(math.asin(radius / dso))
            n_detectors = 2 * math.ceil(half_width / spacing) + 1
        self.source_origin, self.source_detector = dso, dsd
        super().__init__(
            (ny, nx), _angles(angles, 2 * math.pi), n_detectors, spacing, pixel_size, detector_offset
        )

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        th = self.angles.cpu().numpy()
        sin, cos = np.sin(th), np.cos(th)
        source = self.source_origin * np.stack([sin, -cos], -1)
        dod = self.source_detector - self.source_origin
        centre = dod * np.stack([-sin, cos], -1)
        axis = np.stack([cos, sin], -1)
        u = self._detector_positions()
        det = centre[:, None, :] + u[None, :, None] * axis[:, None, :]
        direction = det - source[:, None, :]
        direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
        return np.broadcast_to(source[:, None, :], det.shape).copy(), direction

    def _magnification(self) -> float:
        return self.source_detector / self.source_origin

    def _cosine_weights(self) -> np.ndarray:
        u = self._detector_positions() / self._magnification()
        return self.source_origin / np.sqrt(self.source_origin**2 + u**2)

    def _backprojection_geometry(self, pixels, angles):
        sin, cos = np.sin(angles), np.cos(angles)
        source = self.source_origin * np.stack([sin, -cos], -1)  # (V, 2)
        central = np.stack([-sin, cos], -1)
        axis = np.stack([cos, sin], -1)
        rel = pixels[None, :, :] - source[:, None, :]  # (V, P, 2)
        depth = np.einsum("vpk,vk->vp", rel, central)
        lateral = np.einsum("vpk,vk->vp", rel, axis)
        u_virtual = self.source_origin * lateral / depth
        return u_virtual, (self.source_origin / depth) ** 2

    def config(self) -> dict:
        return {
            **super().config(),
            "source_origin": self.source_origin,
            "source_detector": self.source_detector,
        }


def _ramp_response(n_detectors: int, spacing: float, filter: str, cutoff: float) -> np.ndarray:
    """Frequency response (length ``P``, a power of two >= 2 n) of the windowed ramp filter,
    including the quadrature factor ``spacing``; from the band-limited (Ram-Lak) kernel."""
    size = 1 << int(math.ceil(math.log2(2 * n_detectors)))
    k = np.concatenate([np.arange(0, size // 2 + 1), np.arange(-size // 2 + 1, 0)])
    h = np.zeros(size)
    h[0] = 1 / (4 * spacing**2)
    odd = k % 2 == 1
    h[odd] = -1 / (np.pi * k[odd] * spacing) ** 2
    response = np.real(np.fft.fft(h)) * spacing
    nu = np.abs(np.fft.fftfreq(size)) * 2  # 0..1, 1 = Nyquist
    with np.errstate(invalid="ignore", divide="ignore"):
        x = nu / cutoff
        window = {
            "ramp": np.ones_like(x),
            "shepp-logan": np.sinc(x / 2),
            "cosine": np.cos(np.pi * x / 2),
            "hann": 0.5 * (1 + np.cos(np.pi * x)),
            "hamming": 0.54 + 0.46 * np.cos(np.pi * x),
        }[filter]
    window[x > 1] = 0
    return response * window


def fbp(
    op: ParallelBeam2D | FanBeam2D,
    y: Tensor,
    filter: str = "ramp",
    cutoff: float = 1.0,
) -> Tensor:
    """Filtered back-projection for parallel- and flat-detector fan-beam sinograms.

    Each projection is (cosine pre-weighted for fan beam,) filtered with a band-limited ramp
    times a window, and back-projected pixel by pixel with linear interpolation and the
    fan-beam distance weight ``(source_origin / depth)^2``. Arbitrary angle lists are handled
    with trapezoidal angular weights; full 360-degree scans are weighted by 1/2. Short fan-beam
    scans get the average redundancy weight, not Parker weights.

    Parameters
    ----------
    op : ParallelBeam2D or FanBeam2D
        The geometry that produced ``y``.
    y : Tensor
        Sinograms ``(B, 1, n_angles, n_detectors)``.
    filter : {"ramp", "shepp-logan", "cosine", "hann", "hamming"}
        Window applied to the ramp.
    cutoff : float
        Relative cut-off frequency in (0, 1]; 1 is the Nyquist frequency.

    Returns
    -------
    Tensor
        Images ``(B, 1, ny, nx)`` in the inverse unit of ``pixel_size`` (attenuation).
    """
    if not isinstance(op, _RayTransform):
        raise InputError(f"fbp needs a ParallelBeam2D or FanBeam2D operator, got {type(op).__name__}")
    check_choice("FBP filter", filter, FBP_FILTERS)
    if not 0 < cutoff <= 1:
        raise InputError(f"cutoff must be in (0, 1], got {cutoff}")
    y = op._check(y, op.range_shape, False, "sinogram")
    b, d = y.shape[0], op.range_shape[2]
    spacing = op.detector_spacing / op._magnification()
    response = torch.as_tensor(
        _ramp_response(d, spacing, filter, cutoff), dtype=y.dtype, device=y.device
    )
    pre = torch.as_tensor(op._cosine_weights(), dtype=y.dtype, device=y.device)
    size = response.numel()
    spectrum = torch.fft.rfft(y[:, 0] * pre, n=size, dim=-1)
    filtered = torch.fft.irfft(spectrum * response[: size // 2 + 1], n=size, dim=-1)[..., :d]

    backprojector = op._backprojector(y)
    out = backprojector @ filtered.reshape(b, -1).T
    return out.T.reshape(b, *op.domain_shape)
