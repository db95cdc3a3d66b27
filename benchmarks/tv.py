"""Total variation: inverselab's PDHG against deepinv's TV solvers, time to equal quality.

Problems (PEERS.md's set-ups, the same data for both libraries, generated once by
inverselab's operators):

* CT: 128x128 Shepp-Logan, parallel beam, 60 angles over 180 degrees, 182 detectors,
  Gaussian noise 1 % of the sinogram RMS.
* Deblurring: 256x256 camera, Gaussian blur sigma 2 (15x15), circular, noise sigma 0.01.

deepinv runs its own solvers (PGD for CT, FISTA for deblurring, ``TVPrior`` prox) over a
sweep of weights and inner-iteration counts; its best PSNR over all runs and iterations is the
target, and its time is the time that run took to first reach it. inverselab then runs
``tv_pdhg`` over a sweep of weights and step settings (its default adaptive steps, and fixed
primal/dual step ratios 3 and 10) and reports the first time any run reaches the target, and
the first time a run with the default steps does.

    .venv-bench/bin/python benchmarks/tv.py [--quick]

Writes benchmarks/results/tv.json and prints the speed-up.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import peers
from _common import save
from inverselab.data import natural_image
from inverselab.metrics import psnr
from inverselab.noise import GaussianNoise
from inverselab.operators import Blur, ParallelBeam2D, gaussian_kernel
from inverselab.solvers import tv_pdhg


def first_time(psnrs, seconds, target: float) -> float | None:
    hit = np.nonzero(np.asarray(psnrs) >= target - 1e-9)[0]
    return float(np.asarray(seconds)[hit[0]]) if hit.size else None


def run_deepinv(physics, truth, y, configs, iters, algorithm) -> list[dict]:
    """``configs``: (lam, inner TV-prox iterations) pairs."""
    runs = []
    for lam, inner in configs:
        r = peers.deepinv_tv(physics, truth, y, lam, iters, algorithm=algorithm, tv_max_inner=inner)
        best = int(np.argmax(r.psnr))
        runs.append({
            "lam": lam, "inner_iters": inner, "best_psnr": float(r.psnr[best]),
            "best_iter": best + 1, "seconds_to_best": float(r.seconds[best]),
            "total_seconds": float(r.seconds[-1]),
        })
        print(f"  deepinv {algorithm} lam {lam:.3g} inner {inner}: best {r.psnr[best]:.2f} dB at it "
              f"{best + 1} ({r.seconds[best]:.2f} s; {r.seconds[-1]:.2f} s total)", flush=True)
    return runs


def run_ours(op, truth, y, settings: list[dict], iters: int, **common) -> list[dict]:
    """``settings``: keyword sets for ``tv_pdhg`` (each with ``lam``), ``common`` added to all."""
    runs = []
    for setting in settings:
        kw = {**common, **setting}
        tv_pdhg(op, y, iters=5, tol=0, **kw)  # warm-up: operator norm, caches
        x, hist = tv_pdhg(op, y, iters=iters, tol=0, truth=truth, data_range=1.0, **kw)
        runs.append({"setting": setting, "psnr": hist.psnr, "seconds": hist.seconds})
        best = int(np.argmax(hist.psnr))
        print(f"  inverselab tv_pdhg {setting}: best {hist.psnr[best]:.2f} dB at it {best + 1} "
              f"({hist.seconds[best]:.2f} s)", flush=True)
    return runs


def sweep(lams, step_ratios) -> list[dict]:
    """Our defaults (adaptive steps) and fixed primal/dual step ratios, for each weight."""
    return [{"lam": lam, **step} for lam in lams
            for step in ({"adaptive": True}, *({"adaptive": False, "step_ratio": r} for r in step_ratios))]


def compare(name: str, deepinv_runs: list[dict], our_runs: list[dict]) -> dict:
    best = max(deepinv_runs, key=lambda r: r["best_psnr"])
    target = best["best_psnr"]
    times = [(first_time(r["psnr"], r["seconds"], target), i) for i, r in enumerate(our_runs)]
    reached = [(t, i) for t, i in times if t is not None]
    ours_t, ours_i = min(reached) if reached else (None, None)
    setting = our_runs[ours_i]["setting"] if reached else None
    defaults = [t for t, i in reached if our_runs[i]["setting"].get("adaptive")]
    ours_best = max(max(r["psnr"]) for r in our_runs)
    speedup = best["seconds_to_best"] / ours_t if ours_t else None
    default_speedup = best["seconds_to_best"] / min(defaults) if defaults else None
    print(f"{name}: deepinv best {target:.2f} dB in {best['seconds_to_best']:.2f} s (lam {best['lam']:.3g}, "
          f"inner {best['inner_iters']}); inverselab reaches it in "
          + (f"{ours_t:.3f} s ({setting}) -> {speedup:.1f}x sooner" if ours_t else "never")
          + (f"; with default (adaptive) steps {min(defaults):.3f} s -> {default_speedup:.1f}x" if defaults
             else "; never with default (adaptive) steps")
          + f"; inverselab best {ours_best:.2f} dB")
    return {"deepinv_runs": deepinv_runs, "deepinv_best": best, "target_psnr": target,
            "inverselab_runs": our_runs, "inverselab_seconds_to_target": ours_t, "inverselab_setting": setting,
            "inverselab_default_steps_seconds_to_target": min(defaults) if defaults else None,
            "inverselab_best_psnr": ours_best, "speedup": speedup, "default_steps_speedup": default_speedup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=200, help="deepinv outer iterations")
    parser.add_argument("--quick", action="store_true", help="smaller deepinv sweep (no 1000-inner run)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {"config": vars(args)}

    # CT
    n, views, det = 128, 60, 182
    truth = torch.from_numpy(peers._phantom(n))[None, None].double()
    op = ParallelBeam2D(n, peers.angles_radians(views), det)
    with torch.no_grad():
        y = GaussianNoise(0.01, relative=True)(op(truth), seed=1)
    physics = peers.deepinv_ct_physics(n, views, det)
    norm2 = op.norm() ** 2
    print(f"CT {n}x{n}, {views} angles, {det} detectors, 1% noise")
    lams_d = [l * norm2 for l in (3e-5, 1e-4, 3e-4)]
    configs = [(lam, inner) for inner in (20, 100) for lam in lams_d]
    if not args.quick:  # deepinv's default prox (1000 inner iterations) at the middle weight
        configs.append((lams_d[1], 1000))
    d_runs = run_deepinv(physics, truth.float(), y.float(), configs, args.iters, "PGD")
    o_runs = run_ours(op, truth.float(), y.float(), sweep((0.3, 1.0, 3.0), (3.0, 10.0)), 300, bounds=(0.0, None))
    results["ct"] = compare("CT", d_runs, o_runs)

    # deblurring
    image = natural_image("camera", 256).double()
    kernel = gaussian_kernel(2.0, 15)
    blur = Blur(256, kernel)
    with torch.no_grad():
        yb = GaussianNoise(0.01)(blur(image), seed=1)
    print(f"Deblurring 256x256 camera, sigma 2 (15x15), circular, noise 0.01: "
          f"input {float(psnr(yb, image, 1.0)):.2f} dB")
    physics = peers.deepinv_blur_physics(kernel.numpy(), (256, 256))
    configs = [(lam, inner) for inner in (20, 100) for lam in (3e-4, 1e-3, 3e-3)]
    d_runs = run_deepinv(physics, image.float(), yb.float(), configs, args.iters, "FISTA")
    o_runs = run_ours(blur, image.float(), yb.float(), sweep((1e-4, 3e-4, 1e-3), (3.0, 10.0)), 1000,
                      bounds=(0.0, 1.0))
    results["deblur"] = compare("Deblurring", d_runs, o_runs)
    print(f"-> {save('tv', results)}")


if __name__ == "__main__":
    main()
