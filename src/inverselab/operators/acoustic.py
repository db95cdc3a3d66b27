"""2-D acoustic (constant-density scalar) wave propagation on deepwave, for full-waveform inversion.

:class:`AcousticWave2D` maps velocity models ``(B, nz, nx)`` in m/s to shot gathers
``(B, shots, receivers, nt)``, the interface of the 1-D :class:`~inverselab.operators.wave.Wave1D`.
The propagator is :func:`deepwave.scalar` (compiled C/CUDA finite differences, accuracy order
2 to 8 in space, second order in time, convolutional PML), and its gradient with respect to
the velocity is deepwave's adjoint-state backward pass, reached through plain autograd.

Geometry and conventions
------------------------
* Models are ``(nz, nx)``: row 0 is the surface, depth increases with the row index (the
  layout of the Marmousi files in ``shared/data/seismic``); the cell size ``dx`` is the same in
  both directions.
* Sources and receivers are given as **integer cell indices** ``(iz, ix)``: cell ``(iz, ix)``
  is at depth ``iz * dx`` and lateral position ``ix * dx`` metres. One source per shot; the
  receivers are the same for every shot (a fixed spread).
* Time sample ``n`` is at ``t = n * dt``; the source wavelet is a Ricker of peak frequency
  ``frequency`` delayed by ``1.5 / frequency`` (see :func:`~inverselab.operators.wave.ricker`),
  used as the right-hand side of the scalar wave equation at the source cell (deepwave's
  convention; amplitudes are therefore relative, not calibrated to a physical source).
* Absorbing boundaries: deepwave's PML, ``absorbing`` cells on each side (the velocity in the
  layer replicates the edge of the model), tuned to the Ricker peak frequency
  (``pml_freq = frequency``); ``free_surface=True`` makes the top face a pressure-release
  surface instead (surface multiples and ghosts appear, as in marine data). Measured from
  the surface-reflection time, deepwave's zero-pressure plane lies one cell above row 0
  (a source in row ``iz`` is ``(iz + 1) * dx`` below it).

Stability and time resampling (what deepwave does)
--------------------------------------------------
The leapfrog scheme of accuracy order ``a`` is stable for a Courant number
``C = max(c) * dt * sqrt(2) / dx`` (2-D, equal spacing) below the critical value
``C_crit`` = 1.0, 0.866, 0.813, 0.784 for ``a`` = 2, 4, 6, 8. Deepwave never runs an unstable
step: it propagates with an internal step ``dt / k`` where
``k = ceil(C / C_target)`` (``C_target`` = ``courant_number``, default 0.6), and moves the
source wavelet and the receiver traces between ``dt`` and ``dt / k`` by band-limited (FFT)
resampling. So a ``dt`` above the CFL limit does *not* blow up; it costs ``k`` times more
steps and warns from ``k >= 8`` on. The recorded gathers always have ``nt`` samples at
``dt``. The FFT resampling treats the record as periodic: a record cut while waves still
arrive would wrap its end onto its first samples (measured: errors of 30 % of the peak at
``t = 0``); the operator pads the traces by 10 % before resampling (deepwave's
``time_pad_frac``), which leaves ~4 % error in the body of such a trace and some ringing in
its last samples, against 0.2 % for a record that has died out. Keep ``k = 1`` (``dt`` below
the CFL step) for exact sampling, and then also an exact discrete gradient: deepwave's
imaging condition is sampled every ``k * gradient_sampling`` internal steps.

What *can* blow up is a ``max_velocity`` smaller than the model's true maximum
(deepwave then sizes the internal step for the smaller speed); that is rejected here with an
:class:`~inverselab.errors.InputError`. With ``resample=False`` the operator also refuses any
``dt`` that would need sub-stepping (``C > courant_number``), for users who want ``dt`` to be
the propagation step. :meth:`AcousticWave2D.step_ratio` reports ``k``.

Pass ``max_velocity`` (an upper bound for every model the operator will see) during an
inversion: without it the internal step and the PML follow the current model's maximum, so
the discrete forward model (and the objective) changes slightly between iterations and the
gradient at the fastest cell misses that dependence.

Accuracy (numerical dispersion)
-------------------------------
Deepwave's guidance is at least 6 cells per wavelength ``min(c) / frequency`` at the peak
frequency (calibrated for the default ``accuracy=4``; its tables give 5.3 cells for a 1 %
axial phase-velocity error at order 4, 3.4 at order 8). Below 6 cells the operator warns
(:class:`DispersionWarning`, once per operator); below 2 cells the peak frequency is above the
grid's Nyquist wavenumber and the call raises an :class:`~inverselab.errors.InputError`.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Sequence

import torch

from ..errors import InputError, check_count, check_finite, check_positive, format_shape, require
from .base import Operator
from .wave import ricker

Tensor = torch.Tensor

__all__ = ["AcousticWave2D", "DispersionWarning", "lowpass", "critical_courant_number"]

# deepwave's critical Courant numbers of the regular-grid (scalar) leapfrog scheme, by
# accuracy order; stability needs max(c) * dt * sqrt(sum 1/dx_i^2) <= C_crit.
_CRITICAL_COURANT = {2: 1.0, 4: math.sqrt(3) / 2, 6: 2 / math.sqrt(272 / 45), 8: 2 / math.sqrt(2048 / 315)}
_DEFAULT_COURANT = 0.6  # deepwave.DEFAULT_COURANT_NUMBER
_MIN_CELLS_PER_WAVELENGTH = 6.0  # deepwave's runtime guidance
# deepwave is an optional extra (inverselab[seismic]), imported only when a wave is propagated
_FEATURE = "the acoustic wave operator (AcousticWave2D)"


class DispersionWarning(UserWarning):
    """Fewer than ~6 grid cells per wavelength at the source's peak frequency."""


def critical_courant_number(accuracy: int = 4) -> float:
    """Largest stable Courant number ``max(c) dt sqrt(2) / dx`` of deepwave's 2-D scalar scheme.

    Parameters
    ----------
    accuracy : {2, 4, 6, 8}
        Spatial order of the finite differences.
    """
    if accuracy not in _CRITICAL_COURANT:
        raise InputError(f"accuracy must be one of 2, 4, 6, 8, got {accuracy!r}")
    return _CRITICAL_COURANT[accuracy]


def _positions(name: str, values, shape: tuple[int, int]) -> list[tuple[int, int]]:
    """Validate a list of ``(iz, ix)`` cell indices inside ``shape``."""
    if isinstance(values, Tensor):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InputError(f"{name} must be a sequence of (iz, ix) cell indices, e.g. [(2, 10)], got {values!r}")
    out = []
    for p in list(values):
        if isinstance(p, Tensor):
            p = p.tolist()
        if not hasattr(p, "__len__") or len(p) != 2:
            raise InputError(f"{name} must hold (iz, ix) pairs of cell indices, got {p!r}")
        try:
            iz, ix = operator.index(p[0]), operator.index(p[1])
        except TypeError:
            raise InputError(
                f"{name} must hold integer cell indices (iz, ix), got {p!r}: positions are in cells, "
                "divide metres by dx and round"
            ) from None
        if not (0 <= iz < shape[0] and 0 <= ix < shape[1]):
            raise InputError(
                f"{name[:-1]} position {(iz, ix)} is outside the model of shape {format_shape(shape)}: "
                f"use 0 <= iz < {shape[0]} and 0 <= ix < {shape[1]}"
            )
        out.append((iz, ix))
    if not out:
        raise InputError(f"{name} must hold at least one (iz, ix) position")
    return out


class AcousticWave2D(Operator):
    r"""2-D constant-density acoustic wave equation (deepwave): velocity -> shot gathers.

    See the module docstring for the geometry, deepwave's time resampling, the stability
    check and the dispersion guidance.

    Parameters
    ----------
    shape : (int, int)
        Model shape ``(nz, nx)`` in cells (row 0 at the surface).
    dx : float
        Cell size in metres (both directions).
    dt : float
        Sample interval of the source wavelet and of the recorded gathers, in seconds.
        Deepwave sub-steps internally when it exceeds the CFL limit (see :meth:`step_ratio`).
    nt : int
        Number of time samples recorded (from ``t = 0``).
    sources : sequence of (int, int)
        Source cell ``(iz, ix)`` of each shot (one shot per entry).
    receivers : sequence of (int, int)
        Receiver cells ``(iz, ix)``, the same for every shot; unique.
    frequency : float
        Peak frequency of the Ricker source wavelet in Hz (delay ``1.5 / frequency``); also
        the frequency the PML is tuned for.
    absorbing : int
        PML width in cells on each face (deepwave's ``pml_width``).
    free_surface : bool
        Make the top face (row 0) a pressure-release free surface instead of absorbing.
    max_velocity : float, optional
        Upper bound in m/s for every model this operator will see. Fixes deepwave's internal
        time step and PML (reproducible objective, exact gradient); a model faster than this
        raises an :class:`~inverselab.errors.InputError`. Default: each model's own maximum.
    accuracy : {2, 4, 6, 8}
        Spatial finite-difference order (deepwave's ``accuracy``).
    courant_number : float, optional
        Courant number that deepwave's internal step targets (default 0.6, deepwave's own);
        must not exceed :func:`critical_courant_number`.
    resample : bool
        If False, raise instead of letting deepwave sub-step when ``dt`` is above the CFL step
        for ``courant_number`` (``dt`` is then the propagation step).
    gradient_sampling : int
        Deepwave's ``model_gradient_sampling_interval``: the imaging-condition integral uses
        every ``gradient_sampling``-th internal step (less memory and time; exact at 1,
        measured ~3 % relative gradient error at 5 on a 150-step test). Must divide ``nt``.

    Notes
    -----
    Domain ``(nz, nx)``: wave speed in m/s (finite, > 0). Range
    ``(len(sources), len(receivers), nt)``: the wavefield at the receivers. Shots are
    deepwave's batch. With ``max_velocity`` set, a batch of ``B`` models is folded into
    ``B * shots`` deepwave shots (one model per shot) and runs as one call; without it the
    models run one after the other, each with the internal step and PML of its own maximum
    speed (so that a model's gathers do not depend on the rest of the batch). Float32 and float64 are supported, on the
    device of the input. Memory for the gradient is about ``B * shots * nt_internal *
    (nz + 2 absorbing) * (nx + 2 absorbing)`` values divided by ``gradient_sampling``.

    On CPU, deepwave parallelises over shots with its own OpenMP runtime: its thread count
    comes from ``OMP_NUM_THREADS`` (read when deepwave is first imported), not from
    ``torch.set_num_threads``. Every time step ends at a thread barrier, so on a machine
    whose cores are busy with other processes, use fewer threads than cores (measured on 2
    cores shared with other busy processes: 2 threads ran 10 to 100 times slower than 1).

    The pressure solves the constant-density acoustic wave equation :math:`\partial_t^2 p = c^2
    \Delta p + f(t)\, \delta(\mathbf x - \mathbf x_s)` with a Ricker wavelet :math:`f`; deepwave
    discretises it by finite differences of order ``accuracy`` in space and second order in time,
    with a perfectly matched layer. The gradient of a misfit with respect to :math:`c` is the
    adjoint-state imaging condition: the zero-lag correlation in time of the forward wavefield's
    second time derivative with the back-propagated residual wavefield.

    References
    ----------
    A. Tarantola, "Inversion of seismic reflection data in the acoustic approximation",
    *Geophysics* 49(8), 1259-1266, 1984.

    A. Richardson, "Deepwave" (software), Zenodo, 2023. doi:10.5281/zenodo.8381177.

    Examples
    --------
    >>> op = AcousticWave2D((60, 120), 10.0, 1e-3, 800, sources=[(1, 10), (1, 110)],
    ...                     receivers=[(1, i) for i in range(120)], frequency=15.0)
    >>> v = torch.full((1, 60, 120), 2000.0)
    >>> op(v).shape
    torch.Size([1, 2, 120, 800])
    >>> op(v, shots=[1]).shape  # a subset of the shots
    torch.Size([1, 1, 120, 800])
    """

    def __init__(
        self,
        shape: Sequence[int],
        dx: float,
        dt: float,
        nt: int,
        sources: Sequence[Sequence[int]],
        receivers: Sequence[Sequence[int]],
        frequency: float = 10.0,
        *,
        absorbing: int = 20,
        free_surface: bool = False,
        max_velocity: float | None = None,
        accuracy: int = 4,
        courant_number: float | None = None,
        resample: bool = True,
        gradient_sampling: int = 1,
    ) -> None:
        if isinstance(shape, int) or len(tuple(shape)) != 2:
            raise InputError(f"shape must be (nz, nx), got {shape!r}")
        nz, nx = (check_count("nz", shape[0], 2), check_count("nx", shape[1], 2))
        check_positive("dx", dx)
        check_positive("dt", dt)
        check_positive("frequency", frequency)
        nt = check_count("nt", nt, 1)
        absorbing = check_count("absorbing", absorbing, 0)
        if max_velocity is not None:
            check_positive("max_velocity", max_velocity)
        critical = critical_courant_number(accuracy)
        if courant_number is not None:
            check_positive("courant_number", courant_number)
            if courant_number > critical:
                raise InputError(
                    f"courant_number {courant_number} exceeds the critical value {critical:.4g} of "
                    f"accuracy {accuracy}: choose a value <= {critical:.4g} (default 0.6)"
                )
        gradient_sampling = check_count("gradient_sampling", gradient_sampling, 1)
        if nt % gradient_sampling:
            raise InputError(f"gradient_sampling ({gradient_sampling}) must divide nt ({nt})")
        sources = _positions("sources", sources, (nz, nx))
        receivers = _positions("receivers", receivers, (nz, nx))
        if len(set(receivers)) != len(receivers):
            raise InputError("receivers must be at distinct cells (deepwave's gradient needs unique receivers)")
        super().__init__((nz, nx), (len(sources), len(receivers), nt))
        self.nz, self.nx, self.nt = nz, nx, nt
        self.dx, self.dt, self.frequency = float(dx), float(dt), float(frequency)
        self.sources, self.receivers = sources, receivers
        self.absorbing, self.free_surface = absorbing, bool(free_surface)
        self.max_velocity = None if max_velocity is None else float(max_velocity)
        self.accuracy, self.courant_number = accuracy, courant_number
        self.resample, self.gradient_sampling = bool(resample), gradient_sampling
        self._warned = False
        self.register_buffer("wavelet", ricker(frequency, dt, nt, dtype=torch.float64), persistent=False)
        self.register_buffer("_src", torch.tensor(sources, dtype=torch.long), persistent=False)
        self.register_buffer("_rec", torch.tensor(receivers, dtype=torch.long), persistent=False)

    # -- configuration ------------------------------------------------------------------------
    def _config(self) -> dict:
        return dict(
            shape=(self.nz, self.nx), dx=self.dx, dt=self.dt, nt=self.nt, sources=self.sources,
            receivers=self.receivers, frequency=self.frequency, absorbing=self.absorbing,
            free_surface=self.free_surface, max_velocity=self.max_velocity, accuracy=self.accuracy,
            courant_number=self.courant_number, resample=self.resample,
            gradient_sampling=self.gradient_sampling,
        )

    def replace(self, **changes) -> AcousticWave2D:
        """A new operator with some constructor arguments changed, e.g.
        ``op.replace(max_velocity=6000.0)`` or ``op.replace(frequency=5.0)``."""
        config = self._config()
        unknown = set(changes) - set(config)
        if unknown:
            raise InputError(f"unknown AcousticWave2D argument(s) {sorted(unknown)}: choose from {sorted(config)}")
        config.update(changes)
        shape = config.pop("shape")
        return AcousticWave2D(shape, **config).to(self._device())

    def select(self, shots: Sequence[int] | Tensor) -> AcousticWave2D:
        """The operator restricted to a subset of its shots (indices into ``sources``)."""
        return self.replace(sources=[self.sources[i] for i in self._shot_indices(shots)])

    def extra_repr(self) -> str:
        return (
            f"shape=({self.nz}, {self.nx}), dx={self.dx}, dt={self.dt}, nt={self.nt}, "
            f"shots={len(self.sources)}, receivers={len(self.receivers)}, frequency={self.frequency}, "
            f"absorbing={self.absorbing}, accuracy={self.accuracy}, max_velocity={self.max_velocity}"
        )

    # -- stability ----------------------------------------------------------------------------
    def courant(self, max_velocity: float) -> float:
        """Courant number ``max_velocity * dt * sqrt(2) / dx`` of the user time step."""
        return float(max_velocity) * self.dt * math.sqrt(2.0) / self.dx

    def step_ratio(self, max_velocity: float | None = None) -> int:
        """Number ``k`` of internal deepwave steps per sample ``dt`` (``dt / k`` is propagated).

        Parameters
        ----------
        max_velocity : float, optional
            Fastest speed in m/s (default: the operator's ``max_velocity``).
        """
        cfl_condition_n = require("deepwave.discretisation", "seismic", _FEATURE).cfl_condition_n

        vmax = self.max_velocity if max_velocity is None else max_velocity
        if vmax is None:
            raise InputError("step_ratio needs max_velocity (the operator has none): pass it")
        check_positive("max_velocity", vmax)
        with warnings.catch_warnings():  # deepwave warns about large ratios at the real call
            warnings.simplefilter("ignore")
            return int(cfl_condition_n([self.dx, self.dx], self.dt, vmax, courant_number=self.courant_number)[1])

    def _check_velocity(self, v: Tensor) -> tuple[float, float]:
        check_finite("velocity model", v)
        low, high = float(v.detach().min()), float(v.detach().max())
        if low <= 0:
            raise InputError(
                f"velocity must be > 0 m/s everywhere, got a minimum of {low:.6g}: check the sign and units"
            )
        if self.max_velocity is not None and high > self.max_velocity * (1 + 1e-6):
            raise InputError(
                f"the model reaches {high:.6g} m/s, above max_velocity = {self.max_velocity:.6g} m/s: "
                "deepwave's time step for max_velocity would be unstable; raise max_velocity or bound the model"
            )
        vmax = self.max_velocity if self.max_velocity is not None else high
        if not self.resample and self.step_ratio(vmax) > 1:
            target = _DEFAULT_COURANT if self.courant_number is None else self.courant_number
            raise InputError(
                f"CFL: max(c)*dt*sqrt(2)/dx = {self.courant(vmax):.4g} > courant_number {target:.4g} with "
                f"resample=False; use dt <= {target * self.dx / (vmax * math.sqrt(2)):.4g} s, or "
                "resample=True to let deepwave sub-step"
            )
        cells = low / (self.frequency * self.dx)
        if cells < 2:
            raise InputError(
                f"only {cells:.2f} cells per wavelength (min velocity {low:.4g} m/s, peak frequency "
                f"{self.frequency:g} Hz, dx {self.dx:g} m): the wavelet is not representable on this grid; "
                f"use dx <= {low / (_MIN_CELLS_PER_WAVELENGTH * self.frequency):.4g} m or a lower frequency"
            )
        if cells < _MIN_CELLS_PER_WAVELENGTH and not self._warned:
            self._warned = True
            warnings.warn(
                f"{cells:.2f} cells per wavelength at the peak frequency (min velocity {low:.4g} m/s, "
                f"{self.frequency:g} Hz, dx {self.dx:g} m): at least 6 are recommended to keep numerical "
                f"dispersion small; use dx <= {low / (_MIN_CELLS_PER_WAVELENGTH * self.frequency):.4g} m, "
                "a lower frequency or a higher accuracy",
                DispersionWarning,
                stacklevel=4,
            )
        return low, high

    # -- evaluation ---------------------------------------------------------------------------
    def _shot_indices(self, shots: Sequence[int] | Tensor | None) -> list[int]:
        n = len(self.sources)
        if shots is None:
            return list(range(n))
        if isinstance(shots, Tensor):
            shots = shots.tolist()
        if isinstance(shots, int) or not hasattr(shots, "__iter__"):
            raise InputError(f"shots must be a sequence of shot indices, got {shots!r}")
        out = []
        for s in shots:
            try:
                i = operator.index(s)
            except TypeError:
                raise InputError(f"shots must hold integer indices, got {s!r}") from None
            if not -n <= i < n:
                raise InputError(f"shot index {i} is out of range: this operator has {n} shots")
            out.append(i % n)
        if not out:
            raise InputError("shots must select at least one shot")
        return out

    def forward(self, v: Tensor, shots: Sequence[int] | Tensor | None = None) -> Tensor:
        """Simulate shot gathers.

        Parameters
        ----------
        v : Tensor
            Velocity models ``(B, nz, nx)`` in m/s, float32 or float64.
        shots : sequence of int, optional
            Indices of the shots to simulate (default: all), e.g. a mini-batch.

        Returns
        -------
        Tensor
            Gathers ``(B, len(shots), receivers, nt)``, differentiable with respect to ``v``.
        """
        v = self._check(v, self.domain_shape, False, "velocity model")
        return self._simulate(v, self._shot_indices(shots))

    def _forward(self, v: Tensor) -> Tensor:
        return self._simulate(v, list(range(len(self.sources))))

    def _simulate(self, v: Tensor, shots: list[int]) -> Tensor:
        self._check_velocity(v)
        batch, device, dtype = v.shape[0], v.device, v.dtype
        n_shots, n_rec = len(shots), len(self.receivers)
        idx = torch.tensor(shots, dtype=torch.long)
        src = self._src.cpu()[idx].to(device)[:, None, :]  # (S, 1, 2)
        rec = self._rec.to(device)[None].expand(n_shots, n_rec, 2)  # (S, R, 2)
        amp = self.wavelet.to(device=device, dtype=dtype).expand(n_shots, 1, self.nt)
        if batch == 1:
            return self._run(v[0], src, rec, amp)[None]
        if self.max_velocity is None:
            # each model sets its own internal step and PML: run them one at a time, so that a
            # model's gathers do not depend on the rest of the batch
            return torch.stack([self._run(m, src, rec, amp) for m in v])
        # one model per deepwave shot: (B * S, nz, nx), a single call
        model = v[:, None].expand(batch, n_shots, self.nz, self.nx).reshape(batch * n_shots, self.nz, self.nx)
        src, rec, amp = (t.repeat(batch, *([1] * (t.ndim - 1))) for t in (src, rec, amp))
        return self._run(model, src, rec, amp).reshape(batch, n_shots, n_rec, self.nt)

    def _run(self, model: Tensor, src: Tensor, rec: Tensor, amp: Tensor) -> Tensor:
        """One deepwave call: ``model`` ``(nz, nx)`` or ``(shots, nz, nx)`` -> ``(shots, R, nt)``."""
        deepwave = require("deepwave", "seismic", _FEATURE)

        pml = [self.absorbing] * 4
        boundary = None
        if self.free_surface:
            pml[0] = 0
            boundary = ["free", "pml", "pml", "pml"]
        with warnings.catch_warnings():
            # our own dispersion check replaces deepwave's once-per-process warning
            warnings.filterwarnings("ignore", message="At least six grid cells per wavelength")
            out = deepwave.scalar(
                model,
                self.dx,
                self.dt,
                source_amplitudes=amp.contiguous(),
                source_locations=src.contiguous(),
                receiver_locations=rec.contiguous(),
                accuracy=self.accuracy,
                pml_width=pml,
                boundary=boundary,
                pml_freq=self.frequency,
                max_vel=self.max_velocity,
                courant_number=self.courant_number,
                model_gradient_sampling_interval=self.gradient_sampling if model.requires_grad else 1,
                # when deepwave sub-steps, its FFT resampling of the traces treats time as
                # periodic: pad so that a record cut while waves still arrive does not wrap its
                # end onto its start (no effect without sub-stepping)
                time_pad_frac=0.1,
            )
        return out.receiver_amplitudes


def lowpass(gathers: Tensor, dt: float, f_cut: float, order: int = 4) -> Tensor:
    """Zero-phase low-pass filter along time (Butterworth magnitude, applied twice, via FFT).

    Multiplies the spectrum by ``|H(f)|^2 = 1 / (1 + (f / f_cut)^(2 order))``, the response of
    a Butterworth filter run forwards and backwards (as ``filtfilt``): zero phase, -6 dB at
    ``f_cut``, roll-off ``12 * order`` dB per octave. The traces are zero-padded to twice
    their length first, so the circular FFT does not wrap the end of a trace onto its start.
    Linear and differentiable (use it on synthetic data inside an inversion).

    Parameters
    ----------
    gathers : Tensor
        Any shape ``(..., nt)``; real.
    dt : float
        Sample interval in seconds.
    f_cut : float
        Corner frequency in Hz (-6 dB).
    order : int
        Butterworth order.

    Returns
    -------
    Tensor
        Filtered gathers, same shape, dtype and device.
    """
    check_positive("dt", dt)
    check_positive("f_cut", f_cut)
    order = check_count("order", order, 1)
    if not isinstance(gathers, Tensor) or not gathers.is_floating_point():
        raise InputError("lowpass expects a real floating-point torch.Tensor of traces (..., nt)")
    nt = gathers.shape[-1]
    n = 2 * nt
    f = torch.fft.rfftfreq(n, d=dt).to(device=gathers.device, dtype=gathers.dtype)
    response = 1.0 / (1.0 + (f / f_cut) ** (2 * order))
    spectrum = torch.fft.rfft(gathers, n=n, dim=-1)
    return torch.fft.irfft(spectrum * response, n=n, dim=-1)[..., :nt]
