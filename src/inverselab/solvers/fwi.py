"""Full-waveform inversion: multiscale, bounded, optionally mini-batched, through :func:`minimize`.

:func:`fwi` fits shot gathers ``observed`` with a wave operator (e.g.
:class:`~inverselab.operators.acoustic.AcousticWave2D`) by running
:func:`~inverselab.solvers.nonlinear.minimize` once per frequency band on a composed forward
model,

    u  ->  v = bounded(u)  ->  gathers = op(v)[shots]  ->  lowpass(gathers, f_band) - lowpass(observed, f_band)

with a zero target, so ``minimize`` sees the normalised least-squares misfit
``||lowpass(op(v) - observed)||^2 / (2 ||lowpass(observed)||^2)`` plus ``lam R(v)``.

* **Frequency continuation** (Bunks et al. 1995): the bands are visited in order, each
  starting from the previous estimate; both the observed and the synthetic data are
  low-passed (zero-phase Butterworth, :func:`~inverselab.operators.acoustic.lowpass`) at the
  band's corner frequency (``None``: the full band).
* **Bounds** by reparametrisation: ``v = lo + (hi - lo) * sigmoid(z)``, so every iterate is
  inside ``(lo, hi)`` with no projection, and cells listed in ``fixed`` (e.g. a water layer)
  stay at ``v0``. The optimiser works on ``u`` with ``z = logit(v0) + kappa S(u)``, starting
  at ``u = 0``: for L-BFGS ``kappa`` is chosen so that its first trial step (which PyTorch
  normalises to unit L1 norm) moves the logit of an updated cell by ``lr`` on average, so the
  line search does not have to grow the step from ~1e-5; for Adam ``kappa = 1`` and ``lr`` is
  the step in ``z`` directly.
* **Smooth updates** (``smooth``): ``S`` is a separable Gaussian blur, so every update of the
  logit is smooth on that scale whatever the optimiser does cell by cell (Adam normalises each
  cell's step, which otherwise turns the weak, noisy gradient of poorly illuminated cells into
  full-size steps), and the gradient is the blurred gradient; anisotropic widths
  ``(sigma_z, sigma_x)`` suit layered media (wide along the layers, narrow across them).
* **Mini-batches of shots** (Adam only): a new random subset of ``shots_per_batch`` shots is
  drawn for every iteration (seeded).
* The history records the misfit of every iterate (for mini-batches, of the current batch),
  the relative model error ``||v - truth|| / ||truth||`` when the truth is known, and times;
  a tqdm bar shows both.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .._tensor import batch_norm
from ..errors import (
    InputError,
    check_choice,
    check_count,
    check_finite,
    check_nonnegative,
    check_positive,
    format_shape,
)
from ..operators.acoustic import lowpass
from ..operators.base import Operator
from ..regularizers import Tikhonov, TotalVariation
from .history import History, progress_bar
from .history import progress as solver_bars
from .nonlinear import minimize

Tensor = torch.Tensor

__all__ = ["fwi", "FWIHistory"]

_VELOCITY_UNIT = 1000.0  # regularisers see the velocity in km/s


@dataclass
class FWIHistory(History):
    """What :func:`fwi` did, iteration by iteration (means over the model batch).

    A :class:`~inverselab.solvers.history.History` (so reports plot it like any solver's).
    ``objective`` is ``sqrt(2 L / B)`` for the summed objective ``L`` (normalised misfit
    ``||lowpass(op(v) - observed)||^2 / (2 ||lowpass(observed)||^2)`` plus ``lam R(v)``) of
    the iterate each iteration started from, in that iteration's band (on its mini-batch when
    ``shots_per_batch`` is set): with ``lam = 0``, the root mean square over the batch of the
    relative data misfit. ``seconds`` is cumulative wall-clock time including the bookkeeping;
    ``psnr`` and ``criterion`` stay empty. In addition:

    Attributes
    ----------
    model_error : list of float
        ``||v - truth|| / ||truth||`` after each iteration (empty without a truth).
    model_error_initial : float or None
        The same for ``v0``.
    band : list of float or None
        Corner frequency (Hz) of the band of each iteration (None: full band).
    bands : list of dict
        Per band: ``f_cut``, ``iterations``, ``evaluations`` (forward simulations of the shots
        used, most of them followed by a gradient: line searches and the final misfit add to
        the iterations), ``misfit_start``, ``misfit_end`` (the misfit of the band's final
        model, evaluated by :func:`minimize`), ``stop_reason`` and ``seconds``.
    """

    model_error: list[float] = field(default_factory=list)
    model_error_initial: float | None = None
    band: list[float | None] = field(default_factory=list)
    bands: list[dict] = field(default_factory=list)


class _Bounded(Operator):
    """``u -> v``: ``lo + (hi - lo) sigmoid(z0 + kappa S(u))`` where free, ``v0`` where fixed.

    ``z0`` is the logit of ``v0`` (so ``u = 0`` is ``v0``), ``S`` a separable Gaussian blur of
    standard deviations ``smooth = (sigma_z, sigma_x)`` cells (the identity for zeros) and
    ``kappa`` a number or a tensor broadcasting against the model (e.g. a depth weight).
    """

    def __init__(self, v0: Tensor, lo: float, hi: float, free: Tensor, kappa: float | Tensor,
                 smooth: tuple[float, float] = (0.0, 0.0)) -> None:
        super().__init__(v0.shape[1:], v0.shape[1:])
        self.v0, self.lo, self.hi, self.free, self.kappa = v0, lo, hi, free, kappa
        p = ((v0 - lo) / (hi - lo)).clamp(1e-6, 1 - 1e-6)
        self.z0 = torch.where(free, torch.logit(p), torch.zeros_like(v0))
        self.kernels = [_gaussian(s, v0.dtype, v0.device) for s in smooth]

    def _blur(self, u: Tensor) -> Tensor:
        for axis, kernel in zip((-2, -1), self.kernels):
            if kernel is None:
                continue
            r = kernel.numel() // 2
            x = u.movedim(axis, -1)
            shape = x.shape
            x = torch.nn.functional.pad(x.reshape(-1, 1, shape[-1]), (r, r), mode="replicate")
            u = torch.nn.functional.conv1d(x, kernel.view(1, 1, -1)).reshape(shape).movedim(-1, axis)
        return u

    def _forward(self, u: Tensor) -> Tensor:
        v = self.lo + (self.hi - self.lo) * torch.sigmoid(self.z0 + self.kappa * self._blur(u))
        return torch.where(self.free, v, self.v0)


def _gaussian(sigma: float, dtype: torch.dtype, device) -> Tensor | None:
    """A normalised Gaussian kernel of standard deviation ``sigma`` cells (radius ``3 sigma``),
    or None for ``sigma = 0``."""
    if sigma == 0:
        return None
    r = max(1, math.ceil(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=dtype, device=device) / sigma) ** 2)
    return k / k.sum()


def _smoothing(smooth) -> tuple[float, float]:
    """``smooth`` as ``(sigma_z, sigma_x)`` in cells: one number for both axes, or a pair."""
    pair = smooth if isinstance(smooth, (tuple, list)) else (smooth, smooth)
    if len(pair) != 2 or not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in pair):
        raise InputError(f"smooth must be a number of cells or a pair (sigma_z, sigma_x), got {smooth!r}")
    return tuple(check_nonnegative("smooth", float(s)) for s in pair)


class _BandResidual(Operator):
    """``v -> (lowpass(op(v)[shots]) - d[shots]) / scale``; ``shots`` is redrawn between
    iterations for mini-batches."""

    def __init__(self, op: Operator, data: Tensor, dt: float, f_cut: float | None, shots: list[int]) -> None:
        super().__init__(op.domain_shape, (len(shots), *op.range_shape[1:]))
        self.op, self.dt, self.f_cut, self.shots = op, dt, f_cut, shots
        self.evaluations = 0  # forward simulations (most followed by a gradient)
        self.data = self.filter(data)
        self.scale = batch_norm(self.data).clamp(min=torch.finfo(data.dtype).tiny)
        self.scale = self.scale.reshape(-1, 1, 1, 1)

    def filter(self, d: Tensor) -> Tensor:
        return d if self.f_cut is None else lowpass(d, self.dt, self.f_cut)

    def _forward(self, v: Tensor) -> Tensor:
        n = self.data.shape[1]
        self.evaluations += 1
        if len(self.shots) == n:  # all shots (the draws are without replacement)
            synthetic, observed = self.op(v), self.data
        else:
            idx = torch.tensor(self.shots, device=self.data.device)
            synthetic, observed = self.op(v, shots=self.shots), self.data.index_select(1, idx)
        # a batch of m shots is normalised by m / n of the data's energy: comparable misfits
        return (self.filter(synthetic) - observed) / (self.scale * math.sqrt(len(self.shots) / n))


def _band(f) -> float | None:
    """A band's corner frequency in Hz, or None for the full band (also "none" from a config)."""
    if f is None or (isinstance(f, str) and f.lower() == "none"):
        return None
    if isinstance(f, bool) or not isinstance(f, (int, float)):
        raise InputError(f"band frequency must be a number of Hz or None (full band), got {f!r}")
    return check_positive("band frequency", float(f))


def _regularizer(reg, v0: Tensor) -> Callable[[Tensor], Tensor] | None:
    if reg is None or callable(reg):
        return reg
    check_choice("regulariser", reg, ("tikhonov", "smoothness", "tv"))
    if reg == "tikhonov":
        return lambda v: Tikhonov("identity").value((v - v0) / _VELOCITY_UNIT)
    if reg == "smoothness":
        return lambda v: Tikhonov("gradient").value(v / _VELOCITY_UNIT)
    return lambda v: TotalVariation().smooth_value(v / _VELOCITY_UNIT)


def _fixed_mask(fixed, shape: tuple[int, ...], device) -> Tensor:
    free = torch.ones(shape, dtype=torch.bool, device=device)
    if fixed is None:
        return free
    if isinstance(fixed, int) and not isinstance(fixed, bool):
        if not 0 <= fixed < shape[0]:
            raise InputError(f"fixed = {fixed} rows must be between 0 and nz - 1 = {shape[0] - 1}")
        free[:fixed] = False
        return free
    if isinstance(fixed, Tensor) and fixed.dtype == torch.bool and tuple(fixed.shape) == tuple(shape):
        return ~fixed.to(device)
    raise InputError(
        f"fixed must be a number of top rows (int) or a boolean mask of shape {format_shape(shape)} "
        "(True = keep at v0)"
    )


def fwi(
    op: Operator,
    observed: Tensor,
    v0: Tensor,
    *,
    frequencies: Sequence[float | None] = (None,),
    iters_per_band: int | Sequence[int] = 20,
    optimizer: str = "lbfgs",
    lr: float | Sequence[float] = 0.05,
    smooth: float | tuple[float, float] = 0.0,
    bounds: tuple[float, float] | None = None,
    reg: str | Callable[[Tensor], Tensor] | None = None,
    lam: float = 0.0,
    fixed: int | Tensor | None = None,
    shots_per_batch: int | None = None,
    depth_weight: float = 0.0,
    seconds: float | None = None,
    truth: Tensor | None = None,
    progress: bool | None = None,
    seed: int = 0,
) -> tuple[Tensor, FWIHistory]:
    r"""Multiscale full-waveform inversion with velocity bounds.

    Parameters
    ----------
    op : AcousticWave2D
        Wave operator ``(B, nz, nx) -> (B, shots, receivers, nt)`` with a ``dt`` attribute
        (seconds) and ``forward(v, shots=...)`` for mini-batches. Give it a ``max_velocity``
        of at least ``bounds[1]`` for a reproducible objective; if it has none, :func:`fwi`
        uses a copy with ``max_velocity = bounds[1]``.
    observed : Tensor
        Observed gathers ``(B, shots, receivers, nt)``.
    v0 : Tensor
        Starting models ``(B, nz, nx)`` in m/s, strictly inside ``bounds`` where updated.
    frequencies : sequence of float or None
        Low-pass corner frequency in Hz of each band, in the order visited, e.g.
        ``(3.0, 5.0, None)`` (None: unfiltered data).
    iters_per_band : int or sequence of int
        Iterations per band (one number for all bands, or one per band).
    optimizer : {"lbfgs", "adam"}
        L-BFGS with a strong-Wolfe line search (restarted at each band) or Adam.
    lr : float or sequence of float
        Step in the logit variable ``z`` (``v = lo + (hi - lo) sigmoid(z)``; a mid-range
        cell moves by about ``lr * (hi - lo) / 4`` m/s): Adam's step, or the mean size of
        L-BFGS's first trial step in each band (one number for all bands, or one per band,
        e.g. decreasing steps as the bands widen).
    smooth : float or (float, float)
        Standard deviation in cells of the Gaussian blur of the update, one for both axes or
        ``(sigma_z, sigma_x)``; 0 (default) updates cell by cell. With L-BFGS ``kappa``
        assumes unblurred steps, so its first trial step is smaller.
    bounds : (float, float), optional
        ``(vmin, vmax)`` in m/s. Default: ``(0.75 min(v0), 1.5 max(v0))``.
    reg : {"tikhonov", "smoothness", "tv"} or callable, optional
        ``||v - v0||^2 / 2``, ``||D v||^2 / 2`` or smoothed total variation of the velocity in
        km/s, or a function ``v -> (B,)``.
    lam : float
        Regularisation weight, relative to the normalised misfit ``||r||^2 / (2 ||d||^2)``.
    fixed : int or Tensor, optional
        Cells kept at ``v0``: the number of top rows (e.g. 10 for Marmousi's water layer), or
        a boolean mask ``(nz, nx)`` (True = fixed).
    shots_per_batch : int, optional
        Shots per iteration, drawn at random without replacement each iteration (Adam only).
    depth_weight : float
        Depth preconditioning exponent ``p``: the logit is ``z = logit(v0) + kappa w S(u)`` with
        ``w ~ (row + 1)^p`` (mean 1 over the updated cells), so gradient steps are scaled by
        ``w^2 ~ depth^(2p)``; ``p = 0.5`` compensates the ``1 / depth`` decay of the gradient
        from geometric spreading in 2-D. 0 disables.
    seconds : float, optional
        Time budget (s). Each band may then stop before its iteration count: it gets the
        time left times its share of the iterations left, so ``iters_per_band`` act as upper
        bounds and proportions (e.g. ``(1000, 1000, 2000)`` with ``seconds=600``).
    truth : Tensor, optional
        True models ``(B, nz, nx)`` for the model-error history.
    progress : bool, optional
        Show a tqdm bar with the misfit and the model error (default: inside
        :func:`~inverselab.solvers.progress` only, like the other solvers).
    seed : int
        Seed of the shot draws.

    Returns
    -------
    v : Tensor
        Estimated models ``(B, nz, nx)`` in m/s.
    history : FWIHistory
        Misfit, model error and times per iteration, and a summary per band.

    Notes
    -----
    Full-waveform inversion minimises the normalised least-squares misfit of the (low-pass
    filtered) gathers,

    .. math::

        \Phi(v) = \frac{\|L_f (F(v) - d)\|^2}{2 \|L_f d\|^2} + \lambda R(v),

    band after band from low to high corner frequencies :math:`f` (the multiscale strategy, which
    avoids cycle skipping). The velocity is reparametrised as :math:`v = v_{lo} + (v_{hi} - v_{lo})
    \operatorname{sigmoid}(z)`, which keeps it inside the bounds, and the gradient is the
    adjoint-state gradient of :class:`~inverselab.operators.AcousticWave2D` through the
    chain rule; optional smoothing blurs the update, a common preconditioner.

    References
    ----------
    A. Tarantola, "Inversion of seismic reflection data in the acoustic approximation",
    *Geophysics* 49(8), 1259-1266, 1984.

    C. Bunks, F. M. Saleck, S. Zaleski and G. Chavent, "Multiscale seismic waveform inversion",
    *Geophysics* 60(5), 1457-1473, 1995.

    J. Virieux and S. Operto, "An overview of full-waveform inversion in exploration
    geophysics", *Geophysics* 74(6), WCC1-WCC26, 2009.
    """
    if not isinstance(op, Operator) or len(op.domain_shape) != 2:
        raise InputError("fwi needs a wave operator on 2-D models (B, nz, nx), e.g. AcousticWave2D")
    dt = getattr(op, "dt", None)
    if dt is None:
        raise InputError("fwi needs an operator with a time step attribute dt (seconds), e.g. AcousticWave2D")
    observed = op._check(observed, op.range_shape, False, "observed data")
    check_finite("observed data", observed)
    v0 = op._check(v0, op.domain_shape, False, "v0")
    check_finite("v0", v0)
    if v0.shape[0] != observed.shape[0]:
        raise InputError(f"v0 has {v0.shape[0]} models but observed has {observed.shape[0]} gathers")
    if truth is not None:
        truth = op._check(truth, op.domain_shape, False, "truth")
        if truth.shape != v0.shape:
            raise InputError(
                f"truth must have the shape of v0 {format_shape(v0.shape)}, got {format_shape(truth.shape)}"
            )
    observed = observed.to(v0.dtype)
    check_choice("optimizer", optimizer, ("lbfgs", "adam"))
    check_nonnegative("lam", lam)
    bands = [_band(f) for f in (frequencies if isinstance(frequencies, (list, tuple)) else [frequencies])]
    if not bands:
        raise InputError("frequencies must list at least one band, e.g. (None,) for the full band")
    per_band = iters_per_band if isinstance(iters_per_band, (list, tuple)) else [iters_per_band] * len(bands)
    if len(per_band) != len(bands):
        raise InputError(f"iters_per_band must be an int >= 1 or one per band ({len(bands)}), got {iters_per_band!r}")
    iters = [check_count("iters_per_band", n) for n in per_band]
    steps = list(lr) if isinstance(lr, (list, tuple)) else [lr] * len(bands)
    if len(steps) != len(bands):
        raise InputError(f"lr must be a number > 0 or one per band ({len(bands)}), got {lr!r}")
    steps = [check_positive("lr", step) for step in steps]
    sigmas = _smoothing(smooth)
    if seconds is not None:
        check_positive("seconds", seconds)
    seed = check_count("seed", seed, 0)
    n_shots = op.range_shape[0]
    if shots_per_batch is not None:
        if optimizer != "adam":
            raise InputError("shots_per_batch needs optimizer='adam' (L-BFGS needs the same shots every iteration)")
        if not 1 <= check_count("shots_per_batch", shots_per_batch) <= n_shots:
            raise InputError(f"shots_per_batch must be an int between 1 and {n_shots}, got {shots_per_batch!r}")
    reg_fn = _regularizer(reg, v0)
    if lam > 0 and reg_fn is None:
        raise InputError("lam > 0 needs a regulariser: pass reg='tikhonov', 'smoothness', 'tv' or a function")

    if bounds is None:
        bounds = (None, None)
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise InputError(f"bounds must be a pair (vmin, vmax) in m/s, got {bounds!r}")
    default_hi = getattr(op, "max_velocity", None) or 1.5 * float(v0.max())
    try:
        defaults = (0.75 * float(v0.min()), default_hi)
        lo, hi = (float(d if b is None or b == "none" else b) for b, d in zip(bounds, defaults))
    except (TypeError, ValueError):
        raise InputError(
            f"bounds must be two numbers (vmin, vmax) in m/s (None: the default), got {bounds!r}"
        ) from None
    if not 0 < lo < hi:
        raise InputError(f"bounds must satisfy 0 < vmin < vmax, got {bounds!r}")
    free = _fixed_mask(fixed, op.domain_shape, v0.device).expand_as(v0)
    inside = v0[free]
    if inside.numel() and (float(inside.min()) <= lo or float(inside.max()) >= hi):
        raise InputError(
            f"v0 spans {float(inside.min()):.6g} to {float(inside.max()):.6g} m/s where updated, not strictly "
            f"inside bounds ({lo:.6g}, {hi:.6g}): widen the bounds"
        )
    if hasattr(op, "max_velocity") and hasattr(op, "replace"):
        if op.max_velocity is None:
            op = op.replace(max_velocity=max(hi, float(v0.max())))
        elif op.max_velocity < hi:
            raise InputError(
                f"the upper bound {hi:.6g} m/s exceeds the operator's max_velocity {op.max_velocity:.6g}: "
                "lower bounds[1] or rebuild the operator with a larger max_velocity"
            )

    if not isinstance(depth_weight, (int, float)) or not math.isfinite(depth_weight):
        raise InputError(f"depth_weight must be a finite number (0 disables), got {depth_weight!r}")
    n_free = max(1, int(free.sum()))  # L-BFGS normalises its first step over the whole batch
    kappa = n_free if optimizer == "lbfgs" else 1.0  # times each band's lr for L-BFGS
    if depth_weight:
        rows = torch.arange(1, op.domain_shape[0] + 1, dtype=v0.dtype, device=v0.device)[:, None]
        w = rows.expand(op.domain_shape) ** float(depth_weight)
        kappa = kappa * w / w[free[0]].mean()
    param = _Bounded(v0.detach(), lo, hi, free, kappa * (steps[0] if optimizer == "lbfgs" else 1.0), sigmas)
    u = torch.zeros_like(v0)
    reg_u = None if reg_fn is None else (lambda x: reg_fn(param(x)))
    truth_norm = None if truth is None else batch_norm(truth).clamp(min=1e-30)

    def model_error(v: Tensor) -> float:
        return float((batch_norm(v - truth) / truth_norm).mean())

    history = FWIHistory()
    if truth is not None:
        history.model_error_initial = model_error(v0)
    gen = torch.Generator().manual_seed(int(seed))

    def draw() -> list[int]:
        if shots_per_batch is None:
            return list(range(n_shots))
        return sorted(torch.randperm(n_shots, generator=gen)[:shots_per_batch].tolist())

    bar = progress_bar(sum(iters), "fwi", show=progress, leave=True)
    start = time.perf_counter()
    try:
        for i, (f_cut, n_iter) in enumerate(zip(bands, iters)):
            band_start = time.perf_counter()
            if optimizer == "lbfgs" and i:  # this band's first trial step: same iterate, new kappa
                u = u * (steps[i - 1] / steps[i])
                param.kappa = kappa * steps[i]
            band_seconds = math.inf if seconds is None else (seconds - (band_start - start)) * n_iter / sum(iters[i:])
            residual = _BandResidual(op, observed, dt, f_cut, draw())
            target = torch.zeros((v0.shape[0], *residual.range_shape), dtype=v0.dtype, device=v0.device)
            first = len(history.objective)

            def callback(k: int, x: Tensor, loss: float, residual=residual, f_cut=f_cut) -> bool:
                history.objective.append(math.sqrt(max(2.0 * loss / v0.shape[0], 0.0)))
                history.objective_iters.append(len(history.objective))
                history.band.append(f_cut)
                if truth is not None:
                    history.model_error.append(model_error(param(x)))
                history.seconds.append(time.perf_counter() - start)
                if bar is not None:
                    band = "full" if f_cut is None else f"{f_cut:g}Hz"
                    post = {"band": band, "misfit": f"{history.objective[-1]:.4f}"}
                    if history.model_error:
                        post["model_err"] = f"{history.model_error[-1]:.4f}"
                    bar.set_postfix(post, refresh=False)
                    bar.update(1)
                residual.shots = draw()  # next mini-batch (all shots without mini-batches)
                return time.perf_counter() - band_start > band_seconds

            with solver_bars(None):  # the fwi bar reports every iteration
                u, hist = minimize(
                    residual @ param,
                    target,
                    u,
                    lam=lam,
                    reg=reg_u,
                    method=optimizer,
                    iters=n_iter,
                    tol=0.0,
                    lr=steps[i],
                    callback=callback,
                )
            if hist.objective:
                misfit_end = math.sqrt(max(2.0 * hist.objective[-1], 0.0))
            else:  # stopped by the time budget: the misfit of the band's last iterate
                misfit_end = history.objective[-1] if len(history.objective) > first else float("nan")
            history.bands.append(
                {
                    "f_cut": f_cut,
                    "iterations": hist.iterations,
                    "evaluations": residual.evaluations,
                    "misfit_start": history.objective[first] if len(history.objective) > first else None,
                    "misfit_end": misfit_end,
                    "stop_reason": hist.stop_reason,
                    "seconds": time.perf_counter() - band_start,
                }
            )
    finally:
        if bar is not None:
            bar.close()
    history.iterations = len(history.objective)
    with torch.no_grad():
        v = param(u)
    return v, history

