"""Stability on ct-parallel: FBP, TV, U-Net and learned primal-dual under noise and attacks.

The networks are the ``ct`` part's runs of ``benchmarks/learned_vs_classical.py`` (trained at
5 % noise: benchmarks/runs/ct_unet and ct_lpd). For each method: mean PSNR on 50 held-out
phantoms at relative noise 1.25, 2.5, 5 and 10 %; the PSNR drop under the worst perturbation
found by 10 steps of projected gradient ascent within ``||delta|| <= eps ||y||`` (eps = 0.01
and 0.05, 10 phantoms at 5 % noise); and the local Lipschitz constant (largest singular value
of the Jacobian). TV runs 150 PDHG iterations with its graph kept, so the attack
differentiates through the solver as through the networks. Writes
benchmarks/results/stability_ct.{json,png}.

    python benchmarks/stability.py [--n 50 --n-attack 10]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from _common import BenchmarkParser, RESULTS, save
from inverselab.analysis.stability import stability_markdown, stability_table
from inverselab.report.stability import stability_figure
from inverselab.models import load_run
from inverselab.operators import fbp
from inverselab.problems import make_problem
from inverselab.solvers import tv_pdhg

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    p = BenchmarkParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=50, help="phantoms of the noise sweep")
    p.add_argument("--n-attack", type=int, default=10, help="phantoms attacked")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--tv-iters", type=int, default=150)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    problem = make_problem("ct-parallel", size=128, views=30, noise=0.05)
    lam = json.loads((RESULTS / "learned_ct.json").read_text())["config"]["tv_lam"]
    op = problem.operator
    methods = {
        "FBP (Hann)": lambda y: fbp(op, y, filter="hann"),
        f"TV (lambda {lam:g}, {args.tv_iters} its)": lambda y: tv_pdhg(op, y, lam=lam, iters=args.tv_iters, tol=0.0,
                                                                      differentiable=True)[0],
        "U-Net": load_run(HERE / "runs" / "ct_unet").network.eval(),
        "LPD": load_run(HERE / "runs" / "ct_lpd").network.eval(),
    }
    result = stability_table(problem, methods, (0.0125, 0.025, 0.05, 0.1), (0.01, 0.05), n_sweep=args.n,
                             n_attack=args.n_attack, steps=args.steps)
    md = stability_markdown(result)
    print(md)
    path = save("stability_ct", {"config": {**vars(args), "problem": problem.config, "tv_lam": lam,
                                            "runs": ["benchmarks/runs/ct_unet", "benchmarks/runs/ct_lpd"]},
                                 "results": result, "table": md})
    stability_figure(RESULTS / "stability_ct.png", result, title="ct-parallel 128, 30 views")
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
