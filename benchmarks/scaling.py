"""Scaling of time and peak memory with problem size (run by hand; JSON + figure + table).

Components, on n x n images with n views where CT is involved:

* ``ct``     the parallel-beam pair (forward + adjoint): stored matrix and matrix-free
* ``fbp``    filtered back-projection (matrix-free), up to 2048
* ``mri``    single-coil Cartesian MRI pair (FFT based)
* ``tv``     TV-PDHG on CT, seconds per iteration
* ``unet``   U-Net inference (FBP + network), batch 1
* ``lpd``    learned primal-dual inference, batch 1
* ``train``  one LPD training step (batch 1, AdamW) with and without gradient checkpointing
* ``ddp``    data-parallel efficiency of a U-Net training step, 1 rank against 2 ranks (torchrun)

Each measurement runs in a fresh subprocess: time is the median of 3 calls after a warm-up,
or from n = 512 up a single call when it takes a second or more; memory is the peak memory of one more call above what was in
use before it (sampled resident set size on CPU, see :func:`_peak_mb`; the allocator's peak
on a GPU). Exponents are least-squares slopes of log(time) against log(n) over the sizes from
256 up that use the same CT storage as the largest size (the switch from a stored matrix to
matrix-free CT is a change of algorithm, not of size). DDP alternates 1- and 2-rank runs
``DDP_REPEATS`` times and reports the median of each.

Usage::

    python benchmarks/scaling.py [PART ...] [--quick] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BenchmarkParser, RESULTS, environment, save  # noqa: E402

HERE = Path(__file__).resolve()
PARTS = ("ct", "fbp", "mri", "tv", "unet", "lpd", "train", "ddp")
SIZES = {
    "ct": [128, 256, 512, 1024],
    "fbp": [128, 256, 512, 1024, 2048],
    "mri": [128, 256, 512, 1024, 2048],
    "tv": [128, 256, 512, 1024],
    "unet": [128, 256, 512, 1024],
    "lpd": [128, 256, 512],
    "train": [128, 256, 512],
}
QUICK = {part: sizes[:2] for part, sizes in SIZES.items()}
TV_ITERATIONS = 10  # per measurement (2 at 1024); TV presets run 300


# -- one measurement (subprocess) -------------------------------------------------------------
def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb(fn, device: str) -> float:
    """Peak memory (MB) of ``fn()`` above what was in use before it.

    On a GPU, the allocator's peak. On CPU, the resident set size sampled every half
    millisecond by a second thread (the kernel's high-water mark missed most of a training
    step's activations here); :func:`measure` runs it in a process where glibc returns every
    buffer above 128 kB to the system when it is freed, so freed memory is not reused unseen.
    """
    import threading

    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    before = _rss_mb()
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_mb())
            time.sleep(5e-4)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    return max(peak, _rss_mb()) - before


def _timed(fn, repeats: int, device: str) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls (after the caller's warm-up)."""
    import torch

    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _workload(part: str, n: int, device: str, variant: str):
    """``(fn, info)``: the call to measure at size ``n`` and what describes it."""
    import torch

    import inverselab as il
    from inverselab.models import build_model
    from inverselab.operators import CartesianMRI, ParallelBeam2D, fbp
    from inverselab.solvers import tv_pdhg

    torch.manual_seed(0)
    if part == "ct":
        op = ParallelBeam2D(n, n, storage=variant).to(device)
        x = torch.rand(1, *op.domain_shape, device=device)
        info = {"storage": op.storage, "calls": "forward + adjoint"}
        if op.storage == "matrix":
            info["stored_mb"] = 2 * op.nnz * 8 / 2**20  # matrix and transpose: int32 index + float32 weight
        return (lambda: op.adjoint(op(x))), info
    if part == "fbp":
        op = ParallelBeam2D(n, n, storage="matrix-free").to(device)
        y = torch.rand(1, *op.range_shape, device=device)
        return (lambda: fbp(op, y, "hann")), {"storage": op.fbp_storage}
    if part == "mri":
        mask = (torch.rand(n) < 0.25)[None, :].expand(n, n)
        op = CartesianMRI(mask, shape=(n, n)).to(device)
        x = torch.rand(1, *op.domain_shape, dtype=torch.complex64, device=device)
        return (lambda: op.adjoint(op(x))), {"calls": "forward + adjoint"}
    problem = il.make_problem("ct-parallel", size=n, views=n)
    x = problem.sample_truth(1, seed=0)
    y = problem.simulate(x, seed=1).to(device)
    x = x.to(device)
    op = problem.operator.to(device)
    problem.baseline(op(x))  # build the operator's caches: the measured calls hold no set-up
    if part == "tv":
        op.norm(device=device)  # cached: the power iteration is set-up, not iterations
        iters = 2 if n >= 1024 else TV_ITERATIONS
        return (lambda: tv_pdhg(op, y, lam=1.0, iters=iters, tol=0.0)), {"iterations": iters, "storage": op.storage}
    if part in ("unet", "lpd"):
        model = build_model(part, problem).to(device).eval()

        def infer() -> None:
            with torch.no_grad():
                model(y)

        return infer, {"parameters": sum(p.numel() for p in model.parameters()), "storage": op.storage}
    if part == "train":
        model = build_model("lpd", problem, gradient_checkpointing=variant == "checkpointing").to(device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            (model(y) - x).pow(2).mean().backward()
            optimizer.step()

        return step, {"storage": problem.operator.storage}
    raise SystemExit(f"unknown part {part!r}")


def measure(part: str, n: int, device: str, variant: str, what: str) -> dict:
    """Median seconds (``what="time"``) or peak memory in MB (``what="memory"``) of one call.

    Operator caches are built before (a stored CT matrix is reported as ``stored_mb``). Time:
    one warm-up call precedes 3 timed ones (median), except from n = 512 up, where a first
    call of a second or more is the result.
    Memory is measured in its own process, where glibc returns freed buffers above 128 kB at
    once (that would slow the timed calls).
    """
    if what == "memory" and device == "cpu":
        import ctypes

        try:
            ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
        except (OSError, AttributeError):
            pass  # not glibc: memory freed before the call may be reused without showing
    fn, info = _workload(part, n, device, variant)
    out = {"part": part, "n": n, "variant": variant, "device": device, **info}
    if n < 512:
        fn()
    elif what == "time":
        first = _timed(fn, 1, device)
        if first >= 1.0:
            return {**out, "seconds": first / info.get("iterations", 1)}
    if what == "memory":
        return {**out, "peak_mb": _peak_mb(fn, device)}
    seconds = _timed(fn, 3, device)
    return {**out, "seconds": seconds / info.get("iterations", 1)}


def _run_worker(part: str, n: int, device: str, variant: str = "") -> dict:
    """Time and memory, each in a fresh interpreter (its JSON result is the last stdout line)."""
    result = {}
    for what in ("time", "memory"):
        cmd = [sys.executable, str(HERE), "--measure", part, str(n), what, "--device", device, "--variant", variant]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{part} ({what}) at {n} failed:\n{proc.stderr[-3000:]}")
        result.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"  {part:6s} {variant:14s} n={n:5d}  {result['seconds']:9.4f} s  {result['peak_mb']:9.1f} MB", flush=True)
    return result


# -- data-parallel efficiency -------------------------------------------------------------------
DDP_STEPS = 8
DDP_REPEATS = 3


def ddp_worker(out: str) -> None:
    """A U-Net training run under torchrun (1 thread per rank); rank 0 writes seconds per step
    of the second epoch (the first one pays for warm-up)."""
    import torch

    torch.set_num_threads(1)
    import inverselab as il
    from inverselab.models import build_model
    from inverselab.training import Trainer, make_task

    problem = il.make_problem("ct-parallel", size=128, views=30)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    task = make_task(problem, val_size=2)
    model = build_model("unet", problem)
    trainer = Trainer(model, task, batch_size=4 * world, steps_per_epoch=DDP_STEPS, warmup_steps=0, val_size=2)
    history = trainer.fit(epochs=2)
    if trainer.ctx.main:
        seconds = (history[1]["seconds"] - history[0]["seconds"]) / DDP_STEPS
        Path(out).write_text(json.dumps({"world": world, "seconds_per_step": seconds,
                                         "parameters": sum(p.numel() for p in model.parameters())}))


def ddp_efficiency() -> dict:
    """Weak scaling: 4 images per rank per step; efficiency = t(1 rank) / t(2 ranks).

    The 1- and 2-rank runs alternate ``DDP_REPEATS`` times so that a slow spell of the machine
    does not fall on one of them only; the medians are compared.
    """
    import tempfile

    runs: dict[int, list[dict]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(DDP_REPEATS):
            for world in (1, 2):
                out = Path(tmp) / f"ddp{world}_{repeat}.json"
                cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={world}",
                       str(HERE), "--ddp-worker", str(out)]
                env = {**os.environ, "OMP_NUM_THREADS": "1"}
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
                if proc.returncode != 0:
                    raise SystemExit(f"torchrun with {world} ranks failed:\n{proc.stderr[-3000:]}")
                runs[world].append(json.loads(out.read_text()))
                print(f"  ddp    {world} rank(s): {runs[world][-1]['seconds_per_step']:.3f} s/step", flush=True)
    each = {world: [r["seconds_per_step"] for r in rows] for world, rows in runs.items()}
    t1, t2 = float(np.median(each[1])), float(np.median(each[2]))
    return {
        "model": "unet (ct-parallel 128, 30 views)",
        "images_per_rank_per_step": 4,
        "threads_per_rank": 1,
        "steps_timed": DDP_STEPS,
        "repeats": DDP_REPEATS,
        "seconds_per_step_runs": {"1": each[1], "2": each[2]},
        "seconds_per_step": {"1": t1, "2": t2},
        "parameters": runs[1][0]["parameters"],
        "speedup": 2 * t1 / t2,
        "efficiency": t1 / t2,
    }


# -- driver -------------------------------------------------------------------------------------
def exponent(rows: list[dict], key: str = "seconds", smallest: int = 256) -> float | None:
    """Least-squares slope of log(rows[key]) against log(n) for n >= ``smallest``, over the rows
    whose CT storage is that of the largest size (None with fewer than two such rows)."""
    storage = rows[-1].get("storage") if rows else None
    pts = [(r["n"], r[key]) for r in rows if r["n"] >= smallest and r[key] > 0 and r.get("storage") == storage]
    if len(pts) < 2:
        return None
    n, v = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(n, v, 1)[0])


def figure(series: dict[str, list[dict]], path: Path) -> None:
    """Log-log time and memory against n; hollow markers where CT is matrix-free in a series
    that also has stored-matrix sizes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 4.8))
    for label, rows in series.items():
        n = [r["n"] for r in rows]
        slope = exponent(rows)
        mixed = len({r.get("storage") for r in rows}) > 1
        for ax, key, text in ((ax_t, "seconds", f"{label} (n^{slope:.2f})" if slope else label), (ax_m, "peak_mb", label)):
            (line,) = ax.loglog(n, [max(r[key], 1e-1 if key == "peak_mb" else 0.0) for r in rows], "-", label=text)
            for r in rows:
                hollow = mixed and r.get("storage") == "matrix-free"
                ax.loglog(r["n"], max(r[key], 1e-1 if key == "peak_mb" else 0.0), "o", color=line.get_color(),
                          markerfacecolor="white" if hollow else line.get_color())
    ref = np.array([128, 2048])
    for power, style in ((2, ":"), (3, "--")):
        ax_t.loglog(ref, 1e-3 * (ref / 128.0) ** power, "k" + style, lw=0.8, label=f"n^{power}")
    ax_t.set(xlabel="n (image n x n, n views); hollow: matrix-free CT", ylabel="seconds", title="time")
    ax_m.set(xlabel="n", ylabel="MB", title="peak memory of one call")
    for ax in (ax_t, ax_m):
        ax.set_xticks(SIZES["fbp"], [str(k) for k in SIZES["fbp"]])
        ax.minorticks_off()
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = BenchmarkParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="*", default=list(PARTS), help=f"any of {', '.join(PARTS)} (default all)")
    parser.add_argument("--quick", action="store_true", help="two smallest sizes only (smoke run)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--measure", nargs=3, metavar=("PART", "N", "WHAT"), help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="", help=argparse.SUPPRESS)
    parser.add_argument("--ddp-worker", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], int(args.measure[1]), args.device, args.variant, args.measure[2])))
        return
    if args.ddp_worker:
        ddp_worker(args.ddp_worker)
        return

    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}: choose from {', '.join(PARTS)}")
    sizes = QUICK if args.quick else SIZES
    name = "scaling" + ("_quick" if args.quick else "") + ("_cuda" if args.device == "cuda" else "")
    path = RESULTS / f"{name}.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    series: dict[str, list[dict]] = previous.get("series", {})
    payload: dict = {"config": {"sizes": sizes, "device": args.device, "tv_iterations": TV_ITERATIONS,
                                "views": "n", "batch": 1}}
    if "ddp" in previous:
        payload["ddp"] = previous["ddp"]
    for part in args.parts:  # results are saved after each part, so an interrupted run keeps them
        print(f"{part}:", flush=True)
        if part == "ddp":
            payload["ddp"] = ddp_efficiency()
        else:
            variants = {"ct": ["matrix", "matrix-free"], "train": ["plain", "checkpointing"]}.get(part, [""])
            for variant in variants:
                rows = []
                for n in sizes[part]:
                    if variant == "matrix" and n > 256:
                        continue  # the stored matrix would take > 1 GB (see MATRIX_BUDGET)
                    rows.append(_run_worker(part, n, args.device, variant))
                series[f"{part} ({variant})" if variant else part] = rows
        payload["series"] = series
        payload["exponents"] = {label: exponent(rows) for label, rows in series.items()}
        save(name, payload)
    figure({k: v for k, v in series.items() if v}, RESULTS / f"{name}.png")
    print(f"\n{'component':26s} exponent   " + "  ".join(f"{n:>9d}" for n in SIZES["fbp"]))
    for label, rows in series.items():
        by_n = {r["n"]: r for r in rows}
        slope = payload["exponents"][label]
        cells = "  ".join(f"{by_n[n]['seconds']:8.3f}s" if n in by_n else " " * 9 for n in SIZES["fbp"])
        print(f"{label:26s} {slope if slope is None else round(slope, 2)!s:9s}  {cells}")
    if "ddp" in payload:
        d = payload["ddp"]
        print(f"\nDDP (2 ranks, CPU): {d['seconds_per_step']} s/step, efficiency {d['efficiency']:.1%}")
    print(f"wrote {path} and {path.with_suffix('.png')} ({environment()['commit']})")


if __name__ == "__main__":
    main()
