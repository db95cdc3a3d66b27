"""1-D acoustic wave propagation (finite differences) for wave-speed estimation.

:class:`Wave1D` solves the constant-density acoustic wave equation with a point source,

    u_tt = c(x)^2 (u_xx + s(t) delta(x - x_s)),

on a regular grid with second-order centred differences in time and space (leapfrog), one
shot per source position, and records the wavefield ``u`` at the receivers. It maps velocity
models ``(B, nx)`` in m/s to shot gathers ``(B, shots, receivers, nt)``, the interface that a
2-D solver shares. The gradient with respect to ``c`` (the full-waveform-inversion gradient)
comes from plain autograd through the time loop, which is cheap in 1-D.

Discretisation
--------------
* Grid: model cell ``i`` (``0 <= i < nx``) is at ``x = i * dx``; time sample ``n`` is at
  ``t = n * dt``, with ``u = 0`` at ``t = 0`` and ``t = -dt``. Trace sample ``n`` is ``u^n``.
* Source: the wavelet sample ``s^n`` is added to ``u^{n+1}`` at the source cell as
  ``c_s^2 dt^2 / dx * s^n`` (``1 / dx`` is the discrete delta; the ``c^2`` factor is that of
  the equation above, ``u_tt / c^2 - u_xx = s delta``). The 1-D Green's function is a step, so in a
  homogeneous medium a receiver ``d`` metres from the source records
  ``(c / 2) * S(t - d / c)``, ``S`` the running time integral of the wavelet. For a Ricker
  source ``S`` is a first derivative of a Gaussian: the arrival of the wavelet's peak is the
  trace's zero crossing, and the peak of the trace's time derivative.
* Absorbing boundaries: the model is padded on both sides with ``absorbing`` cells of the edge
  velocity that form a perfectly matched layer (convolutional PML: ``d/dx`` is replaced by
  ``d/dx + psi`` with memory variables ``psi`` on half nodes and nodes, damping
  ``d(x) = 3 c ln(1/R) / (2 L) * (depth / L)^2`` over the layer width ``L``, ``R = 1e-5``);
  the two outermost nodes obey the first-order Engquist-Majda one-way condition
  ``u_t = -+c u_x``, discretised as Mur's scheme. Measured against a run on a 10x larger
  domain (Courant numbers 0.5 and 0.9), edge reflections with the default 20 cells are below
  1e-4 of the direct wave from 10 to 80 grid points per dominant wavelength ``c / frequency``
  (1e-2 to 6e-2 at 4 points, where the wavelet is ruined by dispersion anyway); 10 cells give
  ~3e-4 and 5 cells ~1e-2 at 10 points per wavelength. ``absorbing=0`` leaves the one-way
  condition alone: exact in the continuum in 1-D, it reflects only through discrete
  dispersion, ~7e-4 at 80 and ~2e-2 at 10 points per wavelength. A plain sponge (a damping
  term ``eta u_t`` over 10 to 40 cells) was tried and rejected: it reflected 2 to 100 percent.
* Stability: the leapfrog scheme is stable for ``max(c) * dt / dx <= 1`` (CFL), checked at
  every forward call. Accuracy: keep at least ~10 grid points per minimum wavelength,
  ``dx <= min(c) / (10 f_max)`` with ``f_max ~ 2.5 * frequency`` for a Ricker wavelet, and
  ``dt`` close to the CFL limit (in 1-D the scheme is exact at ``c dt / dx = 1`` and most
  dispersive as ``dt -> 0``). Coarser grids give dispersive, ringing wavelets but are not
  rejected.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import torch

from ..errors import InputError, check_count, check_finite, check_positive
from .base import Operator

Tensor = torch.Tensor

__all__ = ["Wave1D", "ricker"]

# Theoretical amplitude of a wave going through the PML and back (sets the damping strength).
_PML_REFLECTION = 1e-5


def ricker(
    frequency: float,
    dt: float,
    nt: int,
    delay: float | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Ricker wavelet (negative normalised second derivative of a Gaussian).

    ``w(t) = (1 - 2 a) exp(-a)`` with ``a = (pi * frequency * (t - delay))^2``, sampled at
    ``t = n * dt``; its peak value is 1 at ``t = delay``.

    Parameters
    ----------
    frequency : float
        Peak (dominant) frequency in Hz. The spectrum is negligible above ~3x this.
    dt : float
        Time step in seconds.
    nt : int
        Number of samples.
    delay : float, optional
        Time of the peak in seconds; default ``1.5 / frequency``, which makes the wavelet
        start at ~1e-9 of its peak.
    dtype : torch.dtype
        Output dtype (computed in float64).

    Returns
    -------
    Tensor
        Shape ``(nt,)``, dimensionless.
    """
    check_positive("frequency", frequency)
    check_positive("dt", dt)
    nt = check_count("nt", nt, 1)
    delay = 1.5 / frequency if delay is None else delay
    if not isinstance(delay, (int, float)) or not math.isfinite(delay):
        raise InputError(f"delay must be a finite number of seconds, got {delay!r}")
    t = torch.arange(nt, dtype=torch.float64) * dt - delay
    a = (math.pi * frequency * t) ** 2
    return ((1 - 2 * a) * torch.exp(-a)).to(dtype)


def _indices(name: str, values: Sequence[int], nx: int) -> list[int]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InputError(f"{name} must be a sequence of grid indices, e.g. [10], got {values!r}")
    out = []
    for v in list(values):
        try:
            i = operator.index(v)
        except TypeError:
            raise InputError(f"{name} must hold integer grid indices, got {v!r}") from None
        if not 0 <= i < nx:
            raise InputError(
                f"{name[:-1]} index {i} is outside the model: use indices 0 to {nx - 1} (nx = {nx})"
            )
        out.append(i)
    if not out:
        raise InputError(f"{name} must hold at least one grid index")
    return out


class Wave1D(Operator):
    r"""1-D acoustic wave equation: velocity model -> receiver traces of every shot.

    See the module docstring for the discretisation, the absorbing boundaries and the
    accuracy rule of thumb (at least ~10 grid points per minimum wavelength).

    Parameters
    ----------
    nx : int
        Number of model cells (the velocity model is ``(nx,)``).
    dx : float
        Cell size in metres.
    nt : int
        Number of time samples recorded (from ``t = 0``).
    dt : float
        Time step in seconds; needs ``max(c) * dt / dx <= 1``.
    sources : sequence of int
        Source cell index of each shot (one shot per entry, ``0 <= i < nx``).
    receivers : sequence of int
        Receiver cell indices, the same for every shot.
    frequency : float
        Peak frequency of the Ricker source wavelet in Hz (delay ``1.5 / frequency``).
    absorbing : int
        Width in cells of the perfectly matched layer added on each side of the model, with
        the edge velocity (0: the one-way boundary condition alone).

    Attributes
    ----------
    wavelet : Tensor
        The source wavelet ``(nt,)`` (float64 buffer, see :func:`ricker`).

    Notes
    -----
    Domain ``(nx,)``: wave speed in m/s (finite, > 0). Range
    ``(len(sources), len(receivers), nt)``: the wavefield at the receivers, in units of the
    (dimensionless) source amplitude times metres, ``(c / 2) * S`` for a direct arrival (see the
    module docstring). All shots and batch samples run together as tensor dimensions; the
    time loop runs in Python. Memory for the gradient is about
    ``10 * B * shots * (nx + 2 * absorbing) * nt`` values. The gradient includes the
    velocity dependence of the source scaling, the PML damping and the one-way condition.

    Calling the operator raises :class:`~inverselab.errors.InputError` for NaN, infinite or
    non-positive velocities and when ``max(c) * dt / dx > 1`` (CFL).

    The field solves :math:`u_{tt} = c(x)^2 u_{xx} + s(t)\, \delta(x - x_s)` by the second-order
    leapfrog scheme :math:`u^{n+1} = 2u^n - u^{n-1} + (c\, \Delta t / \Delta x)^2 (u^n_{i+1} -
    2u^n_i + u^n_{i-1})`, stable for :math:`\max c\, \Delta t / \Delta x \le 1`, with a perfectly
    matched layer and a first-order one-way (Mur) condition at the ends.

    References
    ----------
    J.-P. Berenger, "A perfectly matched layer for the absorption of electromagnetic waves",
    *J. Comput. Phys.* 114(2), 185-200, 1994.

    G. Mur, "Absorbing boundary conditions for the finite-difference approximation of the
    time-domain electromagnetic-field equations", *IEEE Trans. Electromagn. Compat.* 23(4),
    377-382, 1981.
    """

    def __init__(
        self,
        nx: int,
        dx: float,
        nt: int,
        dt: float,
        sources: Sequence[int],
        receivers: Sequence[int],
        frequency: float = 10.0,
        absorbing: int = 20,
    ) -> None:
        nx = check_count("nx", nx, 3)
        nt = check_count("nt", nt, 1)
        check_positive("dx", dx)
        check_positive("dt", dt)
        check_positive("frequency", frequency)
        absorbing = check_count("absorbing", absorbing, 0)
        sources = _indices("sources", sources, nx)
        receivers = _indices("receivers", receivers, nx)
        super().__init__((nx,), (len(sources), len(receivers), nt))
        self.nx, self.nt, self.absorbing = nx, nt, absorbing
        self.dx, self.dt, self.frequency = float(dx), float(dt), float(frequency)
        self.sources, self.receivers = sources, receivers
        self.register_buffer("wavelet", ricker(frequency, dt, nt, dtype=torch.float64), persistent=False)
        self.register_buffer(
            "_src_index", torch.tensor(sources, dtype=torch.long) + absorbing, persistent=False
        )
        self.register_buffer(
            "_rec_index", torch.tensor(receivers, dtype=torch.long) + absorbing, persistent=False
        )
        # PML damping d(x) = c * profile(x), profile = 3 ln(1/R) / (2 L) * (depth / L)^2 where
        # depth is the distance into the layer of width L; zero in the model. On grid nodes and
        # on the half nodes i + 1/2.
        n = nx + 2 * absorbing
        pos = torch.arange(2 * n - 1, dtype=torch.float64) / 2  # nodes and half nodes, in cells
        depth = torch.clamp(absorbing - pos, min=0) + torch.clamp(pos - (n - 1 - absorbing), min=0)
        profile = torch.zeros_like(depth)
        if absorbing:
            profile = 3 * math.log(1 / _PML_REFLECTION) / (2 * absorbing * self.dx) * (depth / absorbing) ** 2
        self.register_buffer("_profile_nodes", profile[0::2].contiguous(), persistent=False)
        self.register_buffer("_profile_halves", profile[1::2].contiguous(), persistent=False)

    def extra_repr(self) -> str:
        return (
            f"nx={self.nx}, dx={self.dx}, nt={self.nt}, dt={self.dt}, shots={len(self.sources)}, "
            f"receivers={len(self.receivers)}, frequency={self.frequency}, absorbing={self.absorbing}"
        )

    # -- checks -------------------------------------------------------------------------------
    def _check_velocity(self, c: Tensor) -> None:
        check_finite("velocity model", c)
        low = float(c.detach().min())
        if low <= 0:
            raise InputError(
                f"velocity must be > 0 m/s everywhere, got a minimum of {low:.6g}: check the sign and units"
            )
        high = float(c.detach().max())
        courant = high * self.dt / self.dx
        if courant > 1:
            raise InputError(
                f"CFL violated: max(c)*dt/dx = {courant:.4g} > 1; reduce dt below "
                f"{self.dx / high:.4g} s (or increase dx)"
            )

    # -- simulation ---------------------------------------------------------------------------
    def _simulate(self, c: Tensor, field: bool) -> Tensor:
        self._check_velocity(c)
        dtype, device = c.dtype, c.device
        a, dt, dx = self.absorbing, self.dt, self.dx
        cp = torch.nn.functional.pad(c[:, None], (a, a), mode="replicate")[:, 0] if a else c
        batch, n = cp.shape
        shots = len(self.sources)
        cdt2 = ((cp[:, 1:-1] * (dt / dx)) ** 2)[:, None]  # (B, 1, n - 2)
        if a:
            # C-PML memory decay exp(-d dt), d = c * profile, on half nodes and interior nodes
            nodes = self._profile_nodes.to(device=device, dtype=dtype)[1:-1]
            halves = self._profile_halves.to(device=device, dtype=dtype)
            decay_n = torch.exp(-nodes * cp[:, 1:-1] * dt)[:, None]  # (B, 1, n - 2)
            decay_h = torch.exp(-halves * (0.5 * dt) * (cp[:, 1:] + cp[:, :-1]))[:, None]  # (B, 1, n - 1)
        # Mur coefficients (r - 1) / (r + 1) at both ends
        r = cp[:, [0, -1]] * (dt / dx)
        mur = ((r - 1) / (r + 1))[:, None, :]  # (B, 1, 2)
        # source injection c_s^2 dt^2 / dx, one source per shot: (B, S, n)
        src = self._src_index.to(device)
        scale = cp[:, src] ** 2 * (dt * dt / dx)
        inject = torch.zeros(batch, shots, n, dtype=dtype, device=device)
        inject = inject.scatter(2, src.expand(batch, shots)[..., None], scale[..., None])
        wavelet = self.wavelet.to(device=device, dtype=dtype)
        rec = self._rec_index.to(device)

        u_prev = torch.zeros(batch, shots, n, dtype=dtype, device=device)
        u = torch.zeros_like(u_prev)
        psi_h = torch.zeros(batch, shots, n - 1, dtype=dtype, device=device)
        psi_n = torch.zeros(batch, shots, n - 2, dtype=dtype, device=device)
        out = []
        for k in range(self.nt):
            out.append(u[..., a : n - a] if field else u[..., rec])
            if k == self.nt - 1:
                break
            grad = u[..., 1:] - u[..., :-1]  # dx * u_x on half nodes
            if a:
                psi_h = decay_h * psi_h + (decay_h - 1) * grad
                grad = grad + psi_h
            lap = grad[..., 1:] - grad[..., :-1]  # dx^2 * u_xx on interior nodes
            if a:
                psi_n = decay_n * psi_n + (decay_n - 1) * lap
                lap = lap + psi_n
            inner = 2 * u[..., 1:-1] - u_prev[..., 1:-1] + cdt2 * lap
            left = u[..., 1:2] + mur[..., :1] * (inner[..., :1] - u[..., :1])
            right = u[..., -2:-1] + mur[..., 1:] * (inner[..., -1:] - u[..., -1:])
            u_prev, u = u, torch.cat([left, inner, right], dim=-1) + inject * wavelet[k]
        return torch.stack(out, dim=2 if field else 3)

    def _forward(self, c: Tensor) -> Tensor:
        return self._simulate(c, field=False)

    def wavefield(self, c: Tensor) -> Tensor:
        """Full wavefield inside the model, for figures and movies.

        Parameters
        ----------
        c : Tensor
            Velocity models ``(B, nx)`` in m/s.

        Returns
        -------
        Tensor
            ``u`` of shape ``(B, shots, nt, nx)`` (absorbing layers cropped), differentiable.
            It holds ``B * shots * nt * nx`` values: subsample or call under
            ``torch.no_grad()`` for large grids.
        """
        c = self._check(c, self.domain_shape, False, "velocity model")
        return self._simulate(c, field=True)
