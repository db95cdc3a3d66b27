"""PDE and ODE parameter estimation: PINN, solver-based inversion, least squares, recurrent net.

Parts (each writes benchmarks/results/pinn_<part>.json and prints a markdown table):

* ``diffusion``: pinn-diffusion-1d (seeds 0-5), ours against DeepXDE 1.15 (PyTorch backend, run as a
  subprocess from .venv-bench) on the same network ([2] + [32]*3 + [1], tanh, Glorot) and the
  same numbers of points (40 domain, 20 boundary, 10 initial, 10 observations); wall time
  from the start of training until |C - 1| < 0.1 % (both stop there), per seed.
* ``heat`` / ``poisson``: L2 relative error of the conductivity for the PINN and for the
  adjoint-gradient inversion through our finite-volume solver, with wall time, seeds 0-2
  (each seed draws its own noisy data and initialisation).
* ``lorenz``: parameter errors of gradient matching, least squares through RK4, the PINN and
  the GRU (training time and per-series inference time).
* ``wave``: wave-speed-1d by L-BFGS through the leapfrog solver.

    .venv-bench/bin/python benchmarks/pinn.py diffusion heat poisson lorenz wave
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import save
from inverselab.models.pinn import fit
from inverselab.problems import make_problem
from inverselab.problems.pde import _diffusion_pinn

HERE = Path(__file__).resolve().parent
THRESHOLD = 1e-3
SEEDS = (0, 1, 2)
DIFFUSION_SEEDS = (0, 1, 2, 3, 4, 5)


def _ours_diffusion(seed: int, max_steps: int) -> dict:
    problem = make_problem("pinn-diffusion-1d")
    settings = {k: v for k, v in problem.methods["pinn"].defaults.items() if k != "width"}
    settings.update(lbfgs_steps=max_steps - settings["adam_steps"], progress=False)
    data = problem.observe(seed)
    model = _diffusion_pinn(problem, data, seed, 32)
    hit: dict = {}
    start = time.perf_counter()

    def first_hit(m, step: int) -> bool:
        c = m.scalars()["C"]
        if abs(c - 1) < THRESHOLD:
            hit.update(iteration=step, seconds=time.perf_counter() - start, C=c)
            return True
        return False

    history = fit(model, callback=first_hit, seed=seed, **settings)
    return {"seed": seed, "first_hit_iteration": hit.get("iteration"), "first_hit_seconds": hit.get("seconds"),
            "C_final": model.scalars()["C"], "stop_reason": history.stop_reason,
            "train_seconds": time.perf_counter() - start, "settings": settings}


def _deepxde_diffusion(seed: int, iterations: int) -> dict:
    python = HERE.parent / ".venv-bench" / "bin" / "python"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dde.json"
        env = {**os.environ, "DDE_BACKEND": "pytorch"}
        subprocess.run([str(python), str(HERE / "_deepxde_diffusion.py"), "--seed", str(seed), "--iterations",
                        str(iterations), "--threshold", str(THRESHOLD), "--check-every", "10", "--quiet",
                        "--out", str(out)], check=True, env=env, stdout=subprocess.DEVNULL)
        result = json.loads(out.read_text())
    result.pop("C_history", None)
    return result


def part_diffusion(args) -> dict:
    # warm-up: load the lazily imported modules (optimisers, schedulers) before any timing, as
    # the peer's times exclude its imports and compile step
    problem = make_problem("pinn-diffusion-1d")
    fit(_diffusion_pinn(problem, problem.observe(0), 0, 8), adam_steps=2, lbfgs_steps=2, collocation=8, progress=False)
    rows = []
    for seed in DIFFUSION_SEEDS:
        ours = _ours_diffusion(seed, args.max_steps)
        peer = _deepxde_diffusion(seed, args.deepxde_iterations)
        t_ours, t_peer = ours["first_hit_seconds"], peer["first_hit_seconds"]
        rows.append({"seed": seed, "ours": ours, "deepxde": peer,
                     "speedup": (t_peer / t_ours) if (t_ours and t_peer) else None})
        print(f"seed {seed}: ours {t_ours} s ({ours['first_hit_iteration']} steps), "
              f"DeepXDE {t_peer} s ({peer['first_hit_iteration']} it)", flush=True)
    print("\n| seed | ours: s to |C-1|<0.1% (steps) | DeepXDE: s (iterations) | speed-up |\n|---|---|---|---|")
    for r in rows:
        o, d = r["ours"], r["deepxde"]
        dd = f"{d['first_hit_seconds']:.1f} ({d['first_hit_iteration']})" if d["first_hit_seconds"] else \
            f"not reached in {d['iterations_run']} it ({d['train_seconds']:.0f} s), C = {d['C_final']:.5f}"
        oo = f"{o['first_hit_seconds']:.2f} ({o['first_hit_iteration']})" if o["first_hit_seconds"] else \
            f"not reached, C = {o['C_final']:.5f}"
        sp = f"{r['speedup']:.1f}x" if r["speedup"] else "-"
        print(f"| {r['seed']} | {oo} | {dd} | {sp} |")
    hits = {who: sum(r[who]["first_hit_seconds"] is not None for r in rows) for who in ("ours", "deepxde")}
    speedups = sorted(r["speedup"] for r in rows if r["speedup"])
    print(f"\nreached |C-1| < 0.1%: ours {hits['ours']}/{len(rows)}, DeepXDE {hits['deepxde']}/{len(rows)}; "
          f"speed-up where both did: median {statistics.median(speedups):.1f}x, range {speedups[0]:.1f}-{speedups[-1]:.1f}x"
          if speedups else "")
    return {"threshold": THRESHOLD, "rows": rows, "hits": hits,
            "median_speedup": statistics.median(speedups) if speedups else None}


def _estimation_rows(name: str, methods: tuple[str, ...], seeds=SEEDS) -> dict:
    problem = make_problem(name)
    out: dict = {}
    for method in methods:
        runs = []
        for seed in seeds:
            estimate = problem.solve(method, seed=seed)
            scores = problem.evaluate(estimate)
            runs.append({"seed": seed, "seconds": estimate.seconds, **scores})
            print(f"{name} {method} seed {seed}: rel. error {scores['rel_error']:.4f}, {estimate.seconds:.1f} s", flush=True)
        errors = [r["rel_error"] for r in runs]
        out[method] = {"runs": runs, "median_rel_error": statistics.median(errors), "min": min(errors),
                       "max": max(errors), "median_seconds": statistics.median(r["seconds"] for r in runs),
                       "settings": problem.methods[method].defaults}
    print(f"\n| {name} | L2 rel. error of a: median (min-max) over seeds {list(seeds)} | seconds (median) |\n|---|---|---|")
    for method, r in out.items():
        print(f"| {method} | {r['median_rel_error']:.2%} ({r['min']:.2%}-{r['max']:.2%}) | {r['median_seconds']:.1f} |")
    return {"problem": make_problem(name).config, "methods": out}


def part_heat(args) -> dict:
    return _estimation_rows("heat-conductivity", ("pinn", "adjoint"))


def part_poisson(args) -> dict:
    return _estimation_rows("poisson-conductivity", ("pinn", "adjoint"))


def part_wave(args) -> dict:
    return _estimation_rows("wave-speed-1d", ("adjoint",), seeds=(0,))


def part_lorenz(args) -> dict:
    problem = make_problem("lorenz")
    out = {}
    for method in ("gradient-matching", "least-squares", "pinn", "rnn"):
        estimate = problem.solve(method, seed=0)
        scores = problem.evaluate(estimate)
        extra = {k: estimate.history[k] for k in ("training_seconds", "inference_seconds") if k in estimate.history}
        out[method] = {"seconds": estimate.seconds, **scores, **extra, "settings": problem.methods[method].defaults}
        print(f"lorenz {method}: {scores['parameters']}", flush=True)
    print("\n| lorenz | sigma | rho | beta | seconds |\n|---|---|---|---|---|")
    for method, r in out.items():
        p = r["parameters"]
        cells = " | ".join(f"{p[k]['estimate']:.4f} ({p[k]['rel_error']:.2%})" for k in ("sigma", "rho", "beta"))
        secs = f"{r['seconds']:.3g}" + (f" (+{r['training_seconds']:.0f} training)" if "training_seconds" in r else "")
        print(f"| {method} | {cells} | {secs} |")
    return {"problem": problem.config, "methods": out}


PARTS = {"diffusion": part_diffusion, "heat": part_heat, "poisson": part_poisson, "lorenz": part_lorenz,
         "wave": part_wave}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("parts", nargs="+", choices=sorted(PARTS))
    parser.add_argument("--max-steps", type=int, default=20000, help="our step budget (diffusion)")
    parser.add_argument("--deepxde-iterations", type=int, default=50000, help="DeepXDE's Adam budget (diffusion)")
    args = parser.parse_args()
    for part in args.parts:
        start = time.perf_counter()
        payload = PARTS[part](args)
        save(f"pinn_{part}", {"part": part, "seconds": time.perf_counter() - start,
                              "config": {"argv": sys.argv[1:], "threads": torch.get_num_threads()}, **payload})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
