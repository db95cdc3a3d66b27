"""Knowledge distillation: a student trained on a teacher run's outputs only."""

from __future__ import annotations

import json

import pytest

from inverselab.cli import main
from inverselab.errors import InputError
from inverselab.training import make_loss


def test_student_learns_from_the_teacher_without_truths(tmp_path):
    common = ["ct-parallel", "--set", "size=32", "--model", "unet", "--steps-per-epoch", "10", "--n", "8"]
    teacher = tmp_path / "teacher"
    assert main(["train", *common, "--option", "width=8", "--epochs", "3", "--out", str(teacher)]) == 0
    student = tmp_path / "student"
    assert main(["train", *common, "--option", "width=4", "--epochs", "3", "--loss", "distill",
                 "--loss-option", f"teacher={teacher}", "--out", str(student)]) == 0
    history = json.loads((student / "training.json").read_text())["history"]
    assert history[-1]["loss"] < history[0]["loss"]
    t, s = (json.loads((d / "metrics.json").read_text())["psnr"] for d in (teacher, student))
    assert s > t - 3.0


def test_distill_needs_a_teacher():
    with pytest.raises(InputError, match="teacher run"):
        make_loss("distill")
