"""The main job (``inverselab demo``, ``make demo``): classical and learned CT side by side.

On ct-parallel (30 views, 5% noise, random ellipses) it reconstructs held-out phantoms with
FBP and TV, trains a U-Net (after FBP) and a learned primal-dual network for a fixed number of
steps (the same networks on every machine; a few minutes on 2 CPU cores), scores all four on
the same measurements, times them by one protocol (:mod:`inverselab.timing`: the same batch
size for every method, a warm-up, the median of 5 repeats with min and max, and batch size 1
beside it), prints the table and writes ``OUT/timing.json`` and ``OUT/report.html``. Networks
trained that briefly are far from converged: the table shows the trade-off at a few minutes of
training, not the best quality the networks reach (see ``benchmarks/learned_vs_classical.py``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .jobs import evaluate_job, solve_job, train_job
from .problems import make_problem
from .report import build_report
from .runs import write_json_atomic
from .timing import Timing, busy_warning

__all__ = ["run_demo", "DEMO_SETTINGS"]

METHODS = ("fbp", "tv", "unet", "lpd")

DEMO_SETTINGS = {
    False: {"size": 128, "n": 32, "batch": 8, "steps_per_epoch": 25, "unet_epochs": 24, "lpd_epochs": 8,
            "unet": {"width": 16}, "lpd": {}},
    True: {"size": 64, "n": 16, "batch": 8, "steps_per_epoch": 25, "unet_epochs": 4, "lpd_epochs": 2,
           "unet": {"width": 16}, "lpd": {"width": 16}},
}


def run_demo(quick: bool = False, out: str | Path = "runs/demo", seed: int = 0) -> list[dict]:
    """Run the demo; returns one metrics dict per method (also in ``OUT/<method>/metrics.json``),
    each with the protocol's ``timing`` (per batch size)."""
    s = DEMO_SETTINGS[quick]
    out = Path(out)
    torch.manual_seed(seed)
    problem = make_problem("ct-parallel", size=s["size"])
    batch = s["batch"]
    rows = [solve_job(problem, name, {}, s["n"], seed, out / name, timing_batch=batch) for name in ("fbp", "tv")]
    training = {"batch_size": 4, "steps_per_epoch": s["steps_per_epoch"], "seed": seed}
    for name in ("unet", "lpd"):
        train_job(problem, name, out / name, options=s[name], epochs=s[f"{name}_epochs"], training=training)
        rows.append(evaluate_job(out / name, n=s["n"], seed=seed, batch_size=batch, device="cpu"))
    timings = {r["method"]: {int(b): Timing.from_dict(t) for b, t in r["timing"].items()} for r in rows}
    write_json_atomic(out / "timing.json", {"batch_size": batch, "settings": s, "threads": torch.get_num_threads(),
                                            "timing": {r["method"]: r["timing"] for r in rows}})
    _print_table(problem, s, rows, timings)
    c = problem.config
    report = build_report([out / n for n in METHODS], out / "report.html",
                          title="inverselab demo: classical and learned CT reconstruction",
                          note=f"ct-parallel {c['size']}x{c['size']}, {c['views']} views, {c['noise']:.0%} noise; "
                               f"networks trained {s['unet_epochs'] * s['steps_per_epoch']} and "
                               f"{s['lpd_epochs'] * s['steps_per_epoch']} steps on this "
                               f"machine ({torch.get_num_threads()} threads). Seconds per image: every method at batch "
                               f"size {s['batch']}, median of 5 repeats (see timing.json).")
    print(f"report -> {report}")
    return rows


def _print_table(problem, s: dict, rows: list[dict], timings: dict[str, dict[int, Timing]]) -> None:
    c, batch = problem.config, s["batch"]
    print(f"\nct-parallel {c['size']}x{c['size']}, {c['views']} views, {c['noise']:.0%} noise, "
          f"{s['n']} held-out random-ellipse phantoms; {torch.get_num_threads()} threads")
    print(f"seconds per image: median of 5 repeats [min-max] at batch size {batch} (every method), and at batch size 1")
    print(f"{'method':8s} {'PSNR dB':>8s} {'SSIM':>6s} {f's/image @{batch}':>26s} {'s/image @1':>11s} "
          f"{'x faster than TV':>17s} {'training':>10s}")
    tv = timings["tv"][batch].per_item
    for r in rows:
        t, t1 = timings[r["method"]][batch], timings[r["method"]][1]
        spread = f"{t.per_item:.4f} [{t.minimum / batch:.4f}-{t.maximum / batch:.4f}]"
        train = f"{r['training_steps']} steps" if "training_steps" in r else "-"
        print(f"{r['method']:8s} {r['psnr']:8.2f} {r['ssim']:6.3f} {spread:>26s} {t1.per_item:11.4f} "
              f"{tv / t.per_item:17.1f} {train:>10s}")
    warning = busy_warning({f"{name} @{b}": t for name, by_batch in timings.items() for b, t in by_batch.items()})
    if warning:
        print(warning)
