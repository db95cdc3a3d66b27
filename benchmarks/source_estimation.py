"""Pollutant source estimation: scan baseline, MCMC posterior and a network with uncertainty.

On 100 held-out releases of the ``pollutant-source`` preset (8 sensors, 10 mg/m^2 noise):
the median localisation error, the mean relative mass error, the coverage of the central 90 %
intervals (per unknown and overall), the median interval width and the seconds per release.
A calibration curve (coverage against the nominal level) compares the MCMC posterior with the
network's Gaussian. Writes benchmarks/results/source_estimation.{json,png}.

    python benchmarks/source_estimation.py [--minutes 5]

The network run lands in benchmarks/runs/source_gaussian_mlp (reused when present).
MCMC runs all releases as one batch; its seconds per release are the batch time / 100.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from _common import BenchmarkParser, RESULTS, save
from inverselab.jobs import test_pairs, train_job
from inverselab.models import load_run
from inverselab.problems import make_problem
from inverselab.problems.source import sample_posterior
from inverselab.uq import z_score

RUNS = Path(__file__).resolve().parent / "runs"
LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def summary(problem, estimate: torch.Tensor, truth: torch.Tensor, seconds: float, interval=None) -> dict:
    scores = problem.evaluate(estimate, truth, interval=interval)
    row = {"median_location_error_m": statistics.median(scores["location_error"]),
           "mean_location_error_m": statistics.fmean(scores["location_error"]),
           "mean_mass_error": statistics.fmean(scores["mass_error"]),
           "seconds_per_release": seconds, "location_errors": scores["location_error"]}
    if interval is not None:
        low, high = interval
        inside = ((low <= truth) & (truth <= high)).double()
        row |= {"coverage": float(inside.mean()), "coverage_per_unknown": inside.mean(0).tolist(),
                "median_interval_width_m": statistics.median(scores["interval_width_m"])}
    return row


def calibration_mcmc(samples: torch.Tensor, truth: torch.Tensor) -> list[float]:
    out = []
    for level in LEVELS:
        q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=samples.dtype)
        low, high = torch.quantile(samples, q, dim=1)
        out.append(float(((low <= truth) & (truth <= high)).double().mean()))
    return out


def calibration_gaussian(mean: torch.Tensor, std: torch.Tensor, truth: torch.Tensor) -> list[float]:
    return [float(((truth - mean).abs() <= z_score(level) * std).double().mean()) for level in LEVELS]


def figure(path: Path, rows: dict, curves: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for name, row in rows.items():
        errors = np.sort(row["location_errors"])
        a.plot(errors, np.arange(1, len(errors) + 1) / len(errors), label=name)
    a.set(xscale="log", xlabel="localisation error (m)", ylabel="share of releases", title="localisation error, 100 releases")
    a.grid(alpha=0.3, which="both")
    a.legend(fontsize=8)
    b.plot([0.4, 1], [0.4, 1], color="gray", lw=0.8, label="ideal")
    for name, values in curves.items():
        b.plot(LEVELS, values, "o-", label=name)
    b.set(xlabel="nominal level of the central interval", ylabel="coverage of the true unknowns",
          title="calibration (x0, y0, log10 mass pooled)")
    b.grid(alpha=0.3)
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = BenchmarkParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100, help="held-out releases")
    p.add_argument("--minutes", type=float, default=5.0, help="network training budget")
    p.add_argument("--steps", type=int, default=4000, help="MCMC steps (a quarter of them burn-in)")
    p.add_argument("--chains", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    problem = make_problem("pollutant-source")
    x, y = test_pairs(problem, args.n, seed=0, dtype=torch.float64)
    rows, curves = {}, {}

    start = time.perf_counter()
    scan = problem.baseline(y)
    rows["scan (best cell, least-squares mass)"] = summary(problem, scan, x, (time.perf_counter() - start) / args.n)

    start = time.perf_counter()
    post = sample_posterior(problem, y, chains=args.chains, steps=args.steps, burn_in=args.steps // 4, seed=0)
    seconds = (time.perf_counter() - start) / args.n
    rows["MCMC posterior mean"] = summary(problem, post.samples.mean(1), x, seconds, interval=post.quantiles(0.9))
    rows["MCMC posterior mean"]["acceptance"] = float(post.acceptance.mean())
    curves["MCMC"] = calibration_mcmc(post.samples, x)

    run = RUNS / "source_gaussian_mlp"
    if not (run / "model.safetensors").exists():
        train_job(problem, "gaussian-mlp", run, minutes=args.minutes,
                  training={"batch_size": 256, "steps_per_epoch": 100, "lr": 1e-3, "seed": 0})
    trained = load_run(run)
    net = trained.network.double()
    with torch.no_grad():
        net(y[:1])
        start = time.perf_counter()
        for i in range(args.n):
            net(y[i : i + 1], return_std=True)
        seconds = (time.perf_counter() - start) / args.n
        mean, std = net(y, return_std=True)
    half = z_score(0.9) * std
    rows["network (Gaussian MLP)"] = summary(problem, mean, x, seconds, interval=(mean - half, mean + half))
    curves["network"] = calibration_gaussian(mean, std, x)

    lines = ["| method | median loc. error (m) | mean mass error | 90% coverage (x0, y0, mass; all) | median 90% width (m) | s / release |",
             "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        cov = (f"{', '.join(f'{c:.0%}' for c in r['coverage_per_unknown'])}; **{r['coverage']:.1%}**"
               if "coverage" in r else "-")
        width = f"{r['median_interval_width_m']:.1f}" if "median_interval_width_m" in r else "-"
        lines.append(f"| {name} | {r['median_location_error_m']:.1f} | {r['mean_mass_error']:.3f} | {cov} | {width} | "
                     f"{r['seconds_per_release']:.2g} |")
    md = "\n".join(lines)
    print(md)
    print("calibration levels", LEVELS, {k: [round(v, 3) for v in vals] for k, vals in curves.items()})
    path = save("source_estimation", {"config": {**vars(args), "problem": problem.config, "network_run": str(run)},
                                      "results": rows, "calibration": {"levels": LEVELS, **curves}, "table": md})
    figure(RESULTS / "source_estimation.png", rows, curves)
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
