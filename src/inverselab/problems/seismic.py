"""Seismic velocity presets: Marmousi full-waveform inversion and OpenFWI-like model families.

``fwi-marmousi`` inverts synthetic gathers of the Marmousi model (``shared/data/seismic``,
134 x 384 cells of 24 m) from the smooth TorchFWI starting model, whose FWI is the
problem's classical method. ``fwi-flat``, ``fwi-curved``, ``fwi-faulted`` and
``fwi-curved-faulted`` draw 70 x 70 models of 10 m cells from our layered families and record
them as OpenFWI does (5 surface shots, 70 surface receivers, 15 Hz Ricker, 1 s at 1 ms); they
are the training ground of the data-driven inverse maps (``inversionnet``).

Velocities are in m/s, models ``(nz, nx)`` with row 0 at the surface; gathers
``(shots, receivers, nt)``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from ..data.io import read_velocity_model, shared_data
from ..data.velocity import FAMILIES, velocity_family
from ..errors import InputError, check_nonnegative, check_positive
from ..noise import GaussianNoise
from ..operators.acoustic import AcousticWave2D
from .base import Problem
from .registry import register

Tensor = torch.Tensor

# OpenFWI's acquisition (Deng et al. 2022): 70 x 70 cells of 10 m, 5 shots, 70 receivers,
# 15 Hz, 1,000 samples of 1 ms; velocities in [1500, 4500] m/s.
FAMILY_SHAPE = (70, 70)
FAMILY_RANGE = (1500.0, 4500.0)
MARMOUSI_SHAPE = (134, 384)
MARMOUSI_DX = 24.0
MARMOUSI_RANGE = (1000.0, 5500.0)  # FWI bounds; the model spans 1500-5500 m/s
MARMOUSI_WATER_ROWS = 10


def _test_or_train(seed: int, split: str) -> int:
    """Disjoint seeds for the training stream and the held-out models."""
    return seed if split == "test" else 2**31 - 1 - seed


@lru_cache(maxsize=8)
def _family_profile(family: str) -> tuple[float, ...]:
    """Mean velocity by depth of 256 training models of a family: a 1-D prior-mean start."""
    models = velocity_family(family)(256, seed=2**30, shape=FAMILY_SHAPE, vmin=FAMILY_RANGE[0], vmax=FAMILY_RANGE[1])
    return tuple(models.double().mean(dim=(0, 2)).tolist())


def _family_problem(family: str, noise: float, shots: int, frequency: float, iters: int) -> Problem:
    check_nonnegative("noise", noise)
    check_positive("frequency", frequency)
    nz, nx = FAMILY_SHAPE
    sources = [(0, int(round(i * (nx - 1) / max(shots - 1, 1)))) for i in range(shots)]
    # Courant number 4500 m/s * 1 ms * sqrt(2) / 10 m = 0.64: one propagation step per sample
    op = AcousticWave2D(FAMILY_SHAPE, 10.0, 1e-3, 1000, sources=sources, receivers=[(0, ix) for ix in range(nx)],
                        frequency=frequency, max_velocity=FAMILY_RANGE[1], courant_number=0.7)
    sample = velocity_family(family)

    def truth(n: int, seed: int, split: str) -> Tensor:
        return sample(n, seed=_test_or_train(seed, split), shape=FAMILY_SHAPE, vmin=FAMILY_RANGE[0],
                      vmax=FAMILY_RANGE[1], dtype=torch.float64)

    def start(y: Tensor) -> Tensor:
        profile = torch.tensor(_family_profile(family), dtype=y.dtype, device=y.device)
        return profile[None, :, None].expand(y.shape[0], nz, nx).clone()

    return Problem(
        name=f"fwi-{family}",
        operator=op,
        noise=GaussianNoise(noise, relative=True),
        truth_sampler=truth,
        baseline_fn=start,
        config={},
        methods={"fwi": {"iters_per_band": iters, "lr": 0.05}},
        default_method="fwi",
        data_range=FAMILY_RANGE[1] - FAMILY_RANGE[0],
        value_range=FAMILY_RANGE,
    )


def _register_family(family: str) -> None:
    def build(noise: float = 0.0, shots: int = 5, frequency: float = 15.0, iters: int = 50) -> Problem:
        """OpenFWI-like acquisition over one layered family.

        Parameters
        ----------
        noise : relative Gaussian noise of the gathers. shots : surface sources, evenly
        spaced. frequency : Ricker peak frequency (Hz). iters : FWI's L-BFGS iteration budget.
        """
        return _family_problem(family, noise, shots, frequency, iters)

    build.__name__ = f"fwi_{family.replace('-', '_')}"
    register(f"fwi-{family}", f"velocity from 5 shot gathers: 70x70 {family} layered models (OpenFWI-like)")(build)


for _family in FAMILIES:
    _register_family(_family)


@register("fwi-marmousi", "full-waveform inversion of the Marmousi model (shared/data) from the smooth TorchFWI start")
def fwi_marmousi(
    velocity: str = "",
    start: str = "",
    shots: int = 16,
    frequency: float = 5.0,
    record: float = 4.0,
    noise: float = 0.0,
) -> Problem:
    """Marmousi (134 x 384 cells of 24 m) from ``cp_true.mat``, started from ``cp_init.mat``.

    There is one truth (every seed and split gives it), so this problem is for FWI, not for
    training networks.

    Parameters
    ----------
    velocity, start : paths of the true and starting models (default: ``seismic/cp_true.mat``
    and ``seismic/cp_init.mat`` in the shared data folder, see
    :func:`~inverselab.data.io.shared_data`); read when first needed. shots : surface sources,
    evenly spaced. frequency : Ricker peak frequency (Hz). record : record length (s).
    noise : relative Gaussian noise of the gathers.
    """
    check_positive("record", record)
    check_nonnegative("noise", noise)
    nz, nx = MARMOUSI_SHAPE
    dt, sampling = 2.5e-3, 4
    nt = int(round(record / dt))
    nt -= nt % sampling
    if nt < sampling:
        raise InputError(f"record must be at least {sampling * dt} s, got {record}")
    ix = torch.linspace(5, nx - 6, shots).round().long().tolist()
    op = AcousticWave2D(MARMOUSI_SHAPE, MARMOUSI_DX, dt, nt, sources=[(1, i) for i in ix],
                        receivers=[(1, i) for i in range(0, nx, 2)], frequency=frequency, absorbing=12,
                        max_velocity=MARMOUSI_RANGE[1], courant_number=0.82, gradient_sampling=sampling)

    @lru_cache(maxsize=2)
    def model(path: str, name: str) -> Tensor:
        file = Path(path) if path else shared_data("seismic", name)
        v = read_velocity_model(file).double()
        if tuple(v.shape) != MARMOUSI_SHAPE:
            raise InputError(f"{file} holds a {tuple(v.shape)} model; fwi-marmousi needs {MARMOUSI_SHAPE} (nz, nx) at 24 m")
        if not (MARMOUSI_RANGE[0] <= float(v.min()) and float(v.max()) <= MARMOUSI_RANGE[1]):
            raise InputError(f"{file} spans {float(v.min()):.4g}-{float(v.max()):.4g}; fwi-marmousi needs m/s within "
                             f"{MARMOUSI_RANGE}")
        return v

    def truth(n: int, seed: int, split: str) -> Tensor:  # one model: every seed and split
        return model(velocity, "cp_true.mat").expand(n, nz, nx).clone()

    def initial(y: Tensor) -> Tensor:
        return model(start, "cp_init.mat").to(y.device, y.dtype).expand(y.shape[0], nz, nx).clone()

    return Problem(
        name="fwi-marmousi",
        operator=op,
        noise=GaussianNoise(noise, relative=True),
        truth_sampler=truth,
        baseline_fn=initial,
        config={},
        # the setting of benchmarks/fwi_marmousi.py (about 10 minutes on 2 CPU cores)
        methods={"fwi": {"frequencies": (3.0, 5.0, None), "iters_per_band": (40, 100, 220), "optimizer": "adam",
                         "lr": 0.03, "shots_per_batch": 4, "fixed": MARMOUSI_WATER_ROWS}},
        default_method="fwi",
        data_range=4000.0,
        value_range=MARMOUSI_RANGE,
        truths=1,
    )
