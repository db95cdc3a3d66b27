"""The Trainer, its losses, schedules and data sources."""

from __future__ import annotations

import math

import pytest
import torch

import inverselab as il
from inverselab.errors import InputError
from inverselab.models import build_model
from inverselab.problems.base import Problem
from inverselab.training import (
    Batch,
    Curriculum,
    MultiTask,
    OnTheFly,
    Supervised,
    Trainer,
    make_loss,
    make_task,
)


def _fbp_val_psnr(task) -> float:
    v = task.validation
    return float(il.metrics.psnr(task.problem.baseline(v.y), v.truth, task.problem.data_range))


@pytest.mark.slow
def test_supervised_lpd_beats_fbp_after_brief_training(problem):
    torch.manual_seed(0)
    task = make_task(problem, val_size=8)
    model = build_model("lpd", problem, width=16, iterations=5)
    history = Trainer(model, task, batch_size=4, steps_per_epoch=40, lr=5e-3).fit(epochs=2)
    assert history[-1]["val_psnr"] > _fbp_val_psnr(task) + 0.75  # 80 steps; +1.1 dB seen
    assert history[-1]["loss"] < history[0]["loss"]


class NoTruth(OnTheFly):
    """Training pairs whose truths are NaN: a loss that looked at them would fail."""

    def get(self, indices):
        batch = super().get(indices)
        return Batch(torch.full_like(batch.truth, float("nan")), batch.y)


@pytest.mark.slow
def test_consistency_training_needs_no_ground_truth(problem):
    """Truths are NaN, so only the measurements can drive training: the consistency + TV
    objective falls and the network improves on its FBP start."""
    torch.manual_seed(0)
    task = make_task(problem, val_size=8, source=NoTruth(problem, 1000))
    model = build_model("lpd", problem, width=16, iterations=5)
    loss = make_loss("consistency", lam=0.5)  # the TV weight that suits this 32x32 problem
    history = Trainer(model, task, loss=loss, batch_size=4, steps_per_epoch=30, lr=5e-3).fit(epochs=2)
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["val_psnr"] > _fbp_val_psnr(task)
    with pytest.raises(InputError, match="training loss became nan at step 0"):  # supervised on NaN truths
        Trainer(build_model("lpd", problem, width=8, iterations=2), task, batch_size=2, steps_per_epoch=1).fit(epochs=1)
    with pytest.raises(InputError, match="needs ground truth"):
        Supervised()(task.validation.truth, None, task.validation.y, problem)


def test_supervised_loss_terms_and_validation(problem):
    x = problem.sample_truth(2, seed=0)
    assert float(Supervised()(x, x, None, problem)) == 0.0
    assert float(Supervised(l2=0, l1=1)(x + 0.1, x, None, problem)) == pytest.approx(0.1, rel=1e-5)
    assert float(Supervised(l2=0, ssim=1)(x, x, None, problem)) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(InputError, match="positive weight"):
        Supervised(l2=0)
    seismic = il.make_problem("fwi-flat")  # errors count in units of the data range (3000 m/s)
    v = torch.full((1, 70, 70), 3000.0)
    assert float(Supervised(l2=0, l1=1)(v + 300.0, v, None, seismic)) == pytest.approx(0.1)
    with pytest.raises(InputError, match="unknown loss"):
        make_loss("perceptual")


def test_psnr_weighting_ascends_the_mean_psnr(problem):
    """The value stays the batch MSE; the gradient is -mean(MSE) ln(10)/10 times that of the
    mean PSNR over images, whereas plain MSE favours the image with the larger error."""
    truth = problem.sample_truth(3, seed=1)
    scale = torch.tensor([0.01, 0.1, 0.3]).view(3, *[1] * (truth.ndim - 1))
    noise = torch.randn(truth.shape, generator=torch.Generator().manual_seed(0)) * scale
    estimate = (truth + noise).requires_grad_()
    loss = Supervised(weighting="psnr")(estimate, truth, None, problem)
    mse = (estimate - truth).square().flatten(1).mean(1)
    assert float(loss) == pytest.approx(float(mse.mean()), rel=1e-6)
    (grad_loss,) = torch.autograd.grad(loss, estimate)
    mean_psnr = (-10 * torch.log10(mse)).mean()
    (grad_psnr,) = torch.autograd.grad(mean_psnr, estimate)
    factor = float(mse.mean()) * math.log(10) / 10
    torch.testing.assert_close(grad_loss, -factor * grad_psnr, rtol=1e-4, atol=1e-9)
    (grad_plain,) = torch.autograd.grad(Supervised()(estimate, truth, None, problem), estimate)
    assert not torch.allclose(grad_plain, grad_loss, rtol=0.1)
    with pytest.raises(InputError, match="weighting"):
        Supervised(weighting="ssim")


def test_consistency_loss_is_the_tv_objective_per_pixel(problem):
    x = problem.sample_truth(2, seed=0)
    y = problem.simulate(x, seed=1)
    loss = make_loss("consistency", lam=0.0)
    expected = 0.5 * (problem.operator(x) - y).square().flatten(1).sum(1).mean() / x[0].numel()
    assert float(loss(x, None, y, problem)) == pytest.approx(float(expected), rel=1e-6)
    assert float(make_loss("consistency")(x, None, y, problem)) > float(expected)  # adds the problem's TV


def test_on_the_fly_pairs_are_deterministic_per_index(problem):
    source = OnTheFly(problem, 100)
    a, b = source.get([3, 7]), source.get([7, 3])
    assert torch.equal(a.truth[0], b.truth[1]) and torch.equal(a.y[1], b.y[0])
    assert not torch.equal(a.truth[0], a.truth[1])
    test = problem.sample_truth(1, seed=3)  # the test split differs from the training stream
    assert not torch.equal(test[0], a.truth[0])


def test_curriculum_runs_easy_to_hard_and_validates_on_the_target(problem):
    c = Curriculum.over(problem, "views", values=(24, 18), val_size=2)
    assert [t.name for t in c.stages] == ["views=24", "views=18", "views=12"]
    picks = [c.task(0, p).name for p in (0.0, 0.2, 0.3, 0.6, 0.99)]
    assert picks == ["views=24", "views=24", "views=18", "views=12", "views=12"]
    assert [t.name for t in c.validation_tasks] == ["views=12"]
    with pytest.raises(InputError, match="curriculum parameter"):
        Curriculum.over(problem, "acceleration")


def test_multitask_draws_tasks_reproducibly_by_weight(problem):
    tasks = [make_task(il.make_problem("ct-parallel", size=32, views=v), val_size=2, name=f"views={v}") for v in (8, 12)]
    m = MultiTask(tasks, weights=[3, 1], seed=5)
    draws = [m.task(s, 0.0).name for s in range(400)]
    assert draws == [MultiTask(tasks, weights=[3, 1], seed=5).task(s, 0.0).name for s in range(400)]
    assert 0.65 < draws.count("views=8") / 400 < 0.85
    with pytest.raises(InputError, match="nonnegative"):
        MultiTask(tasks, weights=[1, -1])


def test_multitask_training_binds_each_geometry(problem):
    tasks = [make_task(il.make_problem("ct-parallel", size=32, views=v), val_size=2, name=f"views={v}") for v in (8, 12)]
    schedule = MultiTask(tasks)
    model = build_model("lpd", problem, width=8, iterations=2)
    bound: list[int] = []
    bind = model.bind

    def recording_bind(target: Problem) -> None:
        bound.append(target.config["views"])
        bind(target)

    model.bind = recording_bind
    history = Trainer(model, schedule, batch_size=2, steps_per_epoch=4).fit(epochs=1)
    drawn = [schedule.task(step, 0.0).problem.config["views"] for step in range(4)]
    assert bound[:4] == drawn and set(drawn) == {8, 12}, f"training steps ran on {bound[:4]}, the schedule drew {drawn}"
    model.eval()
    scores = []
    for task in tasks:  # each task's score is that of the network bound to its own geometry
        bind(task.problem)
        with torch.no_grad():
            estimate = model(task.validation.y)
        scores.append(float(il.metrics.psnr(estimate, task.validation.truth, problem.data_range, reduction="none").mean()))
        assert history[-1][f"val_psnr/{task.name}"] == pytest.approx(scores[-1], rel=1e-6), task.name
    assert history[-1]["val_psnr"] == pytest.approx(sum(scores) / 2, rel=1e-6)


def test_minutes_budget_stops_training(problem):
    model = build_model("lpd", problem, width=8, iterations=2)
    history = Trainer(model, problem, batch_size=2, steps_per_epoch=1000, val_size=2).fit(minutes=0.02)
    assert 0 < history[-1]["step"] < 1000
    assert history[-1]["seconds"] == pytest.approx(1.2, abs=1.0)


def test_bad_training_settings_are_named(problem):
    model = build_model("lpd", problem, width=8, iterations=2)
    with pytest.raises(InputError, match="unknown training setting 'learning_rate'"):
        Trainer(model, problem, learning_rate=1e-3)
    with pytest.raises(InputError, match="batch_size must be >= 1"):
        Trainer(model, problem, batch_size=0)
    trainer = Trainer(model, problem, val_size=2)
    with pytest.raises(InputError, match="either epochs or minutes"):
        trainer.fit()
    with pytest.raises(InputError, match="resume needs the run directory"):
        trainer.fit(epochs=1, resume=True)

