"""Quality and time of every preset's methods at their default settings.

Evaluation truths use seed 0 (the defaults were tuned on seed 100 by ``tune_defaults.py``);
measurements use seed 1.

    python benchmarks/presets.py [--n 8] [--problems ct-parallel mri]
    python benchmarks/presets.py --quick       # 2 samples of the imaging presets

Prints one table (mean PSNR / SSIM and seconds per sample per method) and writes
``benchmarks/results/presets.json`` (``--quick``: its quick block).
"""

from __future__ import annotations

import time

import numpy as np
import torch

import inverselab as il
from _common import BenchmarkParser, save
from inverselab.methods import available_methods


#: The presets of ``--quick``.
QUICK = ("deblur", "inpaint", "ct-parallel", "mri")
#: What ``reproduce.py`` checks: every method's mean PSNR and SSIM.
REPRODUCE = {"quality": {"rows.*.psnr": 0.3, "rows.*.ssim": 0.01}}


def main() -> None:
    parser = BenchmarkParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="*", default=None)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help=f"--n 2 on {', '.join(QUICK)} (unless given)")
    args = parser.parse_args()
    if args.quick:
        args.problems = args.problems or list(QUICK)
        args.n = min(args.n, 2)
    torch.set_num_threads(args.threads)
    rows = []
    print(f"{'problem':12s} {'method':10s} {'PSNR dB':>8s} {'SSIM':>6s} {'s/sample':>9s}")
    for name in args.problems or il.list_problems("reconstruction"):
        p = il.make_problem(name)
        if p.default_method == "fwi" and not args.problems:
            continue  # seismic presets have their own benchmark (benchmarks/fwi_marmousi.py)
        if "psnr" not in p.metrics:
            continue  # unknowns that are not images: sources, designs, joint-optimisation instances
        x = p.sample_truth(args.n, seed=0)
        y = p.simulate(x, seed=1)
        for method in available_methods(p):
            start = time.perf_counter()
            estimate, _ = il.reconstruct(p, y, method)
            seconds = (time.perf_counter() - start) / args.n
            scores = p.evaluate(estimate, x)
            row = {"problem": name, "method": method, "psnr": float(np.mean(scores["psnr"])),
                   "ssim": float(np.mean(scores["ssim"])), "seconds_per_sample": seconds,
                   "default": method == p.default_method}
            rows.append(row)
            mark = " *" if row["default"] else ""
            print(f"{name:12s} {method:10s} {row['psnr']:8.2f} {row['ssim']:6.3f} {seconds:9.4f}{mark}", flush=True)
    print("(* the problem's default method)")
    print(f"-> {save('presets', {'config': vars(args), 'rows': rows}, reproduce=REPRODUCE)}")


if __name__ == "__main__":
    main()
