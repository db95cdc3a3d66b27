"""Figures for run directories: images, measurements, error maps, convergence curves.

Matplotlib is imported on first use with the non-interactive Agg backend; every figure is
written atomically as PNG.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from ..runs import write_atomic
from ..solvers.history import History

Tensor = torch.Tensor

__all__ = ["save_image", "save_measurement", "save_convergence", "save_model_error", "save_comparison", "solve_figures"]


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as a PNG atomically (folders created) and close it; returns the path."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return write_atomic(path, buf.getvalue())


def _as_image(t: Tensor) -> np.ndarray:
    """First sample, first channel, magnitude if complex: a 2-D numpy array."""
    a = t.detach().cpu()
    while a.ndim > 2:
        a = a[0]
    return (a.abs() if a.is_complex() else a).double().numpy()


def save_image(path: str | Path, image: Tensor, title: str = "", vmin=None, vmax=None, cmap: str = "gray") -> Path:
    """Save the first image of a batch (magnitude if complex) with a colour bar."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4))
    im = ax.imshow(_as_image(image), cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_title(title)
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return save_figure(fig, path)


def save_measurement(path: str | Path, y: Tensor, title: str = "measurement") -> Path:
    """Save the first measurement of a batch: an image (sinogram; log-magnitude k-space for
    complex data) or a line plot for vector data (the amplitude of complex vectors)."""
    plt = pyplot()
    a = y.detach().cpu()[0]
    fig, ax = plt.subplots(figsize=(5, 4))
    if a.ndim == 1:
        if a.is_complex():  # visibilities
            a = a.abs()
            title += " (amplitude)"
        ax.plot(a.numpy(), lw=0.5)
        ax.set_xlabel("measurement index")
    else:
        img = a
        while img.ndim > 2:
            img = img[0]
        if img.is_complex():
            img = torch.log10(img.abs() + 1e-6 * img.abs().max().clamp(min=1e-30))
            title += " (log10 |k|)"
        im = ax.imshow(img.double().numpy(), cmap="gray", aspect="auto")
        fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title)
    return save_figure(fig, path)


def save_convergence(path: str | Path, histories: Mapping[str, History]) -> Path | None:
    """PSNR (or objective) against time for one or more solver histories; None if empty."""
    usable = {k: h for k, h in histories.items() if h.psnr or h.objective}
    if not usable:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, h in usable.items():
        if h.psnr:
            ax.plot(h.seconds[: len(h.psnr)], h.psnr, label=label)
            ax.set_ylabel("PSNR (dB)")
        else:
            t = [h.seconds[i - 1] for i in h.objective_iters]
            ax.semilogy(t, h.objective, label=label)
            ax.set_ylabel("objective")
    ax.set_xlabel("seconds")
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def save_model_error(path: str | Path, history: History) -> Path | None:
    """Relative model error ``||x - truth|| / ||truth||`` against iteration for solvers that
    record it (FWI), with the starting model's error at iteration 0 and grey lines between
    frequency bands; None if the history has none."""
    errors = list(getattr(history, "model_error", None) or [])
    if not errors:
        return None
    start = getattr(history, "model_error_initial", None)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    values = errors if start is None else [start, *errors]
    first = 1 if start is None else 0
    ax.plot(range(first, first + len(values)), values, lw=1.2)
    edge = 0
    for band in getattr(history, "bands", [])[:-1]:
        edge += band["iterations"]
        ax.axvline(edge, color="0.6", lw=0.6)
    ax.set_xlabel("iteration")
    ax.set_ylabel("||x - truth|| / ||truth||")
    title = f"model error {errors[-1]:.4f}"
    if start:
        title += f" (start {start:.4f}, ratio {errors[-1] / start:.3f})"
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def save_comparison(path: str | Path, truth: Tensor, estimates: Mapping[str, Tensor], scores: Mapping[str, str]) -> Path:
    """One row of images: truth, then each method's estimate with its score in the title."""
    plt = pyplot()
    n = 1 + len(estimates)
    fig, axes = plt.subplots(1, n, figsize=(3 * n, 3.2))
    ref = _as_image(truth)
    vmin, vmax = float(ref.min()), float(ref.max())
    panels = [("truth", ref)] + [(k, _as_image(v)) for k, v in estimates.items()]
    for ax, (label, img) in zip(np.atleast_1d(axes), panels):
        ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax)
        ax.set_title(f"{label}\n{scores.get(label, '')}", fontsize=9)
        ax.axis("off")
    return save_figure(fig, path)


def _save_signals(path: Path, truth: Tensor | None, estimate: Tensor, label: str) -> Path:
    """The first estimated signal, over its truth where there is one."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    if truth is not None:
        ax.plot(truth[0].detach().cpu().real.double().numpy(), "k-", lw=1, label="truth")
    ax.plot(estimate[0].detach().cpu().real.double().numpy(), lw=1, label=label)
    ax.set(xlabel="index", title=label)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def solve_figures(
    folder: str | Path, truth: Tensor, y: Tensor, estimate: Tensor, history: History | None, label: str
) -> Sequence[Path]:
    """The standard figures of a solve run: truth, measurement, estimate, error map and (for
    iterative methods) convergence, and the model error per iteration where it was recorded.
    Without a truth (measured data only): measurement, estimate and convergence."""
    folder = Path(folder)
    if estimate.ndim == 2:  # signals (B, n): truth and estimate as lines in one figure
        paths = [save_measurement(folder / "measurement.png", y), _save_signals(folder / "estimate.png", truth, estimate, label)]
    elif truth is None:
        paths = [save_measurement(folder / "measurement.png", y), save_image(folder / "estimate.png", estimate, label)]
    else:
        ref = _as_image(truth)
        lo, hi = float(ref.min()), float(ref.max())
        err = np.abs(_as_image(estimate) - ref)
        paths = [
            save_image(folder / "truth.png", truth, "truth", lo, hi),
            save_measurement(folder / "measurement.png", y),
            save_image(folder / "estimate.png", estimate, label, lo, hi),
            save_image(folder / "error.png", torch.from_numpy(err), f"|{label} - truth|", 0, None, cmap="magma"),
        ]
    if history is not None:
        for extra in (save_convergence(folder / "convergence.png", {label: history}),
                      save_model_error(folder / "model_error.png", history)):
            if extra is not None:
                paths.append(extra)
    return paths
