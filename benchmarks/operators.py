"""CT forward + adjoint pair: inverselab against ASTRA (CPU), scikit-image and deepinv.

Parallel beam over [0, pi) and flat-detector fan beam over [0, 2 pi) (FanBeam2D's default
distances: source 3 n pixels from the axis, detector 1.5 times as far), ceil(sqrt(2) n)
detectors, our conventions (``benchmarks/peers.py`` maps ASTRA onto them: ``AstraParallel``
and ``astra_fan_beam``), the Shepp-Logan phantom, all in one run. Per geometry and size:

* inverselab matrix-free (compiled CPU kernels) and, up to 512^2, the stored matrix, each with
  1 and 2 threads (``torch.set_num_threads``, which the kernels follow);
* ASTRA's CPU projector (``linear`` for parallel, ``line_fanflat`` for fan; single-threaded);
* for parallel beam up to 512^2: scikit-image and deepinv (2 threads).

Times are of one forward + adjoint pair of one image (float32): median, min and max of
``--repeats`` calls after warm-up. Set-up is construction plus the first pair (for the stored
matrix: its build); memory is the peak resident-set growth during set-up and timing. The
compiled kernels are loaded (from Numba's cache) before anything is timed.

    bash benchmarks/setup_peers.sh                 # once
    .venv-bench/bin/python benchmarks/operators.py [--sizes 128 256 512 1024] [--repeats 7]
    .venv-bench/bin/python benchmarks/operators.py --quick      # 128^2 and 256^2 only

Writes benchmarks/results/operators.json (``--quick``: its quick block) and prints a table with
ratios (ASTRA / ours).
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numba
import peers
import torch
from _common import BenchmarkParser, median_seconds, save

from inverselab.operators import FanBeam2D, ParallelBeam2D, dottest
from inverselab.timing import time_batches

CONFIGS = {128: 60, 256: 180, 512: 360, 1024: 720}
GEOMETRIES = ("parallel", "fan")
THREADS = (1, 2)
#: Largest size whose stored matrix is built (about 2.7 GB at 512^2 / 360 views).
MATRIX_MAX = 512
#: Largest size at which scikit-image and deepinv are timed.
PEERS_MAX = 512


def timings(fn: Callable[[], object], repeats: int, warmup: int = 2) -> dict:
    """Wall-clock milliseconds of ``fn()`` by the timing protocol (:func:`inverselab.timing.time_batches`):
    median, min, max of ``repeats`` calls after ``warmup`` calls."""
    t = time_batches(fn, 1, repeats=repeats, warmup=warmup)
    return {"median_ms": 1e3 * t.median, "min_ms": 1e3 * t.minimum, "max_ms": 1e3 * t.maximum}


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakMemory:
    """Peak resident-set growth (MB) of this process inside a ``with`` block (Linux: the
    peak counter is reset through ``/proc/self/clear_refs``)."""

    def __enter__(self) -> PeakMemory:
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")
        self.before = _status_mb("VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        self.mb = _status_mb("VmHWM") - self.before


def make_ours(geometry: str, n: int, views: int, detectors: int, storage: str) -> ParallelBeam2D | FanBeam2D:
    if geometry == "parallel":
        return ParallelBeam2D(n, views, detectors, storage=storage)
    return FanBeam2D(n, views, detectors, storage=storage)


def make_astra(geometry: str, n: int, views: int, detectors: int):
    if geometry == "parallel":
        return peers.AstraParallel(n, views, detectors)
    fan = FanBeam2D(n, views, detectors, storage="matrix-free")
    return peers.astra_fan_beam(
        n, fan.angles.numpy(), detectors, fan.source_origin, fan.source_detector, fan.detector_spacing
    )


def load_kernels() -> float:
    """Seconds to load (or compile) the compiled kernels, for both storages and precisions."""
    start = time.perf_counter()
    for storage in ("matrix-free", "matrix"):
        op = FanBeam2D((12, 10), 5, storage=storage)
        for dtype in (torch.float32, torch.float64):
            with torch.no_grad():
                op.adjoint(op(torch.ones(1, *op.domain_shape, dtype=dtype)))
    return time.perf_counter() - start


def measure_ours(geometry: str, n: int, views: int, detectors: int, storage: str, repeats: int) -> dict:
    x1 = torch.from_numpy(peers._phantom(n))[None, None]

    def pair(op, x):
        with torch.no_grad():
            return op.adjoint(op(x))

    torch.set_num_threads(max(THREADS))
    with PeakMemory() as memory:
        start = time.perf_counter()
        op = make_ours(geometry, n, views, detectors, storage)
        pair(op, x1)
        setup = time.perf_counter() - start
        row = {"storage": storage, "setup_s": setup}
        for threads in THREADS:
            torch.set_num_threads(threads)
            row[f"threads_{threads}"] = timings(lambda: pair(op, x1), repeats)
            row[f"threads_{threads}"]["numba_threads"] = numba.get_num_threads()
    row["peak_memory_mb"] = memory.mb
    torch.set_num_threads(max(THREADS))
    if storage == "matrix-free" and n <= PEERS_MAX:
        x8 = x1.expand(8, -1, -1, -1).contiguous()
        row["pair_ms_per_image_batch8"] = 1e3 * median_seconds(lambda: pair(op, x8), max(3, repeats // 2), 1) / 8
    if n <= 256:
        row["dottest_float64"] = dottest(op)
    return row


def measure_astra(geometry: str, n: int, views: int, detectors: int, repeats: int) -> dict:
    phantom = peers._phantom(n)
    with PeakMemory() as memory:
        start = time.perf_counter()
        op = make_astra(geometry, n, views, detectors)
        op.adjoint(op.forward(phantom))
        row = {"setup_s": time.perf_counter() - start}
        pair = timings(lambda: op.adjoint(op.forward(phantom)), repeats)
    op.close()
    # ASTRA's CPU projector runs on one thread whatever the setting: one timing serves both columns
    row.update({f"threads_{t}": pair for t in THREADS}, peak_memory_mb=memory.mb)
    return row


def measure_parallel_peers(n: int, views: int, detectors: int, repeats: int) -> dict:
    """scikit-image and deepinv (2 threads), parallel beam only, as in earlier runs."""
    phantom = peers._phantom(n)
    x1 = torch.from_numpy(phantom)[None, None]
    few = max(3, repeats // 2)
    sk = peers.SkimageParallel(n, views, detectors)
    rows = {"skimage": {"threads_2": timings(lambda: sk.adjoint(sk.forward(phantom)), few, 1)}}
    for exact in (True, False):
        name = f"deepinv ({'exact' if exact else 'fast'} adjoint)"
        note = None
        try:
            d = peers.DeepinvParallel(n, views, detectors, exact_adjoint=exact)
            forward, adjoint = d.forward, d.adjoint
        except ValueError as exc:
            # deepinv's geometry cannot be aligned with ours at this size; its own (uncropped,
            # slightly larger) sinogram still times the same computation
            tomo = peers.dinv.physics.Tomography(
                angles=torch.rad2deg(torch.from_numpy(peers.angles_radians(views))).float(), img_width=n,
                circle=False, normalize=False, adjoint_via_backprop=exact,
            )
            forward, adjoint = tomo.A, tomo.A_adjoint
            note = f"timed in deepinv's native geometry ({exc})"

        def dpair(forward=forward, adjoint=adjoint):
            with torch.no_grad():
                return adjoint(forward(x1))

        rows[name] = {"note": note, "threads_2": timings(dpair, few, 1)}
    return rows


def measure(geometry: str, n: int, views: int, repeats: int) -> dict:
    detectors = math.ceil(math.sqrt(2) * n)
    load_before = os.getloadavg()[0]
    rows = {"inverselab matrix-free": measure_ours(geometry, n, views, detectors, "matrix-free", repeats)}
    if n <= MATRIX_MAX:
        rows["inverselab matrix"] = measure_ours(geometry, n, views, detectors, "matrix", repeats)
    rows["astra"] = measure_astra(geometry, n, views, detectors, repeats)
    if geometry == "parallel" and n <= PEERS_MAX:
        torch.set_num_threads(max(THREADS))
        rows.update(measure_parallel_peers(n, views, detectors, repeats))
    astra = rows["astra"]["threads_1"]["median_ms"]
    for row in rows.values():
        for t in THREADS:
            if f"threads_{t}" in row:
                cell = row[f"threads_{t}"]
                cell["astra_over_this"] = astra / cell["median_ms"]
                cell["max_over_min"] = cell["max_ms"] / cell["min_ms"]
    # the machine's 1-minute load average before and after: other processes competing for the cores
    load = [load_before, os.getloadavg()[0]]
    return {"geometry": geometry, "n": n, "views": views, "detectors": detectors, "load_average": load, "results": rows}


def _cell(row: dict, threads: int) -> str:
    cell = row.get(f"threads_{threads}")
    if cell is None:
        return f"{'':>27s}"
    noisy = "!" if cell["max_over_min"] > 1.5 else " "
    text = f"{cell['median_ms']:.0f} [{cell['min_ms']:.0f}-{cell['max_ms']:.0f}]{noisy}"
    return f"{text:>20s} {cell['astra_over_this']:5.2f}x"


def print_table(run: dict) -> None:
    label = f"{run['geometry']} {run['n']}/{run['views']}"
    print(f"{label:16s} (load average {run['load_average'][0]:.1f} before, {run['load_average'][1]:.1f} after)")
    for name, row in run["results"].items():
        setup, memory = row.get("setup_s", float("nan")), row.get("peak_memory_mb", float("nan"))
        print(f"{label:16s} {name:27s} {_cell(row, 1)} {_cell(row, 2)} {setup:8.2f} {memory:8.0f}")
        if row.get("note"):
            print(f"{'':16s}   ({row['note']})")


#: What ``reproduce.py`` checks: ASTRA's time over ours (matrix-free, one and two threads) and
#: the adjoint identity of our pair.
REPRODUCE = {"quality": {"runs.*.results.inverselab matrix-free.dottest_float64": 1e-12},
             "ratios": ["runs.*.results.inverselab matrix-free.threads_1.astra_over_this",
                        "runs.*.results.inverselab matrix-free.threads_2.astra_over_this"]}


def main() -> None:
    parser = BenchmarkParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=list(CONFIGS))
    parser.add_argument("--geometries", nargs="*", default=list(GEOMETRIES), choices=GEOMETRIES)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="sizes 128 and 256 only")
    args = parser.parse_args()
    if args.quick:
        args.sizes = [n for n in args.sizes if n <= 256]
    kernels_s = load_kernels()
    print(f"compiled kernels loaded in {kernels_s:.2f} s")
    print(f"{'config':16s} {'operator':27s} {'1 thread: ms [min-max]':>20s} {'ASTRA/':>6s} "
          f"{'2 threads: ms [min-max]':>20s} {'ASTRA/':>6s} {'set-up s':>8s} {'peak MB':>8s}")
    out = []
    for n in args.sizes:
        for geometry in args.geometries:
            run = measure(geometry, n, CONFIGS.get(n, n), args.repeats)
            out.append(run)
            print_table(run)
    path = save("operators", {"config": {**vars(args), "threads": THREADS, "kernels_load_s": kernels_s}, "runs": out},
                reproduce=REPRODUCE)
    print("(! marks a max/min spread above 1.5)")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
