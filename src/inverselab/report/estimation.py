"""Figures of an estimation run: true and recovered fields, loss terms and unknowns over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..problems.estimation import Estimate, EstimationProblem
from .figures import pyplot, save_figure

__all__ = ["estimation_figures"]


def _extent(problem: EstimationProblem) -> list[float] | None:
    names = list(problem.grid)
    if len(names) != 2:
        return None
    a, b = (problem.grid[n] for n in names)
    return [float(a.min()), float(a.max()), float(b.min()), float(b.max())]


def _fields(path: Path, problem: EstimationProblem, estimate: Estimate, name: str) -> Path:
    plt = pyplot()
    truth = problem.true_fields[name].detach().double().cpu().numpy()
    found = estimate.fields[name].detach().double().cpu().numpy()
    lo, hi = float(truth.min()), float(truth.max())
    error = np.abs(found - truth)
    rel = np.linalg.norm(found - truth) / np.linalg.norm(truth)
    if truth.ndim == 1:
        return _profile(path, problem, name, truth, found, rel)
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.9), constrained_layout=True)
    names = list(problem.grid)
    for ax, image, title, kw in (
        (axes[0], truth, f"true {name}", {"vmin": lo, "vmax": hi}),
        (axes[1], found, f"recovered {name}", {"vmin": lo, "vmax": hi}),
        (axes[2], error, f"|error| (rel. L2 {rel:.3f})", {}),
    ):
        im = ax.imshow(image, origin="lower", extent=_extent(problem), cmap="viridis" if ax is not axes[2] else "magma", **kw)
        ax.set_title(title)
        if len(names) == 2:
            ax.set_xlabel(names[0])
            if ax is axes[0]:
                ax.set_ylabel(names[1])
        fig.colorbar(im, ax=ax, fraction=0.046)
    return save_figure(fig, path)


def _profile(path: Path, problem: EstimationProblem, name: str, truth: np.ndarray, found: np.ndarray,
             rel: float) -> Path:
    """A 1-D field: true and recovered profiles."""
    plt = pyplot()
    coord = next(iter(problem.grid))
    axis = problem.grid[coord].detach().cpu().numpy()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(axis, truth, "k", lw=2, label=f"true {name}")
    ax.plot(axis, found, "C1--", label=f"recovered {name} (rel. L2 {rel:.3f})")
    ax.set_xlabel(coord)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _losses(path: Path, history: dict) -> Path | None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    if history.get("kind") == "pinn" and history.get("terms"):
        for name, values in history["terms"].items():
            ax.semilogy(history["seconds"], values, label=f"L_{name}")
        ax.semilogy(history["seconds"], history["loss"], "k", lw=2, label="weighted total")
        switch = [s for s, p in zip(history["seconds"], history["phase"]) if p == "lbfgs"]
        if switch:
            ax.axvline(switch[0], color="grey", ls=":", label="Adam -> L-BFGS")
        ax.set_xlabel("seconds")
        ax.set_title("PINN loss terms")
    elif history.get("objective"):
        iters = history.get("objective_iters") or range(1, len(history["objective"]) + 1)
        ax.semilogy(iters, history["objective"], "k", label="objective")
        ax.set_xlabel("iteration")
        ax.set_title("objective")
    else:
        pyplot().close(fig)
        return None
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _parameters(path: Path, problem: EstimationProblem, history: dict) -> Path | None:
    trajectories = history.get("parameters") or {}
    if not trajectories:
        return None
    plt = pyplot()
    fig, axes = plt.subplots(1, len(trajectories), figsize=(4.5 * len(trajectories), 3.4), squeeze=False)
    for ax, (name, values) in zip(axes[0], trajectories.items()):
        ax.plot(history["seconds"], values, label="estimate")
        if name in problem.true_parameters:
            ax.axhline(problem.true_parameters[name], color="k", ls="--", label="truth")
        ax.set_xlabel("seconds")
        ax.set_title(name)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def estimation_figures(out: str | Path, problem: EstimationProblem, estimate: Estimate) -> list[Path]:
    """Write ``field_<name>.png``, ``loss.png`` and ``parameters.png`` (where they apply)."""
    out = Path(out)
    written = [_fields(out / f"field_{name}.png", problem, estimate, name) for name in problem.true_fields]
    written += [p for p in (_losses(out / "loss.png", estimate.history),
                            _parameters(out / "parameters.png", problem, estimate.history)) if p is not None]
    return written
