"""Real ground gravity profile over the Hartousov mofette (Eger Rift): 2-D density inversion.

Depth-weighted Tikhonov and compact (minimum-support) inversions of the 176-station profile
``potential_fields/hartousov.txt`` on a mesh of 100 m cells to 3 km depth (``Gravity2D``), with
the assumed noise level ``HARTOUSOV_NOISE_MGAL`` and ``lam`` by the discrepancy principle
(chi^2/N = 1). Reports chi^2/N, lam, the RMS misfit and the seconds of each inversion (median
of a few runs, operator set-up timed separately), and the data-driven noise estimate that
backs the assumed level.

    .venv/bin/python benchmarks/gravity_hartousov.py [--data PATH] [--repeats 3] [--threads 2]

The inversions themselves run on one thread (``invert_gravity`` does so for problems this
small); ``--threads`` affects the operator set-up.

Writes benchmarks/results/gravity_hartousov.json and gravity_hartousov.png, prints a table.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from _common import BenchmarkParser, RESULTS, save
from inverselab.operators.gravity import Gravity2D
from inverselab.studies.gravity import (
    HARTOUSOV_BOUNDS,
    HARTOUSOV_NOISE_MGAL,
    invert_gravity,
    profile_mesh,
    profile_noise_estimate,
    read_gravity_profile,
)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("INVERSELAB_DATA", REPO.parent / "shared" / "data"))
DEFAULT_DATA = DATA / "potential_fields" / "hartousov.txt"

MESH = {"cell_m": 100.0, "depth_m": 3000.0, "pad_cells": 8, "pad_factor": 1.4, "margin_cells": 2}
# name: (noise level, options of invert_gravity). "scatter" = the local-scatter estimate of the
# noise, a lower bound shown for comparison (the model then also fits the smooth errors).
RUNS = {
    "tikhonov": ("assumed", {"method": "tikhonov"}),
    "compact": ("assumed", {"method": "compact", "bounds": HARTOUSOV_BOUNDS}),
    "tikhonov_scatter_noise": ("scatter", {"method": "tikhonov"}),
}
FIGURE_RUNS = ("tikhonov", "compact")


def figure(x, g, op, results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1 + len(names), 1, figsize=(10, 3 + 2.6 * len(names)), sharex=True)
    ax = axes[0]
    ax.errorbar(x / 1e3, g, yerr=HARTOUSOV_NOISE_MGAL, fmt="k.", ms=3, lw=0.6, label="observed")
    for name in names:
        res = results[name]
        ax.plot(x / 1e3, res.predicted.numpy(), lw=1.2, label=f"{name} (chi2/N {res.chi2:.3f})")
    ax.set(ylabel="g (mGal)", title="Hartousov gravity profile: data and predictions")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    xe, ze = op.x_edges / 1e3, op.z_edges / 1e3
    for ax, name in zip(axes[1:], names):
        m = results[name].model.numpy()
        vmax = float(np.abs(m).max()) or 1.0
        mesh = ax.pcolormesh(xe, ze, m, cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="flat")
        ax.set(ylabel="depth (km)", title=f"{name}: density contrast (kg/m^3), lam = {results[name].lam:.3g}")
        ax.set_ylim(ze[-1], ze[0])
        fig.colorbar(mesh, ax=ax, pad=0.01, fraction=0.03)
    axes[-1].set_xlabel("distance along profile (km)")
    axes[-1].set_xlim(x.min() / 1e3 - 0.5, x.max() / 1e3 + 0.5)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = BenchmarkParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="path of hartousov.txt")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per inversion (median)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (the operator set-up)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    x, g = read_gravity_profile(args.data)
    noise_estimate = profile_noise_estimate(x, g)
    start = time.perf_counter()
    x_edges, z_edges = profile_mesh(
        x, MESH["cell_m"], MESH["depth_m"], MESH["pad_cells"], MESH["pad_factor"], MESH["margin_cells"]
    )
    op = Gravity2D(x, x_edges, z_edges)
    setup = time.perf_counter() - start

    rows, results = {}, {}
    for name, (noise, kwargs) in RUNS.items():
        sigma = HARTOUSOV_NOISE_MGAL if noise == "assumed" else noise_estimate
        times = []
        for _ in range(max(1, args.repeats)):
            res = invert_gravity(op, g, sigma, **kwargs)
            times.append(res.seconds)
        results[name] = res
        m = res.model
        rows[name] = {
            "noise_std_mgal": sigma,
            "options": {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()},
            "chi2_per_datum": res.chi2,
            "lam": res.lam,
            "rms_misfit_mgal": float(np.sqrt(np.mean((res.predicted.numpy() - g) ** 2))),
            "iterations": res.iterations,
            "seconds": float(np.median(times)),
            "density_min": float(m.min()),
            "density_max": float(m.max()),
            "cells_above_10pct_of_peak": int((m.abs() > 0.1 * m.abs().max()).sum()),
        }

    payload = {
        "config": {
            "data": str(args.data.name),
            "stations": int(x.size),
            "noise_std_mgal": HARTOUSOV_NOISE_MGAL,
            "noise_estimate_mgal": noise_estimate,
            "regional_removed": False,
            "mesh": {**MESH, "cells": list(op.domain_shape), "x_range_m": [float(x_edges[0]), float(x_edges[-1])]},
            "depth_weight": "Li-Oldenburg, beta = 1 (2-D), z0 = half the top cell",
            "compact": "minimum support, epsilon = 0.1 max|m_tikhonov|, IRLS <= 15 iterations, tol 1e-3",
            "lam_choice": "discrepancy principle, chi2/N = 1",
            "repeats": args.repeats,
        },
        "operator_setup_seconds": setup,
        "runs": rows,
    }
    path = save("gravity_hartousov", payload)
    figure(x, g, op, {k: results[k] for k in FIGURE_RUNS}, RESULTS / "gravity_hartousov.png")

    print(f"Hartousov profile: {x.size} stations, mesh {op.domain_shape[0]} x {op.domain_shape[1]} cells, "
          f"operator set-up {setup:.3f} s")
    print(f"assumed noise {HARTOUSOV_NOISE_MGAL} mGal (local-scatter estimate {noise_estimate:.4f} mGal)")
    print(
        f"{'run':<24}{'sigma':>7}{'chi2/N':>9}{'lam':>12}{'rms mGal':>10}{'iters':>7}{'seconds':>9}"
        f"{'rho min':>9}{'rho max':>9}"
    )
    for name, r in rows.items():
        print(
            f"{name:<24}{r['noise_std_mgal']:>7.4f}{r['chi2_per_datum']:>9.4f}{r['lam']:>12.4g}"
            f"{r['rms_misfit_mgal']:>10.4f}"
            f"{r['iterations']:>7d}{r['seconds']:>9.3f}{r['density_min']:>9.1f}{r['density_max']:>9.1f}"
        )
    print(f"wrote {path} and {RESULTS / 'gravity_hartousov.png'}")


if __name__ == "__main__":
    main()
