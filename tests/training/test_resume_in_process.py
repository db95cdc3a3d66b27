"""Resume in the same process: an interrupted run, resumed from its checkpoint by fresh objects,
ends exactly where the uninterrupted run ends (weights, optimiser state, RNG, history)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from inverselab.models import build_model
from inverselab.problems.base import Problem
from inverselab.training import OnTheFly, Trainer, make_task

EPOCHS, STEPS_PER_EPOCH, INTERRUPT_AFTER = 2, 3, 4  # the run stops inside epoch 2
TIMING_KEYS = {"seconds"}  # wall time differs between any two runs


class _Interrupted(Exception):
    """Raised by :class:`_StoppingPairs` in place of a kill."""


class _StoppingPairs(OnTheFly):
    """On-the-fly pairs that stop training after ``limit`` batches (None: never)."""

    def __init__(self, problem: Problem, size: int, limit: int | None) -> None:
        super().__init__(problem, size)
        self.limit, self.served = limit, 0

    def get(self, indices: list[int]):
        if self.limit is not None and self.served == self.limit:
            raise _Interrupted
        self.served += 1
        return super().get(indices)


def _trainer(problem: Problem, out: Path, init_seed: int, limit: int | None = None) -> Trainer:
    """A small U-Net with dropout (so the torch RNG shapes the weights), checkpointing every two steps."""
    torch.manual_seed(init_seed)
    model = build_model("unet", problem, width=4, depth=1, dropout=0.2)
    task = make_task(problem, val_size=2, source=_StoppingPairs(problem, 100, limit))
    return Trainer(model, task, out=out, batch_size=2, steps_per_epoch=STEPS_PER_EPOCH, checkpoint_every=2,
                   warmup_steps=2, lr=3e-3)


def _global_rng_states() -> tuple[Any, Any]:
    return np.random.get_state(legacy=False), random.getstate()


def _fit_leaving_global_rngs_alone(trainer: Trainer, **kwargs: Any) -> list[dict[str, float]]:
    """``trainer.fit(**kwargs)``, checking that training draws nothing from numpy's or Python's
    global generators (the checkpoint keeps only torch's, so a resume could not restore them)."""
    before = _global_rng_states()
    try:
        return trainer.fit(**kwargs)
    finally:
        after = _global_rng_states()
        assert str(after[0]) == str(before[0]), "training drew from numpy's global generator"
        assert after[1] == before[1], "training drew from Python's global generator"


def _without_timing(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in record.items() if k not in TIMING_KEYS} for record in history]


def _assert_same_optimizer_state(resumed: torch.optim.Optimizer, reference: torch.optim.Optimizer) -> None:
    a, b = resumed.state_dict(), reference.state_dict()
    # the checkpoint stores the hyper-parameters as JSON (tuples come back as lists)
    assert json.loads(json.dumps(a["param_groups"])) == json.loads(json.dumps(b["param_groups"])), (
        "optimizer hyper-parameters (learning-rate schedule) differ from the uninterrupted run"
    )
    assert a["state"].keys() == b["state"].keys(), "optimizer state covers other parameters"
    for index, entry in b["state"].items():
        assert entry.keys() == a["state"][index].keys()
        for name, value in entry.items():
            assert torch.equal(torch.as_tensor(a["state"][index][name]), torch.as_tensor(value)), (
                f"optimizer state {name!r} of parameter {index} differs from the uninterrupted run"
            )


def test_resume_from_a_mid_epoch_checkpoint_equals_the_uninterrupted_run(tmp_path, problem):
    np.random.seed(7)
    random.seed(7)
    reference = _trainer(problem, tmp_path / "reference", init_seed=0)
    _fit_leaving_global_rngs_alone(reference, epochs=EPOCHS)
    reference_rng = torch.get_rng_state()

    interrupted = _trainer(problem, tmp_path / "resumed", init_seed=0, limit=INTERRUPT_AFTER)
    with pytest.raises(_Interrupted):
        _fit_leaving_global_rngs_alone(interrupted, epochs=EPOCHS)
    assert interrupted.step == INTERRUPT_AFTER

    # a fresh process: other initial weights, another torch RNG state, new optimiser and trainer
    resumed = _trainer(problem, tmp_path / "resumed", init_seed=1)
    torch.manual_seed(12345)
    history = _fit_leaving_global_rngs_alone(resumed, epochs=EPOCHS, resume=True)

    assert resumed.step == reference.step == EPOCHS * STEPS_PER_EPOCH
    assert torch.equal(torch.get_rng_state(), reference_rng), "the torch RNG state was not restored on resume"
    _assert_same_optimizer_state(resumed.optimizer, reference.optimizer)
    assert len(history) == EPOCHS, f"history has {len(history)} epochs after resume, expected {EPOCHS}"
    assert _without_timing(history) == _without_timing(reference.history), "training history differs after resume"
    weights, reference_weights = resumed.net.state_dict(), reference.net.state_dict()
    assert weights.keys() == reference_weights.keys()
    for name, value in weights.items():
        assert torch.equal(value, reference_weights[name]), f"weight {name} differs from the uninterrupted run"
