"""Training a PINN: Adam with collocation resampling and adaptive weights, then L-BFGS that
keeps its best state and rolls back when the loss rises."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

import torch

from ...errors import InputError
from .spec import PINN
from .weighting import Weighting, make_weighting

Tensor = torch.Tensor

__all__ = ["FitConfig", "PINNHistory", "fit"]


@dataclass
class FitConfig:
    """Optimisation settings of :func:`fit`.

    Attributes
    ----------
    adam_steps : int
        First-order steps.
    lr : float
        Adam's learning rate (decays by ``lr_decay`` over the Adam phase, exponentially).
    lr_decay : float
        Final learning rate as a fraction of ``lr``.
    lbfgs_steps : int
        L-BFGS iterations after Adam (in chunks of ``lbfgs_chunk``, each checked for a rise).
    lbfgs_chunk : int
        L-BFGS iterations between checks of the loss.

    collocation : int
        Interior points per residual term.
    resample_every : int
        Draw fresh collocation and boundary points every this many Adam steps (0: never).
    weighting : str or Weighting
        ``"fixed"``, ``"annealing"`` or ``"relobralo"`` (see :mod:`.weighting`).
    weights : dict of str to float
        Base weights by term name (missing terms weigh 1).
    record_every : int
        Adam steps between history records (and callback calls).
    seed : int
        Seed of the point sampling.
    minutes : float, optional
        Stop after this wall time.
    progress : bool
        Show a tqdm bar.
    """

    adam_steps: int = 5000
    lr: float = 1e-3
    lr_decay: float = 1.0
    lbfgs_steps: int = 500
    lbfgs_chunk: int = 20
    collocation: int = 1000
    resample_every: int = 0
    weighting: str | Weighting = "fixed"
    weights: dict[str, float] = field(default_factory=dict)
    record_every: int = 50
    seed: int = 0
    minutes: float | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("adam_steps", "lbfgs_steps", "resample_every"):
            if int(getattr(self, name)) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lbfgs_chunk", "collocation", "record_every"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and 0 < self.lr_decay <= 1):
            raise InputError(f"need lr > 0 and 0 < lr_decay <= 1, got {self.lr}, {self.lr_decay}")


@dataclass
class PINNHistory:
    """The loss terms, weights and unknown scalars along training.

    Attributes
    ----------
    step, seconds, loss : list
        Optimisation step (Adam steps, then L-BFGS iterations counted on), wall time, weighted
        total loss.
    phase : list of str
        ``"adam"`` or ``"lbfgs"`` per record.
    terms, weights, parameters : dict of str to list of float
        Unweighted loss of every named term, its weight, and every unknown scalar per record.
    rollbacks : int
        L-BFGS chunks undone because the loss rose or became non-finite.
    stop_reason : str
        ``"budget"``, ``"time"``, ``"callback"``, ``"converged"`` (L-BFGS stalled for three
        chunks) or ``"diverged"`` (non-finite loss in the Adam phase).
    """

    step: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    phase: list[str] = field(default_factory=list)
    terms: dict[str, list[float]] = field(default_factory=dict)
    weights: dict[str, list[float]] = field(default_factory=dict)
    parameters: dict[str, list[float]] = field(default_factory=dict)
    rollbacks: int = 0
    stop_reason: str = "budget"

    def record(self, step: int, seconds: float, phase: str, total: float, losses: dict[str, Tensor],
               weighting: Weighting, model: PINN) -> None:
        self.step.append(step)
        self.seconds.append(seconds)
        self.phase.append(phase)
        self.loss.append(total)
        for name, value in losses.items():
            self.terms.setdefault(name, []).append(float(value))
            self.weights.setdefault(name, []).append(weighting.weights[name])
        for name, value in model.scalars().items():
            self.parameters.setdefault(name, []).append(value)

    def as_dict(self) -> dict:
        return asdict(self)


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def fit(
    model: PINN,
    config: FitConfig | None = None,
    callback: Callable[[PINN, int], bool] | None = None,
    **overrides,
) -> PINNHistory:
    """Train ``model`` in place; returns its history.

    Parameters
    ----------
    model : PINN
        The declared problem and networks.
    config : FitConfig, optional
        Settings; keyword ``overrides`` change single fields (e.g. ``adam_steps=2000``).
    callback : callable, optional
        ``callback(model, step) -> bool`` at every record; returning True stops training
        (the current state is kept).

    The model ends in the state of lowest total loss seen at a record (L-BFGS never leaves it
    worse than where Adam ended).
    """
    if not isinstance(model, PINN):
        raise InputError(f"fit needs a PINN, got {type(model).__name__}")
    config = config or FitConfig()
    valid = {f.name for f in fields(FitConfig)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise InputError(f"unknown fit setting {unknown[0]!r}: valid are {', '.join(sorted(valid))}")
    config = FitConfig(**{**asdict(config), **overrides}) if overrides else config
    weighting = make_weighting(config.weighting, model.term_names, config.weights,
                               reference=list(model.residual_terms), seed=config.seed)
    generator = torch.Generator().manual_seed(int(config.seed))
    points = model.sample_points(config.collocation, generator)
    history = PINNHistory()
    params = [p for p in model.parameters() if p.requires_grad]
    start = time.perf_counter()
    deadline = None if config.minutes is None else start + 60 * config.minutes
    best = {"loss": math.inf, "state": None}

    def note(step: int, phase: str, total: Tensor, losses: dict[str, Tensor]) -> None:
        value = float(total)
        history.record(step, time.perf_counter() - start, phase, value, losses, weighting, model)
        if math.isfinite(value) and value < best["loss"]:
            best.update(loss=value, state={k: t.detach().clone() for k, t in model.state_dict().items()})
        if callback is not None and callback(model, step):
            raise _Stop("callback")
        if deadline is not None and time.perf_counter() > deadline:
            raise _Stop("time")

    bar = _bar(config)
    try:
        _adam(model, config, weighting, generator, points, params, note, bar)
        if config.adam_steps and not config.resample_every and best["state"] is not None:
            model.load_state_dict(best["state"])  # with resampling, records are on other points
        _lbfgs(model, config, weighting, points, params, note, bar, history, best)
    except _Stop as stop:
        history.stop_reason = stop.reason
    finally:
        if bar is not None:
            bar.close()
    if history.stop_reason not in ("callback",) and best["state"] is not None:
        model.load_state_dict(best["state"])
    return history


def _bar(config: FitConfig):
    if not config.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=config.adam_steps + config.lbfgs_steps, desc="pinn", leave=False)


def _postfix(bar, total: Tensor, model: PINN) -> None:
    if bar is not None:
        bar.set_postfix(loss=f"{float(total.detach()):.3g}", **{k: f"{v:.5g}" for k, v in model.scalars().items()})


def _adam(model, config, weighting, generator, points, params, note, bar) -> None:
    if not config.adam_steps:
        return
    opt = torch.optim.Adam(params, lr=config.lr, foreach=True)
    gamma = config.lr_decay ** (1.0 / config.adam_steps)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma)
    for step in range(1, config.adam_steps + 1):
        if config.resample_every and step % config.resample_every == 0:
            points.update(model.sample_points(config.collocation, generator))
        losses = model.losses(points)
        weighting.update(step, losses, model)
        total = weighting.total(losses)
        if not torch.isfinite(total):
            raise _Stop("diverged")
        opt.zero_grad(set_to_none=True)
        total.backward()
        if bar is not None:
            bar.update()
        if step % config.record_every == 0 or step == config.adam_steps:
            # before the update: the state kept for a record is the one whose loss it holds
            _postfix(bar, total, model)
            note(step, "adam", total.detach(), {k: v.detach() for k, v in losses.items()})
        opt.step()
        sched.step()


def _lbfgs(model, config, weighting, points, params, note, bar, history, best) -> None:
    if not config.lbfgs_steps:
        return

    def make():
        return torch.optim.LBFGS(params, lr=1.0, max_iter=config.lbfgs_chunk, history_size=50,
                                 tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe")

    step0 = config.adam_steps

    # L-BFGS works on the last points drawn; losses recorded on earlier draws are not
    # comparable, so the starting state is the reference for rollbacks
    best.update(loss=math.inf, state=None)
    losses = model.losses(points)
    note(step0, "lbfgs", weighting.total(losses).detach(), {k: v.detach() for k, v in losses.items()})
    opt = make()

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        total = weighting.total(model.losses(points))
        total.backward()
        return total

    done = 0
    stalled = 0  # consecutive chunks that lowered the best loss by less than 1e-4 (relative)
    while done < config.lbfgs_steps:
        before_best = best["loss"]
        before = opt.state[opt._params[0]].get("n_iter", 0) if opt.state else 0
        opt.step(closure)
        ran = max(opt.state[opt._params[0]].get("n_iter", 0) - before, 1)
        done += ran
        if bar is not None:
            bar.update(min(ran, config.lbfgs_steps - done + ran))
        losses = model.losses(points)
        total = weighting.total(losses).detach()
        if not torch.isfinite(total) or float(total) > best["loss"] * (1 + 1e-6):
            history.rollbacks += 1
            model.load_state_dict(best["state"])
            opt = make()  # forget the curvature pairs that led uphill
        else:
            _postfix(bar, total, model)
            note(step0 + done, "lbfgs", total, {k: v.detach() for k, v in losses.items()})
            if ran < config.lbfgs_chunk:  # stopped on its tolerances or a failed line search
                opt = make()
        stalled = stalled + 1 if best["loss"] > before_best * (1 - 1e-4) else 0
        if stalled >= 3:
            raise _Stop("converged")
