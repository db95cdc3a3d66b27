"""Ready problems on the field's public data sets (readers in :mod:`inverselab.data.formats`),
with the scanner's geometry, the published pairs for training and scores, and the problem's
usual methods:

- ``lodopab``: LoDoPaB-CT's low-dose parallel-beam CT (362 x 362, 1000 angles, 513 bins);
- ``fastmri``: one fastMRI volume, its k-space under the challenge's 4x or 8x column masks;
- ``openfwi``: an OpenFWI family's velocity models and shot gathers (5 shots, 70 receivers).

Each takes the folder or file as ``path`` (``inverselab solve lodopab --set path=DIR``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..data.formats import LODOPAB, fastmri_mask, lodopab_angles, read_fastmri, read_lodopab, read_openfwi
from ..errors import InputError, check_positive
from ..operators.acoustic import AcousticWave2D
from ..operators.mri import CartesianMRI, ifft2c
from ..operators.tomography import ParallelBeam2D, fbp
from .base import Problem
from .custom import custom_problem
from .registry import register
from .seismic import FAMILY_RANGE, FAMILY_SHAPE

Tensor = torch.Tensor

__all__ = ["lodopab", "fastmri", "openfwi"]


def _path(path: str, what: str) -> Path:
    if not path:
        raise InputError(f"{what} needs the location of the data: --set path=...")
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"{p} does not exist: give the {what} location with --set path=...")
    return p


@register("lodopab", "LoDoPaB-CT low-dose parallel-beam CT: the published observations and ground truths (path=DIR)")
def lodopab(path: str = "", part: str = "test", limit: int = 0) -> Problem:
    """LoDoPaB-CT: 362 x 362 images of attenuation / mu_max from 1000 post-log projections.

    Parameters
    ----------
    path : folder of ``ground_truth_{part}_*.hdf5`` and ``observation_{part}_*.hdf5``.
    part : which part to read (train, validation, test); it is split again 80/10/10 for
    training, validation and scores. limit : read at most this many pairs (0: all).
    """
    truths, observations = read_lodopab(_path(path, "LoDoPaB-CT"), part, limit=limit or None)
    n = LODOPAB["image_size"]
    pixel = LODOPAB["side_m"] / n
    spacing = LODOPAB["side_m"] * 2**0.5 / LODOPAB["detectors"]  # the bins span the diagonal
    op = ParallelBeam2D(n, lodopab_angles(), LODOPAB["detectors"], detector_spacing=spacing, pixel_size=pixel)
    return custom_problem(op, truths=truths, measurements=observations, name="lodopab", noise=0.0,
                          baseline=lambda y: fbp(op, y, filter="hann"),
                          methods={"fbp": {"filter": "hann"}, "tikhonov": {"lam": 1e-3}, "tv": {"lam": 3e-4, "bounds": (0.0, 1.0)}},
                          data_range=1.0)


def _coil_maps(kspace: Tensor, center: Tensor) -> Tensor:
    """Coil sensitivities ``(coils, H, W)`` from the fully sampled centre columns of one slice:
    low-resolution coil images divided by their root sum of squares."""
    low = ifft2c(kspace * center)
    rss = low.abs().square().sum(0, keepdim=True).sqrt().clamp_min(1e-12)
    return low / rss


@register("fastmri", "one fastMRI volume (single- or multi-coil) under the challenge's 4x/8x column masks (path=FILE)")
def fastmri(path: str = "", acceleration: int = 4, mask: str = "equispaced", seed: int = 0) -> Problem:
    """A fastMRI volume: complex images from the fully sampled k-space, measurements its
    masked k-space (the real data).

    Parameters
    ----------
    path : an HDF5 volume file. acceleration : 4 or 8. mask : equispaced or random columns.
    seed : of the mask's random part.

    Notes
    -----
    Multi-coil volumes get one set of coil maps, estimated from the fully sampled centre of the
    middle slice (low-resolution coil images over their root sum of squares); the truth of each
    slice is the coil combination with those maps. The references (``reconstruction_rss``) are
    cropped magnitudes and are not used for scores, which compare full complex images.
    """
    volume = read_fastmri(_path(path, "fastMRI"))
    check_positive("acceleration", acceleration)
    k = volume.kspace.to(torch.complex128)  # (slices, coils, H, W)
    slices, coils, h, w = k.shape
    columns = fastmri_mask(w, int(acceleration), mask, seed)
    maps = None if coils == 1 else _coil_maps(k[slices // 2], _center_only(w, int(acceleration)).to(torch.float64))
    op = CartesianMRI(columns, sensitivities=maps, shape=(h, w))
    images = ifft2c(k)
    truths = images if maps is None else (images * maps.conj()).sum(1, keepdim=True)
    return custom_problem(op, truths=truths, measurements=k * columns.to(torch.float64), name="fastmri",
                          methods={"tv": {"lam": 1e-3 * float(truths.abs().max()), "iters": 100}},
                          data_range=float(truths.abs().max()))


def _center_only(width: int, acceleration: int) -> Tensor:
    from ..operators.mri import _center_columns

    return torch.from_numpy(_center_columns(width, 0.08 if acceleration == 4 else 0.04))


@register("openfwi", "an OpenFWI family: velocity models and their shot gathers (path=DIR of data*.npy, model*.npy)")
def openfwi(path: str = "", limit: int = 0, frequency: float = 15.0) -> Problem:
    """OpenFWI (FlatVel, CurveVel, FlatFault, CurveFault, Style): 70 x 70 velocities (10 m cells)
    and 5 surface shots recorded by 70 receivers for 1 s at 1 ms.

    Parameters
    ----------
    path : folder of the family's ``data*.npy`` and ``model*.npy``. limit : read at most this
    many pairs (0: all). frequency : Ricker peak frequency of our acoustic operator (Hz).
    """
    velocities, gathers = read_openfwi(_path(path, "OpenFWI"), limit=limit or None)
    nz, nx = FAMILY_SHAPE
    if tuple(velocities.shape[1:]) != FAMILY_SHAPE or gathers.shape[1:] != (5, nx, 1000):
        raise InputError(f"OpenFWI models must be (N, 1, 70, 70) and gathers (N, 5, 1000, 70); got "
                         f"{tuple(velocities.shape)} and {tuple(gathers.shape)}")
    sources = [(0, int(round(i * (nx - 1) / 4))) for i in range(5)]
    op = AcousticWave2D(FAMILY_SHAPE, 10.0, 1e-3, 1000, sources=sources, receivers=[(0, ix) for ix in range(nx)],
                        frequency=frequency, max_velocity=FAMILY_RANGE[1], courant_number=0.7)
    mean = velocities.double().mean(dim=(0, 2))

    def start(y: Tensor) -> Tensor:
        return mean.to(y)[None, :, None].expand(y.shape[0], nz, nx).clone()

    problem = custom_problem(op, truths=velocities, measurements=gathers, name="openfwi", baseline=start,
                             methods={"fwi": {"iters_per_band": 50, "lr": 0.05}},
                             data_range=FAMILY_RANGE[1] - FAMILY_RANGE[0])
    problem.value_range = FAMILY_RANGE
    return problem
