"""A problem from parts: the user's forward model and data, with every verb of the presets.

>>> p = custom_problem((forward, adjoint), truths="images/", noise=0.01,
...                    domain_shape=(1, 64, 64), size=64)                      # doctest: +SKIP
>>> x_tv, history = il.reconstruct(p, p.test_data(4)[1], "tv")                 # doctest: +SKIP

The forward model may be an inverselab operator, a ``(forward, adjoint)`` pair of functions
(the adjoint is checked), one function (a nonlinear model), a scipy/PyLops operator or matrix,
or a deepinv ``Physics`` (:func:`inverselab.interop.as_operator`). Truths may be a folder of
images, an HDF5 dataset (``"file.h5:key"``), a ``.npy`` batch, an array, a torch ``Dataset``
or a sampler ``(n, seed, split) -> (n, ...)``; finite sets are split into training, validation
and test sets once, deterministically. Measurements without truths make a problem that methods
reconstruct and measurement-consistent losses train on, scored by the data misfit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._tensor import complex_dtype
from ..data.sources import TruthPool, as_tensor_batch, read_hdf5_array, read_image_folder
from ..errors import InputError, check_nonnegative, format_shape
from ..interop import as_operator
from ..noise import GaussianNoise, Noise, NoNoise
from ..operators.base import LinearOperator, Operator
from .base import Problem

Tensor = torch.Tensor

__all__ = ["custom_problem", "read_array", "PairedProblem"]


@dataclass(eq=False)
class PairedProblem(Problem):
    """A problem with measured data paired with its truths (a data set of pairs, e.g.
    LoDoPaB-CT's observations and ground truths): scored runs take the test share of the
    pairs, and training uses the training share (no simulation).

    Attributes
    ----------
    pool : TruthPool
        The truths and their split; ``measured[i]`` is the measurement of ``pool.data[i]``.
    """

    pool: TruthPool | None = None

    def test_data(self, n: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
        """``n`` pairs of the test share, the same for the same ``seed``."""
        index = self.pool.pick(n, seed, "test")
        x, y = self.pool.data[index], self.measured[index]
        return (x.to(complex_dtype(dtype) if x.is_complex() else dtype),
                y.to(complex_dtype(dtype) if y.is_complex() else dtype))

    def pairs(self, split: str) -> tuple[Tensor, Tensor]:
        """All pairs ``(truths, measurements)`` of ``split``."""
        index = self.pool.indices[split]
        return self.pool.data[index], self.measured[index]


def read_array(source: str | Path, size: int | None = None) -> Tensor:
    """A batch ``(N, ...)`` from a folder of images, ``file.npy``, or ``file.h5:dataset``."""
    text = str(source)
    path = Path(text.split(":", 1)[0] if ".h5:" in text or ".hdf5:" in text else text)
    if path.is_dir():
        return read_image_folder(path, size=size)
    if not path.exists():
        raise InputError(f"{path} does not exist: give a folder of images, a .npy file or file.h5:dataset")
    if path.suffix in (".h5", ".hdf5"):
        if ":" not in text[len(str(path)):]:
            raise InputError(f"name the dataset inside {path}: {path}:DATASET")
        return read_hdf5_array(path, text[len(str(path)) + 1:])
    if path.suffix == ".npy":
        try:
            return as_tensor_batch(np.load(path, allow_pickle=False), str(path))
        except ValueError as exc:
            raise InputError(f"cannot read {path}: {exc}") from None
    raise InputError(f"cannot read {path}: give a folder of images, a .npy file or file.h5:dataset")


def _noise(noise: Any) -> Noise:
    if isinstance(noise, Noise):
        return noise
    if noise is None or noise == 0:
        return NoNoise()
    if isinstance(noise, (int, float)) and not isinstance(noise, bool):
        return GaussianNoise(check_nonnegative("noise", float(noise)))
    if isinstance(noise, dict):
        kind = noise.get("kind", "gaussian")
        if kind != "gaussian":
            raise InputError(f"unknown noise kind {kind!r}: give a number (Gaussian sigma) or a Noise object")
        return GaussianNoise(check_nonnegative("noise sigma", float(noise.get("sigma", 0.0))),
                             relative=bool(noise.get("relative", False)))
    raise InputError(f"noise must be a number (Gaussian sigma), a dict or a Noise object, got {type(noise).__name__}")


def _default_methods(op: Operator) -> dict[str, dict]:
    """Classical methods that suit the operator, with moderate weights (tune them with
    ``methods=`` for real use): Tikhonov for every linear operator, TV and wavelets for real
    images ``(C, H, W)``, regularised least squares through the model for a nonlinear one."""
    if not isinstance(op, LinearOperator):
        return {"inversion": {"lam": 1e-3, "reg": "smoothness", "iters": 100}}
    methods: dict[str, dict] = {"tikhonov": {"lam": 1e-2}}
    if len(op.domain_shape) == 3 and not op.domain_complex:
        methods["tv"] = {"lam": 1e-2}
    return methods


def custom_problem(operator: Any, truths: Any = None, measurements: Any = None, noise: Any = 0.0,
                   baseline: Callable[[Tensor], Tensor] | None = None, name: str = "custom",
                   domain_shape: tuple[int, ...] | None = None, range_shape: tuple[int, ...] | None = None,
                   methods: dict[str, dict] | None = None, data_range: float | None = None, size: int | None = None,
                   splits: tuple[float, float, float] = (0.8, 0.1, 0.1), check_adjoint: bool = True,
                   config: dict | None = None) -> Problem:
    """A :class:`Problem` from a forward model and data.

    Parameters
    ----------
    operator : object
        The forward model (see :func:`~inverselab.interop.as_operator`).
    truths : object, optional
        Ground truths: a folder of images, ``"file.h5:dataset"``, a ``.npy`` file, an array or
        tensor ``(N, ...)``, a torch ``Dataset``, or a sampler ``(n, seed, split) -> (n, ...)``.
    measurements : object, optional
        Measured data without truths ``(N, *range_shape)``, in the same forms as ``truths``.
    noise : float, dict or Noise
        Measurement noise of simulated data: a Gaussian standard deviation (absolute),
        ``{"sigma": s, "relative": true}``, or a :class:`~inverselab.noise.Noise`.
    baseline : callable, optional
        Fast reconstruction ``y -> x``; default ``A^H y / ||A||^2`` for a linear operator,
        zeros otherwise.
    name : str
        Name in runs and reports.
    domain_shape, range_shape : tuple of int, optional
        Shapes of one unknown and one measurement where the operator does not say them
        (functions; default: the shape of the truths).
    methods : dict, optional
        Classical methods and their defaults (default: those that suit the operator).
    data_range : float, optional
        Peak-to-peak range for PSNR/SSIM (default: that of the truths, else 1).
    size : int, optional
        Resize images read from a folder to ``size x size``.
    splits : (float, float, float)
        Training, validation and test shares of a finite set of truths.
    check_adjoint : bool
        Refuse a linear operator whose adjoint fails the dottest.
    config : dict, optional
        How the problem was described (problem files record it in runs).

    Raises
    ------
    InputError
        Bad operator, unreadable data, shapes that do not match the operator, or neither truths
        nor measurements.
    """
    if truths is None and measurements is None:
        raise InputError("a problem needs truths (to simulate data) or measurements (to reconstruct): give one")
    pool = sampler = None
    if callable(truths) and not isinstance(truths, (Tensor, np.ndarray, torch.utils.data.Dataset)):
        sampler = truths
    elif truths is not None:
        data = read_array(truths, size) if isinstance(truths, (str, Path)) else truths
        pool = TruthPool(data, fractions=splits)
        domain_shape = domain_shape or pool.shape
    if sampler is not None and domain_shape is None:
        probe = as_tensor_batch(sampler(1, 0, "train"), "a sampled truth")
        domain_shape = tuple(probe.shape[1:])
    op = as_operator(operator, domain_shape, range_shape, check_adjoint=check_adjoint)
    if pool is not None and pool.shape != tuple(op.domain_shape):
        raise InputError(f"truths of shape {format_shape(pool.shape)} do not fit the operator's domain "
                         f"{format_shape(op.domain_shape)}: resize them (size=...) or fix domain_shape")
    if pool is not None and pool.data.is_complex() and not op.domain_complex:
        raise InputError("the truths are complex but the operator takes real images: pass their magnitude or real "
                         "part, or use an operator with a complex domain")
    measured = None
    if measurements is not None:
        measured = read_array(measurements) if isinstance(measurements, (str, Path)) else as_tensor_batch(
            measurements, "measurements")
        if tuple(measured.shape[1:]) != tuple(op.range_shape):
            raise InputError(f"measurements of shape {format_shape(measured.shape[1:])} do not fit the operator's range "
                             f"{format_shape(op.range_shape)}")
        if measured.is_complex() and not op.range_complex:
            raise InputError("the measurements are complex but the operator's data are real: pass their real part "
                             "only if the imaginary part is noise, or use an operator with complex data")
    if data_range is None:
        data_range = float(pool.data.abs().max() - (0 if pool.data.is_complex() else pool.data.min())) if pool else 1.0
        data_range = data_range or 1.0
    if baseline is None:
        if isinstance(op, LinearOperator):
            def baseline(y: Tensor) -> Tensor:
                return op.adjoint(y) / op.norm(dtype=torch.float64) ** 2
        else:
            def baseline(y: Tensor) -> Tensor:
                return torch.zeros(y.shape[0], *op.domain_shape, dtype=y.real.dtype, device=y.device)

    def draw(n: int, seed: int, split: str) -> Tensor:
        if pool is not None:
            return pool.sample(n, seed, split)
        if sampler is not None:
            return as_tensor_batch(sampler(n, seed, split), "sampled truths")
        raise InputError(f"{name} has measurements but no truths: reconstruct them (solve), or train with a loss that "
                         "needs no truths (--loss consistency, equivariant)")

    methods = dict(methods) if methods is not None else _default_methods(op)
    truth_count = pool.size("test") if pool is not None else (None if sampler is not None else 0)
    common = dict(name=name, operator=op, noise=_noise(noise), truth_sampler=draw, baseline_fn=baseline,
                  config=dict(config or {"problem": name}), methods=methods,
                  default_method=next(iter(methods), "baseline"), data_range=float(data_range), truths=truth_count,
                  measured=measured)
    if pool is not None and measured is not None:
        if measured.shape[0] != pool.data.shape[0]:
            raise InputError(f"{pool.data.shape[0]} truths and {measured.shape[0]} measurements do not pair: give as many "
                             "of each (pairs), or only measurements")
        return PairedProblem(**common, pool=pool)
    return Problem(**common)
