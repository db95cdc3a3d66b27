"""Figures of uncertainty quantification: uncertainty maps beside error maps, calibration curves."""

from __future__ import annotations

from pathlib import Path

import torch

from .figures import pyplot, save_figure

Tensor = torch.Tensor

__all__ = ["uncertainty_maps", "calibration_plot"]


def uncertainty_maps(path: str | Path, truth: Tensor, mean: Tensor, std: Tensor, scale: float = 1.0, k: int = 3,
                     title: str = "") -> Path:
    """Rows of (truth, mean, |error|, calibrated std) for the first ``k`` samples; error and std
    share one colour scale, so a calibrated map looks like a blurred error map."""
    plt = pyplot()
    k = min(k, truth.shape[0])
    fig, axes = plt.subplots(k, 4, figsize=(11, 2.8 * k), squeeze=False)
    lo, hi = float(truth[:k].min()), float(truth[:k].max())
    err = (mean[:k] - truth[:k]).abs()
    top = float(torch.quantile(torch.cat([err.flatten(), (scale * std[:k]).flatten()]).double(), 0.995))
    for i in range(k):
        panels = ((truth[i, 0], "truth", "gray", lo, hi), (mean[i, 0], "mean", "gray", lo, hi),
                  (err[i, 0], "|mean - truth|", "magma", 0, top), (scale * std[i, 0], f"std x {scale:.2f}", "magma", 0, top))
        for ax, (img, name, cmap, vmin, vmax) in zip(axes[i], panels):
            im = ax.imshow(img.detach().cpu().numpy(), cmap=cmap, vmin=vmin, vmax=vmax)
            ax.set_title(name, fontsize=9)
            ax.axis("off")
            fig.colorbar(im, ax=ax, fraction=0.046)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def calibration_plot(path: str | Path, levels, curves: dict[str, list[float]], title: str = "") -> Path:
    """Coverage against nominal level, one line per curve, with the diagonal."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.plot([0, 1], [0, 1], color="gray", lw=0.8, label="ideal")
    for name, values in curves.items():
        ax.plot(list(levels), values, "o-", label=name)
    ax.set(xlabel="nominal level", ylabel="coverage of the truth", xlim=(0.4, 1), ylim=(0, 1), title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
