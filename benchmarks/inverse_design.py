"""Materials inverse design: conditional GAN against per-design optimisation and library look-up.

For 100 held-out target conductivities of the ``materials-design`` preset (each the effective
conductivity of a random two-phase microstructure): the share of designs within 5 % of the
target, the median property error, seconds per design and the diversity of the designs for
one target (mean share of pixels in which two designs differ). Methods: look-up in a library
of 512 random microstructures, Adam through the homogenisation solver (one design per target
and seed), and the design GAN (8 draws per target). Writes
benchmarks/results/inverse_design.{json,png}.

    python benchmarks/inverse_design.py [--minutes 25]

The GAN run lands in benchmarks/runs/materials_design_gan (reused when present), trained on
4,000 cached pairs (``inverselab data generate materials-design --n 4000``). The README's
numbers come from that run fine-tuned for 12 more minutes on the CPU (``inverselab train
materials-design --model design-gan --init benchmarks/runs/materials_design_gan --lr 2e-4
--loss-option property_weight=10000 --minutes 12 ...``) and then for 2.4 minutes on an H200
GPU (``--init`` that run, ``--lr 1e-4 --batch-size 32 --minutes 2.4``), passed as ``--run``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from _common import BenchmarkParser, RESULTS, save
from inverselab.jobs import train_job
from inverselab.models import load_run
from inverselab.problems import make_problem
from inverselab.problems.materials import TOLERANCE, _library, design_by_gradient
from inverselab.training import generate_hdf5

HERE = Path(__file__).resolve().parent


def diversity(designs: torch.Tensor) -> float:
    """Mean share of differing pixels over all pairs of designs ``(K, 1, n, n)``."""
    flat = designs.flatten(1)
    k = flat.shape[0]
    return float(sum((flat[i] != flat[j]).double().mean() for i in range(k) for j in range(i + 1, k)) / (k * (k - 1) / 2))


def scores(problem, designs: torch.Tensor, targets: torch.Tensor) -> dict:
    achieved = problem.property_of(designs)
    error = (achieved / targets - 1).abs()
    return {"within_5pct": float((error <= TOLERANCE).double().mean()), "median_error": float(error.median()),
            "mean_error": float(error.mean()), "errors": error.tolist()}


def main(argv=None) -> int:
    p = BenchmarkParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100, help="held-out targets")
    p.add_argument("--draws", type=int, default=8, help="GAN designs per target")
    p.add_argument("--seeds", type=int, default=4, help="optimised designs per target for the diversity (on 20 targets)")
    p.add_argument("--minutes", type=float, default=25.0, help="GAN training budget")
    p.add_argument("--run", type=Path, default=HERE / "runs" / "materials_design_gan",
                   help="design-gan run (trained here when absent)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    problem = make_problem("materials-design")
    truth = problem.sample_truth(args.n, seed=0, dtype=torch.float64)
    y = problem.operator(truth)
    targets = y[:, 0]
    rows = {}

    start = time.perf_counter()
    found = problem.baseline(y)
    rows["library look-up (512 random designs)"] = scores(problem, found, targets) | {
        "seconds_per_design": (time.perf_counter() - start) / args.n}

    start = time.perf_counter()
    designed, history = design_by_gradient(problem, y, seed=0)
    seconds = (time.perf_counter() - start) / args.n
    few = y[:20]
    extra = [design_by_gradient(problem, few, seed=s)[0] for s in range(1, args.seeds)]
    stacks = torch.stack([designed[:20], *extra], 1)
    rows["Adam through the solver (60 its)"] = scores(problem, designed, targets) | {
        "seconds_per_design": seconds, "diversity": statistics.fmean(diversity(s) for s in stacks),
        "objective_curve": history.objective}

    run = args.run
    if not (run / "model.safetensors").exists():
        cache = generate_hdf5(problem, 4000, HERE / "data" / "materials_design_4000.h5")
        train_job(problem, "design-gan", run, minutes=args.minutes, data=cache,
                  training={"batch_size": 32, "steps_per_epoch": 50, "lr": 1e-3, "seed": 0})
    gan = load_run(run).network.double().eval()
    with torch.no_grad():
        gan.sample(y[:1], 1)
        start = time.perf_counter()
        draws = gan.sample(y, args.draws, seed=1)  # (n, draws, 1, size, size)
        seconds = (time.perf_counter() - start) / (args.n * args.draws)
    flat = draws.reshape(-1, *draws.shape[2:])
    rows[f"design GAN ({args.draws} draws per target)"] = scores(problem, flat, targets.repeat_interleave(args.draws)) | {
        "seconds_per_design": seconds, "diversity": statistics.fmean(diversity(d) for d in draws)}

    # reference diversity: pairs of random designs whose conductivities are within 5 % of each other
    designs, values = _library(32, 3.0, 1.0, 10.0)
    pairs = [(i, j) for i in range(len(values)) for j in range(i + 1, len(values))
             if abs(float(values[i] / values[j]) - 1) <= TOLERANCE][:2000]
    reference = statistics.fmean(float((designs[i] != designs[j]).double().mean()) for i, j in pairs)

    lines = ["| method | within 5 % | median error | s / design | diversity (pixels differing) |", "|---|---|---|---|---|"]
    for name, r in rows.items():
        div = f"{r['diversity']:.3f}" if "diversity" in r else "-"
        lines.append(f"| {name} | **{r['within_5pct']:.0%}** | {r['median_error']:.2%} | {r['seconds_per_design']:.3g} | {div} |")
    lines.append(f"| (random designs within 5 % of each other) | | | | {reference:.3f} |")
    md = "\n".join(lines)
    print(md)
    path = save("inverse_design", {"config": {**{k: str(v) for k, v in vars(args).items()}, "problem": problem.config},
                                   "results": rows, "reference_diversity": reference, "table": md})
    figure(RESULTS / "inverse_design.png", problem, y, draws, designed, rows)
    print(f"-> {path}")
    return 0


def figure(path: Path, problem, y, draws, designed, rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k, d = 4, min(4, draws.shape[1])
    fig = plt.figure(figsize=(12, 6))
    for i in range(k):
        row = [*draws[i, :d], designed[i]]
        for j, img in enumerate(row):
            ax = fig.add_subplot(k, d + 3, i * (d + 3) + j + 1)
            ax.imshow(img[0].numpy(), cmap="gray_r", vmin=0, vmax=1)
            achieved = float(problem.property_of(img[None])[0])
            ax.set_title(f"{'GAN' if j < d else 'Adam'}: {achieved:.2f}", fontsize=7)
            ax.axis("off")
        fig.text(0.005, 1 - (i + 0.5) / k, f"k* = {float(y[i, 0]):.2f}", fontsize=8, rotation=90, va="center")
    ax = fig.add_subplot(1, d + 3, (d + 2, d + 3))
    for name, r in rows.items():
        ax.hist(np.clip(np.asarray(r["errors"]) * 100, 0, 20), bins=40, range=(0, 20), histtype="step", label=name, density=True)
    ax.axvline(100 * TOLERANCE, color="k", lw=0.8)
    ax.set(xlabel="property error (%)", ylabel="density", title="errors of the designs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
