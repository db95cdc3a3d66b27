"""One training loop for every learned method.

AdamW with a cosine learning-rate schedule and gradient clipping; deterministic data (pair
``i`` of the stream is the same in every process and after a resume); a fixed validation set
scored every epoch; atomic checkpoints that resume exactly; DistributedDataParallel under
``torchrun``; bf16 autocast for the networks on CUDA (the physics stays in full precision);
adversarial objectives (:class:`~inverselab.training.adversarial.WassersteinGP`) through the
same loop.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ..metrics import psnr, relative_error
from ..problems.base import Problem
from ..runs import write_json_atomic
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint, save_weights
from .distributed import Context, max_over_ranks, mean_over_ranks, setup
from .loss import Loss, make_loss
from .tasks import Schedule, SingleTask, Task, make_task

Tensor = torch.Tensor

__all__ = ["Trainer", "TrainingConfig"]


@dataclass
class TrainingConfig:
    """Optimisation settings.

    Attributes
    ----------
    batch_size : int
        Global batch size (split evenly over ranks).
    lr, weight_decay : float
        AdamW peak learning rate and decoupled weight decay.
    warmup_steps : int
        Linear learning-rate warm-up before the cosine decay.
    clip : float
        Gradient-norm clipping threshold (0 disables).
    steps_per_epoch : int
        Optimisation steps between validations and checkpoints.
    val_size : int
        Fixed validation pairs per task.
    seed : int
        Seed of the data order and of dropout.
    checkpoint_every : int
        Also checkpoint every this many steps (0: only at the end of each epoch).
    keep : int
        Checkpoints kept on disk (0: all, e.g. to average them afterwards with
        :func:`~inverselab.training.checkpoint.average_weights`).
    """

    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 20
    clip: float = 1.0
    steps_per_epoch: int = 50
    val_size: int = 16
    seed: int = 0
    checkpoint_every: int = 0
    keep: int = 2

    def __post_init__(self) -> None:
        for name in ("batch_size", "steps_per_epoch", "val_size"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if int(self.keep) < 0:
            raise InputError(f"keep must be >= 0 (0 keeps every checkpoint), got {self.keep}")
        for name in ("lr", "weight_decay", "clip", "warmup_steps", "checkpoint_every"):
            if not 0 <= getattr(self, name) < math.inf:
                raise InputError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")
        if not 0 <= int(self.seed) < 2**63:
            raise InputError(f"seed must be in [0, 2**63), got {self.seed}")


def _operator_buffers(net: nn.Module) -> list[str]:
    """Names of the buffers that belong to forward operators inside ``net``."""
    from ..operators.base import Operator

    return [
        f"{prefix}.{name}" if prefix else name
        for prefix, module in net.named_modules()
        if isinstance(module, Operator)
        for name, _ in module.named_buffers(recurse=False)
    ]


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


class Trainer:
    """Train ``model`` (``y -> x``) on a problem or a schedule of tasks.

    Parameters
    ----------
    model : nn.Module
        A network mapping measurements to images (see :mod:`inverselab.models`). Models with a
        ``bind(problem)`` method are re-bound to each task's problem (multi-task, curriculum).
    tasks : Problem, Task or Schedule
        What to train on; a problem becomes one task with on-the-fly pairs.
    loss : str or Loss
        ``"supervised"``, ``"consistency"`` or a :class:`~inverselab.training.losses.Loss`.
    out : str or Path, optional
        Run directory for ``checkpoints/``, ``training.json`` and ``model.safetensors``.
    config : TrainingConfig, optional
        Optimisation settings; keyword ``overrides`` change single fields.
    device : str or torch.device, optional
        Training device (default: this rank's GPU if any, else CPU).
    """

    def __init__(
        self,
        model: nn.Module,
        tasks: Problem | Task | Schedule,
        loss: str | Loss = "supervised",
        out: str | Path | None = None,
        config: TrainingConfig | None = None,
        device: str | torch.device | None = None,
        **overrides: Any,
    ) -> None:
        config = config or TrainingConfig()
        valid = {f.name for f in fields(TrainingConfig)}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise InputError(f"unknown training setting {unknown[0]!r}: valid are {', '.join(sorted(valid))}")
        self.config = TrainingConfig(**{**asdict(config), **overrides})
        self.ctx: Context = setup(device)
        if self.config.batch_size % self.ctx.world:
            raise InputError(f"batch_size {self.config.batch_size} must be a multiple of the {self.ctx.world} ranks")
        if isinstance(tasks, Problem):
            tasks = make_task(tasks, self.config.val_size)
        self.schedule: Schedule = SingleTask(tasks) if isinstance(tasks, Task) else tasks
        self.loss = make_loss(loss) if isinstance(loss, str) else loss
        self.out = Path(out) if out is not None else None
        self.net = model.to(self.ctx.device)
        self.model: nn.Module = self.net
        if self.ctx.distributed:
            ids = [self.ctx.device.index] if self.ctx.device.type == "cuda" else None
            # operators inside networks hold fixed physics buffers (e.g. complex coil maps, which
            # NCCL cannot broadcast): every rank builds them identically, so DDP skips them
            self.net._ddp_params_and_buffers_to_ignore = _operator_buffers(self.net)
            self.model = nn.parallel.DistributedDataParallel(self.net, device_ids=ids)
        self.own_step = self.loss.own_step
        if self.own_step:
            self.loss.check_model(self.net)
            if self.ctx.distributed:
                raise InputError(f"the {type(self.loss).__name__} loss runs its own optimisation steps, in a single "
                                 "process only: start it without torchrun")
        groups = self.loss.param_groups(self.net) if self.own_step else [{"params": list(self.net.parameters())}]
        self.optimizer = torch.optim.AdamW(groups, lr=self.config.lr, weight_decay=self.config.weight_decay,
                                           betas=getattr(self.loss, "betas", (0.9, 0.999)))
        self.history: list[dict[str, float]] = []
        #: "val_psnr", or "val_misfit" where validation has measurements without truths
        self.validation_metric = "val_psnr" if all(t.validation.truth is not None for t in self.schedule.validation_tasks) \
            else "val_misfit"
        self.step = 0
        self.elapsed = 0.0
        self._permutations: dict[int, Tensor] = {}

    # -- data -----------------------------------------------------------------------------------
    def _indices(self, task: Task, step: int) -> list[int]:
        """This rank's share of the global batch of ``step``: consecutive positions in a stream
        of seeded permutations of the task's pairs."""
        n, b = len(task.source), self.config.batch_size
        local = b // self.ctx.world
        start = step * b + self.ctx.rank * local
        out = []
        for pos in range(start, start + local):
            k, i = divmod(pos, n)
            if k not in self._permutations:
                g = torch.Generator().manual_seed(self.config.seed * 1_000_003 + k)
                self._permutations = {k: torch.randperm(n, generator=g)}
            out.append(int(self._permutations[k][i]))
        return out

    def _bind(self, task: Task) -> None:
        if hasattr(self.net, "bind"):
            self.net.bind(task.problem)

    # -- schedule -------------------------------------------------------------------------------
    def _lr(self, progress: float) -> float:
        warm = self.config.warmup_steps
        factor = min(1.0, (self.step + 1) / warm) if warm else 1.0
        return self.config.lr * factor * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    def _autocast(self):
        if self.ctx.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # -- steps ----------------------------------------------------------------------------------
    def _train_step(self, progress: float) -> float:
        task = self.schedule.task(self.step, progress)
        self._bind(task)
        batch = task.source.get(self._indices(task, self.step))
        y = batch.y.to(self.ctx.device)
        if self.loss.needs_truth and batch.truth is None:
            raise InputError(f"{task.problem.name} has measurements but no truths: train with a loss that needs none "
                             "(--loss consistency or equivariant)")
        truth = batch.truth.to(self.ctx.device) if self.loss.needs_truth else None
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self._lr(progress) * group.get("lr_scale", 1.0)
        if self.own_step:
            loss = self.loss.step(self.net, y, truth, self.optimizer, self.config.clip)
            self.step += 1
            return float(loss)
        with self._autocast():
            output = self.model(y, **self.loss.model_kwargs)
        dtype = batch.truth.dtype if batch.truth is not None else y.real.dtype
        if isinstance(output, tuple):
            output = tuple(t.to(dtype) for t in output)
        elif not output.is_complex():
            output = output.to(dtype)
        extra = {"model": self.model} if getattr(self.loss, "needs_model", False) else {}
        loss = self.loss(output, truth, y, task.problem, **extra)
        if not torch.isfinite(loss):
            raise InputError(
                f"training loss became {float(loss.detach())} at step {self.step}: check the training data for "
                "non-finite values, or lower the learning rate (--lr)"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.clip:
            nn.utils.clip_grad_norm_(self.net.parameters(), self.config.clip)
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean validation PSNR (dB) per task and over tasks, in evaluation mode; without
        truths, the mean relative misfit ``||F(x) - y|| / ||y||`` on held-out measurements
        (:attr:`validation_metric` says which)."""
        self.net.eval()
        scores = {}
        for task in self.schedule.validation_tasks:
            self._bind(task)
            v = task.validation
            parts = []
            for i in range(0, v.y.shape[0], self.config.batch_size):
                y = v.y[i : i + self.config.batch_size].to(self.ctx.device)
                with self._autocast():
                    est = self.net(y)
                if v.truth is None:
                    fit = task.problem.operator(est.to(y.real.dtype if not est.is_complex() else y.dtype))
                    parts.append(relative_error(fit.to(y.dtype), y, reduction="none"))
                    continue
                ref = v.truth[i : i + self.config.batch_size].to(self.ctx.device)
                est = est.to(ref.dtype)
                if est.is_complex():
                    est, ref = est.abs(), ref.abs()
                parts.append(psnr(est, ref, task.problem.data_range, reduction="none"))
            scores[task.name] = float(torch.cat(parts).mean())
        scores["mean"] = sum(scores.values()) / len(scores)
        self._bind(self.schedule.validation_tasks[-1])
        return scores

    # -- checkpoints ----------------------------------------------------------------------------
    def _checkpoint(self) -> None:
        if self.out is None or not self.ctx.main:
            return
        directory = self.out / "checkpoints"
        state = {"step": self.step, "elapsed": self.elapsed, "history": self.history, "training": asdict(self.config),
                 "epoch_losses": self._epoch_losses}
        save_checkpoint(directory, f"step-{self.step:08d}", self.net, self.optimizer, state)
        records = sorted(directory.glob("step-*.json"))
        for old in records[: -self.config.keep] if self.config.keep else ():
            old.unlink(missing_ok=True)
            old.with_suffix(".safetensors").unlink(missing_ok=True)

    def resume(self) -> bool:
        """Restore the latest checkpoint in ``out/checkpoints``; False when there is none."""
        if self.out is None:
            raise InputError("resume needs the run directory (out=...)")
        record = latest_checkpoint(self.out / "checkpoints")
        if record is None:
            return False
        if self.ctx.main:  # temporary files of writes a kill interrupted
            for folder in (self.out, self.out / "checkpoints"):
                for orphan in folder.glob(".*.tmp"):
                    orphan.unlink(missing_ok=True)
        meta = load_checkpoint(record, self.net, self.optimizer)
        self.step, self.elapsed = int(meta["step"]), float(meta["elapsed"])
        self.history = list(meta["history"])
        self._epoch_losses = [float(v) for v in meta.get("epoch_losses", [])]
        if self.ctx.distributed:  # each rank draws its own dropout masks
            torch.manual_seed(self.config.seed * 7_919 + self.ctx.rank + self.step)
        return True

    # -- the loop -------------------------------------------------------------------------------
    def fit(self, epochs: int | None = None, minutes: float | None = None, resume: bool = False) -> list[dict[str, float]]:
        """Train for ``epochs`` epochs or ``minutes`` of training time (one of the two).

        The cosine schedule runs over the step budget (epochs) or the time budget (minutes).
        With ``resume`` the latest checkpoint is restored first and training continues to the
        same budget. Returns the per-epoch history (also in ``out/training.json``).
        """
        if (epochs is None) == (minutes is None):
            raise InputError("give either epochs or minutes")
        if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
            raise InputError(f"epochs must be a positive integer, got {epochs!r}")
        if minutes is not None and not minutes > 0:
            raise InputError(f"minutes must be > 0, got {minutes!r}")
        self._epoch_losses: list[float] = []  # this epoch's step losses so far (kept in checkpoints)
        if not (resume and self.resume()):
            torch.manual_seed(self.config.seed * 7_919 + self.ctx.rank)
        spe = self.config.steps_per_epoch
        total = epochs * spe if epochs is not None else None
        budget = minutes * 60.0 if minutes is not None else None

        def progress() -> float:
            return self.step / total if total is not None else self.elapsed / budget

        def done() -> bool:
            return progress() >= 1.0

        bar = None
        if self.ctx.main:
            from tqdm.auto import tqdm

            if total is not None:
                bar = tqdm(total=total, initial=self.step, desc="training", unit="step", dynamic_ncols=True)
            else:
                bar = tqdm(total=budget, initial=self.elapsed, desc="training", dynamic_ncols=True,
                           bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}{postfix}]")
        losses = self._epoch_losses
        try:
            while not done():
                start = time.perf_counter()
                losses.append(self._train_step(progress()))
                dt = max_over_ranks(time.perf_counter() - start, self.ctx)
                self.elapsed += dt
                if bar is not None:
                    bar.update(1 if total else min(dt, budget - bar.n))
                    bar.set_postfix(loss=f"{losses[-1]:.3g}", refresh=False)
                end_of_epoch = self.step % spe == 0 or done()
                if end_of_epoch:
                    epoch_loss = mean_over_ranks(sum(losses) / len(losses), self.ctx)
                    scores = self.validate()
                    record = {
                        "epoch": math.ceil(self.step / spe),
                        "step": self.step,
                        "loss": epoch_loss,
                        self.validation_metric: scores["mean"],
                        **{f"{self.validation_metric}/{k}": v for k, v in scores.items() if k != "mean" and len(scores) > 2},
                        "lr": self.optimizer.param_groups[0]["lr"] / self.optimizer.param_groups[0].get("lr_scale", 1.0),
                        "seconds": self.elapsed,
                    }
                    self.history.append(record)
                    losses.clear()
                    if bar is not None:
                        bar.set_postfix(loss=f"{record['loss']:.3g}",
                                        **{self.validation_metric: f"{record[self.validation_metric]:.4g}"})
                if end_of_epoch or (self.config.checkpoint_every and self.step % self.config.checkpoint_every == 0):
                    self._checkpoint()
        finally:  # the bar ends before any error line
            if bar is not None:
                bar.close()
        if self.out is not None and self.ctx.main:
            save_weights(self.out / "model.safetensors", self.net)
            write_json_atomic(self.out / "training.json", {"history": self.history, "training": asdict(self.config),
                                                           "loss": self.loss.config(), "schedule": self.schedule.config()})
        return self.history
