"""Sweep the regularisation weight of each classical method on every preset.

Tuning uses truths drawn with seed 100 (evaluation uses seed 0 and up), so the defaults in
``inverselab/problems/presets.py`` are not fitted to the reported numbers.

    python benchmarks/tune_defaults.py [--problems ct-parallel mri] [--n 4]

Prints, per problem and method, the PSNR for each weight and the best weight; writes
``benchmarks/results/tune_defaults.json``.
"""

from __future__ import annotations

import time

import numpy as np

import inverselab as il
from _common import BenchmarkParser, save

FACTORS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def main() -> None:
    parser = BenchmarkParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="*", default=None)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--seed", type=int, default=100)
    args = parser.parse_args()
    results = {}
    for name in args.problems or il.list_problems("reconstruction"):
        p = il.make_problem(name)
        if p.default_method == "fwi" and not args.problems:
            continue  # no regularisation weights to tune: FWI's settings are in benchmarks/fwi_marmousi.py
        x = p.sample_truth(args.n, seed=args.seed)
        y = p.simulate(x, seed=args.seed + 1)
        results[name] = {}
        for method, params in p.methods.items():
            if "lam" not in params:
                continue
            rows = []
            for f in FACTORS:
                lam = params["lam"] * f
                t = time.perf_counter()
                xh, _ = il.reconstruct(p, y, method, lam=lam)
                rows.append((lam, float(np.mean(p.evaluate(xh, x)["psnr"])), time.perf_counter() - t))
            best = max(rows, key=lambda r: r[1])
            results[name][method] = {"sweep": rows, "best_lam": best[0], "best_psnr": best[1]}
            print(f"{name:12s} {method:9s} " + " ".join(f"{lam:.3g}:{ps:.2f}" for lam, ps, _ in rows)
                  + f"  -> best lam {best[0]:.3g} ({best[1]:.2f} dB)", flush=True)
    print(f"-> {save('tune_defaults', {'config': vars(args), 'factors': FACTORS, 'results': results})}")


if __name__ == "__main__":
    main()
