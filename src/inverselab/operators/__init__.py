"""Forward operators: the contracts (base) and the physics.

Every built-in linear operator implements its own exact adjoint (checked by :func:`dottest`).
"""

from .advection import AdvectionDiffusion2D
from .acoustic import AcousticWave2D, DispersionWarning, critical_courant_number, lowpass
from .base import Diagonal, Identity, LinearOperator, Operator, Stacked, dottest, gradcheck, vstack
from .gradient import Gradient
from .gravity import Gravity2D, Gravity3D, depth_weighting
from .heat import Grid2D, HeatEquation2D, SteadyDiffusion2D, solve_heat, solve_steady
from .homogenization import EffectiveConductivity
from .interferometry import Interferometer, random_array, uv_coverage
from .imaging import Blur, CompressedSensing, Downsampling, Inpainting, gaussian_kernel, hartley
from .mri import (
    CartesianMRI,
    coil_sensitivities,
    equispaced_mask_1d,
    fft2c,
    ifft2c,
    random_mask_1d,
    variable_density_mask_2d,
)
from .seismic import Poststack, PoststackLinear, acoustic_impedance, gardner_density, zero_phase_ricker
from .tomography import FBP_FILTERS, FanBeam2D, ParallelBeam2D, fbp
from .wave import Wave1D, ricker
from .wavelet import Wavelet2D

__all__ = [
    "AcousticWave2D",
    "AdvectionDiffusion2D",
    "EffectiveConductivity",
    "DispersionWarning",
    "critical_courant_number",
    "lowpass",
    "solve_steady",
    "solve_heat",
    "ricker",
    "Wave1D",
    "SteadyDiffusion2D",
    "HeatEquation2D",
    "Grid2D",
    "Blur",
    "CartesianMRI",
    "CompressedSensing",
    "Diagonal",
    "Downsampling",
    "FBP_FILTERS",
    "FanBeam2D",
    "Gradient",
    "Gravity2D",
    "Gravity3D",
    "depth_weighting",
    "Identity",
    "Inpainting",
    "Interferometer",
    "random_array",
    "uv_coverage",
    "LinearOperator",
    "Operator",
    "ParallelBeam2D",
    "Stacked",
    "Poststack",
    "PoststackLinear",
    "acoustic_impedance",
    "gardner_density",
    "zero_phase_ricker",
    "Wavelet2D",
    "coil_sensitivities",
    "dottest",
    "equispaced_mask_1d",
    "fbp",
    "fft2c",
    "gaussian_kernel",
    "gradcheck",
    "hartley",
    "ifft2c",
    "random_mask_1d",
    "variable_density_mask_2d",
    "vstack",
]
