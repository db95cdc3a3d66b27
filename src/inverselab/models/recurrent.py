"""Recurrent regressors from time series to ODE parameters (amortised parameter estimation).

:class:`SeriesRegressor` reads a series ``(B, T, d)`` with a GRU or LSTM and returns parameters
``(B, k)`` inside a box; :func:`train_series_regressor` trains it on freshly simulated noisy
series, parameters drawn uniformly from a prior box. Once trained, an estimate costs one forward
pass instead of an optimisation (see :func:`inverselab.solvers.ode.fit_ode` for the classical
route, which the network's output can also start).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import nn

from .._tensor import generator as _generator
from ..errors import InputError, check_choice, check_finite, check_nonnegative, check_positive, format_shape

Tensor = torch.Tensor
Simulator = Callable[[Tensor, torch.Generator], Tensor]

__all__ = ["SeriesRegressor", "series_statistics", "train_series_regressor"]


def _vector(name: str, value, size: int | None = None) -> Tensor:
    """``value`` (number or sequence) as a finite float64 vector, or InputError."""
    try:
        t = torch.as_tensor(value, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{name} must be a number or a sequence of numbers, got {value!r}") from exc
    if size is not None:
        if t.numel() == 1:
            t = t.expand(size).clone()
        if t.numel() != size:
            raise InputError(f"{name} must hold {size} values, got {t.numel()}")
    check_finite(name, t)
    return t


def _box(low, high, size: int) -> tuple[Tensor, Tensor]:
    low, high = _vector("low", low, size), _vector("high", high, size)
    if bool((high <= low).any()):
        raise InputError(f"the box needs low < high for every parameter, got low={low.tolist()}, high={high.tolist()}")
    return low, high


class SeriesRegressor(nn.Module):
    """GRU/LSTM regressor: series ``(B, T, d)`` -> parameters ``(B, k)`` in a box.

    The input is standardised per channel, ``(series - mean) / std``; the recurrent network's
    last output and its mean over time feed a linear head, whose output ``raw`` is mapped into
    the box by ``low + (high - low) * sigmoid(raw)``, so predictions always lie strictly inside
    ``(low, high)``. The head starts at zero: the untrained model predicts the centre of the box
    (the prior mean for a uniform prior). Standardisation and box are buffers, saved in the
    ``state_dict``, so a loaded model reproduces the predictions.

    Parameters
    ----------
    in_features : int
        Channels ``d`` of the series.
    out_features : int
        Number of parameters ``k``.
    low, high : float or sequence of k floats
        Output box.
    mean, std : float or sequence of d floats
        Input standardisation (e.g. from :func:`series_statistics`).
    hidden : int
        Hidden size of the recurrent layers.
    layers : int
        Number of stacked recurrent layers.
    cell : {"gru", "lstm"}
        Recurrent cell.
    dropout : float
        Dropout between stacked recurrent layers (needs ``layers > 1``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        low,
        high,
        mean=0.0,
        std=1.0,
        hidden: int = 64,
        layers: int = 1,
        cell: str = "gru",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        sizes = {"in_features": in_features, "out_features": out_features, "hidden": hidden, "layers": layers}
        for name, value in sizes.items():
            if not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be an integer >= 1, got {value!r}")
        check_choice("recurrent cell", cell, ("gru", "lstm"))
        if not 0 <= dropout < 1:
            raise InputError(f"dropout must be in [0, 1), got {dropout!r}")
        low, high = _box(low, high, out_features)
        mean, std = _vector("mean", mean, in_features), _vector("std", std, in_features)
        if bool((std <= 0).any()):
            raise InputError(f"std must be > 0 for every channel, got {std.tolist()}")
        self.in_features, self.out_features, self.cell = in_features, out_features, cell
        dtype = torch.get_default_dtype()
        self.register_buffer("input_mean", mean.to(dtype))
        self.register_buffer("input_std", std.to(dtype))
        self.register_buffer("low", low.to(dtype))
        self.register_buffer("high", high.to(dtype))
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(in_features, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(2 * hidden, out_features)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, series: Tensor) -> Tensor:
        """Parameters ``(B, k)`` for series ``(B, T, d)`` (computed in the model's dtype)."""
        if not isinstance(series, Tensor):
            raise InputError(f"SeriesRegressor expects a torch.Tensor, got {type(series).__name__}")
        if series.ndim != 3 or series.shape[2] != self.in_features or series.shape[1] < 1:
            raise InputError(
                f"SeriesRegressor expects series of shape (B, T, {self.in_features}), got {format_shape(series.shape)}"
            )
        if not series.is_floating_point():
            raise InputError(f"SeriesRegressor expects a real float series, got {series.dtype}")
        check_finite("series", series)
        h = (series.to(self.input_mean) - self.input_mean) / self.input_std
        out, _ = self.rnn(h)
        raw = self.head(torch.cat((out[:, -1], out.mean(1)), 1))
        return self.low + (self.high - self.low) * torch.sigmoid(raw)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, cell={self.cell!r}"


def _draw(low: Tensor, high: Tensor, n: int, gen: torch.Generator) -> Tensor:
    u = torch.rand(n, low.numel(), generator=gen, dtype=torch.float64)
    return (low + (high - low) * u).to(torch.get_default_dtype())


def series_statistics(
    simulate: Simulator, prior_low, prior_high, n: int = 256, seed: int | torch.Generator = 0
) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation ``(d,)`` of ``n`` series simulated from the
    uniform prior box, for :class:`SeriesRegressor`'s standardisation."""
    low, high = _box(prior_low, prior_high, _vector("prior_low", prior_low).numel())
    gen = _generator(seed)
    with torch.no_grad():
        series = simulate(_draw(low, high, int(n), gen), gen)
    if not isinstance(series, Tensor) or series.ndim != 3:
        raise InputError("simulate(params, generator) must return series of shape (B, T, d)")
    flat = series.reshape(-1, series.shape[2]).double()
    return flat.mean(0), flat.std(0).clamp(min=1e-12)


def _relative_error(pred: Tensor, truth: Tensor) -> list[float]:
    return ((pred - truth).abs() / truth.abs().clamp(min=1e-12)).mean(0).tolist()


def train_series_regressor(
    model: SeriesRegressor,
    simulate: Simulator,
    prior_low,
    prior_high,
    steps: int = 2000,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
    weight_decay: float = 1e-4,
    clip: float = 1.0,
    val_size: int = 256,
    val_every: int | None = None,
) -> dict:
    """Train ``model`` on freshly simulated series (amortised estimation, a compact loop).

    Every step draws ``batch_size`` parameter vectors uniformly from the prior box, simulates
    noisy series with ``simulate(params, generator)`` and takes an AdamW step on the mean
    squared error of the parameters in units of the box width; the learning rate follows a
    cosine schedule to zero, gradients are clipped to norm ``clip``. A fixed validation set of
    ``val_size`` series (simulated first, from the same seed) measures the mean relative error
    per parameter, next to that of the prior-mean predictor.

    Parameters
    ----------
    model : SeriesRegressor
        Trained in place (on its device; simulated series are moved there).
    simulate : callable
        ``(params (B, k) on CPU, torch.Generator) -> series (B, T, d)``, e.g.
        :func:`inverselab.solvers.ode.lorenz_simulator`.
    prior_low, prior_high : sequence of k floats
        Uniform prior box of the training parameters.
    steps, batch_size, lr, weight_decay, clip
        Optimisation settings.
    seed : int
        Seed of parameter draws and simulation noise (the model's initialisation is the
        caller's).
    progress : bool
        Show a tqdm bar with the running loss.
    val_size : int
        Validation series (0 disables validation).
    val_every : int, optional
        Validation period in steps (default ``max(1, steps // 10)``; always at the end).

    Returns
    -------
    dict
        ``loss`` (per step), ``lr`` (per step), ``val_steps``, ``val_error`` (per validation,
        a list of mean relative errors per parameter), ``prior_mean_error`` (per parameter),
        ``seconds``, ``steps``.
    """
    if not isinstance(model, SeriesRegressor):
        raise InputError(f"model must be a SeriesRegressor, got {type(model).__name__}")
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be an integer >= 1, got {value!r}")
    if not isinstance(val_size, int) or val_size < 0:
        raise InputError(f"val_size must be an integer >= 0, got {val_size!r}")
    check_positive("lr", float(lr))
    check_nonnegative("weight_decay", float(weight_decay))
    check_positive("clip", float(clip))
    low, high = _box(prior_low, prior_high, model.out_features)
    val_every = max(1, steps // 10) if val_every is None else int(val_every)
    device = model.low.device
    width = (high - low).to(model.low)
    gen = _generator(seed)

    def batch(n: int) -> tuple[Tensor, Tensor]:
        params = _draw(low, high, n, gen)
        series = simulate(params, gen)
        if not isinstance(series, Tensor) or series.ndim != 3 or series.shape[0] != n:
            got = format_shape(series.shape) if isinstance(series, Tensor) else type(series).__name__
            raise InputError(f"simulate(params, generator) must return series (B, T, d) with B = {n}, got {got}")
        return series.to(device), params.to(model.low)

    history: dict = {"loss": [], "lr": [], "val_steps": [], "val_error": [], "prior_mean_error": [], "steps": 0}
    if val_size:
        with torch.no_grad():
            val_x, val_p = batch(val_size)
        centre = ((low + high) / 2).to(val_p).expand_as(val_p)
        history["prior_mean_error"] = _relative_error(centre, val_p)

    def validate(step: int) -> None:
        model.eval()
        with torch.no_grad():
            history["val_error"].append(_relative_error(model(val_x), val_p))
        history["val_steps"].append(step)
        model.train()

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="training", unit="step", dynamic_ncols=True, leave=False)
    start = time.perf_counter()
    model.train()
    try:
        for step in range(1, steps + 1):
            with torch.no_grad():
                x, p = batch(batch_size)
            loss = ((model(x) - p) / width).pow(2).mean()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise InputError(f"training loss became {value} at step {step}: lower lr or check simulate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            history["lr"].append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
            history["loss"].append(value)
            history["steps"] = step
            if val_size and (step % val_every == 0 or step == steps):
                validate(step)
            if bar is not None:
                bar.update(1)
                if step % 10 == 0 or step == steps:
                    recent = history["loss"][-10:]
                    bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}", refresh=False)
    finally:
        if bar is not None:
            bar.close()
        model.eval()
    history["seconds"] = time.perf_counter() - start
    return history
