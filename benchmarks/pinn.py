"""PDE and ODE parameter estimation: PINN, solver-based inversion, least squares, recurrent net.

Parts (each writes benchmarks/results/pinn_<part>.json and prints a markdown table):

* ``diffusion``: pinn-diffusion-1d (seeds 0-5), ours against DeepXDE 1.15 (PyTorch backend, run as a
  subprocess from .venv-bench) on the same network ([2] + [32]*3 + [1], tanh, Glorot) and the
  same numbers of points (40 domain, 20 boundary, 10 initial, 10 observations); both run to
  their budgets, and we report the wall time from the start of training until |C - 1| < 0.1 %
  first holds, until it holds from then on to the end ("settled"), and the final C.
* ``heat`` / ``poisson``: L2 relative error of the conductivity for the PINN and for the
  adjoint-gradient inversion through our finite-volume solver, with wall time, seeds 0-2
  (each seed draws its own noisy data and initialisation).
* ``lorenz``: parameter errors of gradient matching, least squares through RK4, the PINN and
  the GRU (training time and per-series inference time).
* ``wave``: wave-speed-1d by L-BFGS through the leapfrog solver.

    .venv-bench/bin/python benchmarks/pinn.py diffusion heat poisson lorenz wave
    .venv/bin/python benchmarks/pinn.py heat --quick      # quick block: seed 0 only
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import BenchmarkParser, save
import inverselab as il
from inverselab.models.pinn import fit
from inverselab.problems import make_problem
from inverselab.methods.pinn import _diffusion_pinn

HERE = Path(__file__).resolve().parent
THRESHOLD = 1e-3
SEEDS = (0, 1, 2)
DIFFUSION_SEEDS = (0, 1, 2, 3, 4, 5)


def _crossings(seconds: list[float], iterations: list[int], values: list[float]) -> dict:
    """First record with |C - 1| < threshold, and the record from which it holds to the end."""
    inside = [abs(c - 1) < THRESHOLD for c in values]
    first = next((k for k, ok in enumerate(inside) if ok), None)
    settled = None
    for k in range(len(inside) - 1, -1, -1):
        if not inside[k]:
            break
        settled = k
    pick = lambda k: (None, None) if k is None else (seconds[k], iterations[k])  # noqa: E731
    (s1, i1), (s2, i2) = pick(first), pick(settled)
    return {"first_hit_seconds": s1, "first_hit_iteration": i1, "settled_seconds": s2, "settled_iteration": i2,
            "C_final": values[-1], "final_seconds": seconds[-1], "final_iteration": iterations[-1]}


def _ours_diffusion(seed: int) -> dict:
    problem = make_problem("pinn-diffusion-1d")
    settings = {k: v for k, v in il.make_method("pinn", problem).settings().items() if k not in ("width", "seed")}
    settings["progress"] = False
    model = _diffusion_pinn(problem, problem.observe(seed), seed, 32)
    history = fit(model, seed=seed, **settings)
    return {"seed": seed, "stop_reason": history.stop_reason, "settings": settings,
            **_crossings(history.seconds, history.step, history.parameters["C"])}


def _deepxde_diffusion(seed: int, iterations: int) -> dict:
    python = HERE.parent / ".venv-bench" / "bin" / "python"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dde.json"
        env = {**os.environ, "DDE_BACKEND": "pytorch"}
        subprocess.run([str(python), str(HERE / "_deepxde_diffusion.py"), "--seed", str(seed), "--iterations",
                        str(iterations), "--threshold", str(THRESHOLD), "--check-every", "10", "--history-every", "50",
                        "--no-stop", "--quiet", "--out", str(out)], check=True, env=env, stdout=subprocess.DEVNULL)
        result = json.loads(out.read_text())
    history = result.pop("C_history")
    iters, secs, values = zip(*history)
    crossings = _crossings(list(secs), list(iters), list(values))
    # the peer checks C every 10 iterations for the first hit; keep that finer value
    crossings.update(first_hit_seconds=result["first_hit_seconds"], first_hit_iteration=result["first_hit_iteration"])
    return {**result, **crossings}


def _ratio(peer: float | None, ours: float | None) -> float | None:
    return peer / ours if (peer and ours) else None


def part_diffusion(args) -> dict:
    # warm-up: load the lazily imported modules (optimisers, schedulers) before any timing, as
    # the peer's times exclude its imports and compile step
    problem = make_problem("pinn-diffusion-1d")
    fit(_diffusion_pinn(problem, problem.observe(0), 0, 8), adam_steps=2, lbfgs_steps=2, collocation=8, progress=False)
    rows = []
    for seed in DIFFUSION_SEEDS:
        ours = _ours_diffusion(seed)
        peer = _deepxde_diffusion(seed, args.deepxde_iterations)
        rows.append({"seed": seed, "ours": ours, "deepxde": peer,
                     "speedup_first_hit": _ratio(peer["first_hit_seconds"], ours["first_hit_seconds"]),
                     "speedup_settled": _ratio(peer["settled_seconds"], ours["settled_seconds"])})
        print(f"seed {seed}: ours C = {ours['C_final']:.5f}, DeepXDE C = {peer['C_final']:.5f}", flush=True)

    def cell(r: dict, key: str) -> str:
        return "-" if r[f"{key}_seconds"] is None else f"{r[f'{key}_seconds']:.1f} ({r[f'{key}_iteration']})"

    print("\n| seed | ours: first within 0.1% | ours: within from then on | ours: final C (s) "
          "| DeepXDE: first | DeepXDE: from then on | DeepXDE: final C (s) |\n|---|---|---|---|---|---|---|")
    for r in rows:
        o, d = r["ours"], r["deepxde"]
        print(f"| {r['seed']} | {cell(o, 'first_hit')} | {cell(o, 'settled')} | {o['C_final']:.5f} ({o['final_seconds']:.1f}) "
              f"| {cell(d, 'first_hit')} | {cell(d, 'settled')} | {d['C_final']:.5f} ({d['final_seconds']:.0f}) |")
    summary = {}
    for key in ("first_hit", "settled"):
        ratios = sorted(r[f"speedup_{key}"] for r in rows if r[f"speedup_{key}"])
        summary[key] = {"ours": sum(r["ours"][f"{key}_seconds"] is not None for r in rows),
                        "deepxde": sum(r["deepxde"][f"{key}_seconds"] is not None for r in rows),
                        "speedups": ratios}
        print(f"{key}: reached by ours {summary[key]['ours']}/{len(rows)}, DeepXDE {summary[key]['deepxde']}/{len(rows)}; "
              f"speed-ups where both did: {[round(x, 1) for x in ratios]}")
    return {"threshold": THRESHOLD, "rows": rows, "summary": summary}


def _estimation_rows(name: str, methods: tuple[str, ...], seeds=SEEDS) -> dict:
    problem = make_problem(name)
    out: dict = {}
    for method in methods:
        runs = []
        for seed in seeds:
            estimate = il.estimate(problem, method, seed=seed)
            scores = problem.evaluate(estimate)
            runs.append({"seed": seed, "seconds": estimate.seconds, **scores})
            print(f"{name} {method} seed {seed}: rel. error {scores['rel_error']:.4f}, {estimate.seconds:.1f} s", flush=True)
        errors = [r["rel_error"] for r in runs]
        out[method] = {"runs": runs, "median_rel_error": statistics.median(errors), "min": min(errors),
                       "max": max(errors), "median_seconds": statistics.median(r["seconds"] for r in runs),
                       "settings": il.make_method(method, problem).settings()}
    print(f"\n| {name} | L2 rel. error of a: median (min-max) over seeds {list(seeds)} | seconds (median) |\n|---|---|---|")
    for method, r in out.items():
        print(f"| {method} | {r['median_rel_error']:.2%} ({r['min']:.2%}-{r['max']:.2%}) | {r['median_seconds']:.1f} |")
    return {"problem": make_problem(name).config, "methods": out}


def part_heat(args) -> dict:
    return _estimation_rows("heat-conductivity", ("pinn", "adjoint"), seeds=SEEDS[:1] if args.quick else SEEDS)


def part_poisson(args) -> dict:
    return _estimation_rows("poisson-conductivity", ("pinn", "adjoint"), seeds=SEEDS[:1] if args.quick else SEEDS)


def part_wave(args) -> dict:
    return _estimation_rows("wave-speed-1d", ("adjoint",), seeds=(0,))


def part_lorenz(args) -> dict:
    problem = make_problem("lorenz")
    out = {}
    for method in ("gradient-matching", "least-squares", "pinn", "rnn"):
        estimate = il.estimate(problem, method, seed=0)
        scores = problem.evaluate(estimate)
        extra = {k: estimate.history[k] for k in ("training_seconds", "inference_seconds") if k in estimate.history}
        out[method] = {"seconds": estimate.seconds, **scores, **extra, "settings": il.make_method(method, problem).settings()}
        print(f"lorenz {method}: {scores['parameters']}", flush=True)
    print("\n| lorenz | sigma | rho | beta | seconds |\n|---|---|---|---|---|")
    for method, r in out.items():
        p = r["parameters"]
        cells = " | ".join(f"{p[k]['estimate']:.4f} ({p[k]['rel_error']:.2%})" for k in ("sigma", "rho", "beta"))
        secs = f"{r['seconds']:.3g}" + (f" (+{r['training_seconds']:.0f} training)" if "training_seconds" in r else "")
        print(f"| {method} | {cells} | {secs} |")
    return {"problem": problem.config, "methods": out}


#: What ``reproduce.py`` checks (heat, poisson, wave): each method's median relative error.
REPRODUCE = {"quality": {"methods.*.median_rel_error": 0.005}}
#: Parts with a quick block.
QUICK_PARTS = ("heat", "poisson")

PARTS = {"diffusion": part_diffusion, "heat": part_heat, "poisson": part_poisson, "lorenz": part_lorenz,
         "wave": part_wave}


def main() -> int:
    parser = BenchmarkParser(description=__doc__.split("\n")[0])
    parser.add_argument("parts", nargs="+", choices=sorted(PARTS))
    parser.add_argument("--deepxde-iterations", type=int, default=30000, help="DeepXDE's Adam budget (diffusion)")
    parser.add_argument("--quick", action="store_true", help=f"seed 0 only ({', '.join(QUICK_PARTS)})")
    args = parser.parse_args()
    if args.quick and set(args.parts) - set(QUICK_PARTS):
        parser.error(f"--quick is available for the parts {', '.join(QUICK_PARTS)}; run the others in full")
    for part in args.parts:
        start = time.perf_counter()
        payload = PARTS[part](args)
        save(f"pinn_{part}", {"part": part, "seconds": time.perf_counter() - start,
                              "config": {"argv": sys.argv[1:], "threads": torch.get_num_threads()}, **payload},
             reproduce=REPRODUCE if part in ("heat", "poisson", "wave") else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
