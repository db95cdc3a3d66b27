"""What the trainer trains on at each step: one problem, a curriculum, or several tasks.

A *task* is a problem with its source of training pairs and a fixed validation batch. A
*schedule* picks the task of every optimisation step from the step number and the training
progress (0 to 1), identically on every rank and after a resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import InputError, check_choice
from ..problems import make_problem
from ..problems.base import Problem
from .data import VALIDATION_SEED, Batch, MeasuredOnly, MeasuredPairs, OnTheFly, PairSource

__all__ = ["Task", "Schedule", "SingleTask", "Curriculum", "MultiTask", "make_task", "CURRICULUM_DEFAULTS"]


@dataclass
class Task:
    """A problem, its training pairs and its validation pairs."""

    name: str
    problem: Problem
    source: PairSource
    validation: Batch


def make_task(problem: Problem, val_size: int = 16, source: PairSource | None = None, train_size: int = 1_000_000, name: str | None = None) -> Task:
    """A task for ``problem``: on-the-fly pairs unless ``source`` is given; validation pairs
    from seeds at :data:`~inverselab.training.data.VALIDATION_SEED`. A problem with measured
    data and no truths trains on the training share of its measurements and validates on (up
    to ``val_size`` of) the held-out share."""
    if hasattr(problem, "pairs"):  # measured pairs: no simulation
        held_out = MeasuredPairs(problem, "validation")
        validation = held_out.get(list(range(min(val_size, len(held_out)))))
        return Task(name or problem.name, problem, source or MeasuredPairs(problem, "train"), validation)
    if problem.truths == 0 and problem.measured is not None:
        held_out = MeasuredOnly(problem, "validation")
        validation = held_out.get(list(range(min(val_size, len(held_out)))))
        return Task(name or problem.name, problem, source or MeasuredOnly(problem, "train"), validation)
    source = source if source is not None else OnTheFly(problem, train_size)
    validation = OnTheFly(problem, val_size, offset=VALIDATION_SEED).get(list(range(val_size)))
    return Task(name or problem.name, problem, source, validation)


class Schedule:
    """Base class: ``task(step, progress)`` and the tasks to validate on."""

    tasks: list[Task]

    def task(self, step: int, progress: float) -> Task:
        raise NotImplementedError

    @property
    def validation_tasks(self) -> list[Task]:
        return self.tasks

    def config(self) -> dict:
        return {"kind": type(self).__name__, "tasks": [t.name for t in self.tasks]}


@dataclass
class SingleTask(Schedule):
    """Always the same task."""

    only: Task

    def __post_init__(self) -> None:
        self.tasks = [self.only]

    def task(self, step: int, progress: float) -> Task:
        return self.only


# Easy-to-hard values per difficulty parameter; the target (the problem's own value) comes last.
CURRICULUM_DEFAULTS = {"noise": (0.01, 0.025), "views": (120, 60), "acceleration": (2.0, 3.0)}


@dataclass
class Curriculum(Schedule):
    """Stages from easy to hard; the last stage is the target task.

    Stage ``k < K-1`` is used while ``progress < warmup * (k + 1) / (K - 1)``; the target task
    takes the remaining ``1 - warmup`` of training. Validation is on the target only.
    """

    stages: list[Task]
    warmup: float = 0.5

    def __post_init__(self) -> None:
        if len(self.stages) < 2:
            raise InputError("a curriculum needs at least two stages")
        if not 0 < self.warmup < 1:
            raise InputError(f"curriculum warmup must be in (0, 1), got {self.warmup}")
        self.tasks = self.stages

    def task(self, step: int, progress: float) -> Task:
        k = int(progress / self.warmup * (len(self.stages) - 1))
        return self.stages[min(k, len(self.stages) - 1)]

    @property
    def validation_tasks(self) -> list[Task]:
        return [self.stages[-1]]

    def config(self) -> dict:
        return {**super().config(), "warmup": self.warmup}

    @classmethod
    def over(cls, problem: Problem, parameter: str, values: tuple | None = None, warmup: float = 0.5, val_size: int = 16) -> Curriculum:
        """A curriculum over one parameter of ``problem``'s preset, ending at its own value.

        ``values`` are the easier settings in order (defaults: :data:`CURRICULUM_DEFAULTS`).
        """
        check_choice("curriculum parameter", parameter, [k for k in CURRICULUM_DEFAULTS if k in problem.config])
        values = tuple(values if values is not None else CURRICULUM_DEFAULTS[parameter])
        config = {k: v for k, v in problem.config.items() if k != "problem"}
        stages = [make_task(make_problem(problem.name, **{**config, parameter: v}), val_size, name=f"{parameter}={v}") for v in values]
        stages.append(make_task(problem, val_size, name=f"{parameter}={config[parameter]}"))
        return cls(stages, warmup)


@dataclass
class MultiTask(Schedule):
    """One task per step, drawn with probabilities ``weights`` from a seeded stream."""

    tasks: list[Task]
    weights: list[float] | None = None
    seed: int = 0
    _probabilities: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.tasks:
            raise InputError("multi-task training needs at least one task")
        w = torch.tensor(self.weights if self.weights is not None else [1.0] * len(self.tasks), dtype=torch.float64)
        if w.numel() != len(self.tasks) or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise InputError("multi-task weights must be nonnegative, one per task, not all zero")
        self._probabilities = w / w.sum()

    def task(self, step: int, progress: float) -> Task:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        return self.tasks[int(torch.multinomial(self._probabilities, 1, generator=g))]

    def config(self) -> dict:
        return {**super().config(), "weights": self._probabilities.tolist(), "seed": self.seed}
