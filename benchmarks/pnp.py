"""Plug-and-play ADMM with our own denoiser against total variation, on deblurring and CT.

Denoiser: the ``--denoiser`` run, a width-32 U-Net trained on the ``denoise`` preset
(scikit-image's natural images, training crops, Gaussian noise 0.02); when the run is absent it
is trained there for ``--minutes`` on one CPU thread. The README's numbers use one trained for
2.4 minutes on an H200 GPU (``inverselab train denoise --set noise=0.02 --model unet --option
width=32 --batch-size 16 --steps-per-epoch 100 --minutes 2.4 --out
benchmarks/runs/denoise_w32_gpu``). Deblurring: the ``deblur`` preset (Gaussian blur sigma 2,
noise 0.01) on the 24 held-out crops of ``learned_vs_classical.py deblur``. TV's lambda and
PnP's rho are tuned on 8 validation crops (training stream); PnP runs 30 ADMM iterations of 10
CG steps. Both weights get the same treatment: a sweep on the validation crops that widens (by
factors of 2) until the best value is inside the grid, so neither method is held at the edge of
its range. Writes benchmarks/results/pnp_deblur.json.

``--part ct``: ct-parallel (128 x 128, 30 views, 5 % noise, random ellipses; the CT
benchmark's setting) with a denoiser trained on phantoms (``--set phantom=ellipses``,
benchmarks/runs/denoise_phantoms), FBP as the baseline; writes
benchmarks/results/pnp_ct.json.

    python benchmarks/pnp.py --denoiser runs/denoise_w32_gpu
    python benchmarks/pnp.py --part ct
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from _common import BenchmarkParser, save
from inverselab.jobs import train_job
from inverselab.methods import make_method
from inverselab.problems import make_problem
from inverselab.training.data import VALIDATION_SEED, OnTheFly

HERE = Path(__file__).resolve().parent


def interior_sweep(score, grid: tuple[float, ...], widen: int = 4) -> tuple[float, dict[float, float]]:
    """The best value of ``score`` over ``grid``, widened by factors of 2 (at most ``widen``
    times per side) while the best lies on an edge; returns it and every score."""
    scores = {v: score(v) for v in grid}
    for _ in range(widen):
        best, values = max(scores, key=scores.get), sorted(scores)
        if best == values[0]:
            scores[best / 2] = score(best / 2)
        elif best == values[-1]:
            scores[best * 2] = score(best * 2)
        else:
            break
    return max(scores, key=scores.get), dict(sorted(scores.items()))


def mean_psnr(problem, method: str, y, x, **params) -> tuple[float, float, float]:
    start = time.perf_counter()
    est, _ = make_method(method, problem, **params).reconstruct(y)
    seconds = (time.perf_counter() - start) / y.shape[0]
    scores = problem.evaluate(est, x)
    return sum(scores["psnr"]) / len(scores["psnr"]), sum(scores["ssim"]) / len(scores["ssim"]), seconds


# per part: problem, its overrides, the denoiser's training images, TV's lambda grid, the
# baseline's label, the output name
PARTS = {
    "deblur": ("deblur", {}, "natural", (0.0005, 0.001, 0.002, 0.004), "Wiener (baseline)", "pnp_deblur"),
    "ct": ("ct-parallel", {"size": 128, "views": 30, "noise": 0.05}, "ellipses", (1.5, 3.0, 6.0, 12.0),
           "FBP (baseline)", "pnp_ct"),
}


def main(argv=None) -> int:
    p = BenchmarkParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=list(PARTS), default="deblur")
    p.add_argument("--minutes", type=float, default=15.0, help="denoiser training budget")
    p.add_argument("--denoiser", type=Path, help="denoiser run (default runs/denoise_unet for deblur, "
                   "runs/denoise_phantoms for ct; a width-32 U-Net is trained there on one CPU thread when absent)")
    p.add_argument("--n", type=int, default=24)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    name, overrides, images, tv_grid, baseline, out = PARTS[args.part]
    run = args.denoiser or HERE / "runs" / ("denoise_unet" if args.part == "deblur" else "denoise_phantoms")
    if not (run / "model.safetensors").exists():
        train_job(make_problem("denoise", noise=0.02, phantom=images), "unet", run, options={"width": 32},
                  minutes=args.minutes, training={"batch_size": 8, "steps_per_epoch": 50, "seed": 0})
    problem = make_problem(name, **overrides)
    val = OnTheFly(problem, 8, offset=VALIDATION_SEED).get(list(range(8)))
    x = problem.sample_truth(args.n, seed=0)
    y = problem.simulate(x, seed=1)
    lam, tv_sweep = interior_sweep(lambda v: mean_psnr(problem, "tv", val.y, val.truth, lam=v)[0], tv_grid)
    rho, pnp_sweep = interior_sweep(lambda v: mean_psnr(problem, "pnp", val.y, val.truth, denoiser=str(run), rho=v)[0],
                                    (0.02, 0.05, 0.1, 0.2, 0.5))
    rows = {baseline: mean_psnr(problem, "baseline", y, x),
            f"TV (lambda {lam:g})": mean_psnr(problem, "tv", y, x, lam=lam),
            f"PnP-ADMM, U-Net denoiser (rho {rho:g})": mean_psnr(problem, "pnp", y, x, denoiser=str(run), rho=rho)}
    lines = ["| method | PSNR (dB) | SSIM | s / image |", "|---|---|---|---|"]
    lines += [f"| {label} | {r[0]:.2f} | {r[1]:.3f} | {r[2]:.3f} |" for label, r in rows.items()]
    md = "\n".join(lines)
    print(md)
    results = {label: {"psnr": r[0], "ssim": r[1], "seconds_per_image": r[2]} for label, r in rows.items()}
    config = {**vars(args), "problem": problem.config, "denoiser": str(run), "tv_sweep": tv_sweep, "pnp_sweep": pnp_sweep}
    print(f"-> {save(out, {'config': config, 'results': results, 'table': md})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
