"""Total variation, fairly: time until the objective is within a tolerance of its minimum.

Every solver minimises the same objective ``F(x) = ||A x - y||^2 / 2 + lam TV(x)`` (isotropic
TV with forward differences and a Neumann boundary, no constraints) on the same data, from a
zero start:

* inverselab ``tv_pdhg`` with its defaults (data step and step balance chosen by rule), and
  with its best fixed step balance (chosen on validation data);
* deepinv's Chambolle-Pock (``PDCP``, ``g_first``, exact data step where deepinv has one, its
  conjugate gradient otherwise) with its best step balance and CG length (validation data);
* deepinv's PGD and FISTA with its TV prior (best inner-iteration count on validation data;
  real images only).

Problems (``--problems``):

ct       128x128 Shepp-Logan, parallel beam, 60 views over 180 degrees, 182 detectors, noise 1 %
         of the sinogram RMS (validation: a random-ellipse phantom). deepinv's solvers get
         inverselab's projector (faster than deepinv's own). ASTRA's SIRT and CGLS (other
         objectives) are reported as references.
deblur   256x256 camera, Gaussian blur sigma 2 (15x15), circular, noise 0.01 (validation:
         the astronaut image); deepinv's ``BlurFFT``.
inpaint  256x256 camera, half the pixels kept at random, noise 0.01 (validation: astronaut);
         deepinv's ``Inpainting``.
mri      128x128 camera (complex), 8 simulated coils, 4x random column mask, noise 0.01
         (validation: astronaut); inverselab's operator in deepinv (normalised; CG data step).

``lam`` is the best-PSNR weight of a sweep on the validation data. ``F*`` is the lowest value
any run reaches, including a long float64 run of inverselab's solver. The primary metric is
the time until ``(F - F*) / |F*| <= --tol`` (median, min and max over ``--repeats`` runs of the
chosen configurations on the test data); secondary, the time until each solver reaches the best
PSNR deepinv's solvers reach. Per-iteration costs and the thread count are recorded.

    .venv-bench/bin/python benchmarks/tv.py [--problems ct deblur inpaint mri]
    .venv-bench/bin/python benchmarks/tv.py --quick --problems deblur   # the quick block

Writes benchmarks/results/tv.json (merged per problem; ``--quick``: its quick block, shorter
sweeps and reference runs) and prints a table with ratios.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

import peers
import peers_tv
from _common import BenchmarkParser, RESULTS, environment, save
from inverselab.data import natural_image, random_ellipses
from inverselab.metrics import psnr
from inverselab.noise import GaussianNoise
from inverselab.operators import Blur, CartesianMRI, Inpainting, ParallelBeam2D, gaussian_kernel
from inverselab.operators.mri import coil_sensitivities, random_mask_1d
from inverselab.regularizers import TotalVariation
from inverselab.solvers import record_objective, tv_pdhg

Tensor = torch.Tensor
RATIOS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


@dataclass
class Problem:
    """One test problem: the operator, validation and test data, and deepinv's view of it."""

    name: str
    op: object
    truth: Tensor
    y: Tensor
    val_truth: Tensor
    val_y: Tensor
    lams: tuple[float, ...]
    physics: Callable[[int], object]  # CG length -> deepinv physics (divided by peer_scale)
    exact_peer: bool  # deepinv's data step is exact (no CG length to tune)
    real: bool  # PGD/FISTA with deepinv's TV prior apply
    iters: int  # iteration cap of each run
    peer_scale: float = 1.0  # deepinv runs on A / peer_scale, y / peer_scale, lam / peer_scale^2


def _noisy(op, x: Tensor, sigma: float, relative: bool, seed: int) -> Tensor:
    with torch.no_grad():
        return GaussianNoise(sigma, relative=relative)(op(x), seed=seed)


def build(name: str) -> Problem:
    """The problem ``name`` (float64 data; the runs use float32)."""
    if name == "ct":
        n, views, det = 128, 60, 182
        op = ParallelBeam2D(n, peers.angles_radians(views), det)
        truth = torch.from_numpy(peers._phantom(n))[None, None].double()
        val = random_ellipses(1, n, seed=7)
        scale = op.norm()
        return Problem(name, op, truth, _noisy(op, truth, 0.01, True, 1), val, _noisy(op, val, 0.01, True, 2),
                       (0.1, 0.3, 1.0, 3.0, 10.0), lambda cg: peers_tv.OperatorPhysics(op, cg, scale=scale), False,
                       True, 2000, scale)
    if name == "mri":
        image, val = natural_image("camera", 128).double(), natural_image("astronaut", 128).double()
        mask = random_mask_1d((128, 128), 4.0, seed=0)
        op = CartesianMRI(mask, sensitivities=coil_sensitivities(8, (128, 128)))
        image, val = image.to(torch.complex128), val.to(torch.complex128)
        scale = op.norm()
        return Problem(name, op, image, _noisy(op, image, 0.01, False, 1), val, _noisy(op, val, 0.01, False, 2),
                       (3e-4, 1e-3, 3e-3, 1e-2), lambda cg: peers_tv.OperatorPhysics(op, cg, scale=scale), False,
                       False, 1500, scale)
    image, val = natural_image("camera", 256).double(), natural_image("astronaut", 256).double()
    if name == "deblur":
        kernel = gaussian_kernel(2.0, 15)
        op = Blur(256, kernel)
        physics = peers.deepinv_blur_physics(kernel.numpy(), (256, 256))
        return Problem(name, op, image, _noisy(op, image, 0.01, False, 1), val, _noisy(op, val, 0.01, False, 2),
                       (1e-4, 3e-4, 1e-3, 3e-3), lambda cg: physics, True, True, 1500)
    if name == "inpaint":
        op = Inpainting.random(256, 0.5, seed=0)
        import deepinv as dinv

        physics = dinv.physics.Inpainting((1, 256, 256), mask=op.mask.float())
        return Problem(name, op, image, _noisy(op, image, 0.01, False, 1), val, _noisy(op, val, 0.01, False, 2),
                       (1e-3, 3e-3, 1e-2, 3e-2), lambda cg: physics, True, True, 1500)
    raise ValueError(f"unknown problem {name!r}")


def objective(p: Problem, y: Tensor, lam: float) -> Callable[[Tensor], float]:
    """``F`` in float64 for one image in inverselab's layout."""
    tv, y64 = TotalVariation(), y.to(torch.complex128 if y.is_complex() else torch.float64)

    def f(x: Tensor) -> float:
        x = x.to(y64.dtype) if x.is_complex() else x.double()
        with torch.no_grad():
            r = p.op(x) - y64
            return float(0.5 * r.abs().square().sum() + lam * tv.value(x).sum())

    return f


def _single(y: Tensor) -> Tensor:
    return y.to(torch.complex64 if y.is_complex() else torch.float32)


@dataclass
class Run:
    """One solver run: objective and PSNR after each iteration, cumulative seconds."""

    objective: np.ndarray
    psnr: np.ndarray
    seconds: np.ndarray

    def time_to(self, fstar: float, tol: float) -> tuple[float, int] | None:
        hit = np.nonzero((self.objective - fstar) / abs(fstar) <= tol)[0]
        return (float(self.seconds[hit[0]]), int(hit[0]) + 1) if hit.size else None

    def time_to_psnr(self, target: float) -> float | None:
        hit = np.nonzero(self.psnr >= target - 1e-9)[0]
        return float(self.seconds[hit[0]]) if hit.size else None


def run_ours(p: Problem, y: Tensor, truth: Tensor, lam: float, iters: int, **kw) -> Run:
    ys = _single(y)
    tv_pdhg(p.op, ys, lam, iters=3, tol=0, **kw)  # warm-up: operator norm, caches
    with record_objective(1):
        x, h = tv_pdhg(p.op, ys, lam, iters=iters, tol=0, truth=_single(truth), data_range=1.0, **kw)
    return Run(np.asarray(h.objective, dtype=np.float64), np.asarray(h.psnr), np.asarray(h.seconds))


def _score_trace(p: Problem, trace: peers_tv.Trace, f: Callable, truth: Tensor) -> Run:
    xs = trace.iterates.reshape(len(trace.seconds), 1, *trace.iterates.shape[-3:])
    if p.op.domain_complex:
        xs = torch.stack([peers_tv.to_complex(x) for x in xs])
    fx = np.asarray([f(x) for x in xs])
    ps = np.asarray([float(psnr(x, _single(truth), 1.0)) for x in xs])
    return Run(fx, ps, trace.seconds)


def _peer_y(p: Problem, y: Tensor) -> Tensor:
    ys = _single(y) / p.peer_scale
    return torch.view_as_real(ys).contiguous() if ys.is_complex() else ys


def run_pdcp(p: Problem, y: Tensor, truth: Tensor, lam: float, iters: int, ratio: float, cg: int) -> Run:
    trace = peers_tv.deepinv_pdcp(p.physics(cg), _peer_y(p, y), p.op.domain_shape, p.op.domain_complex,
                                  lam / p.peer_scale**2, iters, ratio)
    return _score_trace(p, trace, objective(p, y, lam), truth)


def run_proximal_gradient(p: Problem, y: Tensor, truth: Tensor, lam: float, iters: int, algorithm: str,
                          inner: int) -> Run:
    norm2 = (p.op.norm() / p.peer_scale) ** 2
    trace = peers_tv.deepinv_proximal_gradient(p.physics(20), _peer_y(p, y), lam / p.peer_scale**2, iters, algorithm,
                                               inner, norm2)
    return _score_trace(p, trace, objective(p, y, lam), truth)


def reference_minimum(p: Problem, y: Tensor, lam: float, iters: int) -> float:
    """``F`` after a long float64 run of inverselab's solver (the best fixed balances tried)."""
    f = objective(p, y, lam)
    return min(f(tv_pdhg(p.op, y, lam, iters=iters, tol=0, step_ratio=r)[0]) for r in (10.0, 100.0))


def choose_lam(p: Problem) -> tuple[float, dict]:
    """Best-PSNR weight on the validation data (inverselab's default solver, 500 iterations)."""
    scores = {}
    for lam in p.lams:
        x, _ = tv_pdhg(p.op, _single(p.val_y), lam, iters=500, tol=0)
        scores[lam] = float(psnr(x, _single(p.val_truth), 1.0))
    best = max(scores, key=scores.get)
    table = ", ".join(f"{k:g}: {v:.2f}" for k, v in scores.items())
    print(f"  lam by validation PSNR: {table} -> {best:g}", flush=True)
    return best, scores


def tune(p: Problem, lam: float, tol: float, quick: bool) -> dict:
    """Each solver's best configuration on the validation data (time to tolerance)."""
    fstar = reference_minimum(p, p.val_y, lam, 3000 if not quick else 1000)
    candidates: dict[str, list[tuple[dict, Run]]] = {"inverselab fixed": [], "deepinv PDCP": []}
    for r in RATIOS:
        candidates["inverselab fixed"].append(({"step_ratio": r}, run_ours(p, p.val_y, p.val_truth, lam, p.iters,
                                                                          step_ratio=r)))
    cgs = (1,) if p.exact_peer else ((5, 20) if not quick else (5,))
    for cg in cgs:
        for r in RATIOS:
            candidates["deepinv PDCP"].append(({"step_ratio": r, "cg_iters": cg},
                                               run_pdcp(p, p.val_y, p.val_truth, lam, min(p.iters, 600), r, cg)))
    if p.real:
        for algorithm in ("PGD", "FISTA"):
            candidates[f"deepinv {algorithm}"] = [
                ({"inner": inner}, run_proximal_gradient(p, p.val_y, p.val_truth, lam, min(p.iters, 400), algorithm,
                                                         inner))
                for inner in ((20, 100) if not quick else (20,))]
    fstar = min([fstar] + [float(r.objective.min()) for runs in candidates.values() for _, r in runs])
    chosen = {}
    for solver, runs in candidates.items():
        def key(item):
            hit = item[1].time_to(fstar, tol)
            return (0, hit[0]) if hit else (1, float(item[1].objective[-1]))
        best = min(runs, key=key)
        chosen[solver] = best[0]
        table = ", ".join(f"{cfg}: {_fmt(r.time_to(fstar, tol))}" for cfg, r in runs)
        print(f"  validation {solver}: {table} -> {best[0]}", flush=True)
    return chosen


def _fmt(hit: tuple[float, int] | None) -> str:
    return "never" if hit is None else f"{hit[0]:.3f} s ({hit[1]} it)"


def measure(p: Problem, lam: float, chosen: dict, tol: float, repeats: int, quick: bool) -> dict:
    """The chosen configurations on the test data, ``repeats`` times each."""
    solvers: dict[str, Callable[[], Run]] = {
        "inverselab default": lambda: run_ours(p, p.y, p.truth, lam, p.iters),
        "inverselab fixed": lambda: run_ours(p, p.y, p.truth, lam, p.iters, **chosen["inverselab fixed"]),
        "deepinv PDCP": lambda: run_pdcp(p, p.y, p.truth, lam, p.iters, chosen["deepinv PDCP"]["step_ratio"],
                                         chosen["deepinv PDCP"]["cg_iters"]),
    }
    proximal_gradient_iters = min(p.iters, 1000 if not quick else 300)
    for algorithm in ("PGD", "FISTA"):
        if f"deepinv {algorithm}" in chosen:
            solvers[f"deepinv {algorithm}"] = (
                lambda a=algorithm: run_proximal_gradient(p, p.y, p.truth, lam, proximal_gradient_iters, a,
                                                          chosen[f"deepinv {a}"]["inner"]))
    runs = {name: [fn() for _ in range(repeats)] for name, fn in solvers.items()}
    fstar = min([reference_minimum(p, p.y, lam, 5000 if not quick else 1000)]
                + [float(r.objective.min()) for rs in runs.values() for r in rs])
    peer_psnr = max(float(r.psnr.max()) for name, rs in runs.items() if name.startswith("deepinv") for r in rs)
    rows = {}
    for name, rs in runs.items():
        hits = [r.time_to(fstar, tol) for r in rs]
        times = [h[0] for h in hits if h is not None]
        psnr_times = [t for t in (r.time_to_psnr(peer_psnr) for r in rs) if t is not None]
        rows[name] = {
            "config": chosen.get(name, "defaults"),
            "seconds_to_tol": {"median": float(np.median(times)), "min": min(times), "max": max(times)}
            if len(times) == len(rs) else None,
            "iterations_to_tol": hits[0][1] if hits[0] else None,
            "iterations_run": len(rs[0].seconds),
            "ms_per_iteration": float(np.median([1000 * r.seconds[-1] / len(r.seconds) for r in rs])),
            "final_gap": float((rs[0].objective[-1] - fstar) / abs(fstar)),
            "best_psnr": float(rs[0].psnr.max()),
            "seconds_to_peer_best_psnr": float(np.median(psnr_times)) if len(psnr_times) == len(rs) else None,
        }
    peers_reached = {k: v["seconds_to_tol"]["median"] for k, v in rows.items()
                     if k.startswith("deepinv") and v["seconds_to_tol"]}
    best_peer = min(peers_reached, key=peers_reached.get) if peers_reached else None
    for name in ("inverselab default", "inverselab fixed"):
        ours = rows[name]["seconds_to_tol"]
        rows[name]["speedup_vs_best_peer"] = (peers_reached[best_peer] / ours["median"]
                                              if best_peer and ours else None)
    default, fixed = rows["inverselab default"]["seconds_to_tol"], rows["inverselab fixed"]["seconds_to_tol"]
    return {"lam": lam, "fstar": fstar, "tol": tol, "repeats": repeats, "peer_best_psnr": peer_psnr,
            "best_peer": best_peer, "default_over_best_fixed": default["median"] / fixed["median"]
            if default and fixed else None, "solvers": rows}


def astra_references(p: Problem, iters: int = 200) -> dict:
    """ASTRA's SIRT (non-negative; another objective) on the CT test data, for reference."""
    with peers.AstraParallel(128, peers.angles_radians(60), 182) as astra:
        sino = p.y[0, 0].numpy().astype(np.float32)
        seconds = peers.median_seconds(lambda: astra.sirt(sino, iters), repeats=3, warmup=1)
        image = torch.from_numpy(np.asarray(astra.sirt(sino, iters)))[None, None]
    score = float(psnr(image.float(), _single(p.truth), 1.0))
    return {"SIRT": {"iterations": iters, "seconds": seconds, "psnr": score}}


def print_table(name: str, result: dict) -> None:
    print(f"{name}: lam {result['lam']:g}, F* {result['fstar']:.8g}, tolerance {result['tol']:g}; "
          f"time to tolerance (median [min-max] of {result['repeats']})")
    for solver, row in result["solvers"].items():
        t = row["seconds_to_tol"]
        when = f"{t['median']:.3f} s [{t['min']:.3f}-{t['max']:.3f}]" if t else f"not within {row['iterations_run']} it"
        extra = f"  {row['speedup_vs_best_peer']:.2f}x vs best peer" if row.get("speedup_vs_best_peer") else ""
        print(f"  {solver:20s} {when:32s} {row['iterations_to_tol'] or '-':>6} it  {row['ms_per_iteration']:7.2f} ms/it"
              f"  best {row['best_psnr']:.2f} dB{extra}")


#: What ``reproduce.py`` checks: the solvers' best PSNRs and our speed-ups over the best peer.
REPRODUCE = {"quality": {"problems.*.solvers.*.best_psnr": 0.1},
             "ratios": ["problems.*.solvers.inverselab default.speedup_vs_best_peer",
                        "problems.*.solvers.inverselab fixed.speedup_vs_best_peer"]}


def main() -> None:
    parser = BenchmarkParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["ct", "deblur", "inpaint", "mri"],
                        choices=["ct", "deblur", "inpaint", "mri"])
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="shorter sweeps and reference runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = RESULTS / "tv.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    if args.quick:
        previous = previous.get("quick", {})
    results = previous.get("problems", {}) if previous.get("protocol") == "objective-tolerance" else {}
    for name in args.problems:
        print(f"{name}:", flush=True)
        p = build(name)
        lam, scores = choose_lam(p)
        chosen = tune(p, lam, args.tol, args.quick)
        result = measure(p, lam, chosen, args.tol, args.repeats, args.quick)
        result["validation_psnr_by_lam"] = {str(k): v for k, v in scores.items()}
        if name == "ct":
            result["astra_references"] = astra_references(p)
        result["environment"] = environment()
        result["config"] = vars(args)
        results[name] = result
        print_table(name, result)
        save("tv", {"protocol": "objective-tolerance", "problems": results}, reproduce=REPRODUCE)
    print(f"-> {path}")


if __name__ == "__main__":
    main()
