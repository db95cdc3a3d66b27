"""Post-stack seismic: the convolutional model of a zero-offset section and its linearisation.

A post-stack (zero-offset) seismic trace is modelled as the reflectivity series of the
subsurface convolved with a source wavelet. With the acoustic impedance ``Z = rho * vp`` sampled
at ``nt`` points along two-way time (or depth) in each trace,

    r_i = (Z_{i+1} - Z_i) / (Z_{i+1} + Z_i)     for 0 <= i < nt - 1,     r_{nt-1} = 0,
    d   = W r,

where ``W`` is a convolution along time with a wavelet ``w`` (:class:`Poststack`). Since
``(Z_{i+1} - Z_i) / (Z_{i+1} + Z_i) = tanh((m_{i+1} - m_i) / 2)`` with the log-impedance
``m = ln Z``, the reflectivity is ``(m_{i+1} - m_i) / 2`` up to a relative error of
``(Delta m)^2 / 12``: the linearised model on the log-impedance is

    d = W D m / 2,      (D m)_i = m_{i+1} - m_i,  (D m)_{nt-1} = 0

(:class:`PoststackLinear`). Both agree to second order in the impedance contrast.

Conventions
-----------
* Samples: ``(B, nt, *traces)``; axis 1 (the first axis of one sample) is time or depth,
  increasing downward; the remaining axes index the traces, e.g. ``(nt,)`` for one trace,
  ``(nt, nx)`` for a 2-D section, ``(nt, ny, nx)`` for a 3-D cube. Sections are stored like the
  velocity models of ``shared/data/seismic``: ``[iz, ix]``.
* Reflectivity: ``r_i`` belongs to the interface between samples ``i`` and ``i + 1`` and is
  placed at sample ``i``; the last sample has no interface below it (``r_{nt-1} = 0``). A
  single interface between samples ``k`` and ``k + 1`` therefore produces ``r_k w`` centred at
  sample ``k``.
* Wavelet: any 1-D tensor of odd length ``2 h + 1`` whose sample ``h`` is time zero (a
  zero-phase wavelet is symmetric about it, e.g. :func:`zero_phase_ricker`). ``W`` is the true
  (not flipped) convolution ``(W r)_i = sum_k w_k r_{i - (k - h)}``.
* Boundary: reflectivity is zero outside the ``nt`` samples (zero padding) and the output has
  the same ``nt`` samples ("same" convolution), so the energy of events within ``h`` samples of
  either end is partly cut off. ``W``'s adjoint is the matching cross-correlation.
* Units: the reflectivity is dimensionless, so the impedance may be in any (positive) unit,
  e.g. the well-log convention m/s times g/cm^3 of :func:`acoustic_impedance`; the data carry
  the unit of the wavelet's amplitude.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..errors import InputError, check_count, check_finite, check_positive, format_shape
from .base import LinearOperator, Operator
from .wave import ricker

Tensor = torch.Tensor

__all__ = [
    "PoststackLinear",
    "Poststack",
    "zero_phase_ricker",
    "gardner_density",
    "acoustic_impedance",
]


def zero_phase_ricker(
    frequency: float, dt: float, half_length: int | None = None, dtype: torch.dtype = torch.float64
) -> Tensor:
    """Zero-phase Ricker wavelet centred on its middle sample, for the convolutional model.

    Parameters
    ----------
    frequency : float
        Peak frequency in Hz.
    dt : float
        Sampling interval in seconds (4 ms is common for post-stack data).
    half_length : int, optional
        ``h``: the wavelet has ``2 h + 1`` samples with its peak (value 1) at sample ``h``.
        Default ``ceil(1.5 / (frequency * dt))``, where the Ricker has decayed to ~1e-8 of
        its peak.
    dtype : torch.dtype
        Output dtype.

    Returns
    -------
    Tensor
        Shape ``(2 h + 1,)``, dimensionless, symmetric (see :func:`~inverselab.operators.wave.ricker`).
    """
    check_positive("frequency", frequency)
    check_positive("dt", dt)
    if half_length is None:
        half_length = math.ceil(1.5 / (frequency * dt))
    h = check_count("half_length", half_length, 0)
    return ricker(frequency, dt, 2 * h + 1, delay=h * dt, dtype=dtype)


def gardner_density(vp: Tensor | float, a: float = 0.31, b: float = 0.25) -> Tensor | float:
    """Density from P-wave velocity by Gardner's relation ``rho = a * vp ** b``.

    Parameters
    ----------
    vp : Tensor or float
        P-wave velocity in **m/s** (finite, > 0).
    a, b : float
        Gardner's coefficients; the defaults (0.31, 0.25) give density in **g/cm^3** for
        velocity in m/s (e.g. 2000 m/s -> 2.07 g/cm^3).

    Returns
    -------
    Tensor or float
        Density in g/cm^3 (a float for a float input).
    """
    check_positive("Gardner coefficient a", a)
    if not isinstance(b, (int, float)) or not math.isfinite(b):
        raise InputError(f"Gardner exponent b must be a finite number, got {b!r}")
    if isinstance(vp, Tensor):
        _check_positive_tensor("velocity", vp, "m/s")
        return a * vp**b
    check_positive("velocity", vp)
    return a * float(vp) ** b


def acoustic_impedance(vp: Tensor | float, rho: Tensor | float | None = None) -> Tensor | float:
    """Acoustic impedance ``Z = rho * vp``.

    Parameters
    ----------
    vp : Tensor or float
        P-wave velocity in **m/s** (finite, > 0). Convert km/s models (e.g.
        ``poststack_model.npz``) with ``1000 * vp``.
    rho : Tensor or float, optional
        Density in **g/cm^3**; default :func:`gardner_density` of ``vp``.

    Returns
    -------
    Tensor or float
        Impedance in **m/s * g/cm^3** (the well-log convention; multiply by 1000 for SI
        kg / (m^2 s)). Shaped like ``vp`` (broadcast with ``rho``).
    """
    density = gardner_density(vp) if rho is None else rho
    if rho is not None:
        if isinstance(rho, Tensor):
            _check_positive_tensor("density", rho, "g/cm^3")
        else:
            check_positive("density", rho)
        if isinstance(vp, Tensor):
            _check_positive_tensor("velocity", vp, "m/s")
        else:
            check_positive("velocity", vp)
    return vp * density


def _check_positive_tensor(name: str, x: Tensor, unit: str) -> None:
    check_finite(name, x)
    if x.numel() and float(x.detach().min()) <= 0:
        raise InputError(
            f"{name} must be > 0 {unit} everywhere, got a minimum of {float(x.detach().min()):.6g}: "
            "check the sign and the units"
        )


def _section_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    """``nt`` -> (nt,); ``(nt, *traces)`` unchanged; checks sizes."""
    if isinstance(shape, Tensor) or isinstance(shape, (str, bytes)):
        raise InputError(f"shape must be nt or (nt, nx), got {shape!r}")
    if isinstance(shape, Sequence):
        try:
            shape = tuple(operator.index(s) for s in shape)
        except TypeError:
            raise InputError(f"shape must hold integers, e.g. (nt, nx), got {shape!r}") from None
    else:
        shape = (check_count("nt", shape, 2),)
    if not 1 <= len(shape) <= 3:
        raise InputError(f"shape must be (nt,), (nt, nx) or (nt, ny, nx), got {format_shape(shape)}")
    if shape[0] < 2:
        raise InputError(f"a trace needs at least 2 time samples, got nt = {shape[0]}")
    if min(shape) < 1:
        raise InputError(f"shape must have positive sizes, got {format_shape(shape)}")
    return shape


def _check_wavelet(wavelet: Tensor) -> Tensor:
    try:
        wavelet = torch.as_tensor(wavelet)
    except (TypeError, ValueError, RuntimeError):
        raise InputError(f"wavelet must be a 1-D tensor, got {type(wavelet).__name__}") from None
    if wavelet.is_complex() or wavelet.dtype == torch.bool:
        raise InputError(f"wavelet must be real, got {wavelet.dtype}")
    if wavelet.ndim != 1 or wavelet.numel() % 2 == 0:
        raise InputError(
            f"wavelet must be 1-D with an odd number of samples (time zero in the middle), got shape "
            f"{format_shape(wavelet.shape)}: see zero_phase_ricker"
        )
    wavelet = wavelet.detach().to(torch.float64)
    check_finite("wavelet", wavelet)
    if not bool((wavelet != 0).any()):
        raise InputError("wavelet is all zeros")
    return wavelet


def _differences(m: Tensor) -> Tensor:
    """``(m_{i+1} - m_i)`` along axis 1 with a zero last sample (differentiable)."""
    return torch.cat([m[:, 1:] - m[:, :-1], torch.zeros_like(m[:, :1])], dim=1)


def _differences_adjoint(r: Tensor) -> Tensor:
    """Adjoint of :func:`_differences`: ``(D^T r)_i = r_{i-1} - r_i`` over ``r_0 .. r_{nt-2}``."""
    inner = r[:, :-1]
    zero = torch.zeros_like(r[:, :1])
    return torch.cat([zero, inner], dim=1) - torch.cat([inner, zero], dim=1)


def _fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (fast FFT lengths)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


class _Convolution:
    """Centred 'same' convolution along axis 1 of ``(B, nt, *traces)`` with zero padding.

    float64 on the CPU goes through the FFT (``conv1d`` has no fast double-precision kernel
    there: ~3x slower on a 550 x 800 section); otherwise ``conv1d``. Both are exact linear
    convolutions with exact adjoints.
    """

    wavelet: Tensor

    def _convolve(self, x: Tensor, adjoint: bool = False) -> Tensor:
        w = self.wavelet.to(device=x.device, dtype=x.dtype)
        length = w.shape[0]
        half = length // 2
        nt = x.shape[1]
        if x.dtype == torch.float64 and x.device.type == "cpu":
            n = _fft_size(nt + length - 1)
            spectrum = torch.fft.rfft(w, n=n).reshape(-1, *([1] * (x.ndim - 2)))
            if adjoint:
                # correlation: embed the data at offset `half` of the full convolution's output
                pad = [0, 0] * (x.ndim - 2) + [half, 0]
                full = torch.fft.irfft(torch.fft.rfft(F.pad(x, pad), n=n, dim=1) * spectrum.conj(), n=n, dim=1)
                return full.narrow(1, 0, nt).contiguous()
            full = torch.fft.irfft(torch.fft.rfft(x, n=n, dim=1) * spectrum, n=n, dim=1)
            return full.narrow(1, half, nt).contiguous()
        # conv1d cross-correlates: flipping the kernel gives the convolution, the unflipped
        # kernel its adjoint (the correlation)
        kernel = (w if adjoint else w.flip(0)).reshape(1, 1, -1)
        moved = x.movedim(1, -1)
        out = F.conv1d(moved.reshape(-1, 1, nt), kernel, padding=half)
        return out.reshape(moved.shape).movedim(-1, 1).contiguous()


class PoststackLinear(_Convolution, LinearOperator):
    r"""Linearised post-stack model on log-impedance: ``d = W D m / 2``.

    See the module docstring for the reflectivity placement, the wavelet and boundary
    conventions.

    Parameters
    ----------
    shape : int or (nt,) or (nt, nx) or (nt, ny, nx)
        One sample: ``nt`` time (or depth) samples per trace, then the trace axes.
    wavelet : Tensor
        1-D, odd length ``2 h + 1``, time zero at sample ``h`` (see :func:`zero_phase_ricker`,
        sampled at the data's ``dt``).

    Notes
    -----
    Domain: ``m = ln Z`` (the log of the impedance in any unit; a constant offset, hence the
    unit, is invisible). Range: seismic amplitudes in the wavelet's unit, same shape. The
    adjoint is exact (correlation with the wavelet, then ``D^T / 2``). The model has no
    response to a constant ``m`` and, through the band-limited wavelet, little to the low
    frequencies: inversions need a background model (see
    :func:`inverselab.studies.impedance.invert_impedance`).

    With the reflectivity linearised in the log-impedance,
    :math:`r_i = \frac{Z_{i+1} - Z_i}{Z_{i+1} + Z_i} \approx \frac12 (m_{i+1} - m_i)`, the data are
    :math:`d = \frac12 W D m`: a first difference :math:`D` along time followed by the convolution
    :math:`W` with the wavelet.

    References
    ----------
    D. W. Oldenburg, T. Scheuer and S. Levy, "Recovery of the acoustic impedance from reflection
    seismograms", *Geophysics* 48(10), 1318-1337, 1983.

    M. Ravasi and I. Vasconcelos, "PyLops: a linear-operator Python library for scalable
    algebra and optimization", *SoftwareX* 11, 100361, 2020.
    """

    def __init__(self, shape: int | Sequence[int], wavelet: Tensor) -> None:
        shape = _section_shape(shape)
        super().__init__(shape, shape)
        self.register_buffer("wavelet", _check_wavelet(wavelet), persistent=False)

    def extra_repr(self) -> str:
        return f"shape={format_shape(self.domain_shape)}, wavelet={self.wavelet.shape[0]} samples"

    def reflectivity(self, m: Tensor) -> Tensor:
        """Linearised reflectivity ``D m / 2`` of log-impedance batches ``(B, *shape)``."""
        m = self._check(m, self.domain_shape, False, "log-impedance")
        return 0.5 * _differences(m)

    def _forward(self, m: Tensor) -> Tensor:
        return self._convolve(0.5 * _differences(m))

    def _adjoint(self, d: Tensor) -> Tensor:
        return 0.5 * _differences_adjoint(self._convolve(d, adjoint=True))

    def nonlinear(self, log: bool = False) -> Poststack:
        """The exact (nonlinear) model with the same shape and wavelet."""
        return Poststack(self.domain_shape, self.wavelet, log=log)


class Poststack(_Convolution, Operator):
    r"""Nonlinear post-stack model: ``r_i = (Z_{i+1} - Z_i) / (Z_{i+1} + Z_i)``, ``d = W r``.

    See the module docstring for the conventions. Differentiable by autograd.

    Parameters
    ----------
    shape : int or (nt,) or (nt, nx) or (nt, ny, nx)
        One sample: time (or depth) samples, then the trace axes.
    wavelet : Tensor
        1-D, odd length, time zero in the middle (see :func:`zero_phase_ricker`).
    log : bool
        If True the input is the log-impedance ``m = ln Z`` (any real value) and
        ``r_i = tanh((m_{i+1} - m_i) / 2)``, which is the same reflectivity without the
        positivity constraint (suits unconstrained optimisers).

    Notes
    -----
    Domain: impedance ``Z`` in any positive unit (the reflectivity is a ratio), e.g. m/s *
    g/cm^3 from :func:`acoustic_impedance`; or ``ln Z`` when ``log=True``. Range: amplitudes in
    the wavelet's unit. Calling the operator raises :class:`~inverselab.errors.InputError` for
    NaN, infinite or (impedance form) non-positive values.

    The exact normal-incidence reflectivity :math:`r_i = (Z_{i+1} - Z_i)/(Z_{i+1} + Z_i)` equals
    :math:`\tanh((m_{i+1} - m_i)/2)` in the log-impedance :math:`m = \ln Z`, whose linearisation is
    :class:`PoststackLinear`.

    References
    ----------
    D. W. Oldenburg, T. Scheuer and S. Levy, "Recovery of the acoustic impedance from reflection
    seismograms", *Geophysics* 48(10), 1318-1337, 1983.
    """

    def __init__(self, shape: int | Sequence[int], wavelet: Tensor, log: bool = False) -> None:
        shape = _section_shape(shape)
        super().__init__(shape, shape)
        self.log = bool(log)
        self.register_buffer("wavelet", _check_wavelet(wavelet), persistent=False)

    def extra_repr(self) -> str:
        return (
            f"shape={format_shape(self.domain_shape)}, wavelet={self.wavelet.shape[0]} samples, "
            f"log={self.log}"
        )

    def reflectivity(self, z: Tensor) -> Tensor:
        """Reflection coefficients ``(B, *shape)`` of impedance (or, with ``log``, ln-impedance)
        batches, dimensionless, in (-1, 1); the last sample is 0."""
        z = self._check(z, self.domain_shape, False, "log-impedance" if self.log else "impedance")
        return self._reflectivity(z)

    def _reflectivity(self, z: Tensor) -> Tensor:
        if self.log:
            check_finite("log-impedance", z)
            return torch.tanh(0.5 * _differences(z))
        _check_positive_tensor("impedance", z, "(in any unit)")
        upper, lower = z[:, :-1], z[:, 1:]
        r = (lower - upper) / (lower + upper)
        return torch.cat([r, torch.zeros_like(z[:, :1])], dim=1)

    def _forward(self, z: Tensor) -> Tensor:
        return self._convolve(self._reflectivity(z))

    def linearised(self) -> PoststackLinear:
        """The linearised model on log-impedance with the same shape and wavelet."""
        return PoststackLinear(self.domain_shape, self.wavelet)
