"""Knowledge distillation: a student trained on a teacher run's outputs only."""

from __future__ import annotations

import json

import pytest
import torch

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


def test_symmetrized_teacher_targets_the_average_over_the_half_turn(tmp_path):
    from inverselab.models import Symmetrized, load_run

    run = tmp_path / "radio"
    assert main(["train", "radio", "--set", "size=16", "antennas=8", "--model", "unet", "--option", "width=4", "depth=2",
                 "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--n", "2", "--out", str(run)]) == 0
    trained = load_run(run)
    problem, network = trained.problem, trained.network.eval()
    x = problem.sample_truth(2, seed=3)
    y = problem.simulate(x, seed=4).to(torch.complex64)
    loss = make_loss("distill", teacher=str(run), symmetrize=True)
    with torch.no_grad():
        averaged, plain = Symmetrized(network, problem.symmetries)(y), network(y)
    off = float(loss(plain, None, y, problem))
    assert off > 0  # the trained network is not exactly equivariant
    assert float(loss(averaged, None, y, problem)) < 1e-6 * off
