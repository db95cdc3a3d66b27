"""CT forward + adjoint pair: inverselab against ASTRA (CPU), scikit-image and deepinv.

Same geometry for all (parallel beam over [0, pi), ceil(sqrt(2) n) detectors, our
convention; ``benchmarks/peers.py`` maps each peer onto it and checks agreement), same
phantom, same run. Reports the median time of one forward + adjoint pair (batch 1 and, for the
torch operators, per image in a batch of 8), the one-off set-up time, and the memory the
operator holds (resident-set growth while it is built and first applied).

    bash benchmarks/setup_peers.sh                 # once
    .venv-bench/bin/python benchmarks/operators.py [--sizes 128 256 512]

Writes benchmarks/results/operators.json and prints a table with ratios (peer / ours).
"""

from __future__ import annotations

import argparse
import gc
import math
import time

import torch

import peers
from _common import median_seconds, rss_mb, save
from inverselab.operators import ParallelBeam2D, dottest

CONFIGS = {128: 60, 256: 180, 512: 360}


def measure(n: int, views: int, repeats: int) -> dict:
    detectors = math.ceil(math.sqrt(2) * n)
    angles = peers.angles_radians(views)
    phantom = peers._phantom(n)
    x1 = torch.from_numpy(phantom)[None, None]
    x8 = x1.expand(8, -1, -1, -1).contiguous()
    rows = {}

    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    ours = ParallelBeam2D(n, angles, detectors)
    with torch.no_grad():
        ours.adjoint(ours(x1))
    setup = time.perf_counter() - start
    memory = rss_mb() - before

    def pair(x):
        with torch.no_grad():
            return ours.adjoint(ours(x))

    rows["inverselab"] = {
        "pair_ms": 1e3 * median_seconds(lambda: pair(x1), repeats),
        "pair_ms_per_image_batch8": 1e3 * median_seconds(lambda: pair(x8), max(3, repeats // 4)) / 8,
        "setup_s": setup,
        "memory_mb": memory,
        "dottest_float64": dottest(ours) if n <= 256 else None,
    }
    del ours
    gc.collect()

    before = rss_mb()
    start = time.perf_counter()
    astra_op = peers.AstraParallel(n, views, detectors)
    astra_op.adjoint(astra_op.forward(phantom))
    rows["astra"] = {
        "setup_s": time.perf_counter() - start,
        "memory_mb": rss_mb() - before,
        "pair_ms": 1e3 * median_seconds(lambda: astra_op.adjoint(astra_op.forward(phantom)), repeats),
    }
    astra_op.close()

    sk = peers.SkimageParallel(n, views, detectors)
    rows["skimage"] = {
        "pair_ms": 1e3 * median_seconds(lambda: sk.adjoint(sk.forward(phantom)), max(3, repeats // 4)),
    }

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

        def dpair(x, forward=forward, adjoint=adjoint):
            with torch.no_grad():
                return adjoint(forward(x))

        rows[name] = {
            "note": note,
            "pair_ms": 1e3 * median_seconds(lambda: dpair(x1), max(3, repeats // 4)),
            # deepinv's batch of 8 at 512^2 needs more than the 24 GB of this machine (its
            # rotations are kept for autograd); the single-image time is still measured
            "pair_ms_per_image_batch8": 1e3 * median_seconds(lambda: dpair(x8), 3, 1) / 8 if n < 512 else None,
        }
    return {"n": n, "views": views, "detectors": detectors, "results": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=list(CONFIGS))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = []
    print(f"{'size':>9s} {'operator':26s} {'pair ms':>9s} {'ms/img (B=8)':>12s} {'set-up s':>9s} "
          f"{'mem MB':>7s} {'x ours':>7s}")
    for n in args.sizes:
        r = measure(n, CONFIGS.get(n, n), args.repeats)
        out.append(r)
        base = r["results"]["inverselab"]["pair_ms"]
        for name, row in r["results"].items():
            if "error" in row:
                print(f"{n:4d}/{r['views']:<4d} {name:26s} n/a ({row['error']})")
                continue
            batch = row.get("pair_ms_per_image_batch8")
            print(
                f"{n:4d}/{r['views']:<4d} {name:26s} {row['pair_ms']:9.2f} "
                f"{batch if batch is not None else float('nan'):12.2f} {row.get('setup_s', float('nan')):9.2f} "
                f"{row.get('memory_mb', float('nan')):7.0f} {row['pair_ms'] / base:7.1f}"
            )
            if row.get("note"):
                print(f"{'':9s}   ({row['note']})")
        dt = r["results"]["inverselab"]["dottest_float64"]
        if dt is not None:
            print(f"{'':9s} inverselab dottest (float64): {dt:.1e}")
    path = save("operators", {"config": vars(args), "runs": out})
    print(f"-> {path}")


if __name__ == "__main__":
    main()
