"""The main job (``inverselab demo``, ``make demo``): classical and learned CT side by side.

On ct-parallel (30 views, 5% noise, random ellipses) it reconstructs held-out phantoms with
FBP and TV, trains a U-Net (after FBP) and a learned primal-dual network for a fixed time
budget, scores all four on the same measurements, prints the table and writes
``OUT/report.html``. The budgets fit in under 10 minutes on 2 CPU cores (``quick``: under 2);
networks trained that briefly are far from converged, so the demo shows the trade-off, not
the best quality the networks reach (see ``benchmarks/learned_vs_classical.py``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .jobs import evaluate_job, solve_job, train_job
from .problems import make_problem
from .report import build_report

__all__ = ["run_demo", "DEMO_SETTINGS"]

DEMO_SETTINGS = {
    False: {"size": 128, "n": 32, "unet_minutes": 2.0, "lpd_minutes": 4.0, "unet": {"width": 16}, "lpd": {}},
    True: {"size": 64, "n": 16, "unet_minutes": 0.3, "lpd_minutes": 0.6, "unet": {"width": 16}, "lpd": {"width": 16}},
}


def run_demo(quick: bool = False, out: str | Path = "runs/demo", seed: int = 0) -> list[dict]:
    """Run the demo; returns one metrics dict per method (also in ``OUT/<method>/metrics.json``)."""
    s = DEMO_SETTINGS[quick]
    out = Path(out)
    torch.manual_seed(seed)
    problem = make_problem("ct-parallel", size=s["size"])
    rows = [solve_job(problem, name, {}, s["n"], seed, out / name) for name in ("fbp", "tv")]
    training = {"batch_size": 4, "steps_per_epoch": 25, "seed": seed}
    for name in ("unet", "lpd"):
        train_job(problem, name, out / name, options=s[name], minutes=s[f"{name}_minutes"], training=training)
        rows.append(evaluate_job(out / name, n=s["n"], seed=seed))
    c = problem.config
    print(f"\nct-parallel {c['size']}x{c['size']}, {c['views']} views, {c['noise']:.0%} noise, "
          f"{s['n']} held-out random-ellipse phantoms")
    print(f"{'method':8s} {'PSNR dB':>8s} {'SSIM':>6s} {'s/image':>9s} {'x faster than TV':>17s} {'training':>9s}")
    tv_time = rows[1]["seconds_per_sample"]
    for r in rows:
        train = f"{r['training_seconds'] / 60:.1f} min" if "training_seconds" in r else "-"
        print(f"{r['method']:8s} {r['psnr']:8.2f} {r['ssim']:6.3f} {r['seconds_per_sample']:9.4f} "
              f"{tv_time / r['seconds_per_sample']:17.1f} {train:>9s}")
    report = build_report([out / n for n in ("fbp", "tv", "unet", "lpd")], out / "report.html",
                          title="inverselab demo: classical and learned CT reconstruction",
                          note=f"ct-parallel {c['size']}x{c['size']}, {c['views']} views, {c['noise']:.0%} noise; "
                               f"networks trained {s['unet_minutes']} and {s['lpd_minutes']} min on this machine "
                               f"({torch.get_num_threads()} threads). Seconds per image: classical methods over the "
                               f"whole batch of {s['n']} (their fastest use), networks at batch size 1.")
    print(f"report -> {report}")
    return rows
