"""Problem presets. Each builder's keyword arguments are the overridable parameters.

Default hyper-parameters of the classical methods were chosen by a sweep on seeds disjoint
from the evaluation seeds (``benchmarks/tune_defaults.py``); they are reasonable starting
points, not optimal for every override. The TV presets use PDHG's linearized data step with a
fixed step balance (``step_ratio``), chosen for the best PSNR after their 300 iterations (not
for the fastest convergence of the objective); ``tv_pdhg`` called directly picks its data step
and step balance by rule.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.images import natural_images
from ..data.phantoms import brain_phantom, discs_with_holes, random_ellipses, shepp_logan
from ..errors import InputError, check_choice, check_nonnegative, check_positive
from ..noise import GaussianNoise, Noise, PoissonNoise
from ..operators.base import Identity
from ..operators.imaging import Blur, CompressedSensing, Downsampling, Inpainting, gaussian_kernel
from ..operators.mri import (
    CartesianMRI,
    coil_sensitivities,
    equispaced_mask_1d,
    random_mask_1d,
    variable_density_mask_2d,
)
from ..operators.tomography import FanBeam2D, ParallelBeam2D, fbp
from ..solvers.analytic import fill_missing, upsample, wiener
from .base import Problem
from .registry import register

Tensor = torch.Tensor

PHANTOMS = ("ellipses", "shepp-logan", "natural")


def _check_size(size: int, minimum: int = 8) -> None:
    if not isinstance(size, int) or size < minimum:
        raise InputError(f"size must be an integer >= {minimum}, got {size!r}")


def _sampler(kind: str, size: int):
    check_choice("phantom", kind, PHANTOMS)

    def sample(n: int, seed: int, split: str) -> Tensor:
        if kind == "ellipses":
            # train and test draws come from disjoint seed streams
            return random_ellipses(n, size, seed=seed if split == "test" else 2**31 - 1 - seed)
        if kind == "shepp-logan":
            return shepp_logan(size).expand(n, -1, -1, -1).clone()
        return natural_images(n, size, seed=seed, split=split)

    return sample


def _ct_noise(noise: float, photons: float | None, size: int) -> Noise:
    if photons is not None:
        # scale so a line through size pixels of unit density transmits exp(-4)
        return PoissonNoise(check_positive("photons", photons), attenuation=4.0 / size)
    return GaussianNoise(check_nonnegative("noise", noise), relative=True)


def _angles(views: int, angle_range: float) -> np.ndarray:
    if not isinstance(views, int) or views < 1:
        raise InputError(f"views must be a positive integer, got {views!r}")
    check_positive("angle_range", angle_range)
    return np.deg2rad(angle_range) * np.arange(views) / views


def _ct_problem(
    name: str, op: ParallelBeam2D | FanBeam2D, noise: float, photons: float | None, phantom: str, wavelet_lam: float
) -> Problem:
    """A CT problem on ``op``: FBP (Hann) baseline and the tuned classical methods."""
    size = op.domain_shape[-1]
    return Problem(
        name=name,
        operator=op,
        noise=_ct_noise(noise, photons, size),
        truth_sampler=_sampler(phantom, size),
        baseline_fn=lambda y: fbp(op, y, filter="hann"),
        config={},
        methods={
            "fbp": {"filter": "hann"},
            "tikhonov": {"lam": 150.0, "reg": "gradient", "iters": 100},
            "tv": {"lam": 6.0, "iters": 300, "bounds": (0.0, None), "step_ratio": 3.0, "adaptive": False,
                   "data_step": "linearized"},
            "wavelet": {"lam": wavelet_lam, "iters": 300},
        },
        default_method="tv",
    )


@register("ct-parallel", "parallel-beam CT of random ellipses (Adler-Öktem style); FBP baseline")
def ct_parallel(
    size: int = 128,
    views: int = 30,
    angle_range: float = 180.0,
    detectors: int | None = None,
    noise: float = 0.05,
    photons: float | None = None,
    phantom: str = "ellipses",
) -> Problem:
    """Parallel-beam CT.

    Parameters
    ----------
    size : image side (pixels). views : number of angles. angle_range : degrees covered
    (180 = full; less = limited angle). detectors : detector elements (default covers the
    image diagonal). noise : relative Gaussian noise (fraction of the sinogram RMS), used when
    ``photons`` is None. photons : incident photons per element for Poisson noise.
    phantom : "ellipses", "shepp-logan" or "natural".
    """
    _check_size(size)
    op = ParallelBeam2D(size, _angles(views, angle_range), detectors)
    return _ct_problem("ct-parallel", op, noise, photons, phantom, wavelet_lam=10.0)


@register("ct-fan", "flat-detector fan-beam CT of random ellipses; FBP baseline")
def ct_fan(
    size: int = 128,
    views: int = 60,
    angle_range: float = 360.0,
    detectors: int | None = None,
    source_origin: float | None = None,
    source_detector: float | None = None,
    noise: float = 0.05,
    photons: float | None = None,
    phantom: str = "ellipses",
) -> Problem:
    """Fan-beam CT with a flat detector; distances in pixels (defaults ``3 size`` and
    ``4.5 size``). Other parameters as for ``ct-parallel``."""
    _check_size(size)
    op = FanBeam2D(
        size,
        _angles(views, angle_range),
        detectors,
        source_origin=source_origin,
        source_detector=source_detector,
    )
    return _ct_problem("ct-fan", op, noise, photons, phantom, wavelet_lam=20.0)


# HTC2022 scanner (../shared/data/ct/htc2022): distances and detector in mm, 560 binned
# elements, 0.5 degree steps, 512-pixel field of view of 0.1483 mm pixels.
HTC_GEOMETRY = {"source_origin": 410.66, "source_detector": 553.74, "detector_spacing": 0.2, "n_detectors": 560,
                "fov": 512 * 0.1483223173330444, "step_deg": 0.5}


@register("ct-htc", "limited-angle fan-beam CT in the HTC2022 scanner geometry: simulated acrylic discs with holes")
def ct_htc(size: int = 256, start: float = 299.0, arc: float = 30.0, noise: float = 0.01) -> Problem:
    """Training ground for the real HTC2022 scans: same scanner, synthetic discs.

    Parameters
    ----------
    size : image side (the 76 mm field of view of the challenge). start, arc : first source
    angle and angular range in degrees (views every 0.5 degree; tb_category7 is 299 and 30).
    noise : relative Gaussian noise of the sinogram.
    """
    from .real import ACRYLIC_UPPER_BOUND, HTC2022_METHODS

    _check_size(size)
    check_positive("arc", arc)
    g = HTC_GEOMETRY
    views = int(round(arc / g["step_deg"])) + 1
    op = FanBeam2D(size, np.deg2rad(start + g["step_deg"] * np.arange(views)), g["n_detectors"],
                   source_origin=g["source_origin"], source_detector=g["source_detector"],
                   detector_spacing=g["detector_spacing"], pixel_size=g["fov"] / size)
    pixel = g["fov"] / size
    return Problem(
        name="ct-htc",
        operator=op,
        noise=GaussianNoise(check_nonnegative("noise", noise), relative=True),
        truth_sampler=lambda n, seed, split: discs_with_holes(n, size, pixel, seed if split == "test" else 2**31 - 1 - seed),
        baseline_fn=lambda y: fbp(op, y, filter="hann"),
        config={},
        methods={k: dict(v) for k, v in HTC2022_METHODS.items()},
        default_method="tv",
        data_range=ACRYLIC_UPPER_BOUND,
    )


@register("mri", "Cartesian MRI (single or multi-coil) of complex brain-like phantoms; zero-filled baseline")
def mri(
    size: int = 128,
    coils: int = 1,
    acceleration: float = 4.0,
    center_fraction: float = 0.08,
    mask: str = "random",
    noise: float = 0.01,
    mask_seed: int = 0,
) -> Problem:
    """Cartesian MRI.

    Parameters
    ----------
    size : image side. coils : receive coils (1 = single coil; more uses simulated smooth
    sensitivities). acceleration : undersampling factor. center_fraction : fully sampled
    central fraction. mask : "random" or "equispaced" (1-D, columns) or "2d" (variable
    density). noise : absolute complex Gaussian noise per k-space sample (images peak at 1;
    the FFT is orthonormal). mask_seed : seed of the random mask.
    """
    _check_size(size)
    check_choice("mask", mask, ("random", "equispaced", "2d"))
    if not isinstance(coils, int) or coils < 1:
        raise InputError(f"coils must be a positive integer, got {coils!r}")
    make_mask = {"random": random_mask_1d, "equispaced": equispaced_mask_1d, "2d": variable_density_mask_2d}[mask]
    m = make_mask((size, size), acceleration, center_fraction, seed=mask_seed)
    maps = coil_sensitivities(coils, (size, size)) if coils > 1 else None
    op = CartesianMRI(m, maps, shape=(size, size))
    return Problem(
        name="mri",
        operator=op,
        noise=GaussianNoise(check_nonnegative("noise", noise)),
        truth_sampler=lambda n, seed, split: brain_phantom(n, size, seed if split == "test" else 2**31 - 1 - seed),
        baseline_fn=op.adjoint,
        config={},
        methods={
            "tikhonov": {"lam": 0.005, "reg": "gradient", "iters": 100},
            "tv": {"lam": 0.005, "iters": 300, "step_ratio": 10.0, "adaptive": False,
                   "data_step": "linearized"},
            "wavelet": {"lam": 0.002, "iters": 300},
        },
        default_method="tv",
    )


@register("deblur", "Gaussian deblurring of natural images (scikit-image's bundled set); Wiener baseline")
def deblur(
    size: int = 128,
    sigma: float = 2.0,
    kernel_size: int = 15,
    boundary: str = "circular",
    noise: float = 0.01,
    phantom: str = "natural",
) -> Problem:
    """Deblurring. sigma : Gaussian kernel width (pixels); kernel_size : odd side length;
    boundary : "circular" or "zero"; noise : absolute Gaussian sigma (images in [0, 1])."""
    _check_size(size)
    op = Blur(size, gaussian_kernel(sigma, kernel_size), boundary)
    return Problem(
        name="deblur",
        operator=op,
        noise=GaussianNoise(check_nonnegative("noise", noise)),
        truth_sampler=_sampler(phantom, size),
        baseline_fn=lambda y: wiener(op, y, balance=0.01),
        config={},
        methods={
            "tikhonov": {"lam": 0.1, "reg": "gradient", "iters": 100},
            "tv": {"lam": 0.002, "iters": 300, "bounds": (0.0, 1.0), "step_ratio": 1.0, "adaptive": False,
                   "data_step": "linearized"},
            "wavelet": {"lam": 0.0025, "iters": 300},
        },
        default_method="tv",
    )


@register("denoise", "Gaussian denoising of natural images (to train denoisers for plug-and-play); noisy-image baseline")
def denoise(size: int = 128, noise: float = 0.03, phantom: str = "natural") -> Problem:
    """Denoising. noise : absolute Gaussian sigma (images in [0, 1]); phantom : "natural" or
    "ellipses" (a denoiser for CT phantoms)."""
    _check_size(size)
    op = Identity((1, size, size))
    return Problem(
        name="denoise",
        operator=op,
        noise=GaussianNoise(check_nonnegative("noise", noise)),
        truth_sampler=_sampler(phantom, size),
        baseline_fn=lambda y: y.clone(),
        config={},
        methods={"tv": {"lam": 0.03, "iters": 300, "bounds": (0.0, 1.0), "adaptive": True,
                        "data_step": "linearized"}, "wavelet": {"lam": 0.03, "iters": 100}},
        default_method="tv",
    )


@register("inpaint", "inpainting of natural images with randomly missing pixels; normalised-convolution baseline")
def inpaint(
    size: int = 128, fraction: float = 0.5, noise: float = 0.01, mask_seed: int = 0, phantom: str = "natural"
) -> Problem:
    """Inpainting. fraction : share of pixels observed; noise : absolute Gaussian sigma."""
    _check_size(size)
    op = Inpainting.random(size, fraction, seed=mask_seed)
    return Problem(
        name="inpaint",
        operator=op,
        noise=GaussianNoise(check_nonnegative("noise", noise)),
        truth_sampler=_sampler(phantom, size),
        baseline_fn=lambda y: fill_missing(op, y),
        config={},
        methods={
            "tikhonov": {"lam": 0.1, "reg": "gradient", "iters": 100},
            "tv": {"lam": 0.004, "iters": 300, "bounds": (0.0, 1.0), "step_ratio": 10.0, "adaptive": False,
                   "data_step": "linearized"},
            "wavelet": {"lam": 0.01, "iters": 300},
        },
        default_method="tv",
    )


@register("superres", "super-resolution (anti-aliased decimation) of natural images; bicubic baseline")
def superres(
    size: int = 128, factor: int = 2, filter: str = "gaussian", noise: float = 0.01, phantom: str = "natural"
) -> Problem:
    """Super-resolution. size : high-resolution side; factor : decimation factor; filter :
    "gaussian", "box" or "none"; noise : absolute Gaussian sigma."""
    _check_size(size)
    op = Downsampling(size, factor, filter)
    return Problem(
        name="superres",
        operator=op,
        noise=GaussianNoise(check_nonnegative("noise", noise)),
        truth_sampler=_sampler(phantom, size),
        baseline_fn=lambda y: upsample(op, y),
        config={},
        methods={
            "tikhonov": {"lam": 0.1, "reg": "gradient", "iters": 100},
            "tv": {"lam": 0.0025, "iters": 300, "bounds": (0.0, 1.0), "step_ratio": 1.0, "adaptive": False,
                   "data_step": "linearized"},
            "wavelet": {"lam": 0.005, "iters": 300},
        },
        default_method="tv",
    )


@register("cs", "compressed sensing of random ellipses (randomised Hartley or Gaussian); min-norm baseline")
def cs(
    size: int = 64, ratio: float = 0.25, kind: str = "hartley", noise: float = 0.02, seed: int = 0,
    phantom: str = "ellipses",
) -> Problem:
    """Compressed sensing. ratio : measurements per pixel; kind : "hartley" (fast, large n)
    or "gaussian" (dense matrix); noise : relative Gaussian noise; seed : of the matrix."""
    _check_size(size)
    if not 0 < ratio <= 1:
        raise InputError(f"ratio must be in (0, 1], got {ratio}")
    n = size * size
    m = max(1, round(ratio * n))
    op = CompressedSensing(size, m, kind, seed=seed)
    return Problem(
        name="cs",
        operator=op,
        noise=GaussianNoise(check_nonnegative("noise", noise), relative=True),
        truth_sampler=_sampler(phantom, size),
        baseline_fn=lambda y: op.adjoint(y) * (m / n),
        config={},
        methods={
            "tikhonov": {"lam": 0.02, "reg": "gradient", "iters": 100},
            "tv": {"lam": 0.01, "iters": 300, "bounds": (0.0, None), "step_ratio": 10.0, "adaptive": False,
                   "data_step": "linearized"},
            "wavelet": {"lam": 0.04, "iters": 300},
        },
        default_method="tv",
    )

