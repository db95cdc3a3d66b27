"""The figures of a run, chosen by the type of its problem: truth, measurement, estimate, error
and convergence for image problems; fields and loss terms for estimation problems; the figures
of joint-optimisation, design and source problems. A plugin adds figures for its own problem
class with ``@problem_figures.register``."""

from __future__ import annotations

import math
from functools import singledispatch
from pathlib import Path
from typing import Any

import torch

from ..problems.base import Problem
from ..problems.estimation import EstimationProblem
from ..problems.joint import JointProblem
from ..problems.materials import TOLERANCE, DesignProblem, binarise
from ..problems.source import SourceProblem
from .estimation import estimation_figures
from .figures import pyplot, save_figure, solve_figures

Tensor = torch.Tensor

__all__ = ["problem_figures"]


@singledispatch
def problem_figures(problem: Any, folder: str | Path, truth: Any, y: Any, estimate: Any, history: Any,
                    label: str) -> list[Path]:
    """Write the figures of a run on ``problem`` into ``folder``; returns their paths.

    Parameters
    ----------
    problem : Problem or EstimationProblem
        Selects the figures (by type).
    folder : str or Path
        Where the PNG files go.
    truth, y, estimate
        The run's truths, measurements and estimates (tensors ``(B, ...)``, or an estimation
        problem's true unknowns, observations and estimate).
    history : History
        What the method did (convergence curves, intervals).
    label : str
        The method's name, for titles.
    """
    raise TypeError(f"no figures for problems of type {type(problem).__name__}")


@problem_figures.register
def _image_figures(problem: Problem, folder: str | Path, truth: Tensor, y: Tensor, estimate: Tensor, history, label: str) -> list[Path]:
    """Truth, measurement, estimate, error map and (for iterative methods) convergence."""
    return list(solve_figures(folder, truth, y, estimate, history, label))


@problem_figures.register
def _estimation_figures(problem: EstimationProblem, folder: str | Path, truth, y, estimate, history, label: str) -> list[Path]:
    """Estimated fields against the truth, loss terms and unknowns over the iterations."""
    return list(estimation_figures(folder, problem, estimate))


@problem_figures.register
def _joint_figures(problem: JointProblem, folder: str | Path, truth: Tensor, y: Tensor, estimate: Tensor, history,
                   label: str) -> list[Path]:
    """The distribution of final losses, and estimate against truth (first unknown)."""
    plt = pyplot()
    with torch.no_grad():
        loss = problem.objective(estimate.double(), y.double()).clamp_min(1e-12).numpy()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.hist(loss, bins=30)
    a.set(xlabel="final loss L_i", ylabel="instances", title=f"{problem.name}: {label}")
    b.plot(truth[:, 0].double().numpy(), estimate[:, 0].detach().double().numpy(), ".", ms=4)
    b.set(xlabel="parameter the instance was built around (first unknown)", ylabel="estimate")
    return [save_figure(fig, Path(folder) / "objective.png")]


@problem_figures.register
def _design_figures(problem: DesignProblem, folder: str | Path, truth: Tensor, y: Tensor, estimate: Tensor, history,
                   label: str) -> list[Path]:
    """Achieved against target conductivity, and the first designs beside a truth of the
    same target."""
    plt = pyplot()
    target, achieved = y[:, 0].double().cpu().numpy(), problem.property_of(estimate).cpu().numpy()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(target, achieved, ".", ms=4)
    lims = [float(target.min()), float(target.max())]
    a.plot(lims, lims, "k-", lw=0.8)
    a.fill_between(lims, [v * (1 - TOLERANCE) for v in lims], [v * (1 + TOLERANCE) for v in lims], alpha=0.2, label="±5 %")
    a.set(xlabel="target conductivity", ylabel="design's conductivity", title=label)
    a.legend()
    k = min(4, truth.shape[0])
    b.axis("off")
    for i in range(k):
        for j, (img, name) in enumerate(((truth[i], "random"), (binarise(estimate[i].detach()), label))):
            ax = fig.add_subplot(2, 2 * k, j * 2 * k + k + i + 1)  # right half of a 2 x 2k grid
            ax.imshow(img[0].cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(f"{name}\nk* = {float(target[i]):.2f}", fontsize=7)
            ax.axis("off")
    return [save_figure(fig, Path(folder) / "designs.png")]


@problem_figures.register
def _source_figures(problem: SourceProblem, folder: str | Path, truth: Tensor, y: Tensor, estimate: Tensor, history,
                   label: str) -> list[Path]:
    """A map of the sensors, the true releases and the estimates (with their intervals),
    and the readings of the first release against those the estimate predicts."""
    folder = Path(folder)
    plt = pyplot()
    t = problem.operator.transport
    k = min(12, truth.shape[0])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    sensors = t.sensors.cpu() / 1000.0
    ax.scatter(sensors[:, 0].numpy(), sensors[:, 1].numpy(), marker="^", c="k", s=25, label="sensors")
    box = problem.bounds.cpu().tolist()
    ax.add_patch(plt.Rectangle((box[0][0], box[1][0]), box[0][1] - box[0][0], box[1][1] - box[1][0],
                               fill=False, ls="--", ec="gray", label="prior box"))
    interval = getattr(history, "interval", None)
    for i in range(k):
        colour = f"C{i % 10}"
        ax.plot(*truth[i, :2].cpu().tolist(), "x", c=colour, ms=8)
        ax.plot(*estimate[i, :2].detach().cpu().tolist(), "o", mfc="none", c=colour, ms=7)
        if interval is not None:
            lo, hi = interval[0][i, :2].cpu(), interval[1][i, :2].cpu()
            ax.add_patch(plt.Rectangle(lo.tolist(), *(hi - lo).tolist(), fill=False, ec=colour, lw=0.8))
    u, v = t.wind
    ax.annotate("", xy=(0.12 + 0.1 * u / math.hypot(u, v), 0.95 + 0.1 * v / math.hypot(u, v)), xytext=(0.12, 0.95),
                arrowprops={"arrowstyle": "->"})
    ax.set(xlim=(0, t.extent[1] / 1000), ylim=(0, t.extent[0] / 1000), xlabel="x (km)", ylabel="y (km)", aspect="equal",
           title=f"{label}: truth (x), estimate (o)" + (", 90% box" if interval is not None else ""))
    ax.legend(fontsize=7, loc="lower right")
    paths = [save_figure(fig, folder / "releases.png")]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    times = (torch.arange(1, t.times + 1) * t.sample_every / 60).numpy()
    fitted = problem.operator(estimate[:1].detach().double().cpu())[0].numpy()
    strongest = y[0].abs().sum(1).argsort(descending=True)[:4]
    for j, s in enumerate(strongest.tolist()):
        ax.plot(times, y[0, s].cpu().numpy(), ".", c=f"C{j}", label=f"sensor {s}")
        ax.plot(times, fitted[s], "-", c=f"C{j}")
    ax.set(xlabel="time (min)", ylabel="concentration (mg/m²)", title="release 0: readings (dots), estimate's prediction")
    ax.legend(fontsize=7)
    paths.append(save_figure(fig, folder / "readings.png"))
    return paths
