"""Iteration histories and the bookkeeping shared by all solvers."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace

import torch

from .._tensor import batch_norm
from ..errors import InputError, check_finite, check_count
from ..operators.base import Operator

Tensor = torch.Tensor

__all__ = ["History", "progress", "progress_bar", "record_objective"]

Bounds = tuple[float | Tensor | None, float | Tensor | None] | None

_PROGRESS: ContextVar[str | None] = ContextVar("inverselab_progress", default=None)
_OBJECTIVE_EVERY: ContextVar[int | None] = ContextVar("inverselab_objective_every", default=None)


@contextmanager
def progress(description: str | None = "solving") -> Iterator[None]:
    """Show a tqdm progress bar (iterations, PSNR) for every solver run inside the block
    (``None``: show none, e.g. for the inner solves of a method with its own bar).

    >>> with progress("tv"):
    ...     x, hist = tv_pdhg(op, y, lam=0.01)  # doctest: +SKIP
    """
    token = _PROGRESS.set(description)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


@contextmanager
def record_objective(every: int = 1) -> Iterator[None]:
    """Evaluate the objective every ``every`` iterations in every solver run inside the block
    (default every 10), e.g. to time convergence to a tolerance; the evaluations are excluded
    from the recorded seconds.

    >>> with record_objective(1):
    ...     x, hist = tv_pdhg(op, y, lam=0.01)  # doctest: +SKIP
    """
    token = _OBJECTIVE_EVERY.set(check_count("every", every))
    try:
        yield
    finally:
        _OBJECTIVE_EVERY.reset(token)


def progress_bar(total: int, description: str | None = None, show: bool | None = None, leave: bool = False):
    """A tqdm bar of ``total`` iterations, or None when no bar is wanted.

    ``show=None`` follows :func:`progress` (a bar only inside its block, labelled with its
    description unless ``description`` is given). Redirected output (logs, CI) gets an
    update every 10 s instead of a stream of them.
    """
    context = _PROGRESS.get()
    if not (show if show is not None else context is not None):
        return None
    from tqdm.auto import tqdm

    interval = 0.1 if sys.stderr.isatty() else 10.0
    return tqdm(total=total, desc=description or context or "solving", leave=leave, unit="it", mininterval=interval)


@dataclass
class History:
    """What a solver did, iteration by iteration (means over the batch).

    Attributes
    ----------
    seconds : list of float
        Cumulative solver time after each iteration, excluding the bookkeeping below.
    objective : list of float
        Objective value at the iterations listed in ``objective_iters``.
    objective_iters : list of int
        Iteration numbers (1-based) at which the objective was evaluated.
    psnr : list of float
        PSNR against the ground truth after each iteration (empty without a truth).
    criterion : list of float
        The stopping criterion after each iteration: the relative change
        ``max_b ||x_k - x_{k-1}|| / ||x_k||``, or for CG the relative residual.
    iterations : int
        Iterations run.
    stop_reason : str
        ``"tolerance"`` or ``"max_iters"``.
    interval : (Tensor, Tensor), optional
        Central 90 % interval ``(low, high)`` of the estimate, each shaped like it, from
        methods that quantify their uncertainty (posterior sampling, networks that predict a
        spread); not written to JSON.
    """

    seconds: list[float] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    objective_iters: list[int] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    criterion: list[float] = field(default_factory=list)
    iterations: int = 0
    stop_reason: str = "max_iters"
    interval: tuple[Tensor, Tensor] | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        """Plain-value copy (for JSON), without the interval tensors."""
        return {k: v for k, v in asdict(replace(self, interval=None)).items() if k != "interval"}


class Monitor:
    """Times iterations, records metrics, and decides when to stop (internal).

    Parameters
    ----------
    iters : int
        Maximum number of iterations.
    tol : float
        Stop when the criterion (by default the relative change of every sample) falls below
        ``tol`` (0 disables).
    objective : callable, optional
        ``x -> (B,)`` objective; evaluated every ``objective_every`` iterations.
    truth : Tensor, optional
        Ground truth for the PSNR history.
    data_range : float, optional
        PSNR data range (default: the truth's own range).
    objective_every : int
        Objective evaluation period.
    """

    def __init__(
        self,
        iters: int,
        tol: float,
        objective: Callable[[Tensor], Tensor] | None = None,
        truth: Tensor | None = None,
        data_range: float | None = None,
        objective_every: int = 10,
    ) -> None:
        check_count("iters", iters)
        if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not tol >= 0 or tol != tol:
            raise InputError(f"tol must be >= 0, got {tol}")
        self.iters, self.tol = int(iters), float(tol)
        self.objective, self.truth, self.data_range = objective, truth, data_range
        self.objective_every = _OBJECTIVE_EVERY.get() or max(1, int(objective_every))
        self.history = History()
        self._bar = progress_bar(self.iters)
        self._elapsed = 0.0
        self._start = time.perf_counter()

    def step(self, k: int, x: Tensor, x_prev: Tensor | None = None, criterion: float | None = None) -> bool:
        """Record iteration ``k`` (0-based); return True when the solver should stop.

        The stopping criterion is the relative change from ``x_prev``, or ``criterion`` when
        given.
        """
        from ..metrics import psnr

        self._elapsed += time.perf_counter() - self._start
        h = self.history
        h.seconds.append(self._elapsed)
        h.iterations = k + 1
        with torch.no_grad():
            if criterion is None:
                change = batch_norm(x - x_prev) / batch_norm(x).clamp(min=torch.finfo(x.real.dtype).tiny)
                criterion = float(change.max())
            h.criterion.append(criterion)
            if self.truth is not None:
                h.psnr.append(float(psnr(x, self.truth, self.data_range)))
            last = k + 1 == self.iters
            stop = self.tol > 0 and criterion < self.tol
            if self.objective is not None and ((k + 1) % self.objective_every == 0 or last or stop):
                h.objective.append(float(self.objective(x).mean()))
                h.objective_iters.append(k + 1)
        if stop:
            h.stop_reason = "tolerance"
        if self._bar is not None:
            self._bar.update(1)
            if h.psnr:
                self._bar.set_postfix(psnr=f"{h.psnr[-1]:.2f}", refresh=False)
            if stop or last:
                self._bar.close()
        self._start = time.perf_counter()
        return stop


def prepare(
    op: Operator,
    y: Tensor,
    truth: Tensor | None = None,
    x0: Tensor | None = None,
    bounds: Bounds = None,
) -> Tensor:
    """Check a measurement batch (shape, dtype, finiteness), optional truth/start and box
    bounds against ``op``; returns the measurement."""
    y = op._check(y, op.range_shape, op.range_complex, "measurement")
    check_finite("measurement y", y)
    for name, t in (("truth", truth), ("x0", x0)):
        if t is not None:
            if tuple(t.shape) != (y.shape[0], *op.domain_shape):
                raise InputError(
                    f"{name} must have shape (B, {', '.join(map(str, op.domain_shape))}) with B = "
                    f"{y.shape[0]}, got {tuple(t.shape)}"
                )
            check_finite(name, t)
    if bounds is not None:
        if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
            raise InputError(f"bounds must be a pair (lower, upper), either may be None; got {bounds!r}")
        if op.domain_complex:
            raise InputError("bounds apply to real images only; this operator's domain is complex")
        lo, hi = bounds
        if lo is not None and hi is not None and bool(torch.any(torch.as_tensor(lo) > torch.as_tensor(hi))):
            raise InputError("bounds must satisfy lower <= upper everywhere")
    return y


def project(x: Tensor, bounds: Bounds) -> Tensor:
    """Clamp to ``bounds = (lower, upper)``; either may be None, a number, or a tensor that
    broadcasts against ``x`` (e.g. a support mask times a maximum). No-op without bounds."""
    if bounds is None:
        return x
    lo, hi = bounds
    if isinstance(lo, Tensor) or isinstance(hi, Tensor):
        lo, hi = (None if b is None else torch.as_tensor(b, dtype=x.dtype, device=x.device) for b in bounds)
    return x.clamp(min=lo, max=hi)
