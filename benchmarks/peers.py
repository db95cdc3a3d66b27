"""Peer libraries (ASTRA, scikit-image, deepinv) behind inverselab's geometry conventions.

Benchmark scripts run inside ``.venv-bench`` (made by ``benchmarks/setup_peers.sh``) import
this module to time inverselab and its peers on the same data in the same run.

Our parallel-beam convention (:class:`inverselab.operators.ParallelBeam2D`): the image is
``(ny, nx)`` with pixel size 1, row 0 at +y (top) and the column index increasing towards +x.
At angle ``theta`` (radians) the detector axis is ``(cos theta, sin theta)`` and rays travel
along ``(-sin theta, cos theta)``; detector element ``i`` sits at offset
``(i - (D - 1) / 2)`` along the axis (unit spacing). Sinograms are ``(n_angles, D)``: rows are
angles. Values are line integrals in pixel units.

* :class:`AstraParallel` reproduces it exactly (ASTRA's 2-D ``parallel`` geometry with the
  ``linear`` (Joseph) projector is our model): numpy in, numpy out.
* :class:`SkimageParallel` maps ``radon`` / ``iradon`` onto it; skimage's rotation centre is
  the pixel ``(n // 2, n // 2)``, half a pixel off ours for even ``n``, which the adapter
  compensates with a per-angle sub-pixel shift of the sinogram rows. Numpy in, numpy out.
* :class:`DeepinvParallel` wraps ``deepinv.physics.Tomography``, whose geometry equals ours
  (when it pads the image evenly, e.g. n = 128) once the sinogram is transposed. Torch in,
  torch out, with our shapes ``(B, 1, n, n)`` and ``(B, 1, n_angles, D)``.

Deblurring: :func:`deepinv_blur_physics` builds deepinv's ``BlurFFT``, which computes our
circular model ``real(ifft2(fft2(x) * fft2(k_padded)))`` with no flip or shift.

``python benchmarks/peers.py`` checks agreement with inverselab and times one
forward + adjoint pair per peer; ``--tv`` also runs the deepinv TV baselines.
"""

from __future__ import annotations

import argparse
import math
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import astra
import deepinv as dinv
import numpy as np
import torch
import torch.nn.functional as F
from skimage.data import camera, shepp_logan_phantom
from skimage.transform import iradon, radon, resize

from _common import median_seconds
from inverselab.noise import GaussianNoise
from inverselab.operators import Blur, ParallelBeam2D, gaussian_kernel

Tensor = torch.Tensor
Angles = int | Sequence[float] | np.ndarray

__all__ = [
    "AstraParallel",
    "astra_fan_beam",
    "SkimageParallel",
    "DeepinvParallel",
    "DeepinvTomography",
    "TVRun",
    "angles_radians",
    "deepinv_ct_physics",
    "deepinv_blur_physics",
    "deepinv_tv",
    "circular_blur",
    "check_agreement",
    "time_operator_pairs",
]


def angles_radians(angles: Angles) -> np.ndarray:
    """Projection angles in radians, by the rule of :class:`ParallelBeam2D`.

    Parameters
    ----------
    angles : int or sequence of float
        A count ``V`` (angles ``k * pi / V``, ``k = 0..V-1``) or the angles in radians.

    Returns
    -------
    np.ndarray
        Float64 angles, shape ``(V,)``.
    """
    if isinstance(angles, (int, np.integer)):
        return np.arange(int(angles), dtype=np.float64) * (math.pi / int(angles))
    return np.asarray(angles, dtype=np.float64).reshape(-1)


# -- ASTRA -------------------------------------------------------------------------------------
def _astra_free(algorithms: list[int], data: list[int], projector: int) -> None:
    astra.algorithm.delete(algorithms)
    astra.data2d.delete(data)
    astra.projector.delete(projector)


class AstraParallel:
    """ASTRA's CPU 2-D parallel-beam geometry with the ``linear`` (Joseph) projector.

    The geometry, projector, one volume and one sinogram buffer and the FP / BP / FBP
    algorithm objects are created once, so a timed call is a copy in, the projection, and a
    copy out. ASTRA's ``parallel`` geometry and image layout equal ours: no mapping is needed.
    ASTRA memory is freed by :meth:`close` (or the context manager, or garbage collection).

    Parameters
    ----------
    n : int
        Image side (``n x n`` pixels of size 1).
    angles : int or sequence of float
        Number of angles over [0, pi), or the angles in radians.
    n_detectors : int
        Detector elements of width 1, centred on the rotation axis.

    Notes
    -----
    All methods take and return float32 numpy arrays: images ``(n, n)``, sinograms
    ``(n_angles, n_detectors)``. BP is the exact transpose of FP (same projector weights).
    """

    def __init__(self, n: int, angles: Angles, n_detectors: int) -> None:
        self.n, self.n_detectors = int(n), int(n_detectors)
        self.angles = angles_radians(angles)
        vol_geom = astra.create_vol_geom(self.n, self.n)
        proj_geom = astra.create_proj_geom("parallel", 1.0, self.n_detectors, self.angles)
        self._projector = astra.create_projector("linear", proj_geom, vol_geom)
        self._vol = astra.data2d.create("-vol", vol_geom, 0.0)
        self._sino = astra.data2d.create("-sino", proj_geom, 0.0)
        self._fp = self._algorithm("FP", VolumeDataId=self._vol, ProjectionDataId=self._sino)
        self._bp = self._algorithm("BP", ProjectionDataId=self._sino, ReconstructionDataId=self._vol)
        self._fbp = self._algorithm(
            "FBP", ProjectionDataId=self._sino, ReconstructionDataId=self._vol, option={"FilterType": "ram-lak"}
        )
        self._sirt: dict[float | None, int] = {}
        self._algorithms = [self._fp, self._bp, self._fbp]
        self._finalizer = weakref.finalize(
            self, _astra_free, self._algorithms, [self._vol, self._sino], self._projector
        )

    def _algorithm(self, kind: str, **cfg: object) -> int:
        config = astra.astra_dict(kind)
        config["ProjectorId"] = self._projector
        config.update(cfg)
        return astra.algorithm.create(config)

    def _run(self, algorithm: int, source: int, data: np.ndarray, target: int, iters: int = 1) -> np.ndarray:
        astra.data2d.store(source, np.ascontiguousarray(data, dtype=np.float32))
        astra.algorithm.run(algorithm, iters)
        return astra.data2d.get(target)

    def forward(self, img: np.ndarray) -> np.ndarray:
        """Sinogram ``(n_angles, n_detectors)`` of an image ``(n, n)``."""
        return self._run(self._fp, self._vol, img, self._sino)

    def adjoint(self, sino: np.ndarray) -> np.ndarray:
        """Back-projection ``(n, n)`` (exact transpose of :meth:`forward`)."""
        return self._run(self._bp, self._sino, sino, self._vol)

    def fbp(self, sino: np.ndarray) -> np.ndarray:
        """ASTRA's filtered back-projection (Ram-Lak filter), image ``(n, n)``."""
        return self._run(self._fbp, self._sino, sino, self._vol)

    def sirt(self, sino: np.ndarray, iters: int, min_constraint: float | None = 0.0) -> np.ndarray:
        """ASTRA's SIRT from a zero image.

        Parameters
        ----------
        sino : np.ndarray
            Sinogram ``(n_angles, n_detectors)``.
        iters : int
            Number of SIRT iterations.
        min_constraint : float or None
            Lower bound enforced after every iteration (0: non-negativity); None for none.

        Returns
        -------
        np.ndarray
            Image ``(n, n)``.
        """
        if min_constraint not in self._sirt:
            option = {} if min_constraint is None else {"MinConstraint": float(min_constraint)}
            self._sirt[min_constraint] = self._algorithm(
                "SIRT", ProjectionDataId=self._sino, ReconstructionDataId=self._vol, option=option
            )
            self._algorithms.append(self._sirt[min_constraint])
        astra.data2d.store(self._vol, 0.0)
        return self._run(self._sirt[min_constraint], self._sino, sino, self._vol, int(iters))

    def close(self) -> None:
        """Free the ASTRA projector, data and algorithm objects (idempotent)."""
        self._finalizer()

    def __enter__(self) -> AstraParallel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def astra_fan_beam(
    n: int,
    angles: Sequence[float] | np.ndarray,
    n_detectors: int,
    source_origin: float,
    source_detector: float,
    detector_spacing: float,
) -> SimpleNamespace:
    """ASTRA's CPU flat-detector fan beam (``fanflat`` geometry, ``line_fanflat`` projector) in
    the geometry of :class:`inverselab.operators.FanBeam2D` (pixel size 1, no detector offset).

    ASTRA's ``fanflat`` convention is ours: source at ``source_origin (sin, -cos)``, detector
    centre at ``(source_detector - source_origin) (-sin, cos)``, detector axis ``(cos, sin)``.
    As for :class:`AstraParallel`, the projector, one volume and one sinogram buffer and the FP
    and BP algorithm objects are created once.

    Parameters
    ----------
    n : int
        Image side (``n x n`` pixels of size 1).
    angles : sequence of float
        Source angles in radians.
    n_detectors : int
        Detector elements.
    source_origin, source_detector : float
        Distances from the source to the rotation axis and to the detector (pixels).
    detector_spacing : float
        Element width on the detector (pixels).

    Returns
    -------
    SimpleNamespace
        ``forward(img) -> sino``, ``adjoint(sino) -> img`` (float32 numpy arrays ``(n, n)`` and
        ``(n_angles, n_detectors)``) and ``close()``, which frees the ASTRA objects.
    """
    vol_geom = astra.create_vol_geom(int(n), int(n))
    proj_geom = astra.create_proj_geom(
        "fanflat",
        float(detector_spacing),
        int(n_detectors),
        angles_radians(angles),
        float(source_origin),
        float(source_detector - source_origin),
    )
    projector = astra.create_projector("line_fanflat", proj_geom, vol_geom)
    vol = astra.data2d.create("-vol", vol_geom, 0.0)
    sino = astra.data2d.create("-sino", proj_geom, 0.0)

    def algorithm(kind: str, **data: int) -> int:
        config = astra.astra_dict(kind)
        config.update(ProjectorId=projector, **data)
        return astra.algorithm.create(config)

    fp = algorithm("FP", VolumeDataId=vol, ProjectionDataId=sino)
    bp = algorithm("BP", ProjectionDataId=sino, ReconstructionDataId=vol)

    def run(algorithm_id: int, source: int, data: np.ndarray, target: int) -> np.ndarray:
        astra.data2d.store(source, np.ascontiguousarray(data, dtype=np.float32))
        astra.algorithm.run(algorithm_id)
        return astra.data2d.get(target)

    return SimpleNamespace(
        forward=lambda img: run(fp, vol, img, sino),
        adjoint=lambda y: run(bp, sino, y, vol),
        close=lambda: _astra_free([fp, bp], [vol, sino], projector),
    )


# -- scikit-image ------------------------------------------------------------------------------
class SkimageParallel:
    """``skimage.transform.radon`` / ``iradon`` mapped onto our parallel-beam convention.

    Parameters
    ----------
    n : int
        Image side.
    angles : int or sequence of float
        Number of angles over [0, pi), or the angles in radians (skimage gets them in degrees,
        same orientation: ``theta_skimage = degrees(theta)``).
    n_detectors : int
        Detector elements of our sinogram.

    Notes
    -----
    Detector count: ``radon(..., circle=False)`` pads the image to its diagonal and returns
    ``D0 = n + ceil(sqrt(2) n - n)`` unit-spaced elements (182 for n = 128), whatever
    ``n_detectors`` is; our sinogram is resampled from it (zero where our detector reaches
    beyond it, which is exact since the padded image covers the support at every angle).

    Centring: skimage rotates about pixel ``(n // 2, n // 2)`` and puts element ``D0 // 2``
    on that axis. For even ``n`` the pixel is at ``c = (x, y) = (0.5, -0.5)`` from our rotation
    axis, so at angle ``theta`` skimage's element ``k`` is our detector coordinate
    ``k - D0 // 2 + c . (cos theta, sin theta)``: an angle-dependent sub-pixel shift that no
    integer crop removes (the best one leaves up to 0.85 element of misregistration,
    sinogram correlation 0.9966 and FBP 22.9 dB instead of 28.0 dB on the n = 128 phantom).
    Each sinogram row is therefore shifted by that amount with an FFT phase ramp (band-limited
    interpolation, zero-padded so nothing wraps), onto our grid after ``radon`` and back onto
    skimage's before ``iradon``. The two shifts of a forward + adjoint pair cost about 0.5 ms
    at 60 x 182.

    Adjoint: ``iradon`` with ``filter_name=None`` returns the linearly interpolated,
    pixel-driven back-projection times ``pi / (2 n_angles)``; it is multiplied by
    ``2 n_angles / pi``. It is not the exact transpose of ``radon`` (which rotates the image
    with bilinear ``warp`` and sums columns).

    All methods take and return float32 numpy arrays: images ``(n, n)``, sinograms
    ``(n_angles, n_detectors)``.
    """

    def __init__(self, n: int, angles: Angles, n_detectors: int) -> None:
        self.n, self.n_detectors = int(n), int(n_detectors)
        self.angles = angles_radians(angles)
        self.theta = np.rad2deg(self.angles)
        self.native_detectors = radon(np.zeros((self.n, self.n)), theta=self.theta[:1], circle=False).shape[0]
        half = 0.5 if self.n % 2 == 0 else 0.0
        # our detector j samples skimage's row at fractional index j + shift
        shift = self.native_detectors // 2 - (self.n_detectors - 1) / 2 - half * (
            np.cos(self.angles) - np.sin(self.angles)
        )
        self._fft_size = 2 * max(self.native_detectors, self.n_detectors)
        freq = np.fft.rfftfreq(self._fft_size)
        self._phase = np.exp(2j * np.pi * freq[None, :] * shift[:, None])

    def _shift(self, rows: np.ndarray, phase: np.ndarray, size: int) -> np.ndarray:
        spectrum = np.fft.rfft(rows, n=self._fft_size, axis=-1) * phase
        return np.fft.irfft(spectrum, n=self._fft_size, axis=-1)[:, :size]

    def forward(self, img: np.ndarray) -> np.ndarray:
        """Sinogram ``(n_angles, n_detectors)`` of an image ``(n, n)``."""
        sino = radon(np.asarray(img, dtype=np.float32), theta=self.theta, circle=False)
        return self._shift(sino.T, self._phase, self.n_detectors).astype(np.float32)

    def _iradon(self, sino: np.ndarray, filter_name: str | None) -> np.ndarray:
        native = self._shift(np.asarray(sino, dtype=np.float64), self._phase.conj(), self.native_detectors)
        return iradon(native.T, theta=self.theta, output_size=self.n, filter_name=filter_name, circle=False)

    def adjoint(self, sino: np.ndarray) -> np.ndarray:
        """Unfiltered back-projection ``(n, n)``, scaled to approximate the transpose."""
        scale = 2 * len(self.angles) / math.pi
        return (self._iradon(sino, None) * scale).astype(np.float32)

    def fbp(self, sino: np.ndarray) -> np.ndarray:
        """``iradon`` with the ramp filter (attenuation units), image ``(n, n)``."""
        return self._iradon(sino, "ramp").astype(np.float32)


# -- deepinv -----------------------------------------------------------------------------------
class DeepinvTomography(dinv.physics.LinearPhysics):
    """``deepinv.physics.Tomography`` (parallel beam, unnormalised) in our sinogram layout.

    A deepinv ``LinearPhysics``, usable by deepinv's solvers: ``A`` maps ``(B, 1, n, n)`` to
    ``(B, 1, n_angles, n_detectors)``. deepinv's own sinogram is ``(B, 1, D0, n_angles)``
    with ``D0 = ceil(sqrt(2) n)`` unit-spaced elements centred on the image (its image padded
    to its diagonal and rotated with ``grid_sample``); ``A`` transposes it and crops or
    zero-pads it symmetrically to ``n_detectors``.

    Parameters
    ----------
    n : int
        Image side; ``D0 - n`` must be even (true for n = 128, D0 = 182). Otherwise deepinv
        pads the image unevenly and its rotation centre is half a pixel off the image centre.
    angles : int or sequence of float
        Number of angles over [0, pi), or the angles in radians (deepinv gets degrees, same
        orientation).
    n_detectors : int
        Detector elements; ``D0 - n_detectors`` must be even (centred window).
    exact_adjoint : bool
        True: deepinv's ``adjoint_via_backprop`` (exact adjoint by autograd through the
        forward); False: its fast ``IRadon`` back-projection (approximate adjoint).
    """

    def __init__(self, n: int, angles: Angles, n_detectors: int, exact_adjoint: bool = True) -> None:
        super().__init__()
        self.n, self.n_detectors, self.exact_adjoint = int(n), int(n_detectors), exact_adjoint
        self.angles = angles_radians(angles)
        self.tomography = dinv.physics.Tomography(
            angles=torch.tensor(np.rad2deg(self.angles), dtype=torch.float32),
            img_width=self.n,
            circle=False,
            normalize=False,
            adjoint_via_backprop=exact_adjoint,
        )
        self.native_detectors = self.tomography.A(torch.zeros(1, 1, self.n, self.n)).shape[-2]
        if (self.native_detectors - self.n) % 2:
            raise ValueError(
                f"deepinv pads n={n} to {self.native_detectors} unevenly: its rotation centre is off ours"
            )
        excess = self.native_detectors - self.n_detectors
        if excess % 2:
            raise ValueError(
                f"n_detectors={n_detectors} must differ from deepinv's {self.native_detectors} by an even number"
            )
        self._crop = excess // 2

    def _to_ours(self, y: Tensor) -> Tensor:
        return F.pad(y.transpose(-2, -1), (-self._crop, -self._crop))

    def _to_native(self, y: Tensor) -> Tensor:
        return F.pad(y, (self._crop, self._crop)).transpose(-2, -1)

    def A(self, x: Tensor, **kwargs: object) -> Tensor:
        """Forward projection ``(B, 1, n, n) -> (B, 1, n_angles, n_detectors)``."""
        return self._to_ours(self.tomography.A(x))

    def A_adjoint(self, y: Tensor, **kwargs: object) -> Tensor:
        """deepinv's adjoint (exact or fast, see ``exact_adjoint``) ``-> (B, 1, n, n)``."""
        return self.tomography.A_adjoint(self._to_native(y))

    def fbp(self, y: Tensor) -> Tensor:
        """deepinv's FBP (``Tomography.fbp``, i.e. ``A_dagger(y, fbp=True)``; ramp filter)."""
        return self.tomography.fbp(self._to_native(y))


def deepinv_ct_physics(n: int, angles: Angles, n_detectors: int, exact_adjoint: bool = True) -> DeepinvTomography:
    """deepinv parallel-beam CT physics in our layout and scale; see :class:`DeepinvTomography`."""
    return DeepinvTomography(n, angles, n_detectors, exact_adjoint)


class DeepinvParallel:
    """deepinv's parallel-beam ``Tomography`` with the interface of :class:`ParallelBeam2D`.

    Parameters
    ----------
    n, angles, n_detectors, exact_adjoint
        As for :class:`DeepinvTomography`.

    Notes
    -----
    Methods take and return torch tensors: images ``(B, 1, n, n)``, sinograms
    ``(B, 1, n_angles, n_detectors)``. ``physics`` is the underlying deepinv object.
    """

    def __init__(self, n: int, angles: Angles, n_detectors: int, exact_adjoint: bool = True) -> None:
        self.physics = deepinv_ct_physics(n, angles, n_detectors, exact_adjoint)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        """Sinograms of images ``x``."""
        return self.physics.A(x)

    @torch.no_grad()
    def adjoint(self, y: Tensor) -> Tensor:
        """Back-projections (the exact adjoint runs ``torch.func.vjp`` inside deepinv)."""
        return self.physics.A_adjoint(y)

    @torch.no_grad()
    def fbp(self, y: Tensor) -> Tensor:
        """deepinv's filtered back-projection."""
        return self.physics.fbp(y)


def deepinv_blur_physics(kernel: np.ndarray, image_shape: tuple[int, int]) -> dinv.physics.BlurFFT:
    """deepinv ``BlurFFT`` (circular convolution by FFT) for our blur convention.

    Parameters
    ----------
    kernel : np.ndarray
        2-D kernel ``(kh, kw)`` whose centre is element ``(kh // 2, kw // 2)``.
    image_shape : (int, int)
        Image ``(H, W)``; images are ``(B, 1, H, W)`` tensors.

    Returns
    -------
    deepinv.physics.BlurFFT
        Computes ``real(ifft2(fft2(x) * fft2(k_padded)))`` (``k_padded``: the kernel
        zero-padded to the image and rolled so its centre is at ``[0, 0]``) as is: deepinv
        pads and rolls the same way and convolves without flipping.
    """
    filt = torch.as_tensor(np.asarray(kernel), dtype=torch.float32)[None, None]
    return dinv.physics.BlurFFT(img_size=(1, *image_shape), filter=filt)


def circular_blur(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Our circular blur model ``real(ifft2(fft2(x) * fft2(k_padded)))`` in float64 numpy."""
    kh, kw = kernel.shape
    padded = np.zeros(x.shape[-2:])
    padded[:kh, :kw] = kernel
    padded = np.roll(padded, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return np.real(np.fft.ifft2(np.fft.fft2(x) * np.fft.fft2(padded)))


# -- deepinv TV solvers ------------------------------------------------------------------------
@dataclass
class TVRun:
    """Result of :func:`deepinv_tv`.

    Attributes
    ----------
    estimate : Tensor
        Final iterate ``(B, 1, H, W)``.
    psnr : np.ndarray
        PSNR (dB, data range 1, mean over the batch) after each iteration, ``(iters,)``.
    seconds : np.ndarray
        Cumulative wall-clock seconds at the end of each iteration, from the solver call
        (initialisation included), ``(iters,)``.
    clean_seconds : float or None
        Wall-clock seconds of a second, identical run without the recording hook (when asked).
    lam, stepsize : float
        Regularisation weight and step size used.
    algorithm : str
        "PGD" or "FISTA".
    """

    estimate: Tensor
    psnr: np.ndarray
    seconds: np.ndarray
    clean_seconds: float | None
    lam: float
    stepsize: float
    algorithm: str


def _as_batch(a: np.ndarray | Tensor) -> Tensor:
    t = torch.as_tensor(a, dtype=torch.float32)
    return t[None, None] if t.ndim == 2 else t


def _tv_solver(
    algorithm: str,
    lam: float,
    stepsize: float,
    iters: int,
    init: Callable[[Tensor, dinv.physics.LinearPhysics], tuple[Tensor, Tensor]],
    tv_max_inner: int,
    tv_tol: float,
    record: Callable[[list, Tensor, Tensor], float] | None,
) -> dinv.optim.BaseOptim:
    """A fresh deepinv solver (fresh TV prior: its inner solver warm-starts across calls)."""
    solvers = {"PGD": dinv.optim.PGD, "FISTA": dinv.optim.FISTA}
    if algorithm not in solvers:
        raise ValueError(f"algorithm must be one of {sorted(solvers)}, got {algorithm!r}")
    return solvers[algorithm](
        data_fidelity=dinv.optim.L2(),
        prior=dinv.optim.TVPrior(def_crit=tv_tol, n_it_max=tv_max_inner),
        lambda_reg=lam,
        stepsize=stepsize,
        max_iter=iters,
        early_stop=False,
        custom_init=init,
        custom_metrics=None if record is None else {"record": record},
    )


def _norm_squared(physics: dinv.physics.LinearPhysics, shape: torch.Size) -> float:
    """``||A||^2``: exact from the singular values of a decomposable physics (``BlurFFT``),
    else by deepinv's power iteration from a seeded random image."""
    if isinstance(physics, dinv.physics.DecomposablePhysics):
        return float(physics.mask.abs().max()) ** 2
    x0 = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    return float(physics.compute_norm(x0, max_iter=500, tol=1e-6, verbose=False))


def deepinv_tv(
    physics: dinv.physics.LinearPhysics,
    truth: np.ndarray | Tensor,
    y: np.ndarray | Tensor,
    lam: float,
    iters: int,
    *,
    algorithm: str = "PGD",
    stepsize: float | None = None,
    tv_max_inner: int = 20,
    tv_tol: float = 1e-8,
    clean_timing: bool = False,
) -> TVRun:
    """deepinv's own TV-regularised solver: ``min_x 1/2 ||A x - y||^2 + lam TV(x)``.

    Uses ``deepinv.optim.PGD`` or ``deepinv.optim.FISTA`` with ``deepinv.optim.L2`` and
    ``deepinv.optim.TVPrior`` (isotropic TV; its prox is deepinv's ``TVDenoiser``, an inner
    primal-dual loop warm-started across outer iterations). deepinv evaluates the objective
    after every iteration (the TV prior is explicit), which costs one extra ``A x``.

    Parameters
    ----------
    physics : deepinv.physics.LinearPhysics
        From :func:`deepinv_ct_physics` or :func:`deepinv_blur_physics` (our layout and scale).
    truth : array or Tensor
        Ground truth ``(H, W)`` or ``(B, 1, H, W)``, for the PSNR history only.
    y : array or Tensor
        Measurements ``(V, D)`` / ``(H, W)`` or batched ``(B, 1, ., .)``.
    lam : float
        TV weight against ``1/2 ||A x - y||^2`` in the physics' own scale. deepinv's
        normalised ``Tomography`` (unit operator norm, data ``y / ||A||``) with weight
        ``lam_n`` gives the same iterates as ``lam = lam_n ||A||^2`` here.
    iters : int
        Outer iterations.
    algorithm : {"PGD", "FISTA"}
        PEERS.md measured PGD for CT and FISTA for deblurring.
    stepsize : float, optional
        Default ``1 / ||A||^2`` (exact for ``BlurFFT``, else power iteration; outside the
        timed run). deepinv's default
        of 1 equals it only for unit-norm operators (``BlurFFT`` with a normalised kernel).
    tv_max_inner, tv_tol : int, float
        Inner TV-prox iterations and tolerance. 20 is what deepinv's examples and tests use;
        the library default of 1000 (``TVPrior()``) never meets its tolerance of 1e-8, so every
        outer iteration runs all 1000 inner steps (0.6 s at 128 x 128 on 2 cores).
    clean_timing : bool
        Also run the solver a second time without the recording hook and report its total
        wall-clock time in ``clean_seconds``.

    Returns
    -------
    TVRun
        Estimate and per-iteration PSNR / cumulative seconds.

    Notes
    -----
    Initialisation is ``A^T y / ||A||^2`` (deepinv initialises with ``A^T y``; with its
    normalised operator that is the same image). Timing: a ``custom_metrics`` hook stores
    ``perf_counter()`` and a copy of the iterate after each iteration (deepinv additionally
    computes a residual norm per iteration when metrics are on); PSNRs are computed after
    the run, outside the timed path.
    """
    truth_t, y_t = _as_batch(truth), _as_batch(y)
    with torch.no_grad():
        norm2 = _norm_squared(physics, truth_t.shape)
    step = 1.0 / norm2 if stepsize is None else float(stepsize)

    def init(y_: Tensor, physics_: dinv.physics.LinearPhysics) -> tuple[Tensor, Tensor]:
        x0 = physics_.A_adjoint(y_) / norm2
        return x0, x0.clone()

    stamps: list[float] = []
    iterates: list[Tensor] = []

    def record(_history: list, _x_prev: Tensor, x: Tensor) -> float:
        stamps.append(time.perf_counter())
        iterates.append(x.detach().clone())
        return 0.0

    solver = _tv_solver(algorithm, lam, step, iters, init, tv_max_inner, tv_tol, record)
    start = time.perf_counter()
    estimate, _ = solver(y_t, physics, compute_metrics=True)
    batch = truth_t.shape[0]
    seconds = np.asarray(stamps[batch - 1 :: batch]) - start  # last batch element of each iteration
    xs = torch.stack(iterates).reshape(-1, *truth_t.shape)
    mse = ((xs - truth_t) ** 2).flatten(2).mean(-1)
    psnr = (-10 * torch.log10(mse)).mean(-1).numpy()

    clean = None
    if clean_timing:
        solver = _tv_solver(algorithm, lam, step, iters, init, tv_max_inner, tv_tol, None)
        start = time.perf_counter()
        solver(y_t, physics)
        clean = time.perf_counter() - start
    return TVRun(estimate.detach(), psnr, seconds, clean, float(lam), step, algorithm)


# -- checks and timings ------------------------------------------------------------------------
def _phantom(n: int) -> np.ndarray:
    return resize(shepp_logan_phantom(), (n, n), anti_aliasing=True).astype(np.float32)


def _corr(a: np.ndarray | Tensor, b: np.ndarray | Tensor) -> float:
    return float(np.corrcoef(np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel())[0, 1])


def _ratio(a: np.ndarray | Tensor, b: np.ndarray | Tensor) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64)) / np.linalg.norm(np.asarray(b, dtype=np.float64)))


def _psnr(x: np.ndarray | Tensor, ref: np.ndarray) -> float:
    return float(-10 * np.log10(np.mean((np.asarray(x, dtype=np.float64).squeeze() - ref) ** 2)))


class _NumpyView:
    """A torch operator of ours or deepinv's seen with numpy ``(n, n)`` / ``(V, D)`` arrays."""

    def __init__(self, op: DeepinvParallel | ParallelBeam2D) -> None:
        self.op = op

    def _call(self, fn: Callable[[Tensor], Tensor], a: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return fn(torch.from_numpy(a)[None, None])[0, 0].numpy()

    def forward(self, img: np.ndarray) -> np.ndarray:
        return self._call(self.op.forward, img)

    def adjoint(self, sino: np.ndarray) -> np.ndarray:
        return self._call(self.op.adjoint, sino)

    def fbp(self, sino: np.ndarray) -> np.ndarray:
        return self._call(self.op.fbp, sino)


def _numpy_peers(n: int, angles: Angles, n_detectors: int) -> dict[str, Callable[[], object]]:
    """Constructors of inverselab's and every peer's CT operator, all with numpy in and out."""
    return {
        "inverselab": lambda: _NumpyView(ParallelBeam2D(n, angles_radians(angles), n_detectors)),
        "astra": lambda: AstraParallel(n, angles, n_detectors),
        "skimage": lambda: SkimageParallel(n, angles, n_detectors),
        "deepinv (exact adjoint)": lambda: _NumpyView(DeepinvParallel(n, angles, n_detectors, exact_adjoint=True)),
        "deepinv (fast adjoint)": lambda: _NumpyView(DeepinvParallel(n, angles, n_detectors, exact_adjoint=False)),
    }


def check_agreement(n: int = 128, angles: Angles = 60, n_detectors: int = 182) -> dict[str, dict[str, float]]:
    """Compare every peer with :class:`ParallelBeam2D`, and deepinv's ``BlurFFT`` with our blur.

    CT, on the Shepp-Logan phantom resized to ``n``: forward correlation and norm ratio
    (peer / ours) of the sinograms; the same for the adjoint applied to our noiseless
    sinogram; the peer's own adjoint mismatch ``|<A x, y> - <x, A* y>| / |<A x, y>|`` on
    random ``x, y``; the PSNR of the peer's FBP of our sinogram. Blur: relative difference
    of ``BlurFFT`` from :func:`circular_blur` (256 x 256 camera, Gaussian sigma 2 15 x 15 and
    a random 7 x 5 kernel) and from inverselab's ``Blur``.

    Returns
    -------
    dict
        ``{peer: {metric: value}}``.

    Raises
    ------
    AssertionError
        If a sinogram correlation is <= 0.99, a norm ratio is off by 5 % or more, or a blur
        differs by 1e-5 or more (relative).
    """
    truth = _phantom(n)
    rng = np.random.default_rng(0)
    x_rand = rng.random((n, n)).astype(np.float32)
    peers = {name: make() for name, make in _numpy_peers(n, angles, n_detectors).items()}
    ours = peers["inverselab"]
    y = ours.forward(truth)
    y_rand = rng.random(y.shape).astype(np.float32)
    back = ours.adjoint(y)
    report: dict[str, dict[str, float]] = {}
    for name, peer in peers.items():
        y_peer = peer.forward(truth)
        lhs = float(np.vdot(peer.forward(x_rand).astype(np.float64), y_rand))
        rhs = float(np.vdot(x_rand.astype(np.float64), peer.adjoint(y_rand)))
        back_peer = peer.adjoint(y)
        report[name] = {
            "forward_corr": _corr(y_peer, y),
            "forward_ratio": _ratio(y_peer, y),
            "adjoint_corr": _corr(back_peer, back),
            "adjoint_ratio": _ratio(back_peer, back),
            "adjoint_mismatch": abs(lhs - rhs) / abs(lhs),
            "fbp_psnr": _psnr(peer.fbp(y), truth),
        }
    peers["astra"].close()

    image = resize(camera().astype(np.float64) / 255, (256, 256), anti_aliasing=True)
    kernels = {
        "gaussian 15x15": gaussian_kernel(2.0, 15).numpy(),
        "random 7x5": rng.random((7, 5)),
    }
    blur = {}
    for name, k in kernels.items():
        k = k / k.sum()
        ref = circular_blur(image, k)
        physics = deepinv_blur_physics(k, image.shape)
        got = physics.A(torch.from_numpy(image).float()[None, None])[0, 0].double().numpy()
        ours_blur = Blur(image.shape, torch.from_numpy(k))(torch.from_numpy(image)[None, None])[0, 0].numpy()
        blur[f"{name} vs formula"] = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
        blur[f"{name} vs inverselab Blur"] = float(np.linalg.norm(got - ours_blur) / np.linalg.norm(ours_blur))
    report["deepinv BlurFFT"] = blur

    for name, r in report.items():
        if "forward_corr" in r:
            assert r["forward_corr"] > 0.99, f"{name}: sinogram correlation {r['forward_corr']:.5f}"
            assert abs(r["forward_ratio"] - 1) < 0.05, f"{name}: sinogram norm ratio {r['forward_ratio']:.4f}"
    assert max(blur.values()) < 1e-5, f"BlurFFT differs from our blur: {blur}"
    return report


def time_operator_pairs(
    n: int = 128, angles: Angles = 60, n_detectors: int = 182, repeats: int = 20, warmup: int = 3
) -> dict[str, float]:
    """Median wall-clock milliseconds of one forward + adjoint pair per CT operator.

    Each peer gets its native input type (numpy ``(n, n)`` for ASTRA and scikit-image, torch
    ``(1, 1, n, n)`` for deepinv and inverselab); ``repeats`` timed calls after ``warmup``.
    The caller sets the thread count (``torch.set_num_threads``).
    """
    truth = _phantom(n)
    x_t = torch.from_numpy(truth)[None, None]
    ours = ParallelBeam2D(n, angles_radians(angles), n_detectors)
    astra_op = AstraParallel(n, angles, n_detectors)
    skimage_op = SkimageParallel(n, angles, n_detectors)
    exact = DeepinvParallel(n, angles, n_detectors, exact_adjoint=True)
    fast = DeepinvParallel(n, angles, n_detectors, exact_adjoint=False)

    def ours_pair() -> Tensor:
        with torch.no_grad():
            return ours.adjoint(ours(x_t))

    pairs: dict[str, Callable[[], object]] = {
        "inverselab ParallelBeam2D": ours_pair,
        "astra (linear, CPU)": lambda: astra_op.adjoint(astra_op.forward(truth)),
        "skimage radon + iradon": lambda: skimage_op.adjoint(skimage_op.forward(truth)),
        "deepinv (exact adjoint)": lambda: exact.adjoint(exact.forward(x_t)),
        "deepinv (fast adjoint)": lambda: fast.adjoint(fast.forward(x_t)),
    }
    result = {name: 1e3 * median_seconds(fn, repeats, warmup) for name, fn in pairs.items()}
    astra_op.close()
    return result


def _tv_demo(iters: int) -> None:
    """deepinv TV baselines of PEERS.md: CT (PGD) and deblurring (FISTA), small lambda sweeps."""
    n, angles, n_detectors = 128, 60, 182
    truth = torch.from_numpy(_phantom(n))[None, None]
    ct = deepinv_ct_physics(n, angles, n_detectors)
    ours = ParallelBeam2D(n, angles_radians(angles), n_detectors)
    with torch.no_grad():
        y = GaussianNoise(0.01, relative=True)(ours(truth), seed=1)
        norm2 = _norm_squared(ct, truth.shape)
    print(f"CT 128x128, 60 angles, 182 detectors, 1% noise (of sinogram RMS); ||A||^2 = {norm2:.1f}")
    for lam_n in (3e-5, 1e-4, 3e-4):
        run = deepinv_tv(ct, truth, y, lam_n * norm2, iters, algorithm="PGD", clean_timing=True)
        print(
            f"  PGD lam = {lam_n:g} ||A||^2: {run.psnr[-1]:.2f} dB (best {run.psnr.max():.2f} at it "
            f"{run.psnr.argmax() + 1}), {run.seconds[-1]:.2f} s with hook, {run.clean_seconds:.2f} s clean"
        )

    image = resize(camera().astype(np.float64) / 255, (256, 256), anti_aliasing=True)
    truth = torch.from_numpy(image).float()[None, None]
    k = gaussian_kernel(2.0, 15)
    blur = deepinv_blur_physics(k.numpy(), image.shape)
    with torch.no_grad():
        y = GaussianNoise(0.01)(Blur(image.shape, k)(truth.double()), seed=1).float()
    print(f"Deblurring 256x256 camera, sigma 2 (15x15), circular, noise 0.01: input {_psnr(y, image):.2f} dB")
    for lam in (1e-3, 3e-3, 1e-2):
        run = deepinv_tv(blur, truth, y, lam, iters, algorithm="FISTA", clean_timing=True)
        print(
            f"  FISTA lam = {lam:g}: {run.psnr[-1]:.2f} dB (best {run.psnr.max():.2f}), "
            f"{run.seconds[-1]:.2f} s with hook, {run.clean_seconds:.2f} s clean"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="Check the peer adapters against inverselab and time them.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tv", action="store_true", help="also run the deepinv TV baselines")
    parser.add_argument("--tv-iters", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print("Agreement with inverselab (128x128, 60 angles over [0, pi), 182 detectors):")
    for name, metrics in check_agreement().items():
        print(f"  {name}: " + ", ".join(f"{k} {v:.6g}" for k, v in metrics.items()))
    print(f"Forward + adjoint pair, median of 20 (ms, {args.threads} torch threads):")
    for name, ms in time_operator_pairs().items():
        print(f"  {name}: {ms:.2f}")
    if args.tv:
        _tv_demo(args.tv_iters)


if __name__ == "__main__":
    main()
