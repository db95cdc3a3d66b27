"""Compressed sensing with a generative prior (Bora et al. 2017) against L1-wavelet and TV.

Problem: the ``cs`` preset at ``ratio`` 0.1 (64 x 64 random ellipses, randomised Hartley
measurements, 2 % relative noise). Generator: the decoder of a VAE trained on the problem's
training phantoms (``inverselab train cs --set ratio=0.1 --model vae``; benchmarks/runs/cs_vae,
trained for ``--minutes`` on one CPU thread when absent). Every method's weights are tuned on
``--val`` validation pairs (training stream, ``VALIDATION_SEED``): L1-wavelet and TV ``lam``,
the latent prior weight ``lam`` of the generative solver, then the deviation weight of its
sparse-deviation variant (Dhar et al. 2018) at that ``lam``; L1-wavelet runs 1000 FISTA
iterations (the variant runs 400), TV the preset's 300 PDHG iterations. All are scored on ``--n``
held-out test phantoms (test split, seed 0; noise seed 1). The generator's representation
error is the PSNR of the best fit ``G(z)`` to those test truths (latent search on the
identity operator, or the encoder's mean when that fits better).

Writes benchmarks/results/generative_prior.json (configuration, seeds, sweeps, results,
table) and generative_prior.png (truths and reconstructions of the first test phantoms).

    python benchmarks/generative_prior.py --device cuda --cpu-timing 1     # the recorded results
    python benchmarks/generative_prior.py --run benchmarks/runs/cs_vae_gpu --device cuda \
        --name generative_prior_gpu_vae     # a generator trained longer (3.5 min on an H200)

On one CPU thread the whole script takes over an hour (the latent search costs about 10 s
per image there, 0.03 s on an H200); ``--cpu-timing K`` times every method on K test images
on the CPU after the main run.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from _common import BenchmarkParser, RESULTS, save
from inverselab.jobs import train_job
from inverselab.methods import make_method
from inverselab.models import load_run
from inverselab.operators.base import Identity
from inverselab.problems import make_problem
from inverselab.solvers import generative_prior
from inverselab.training.data import VALIDATION_SEED, OnTheFly

HERE = Path(__file__).resolve().parent
VAE_OPTIONS = {"latent": 128, "width": 16}
VAE_TRAINING = {"batch_size": 16, "steps_per_epoch": 200, "seed": 0}
GRIDS = {"wavelet": (0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28), "tv": (0.005, 0.01, 0.02, 0.04, 0.08),
         "generative": (0.0, 0.001, 0.003, 0.01, 0.03, 0.1), "deviation": (0.02, 0.04, 0.08, 0.16, 0.32, 0.64)}
WAVELET_ITERS = 1000  # FISTA steps of L1-wavelet: more than the sparse-deviation variant's 400


def scores(problem, method: str, y, x, **params) -> dict:
    """Mean PSNR and SSIM of ``method`` on ``(y, x)`` and its seconds per image, plus the estimate."""
    start = time.perf_counter()
    est, _ = make_method(method, problem, **params).reconstruct(y)
    if est.is_cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / y.shape[0]
    s = problem.evaluate(est.cpu(), x.cpu())
    return {"psnr": sum(s["psnr"]) / len(s["psnr"]), "ssim": sum(s["ssim"]) / len(s["ssim"]),
            "seconds_per_image": seconds, "estimate": est.cpu()}


def tune(problem, method: str, y, x, key: str, grid, **fixed) -> tuple[float, dict]:
    """The value of ``key`` in ``grid`` with the best mean validation PSNR, and the sweep."""
    sweep = {value: scores(problem, method, y, x, **fixed, **{key: value})["psnr"] for value in grid}
    return max(sweep, key=sweep.get), sweep


def representation(run: Path, x, device) -> dict:
    """PSNR of the generator's best fit to the truths ``x``: latent search on the identity
    (8 restarts, 1000 Adam steps), or the encoder's mean where that fits better; both clipped
    at 0 like the method's estimates."""
    network = load_run(run, device=device).network.eval().requires_grad_(False)
    op = Identity(tuple(x.shape[1:]))
    fit, _ = generative_prior(op, x, network.decode, network.latent, lam=0.0, restarts=8, iters=1000, lr=0.02,
                              bounds=(0.0, None))
    with torch.no_grad():
        amortised = network.decode(network.encode(x)[0]).to(x.dtype).clamp(min=0.0)
    mse = torch.minimum((fit - x).square().flatten(1).mean(1), (amortised - x).square().flatten(1).mean(1))
    psnr = -10 * torch.log10(mse)  # data range 1
    return {"psnr": float(psnr.mean()), "psnr_encoder_only": float(-10 * torch.log10(
        (amortised - x).square().flatten(1).mean(1)).mean())}


def figure(truth, estimates: dict, ratio: float, path: Path, count: int = 4) -> None:
    count = min(count, truth.shape[0])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["truth", *estimates]
    fig, axes = plt.subplots(count, len(names), figsize=(2.0 * len(names), 2.0 * count + 0.4),
                             squeeze=False)
    for i in range(count):
        for j, name in enumerate(names):
            image = truth[i, 0] if name == "truth" else estimates[name][i, 0]
            ax = axes[i, j]
            ax.imshow(image.numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=8)
    fig.suptitle(f"cs, {ratio:.0%} measurements: held-out random ellipses", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = BenchmarkParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=HERE / "runs" / "cs_vae", help="generator run (trained when absent)")
    p.add_argument("--minutes", type=float, default=25.0, help="generator training budget when the run is absent")
    p.add_argument("--ratio", type=float, default=0.1)
    p.add_argument("--n", type=int, default=50, help="held-out test phantoms")
    p.add_argument("--val", type=int, default=16, help="validation phantoms for tuning")
    p.add_argument("--restarts", type=int, default=4)
    p.add_argument("--iters", type=int, default=300, help="Adam steps of the latent search")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--name", default="generative_prior", help="results file stem")
    p.add_argument("--cpu-timing", type=int, default=0, metavar="K",
                   help="also time every method on the first K test images on the CPU (with --threads)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    problem = make_problem("cs", ratio=args.ratio)
    if not (args.run / "model.safetensors").exists():
        train_job(problem, "vae", args.run, options=VAE_OPTIONS, minutes=args.minutes, training=VAE_TRAINING)
    device = torch.device(args.device)
    val = OnTheFly(problem, args.val, offset=VALIDATION_SEED).get(list(range(args.val)))
    x = problem.sample_truth(args.n, seed=0)
    y = problem.simulate(x, seed=1)  # simulated on the CPU: every device sees the same data
    val_y, val_x, x, y = (t.to(device) for t in (val.y, val.truth, x, y))
    problem.operator.to(device)
    search = {"generator": str(args.run), "restarts": args.restarts, "iters": args.iters}

    lam_wavelet, sweep_wavelet = tune(problem, "wavelet", val_y, val_x, "lam", GRIDS["wavelet"], iters=WAVELET_ITERS)
    lam_tv, sweep_tv = tune(problem, "tv", val_y, val_x, "lam", GRIDS["tv"])
    lam_gen, sweep_gen = tune(problem, "generative", val_y, val_x, "lam", GRIDS["generative"], **search)
    deviation, sweep_dev = tune(problem, "generative", val_y, val_x, "deviation", GRIDS["deviation"], **search,
                                lam=lam_gen)
    methods = {
        "min-norm (baseline)": ("baseline", {}),
        f"L1-wavelet (lam {lam_wavelet:g})": ("wavelet", {"lam": lam_wavelet, "iters": WAVELET_ITERS}),
        f"TV (lam {lam_tv:g})": ("tv", {"lam": lam_tv}),
        f"generative prior, VAE (lam {lam_gen:g})": ("generative", {**search, "lam": lam_gen}),
        f"generative + sparse deviations (lam {lam_gen:g}, deviation {deviation:g})":
            ("generative", {**search, "lam": lam_gen, "deviation": deviation}),
    }
    rows = {name: scores(problem, method, y, x, **params) for name, (method, params) in methods.items()}
    if args.cpu_timing:
        problem.operator.to("cpu")
        k = args.cpu_timing
        for name, (method, params) in methods.items():
            rows[name]["seconds_per_image_cpu"] = scores(problem, method, y[:k].cpu(), x[:k].cpu(), **params)[
                "seconds_per_image"]
        problem.operator.to(device)
    rep = representation(args.run, x, device)
    cpu = " | s / image, CPU" if args.cpu_timing else ""
    lines = [f"| method | PSNR (dB) | SSIM | s / image, {device.type}{cpu} |", "|---|---|---|---|" + ("---|" if cpu else "")]
    lines += [f"| {name} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['seconds_per_image']:.3f} |"
              + (f" {r['seconds_per_image_cpu']:.3f} |" if cpu else "") for name, r in rows.items()]
    lines.append(f"| generator's best fit to the truths (representation limit) | {rep['psnr']:.2f} | - | - |"
                 + (" - |" if cpu else ""))
    md = "\n".join(lines)
    print(md)
    figure(x.cpu(), {name.split(" (")[0]: r["estimate"] for name, r in rows.items()}, args.ratio,
           RESULTS / f"{args.name}.png")
    last = json.loads((args.run / "training.json").read_text())["history"][-1]
    generator = {"run": str(args.run), "steps": last["step"], "training_minutes": last["seconds"] / 60}
    results = {name: {k: v for k, v in r.items() if k != "estimate"} for name, r in rows.items()}
    config = {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "problem": problem.config,
              "test": {"split": "test", "truth_seed": 0, "noise_seed": 1}, "validation_offset": VALIDATION_SEED,
              "grids": GRIDS, "wavelet_iters": WAVELET_ITERS, "search_seed": 0}
    sweeps = {"wavelet_lam": sweep_wavelet, "tv_lam": sweep_tv, "generative_lam": sweep_gen, "deviation": sweep_dev}
    path = save(args.name, {"config": config, "sweeps": sweeps, "results": results, "representation": rep,
                        "generator": generator, "table": md})
    print(f"-> {path} and {path.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
