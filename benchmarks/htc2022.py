"""HTC2022 real fan-beam data: FBP and TV reconstructions, Otsu segmentation, MCC.

For phantoms ta and tb at 30 degrees (61 views) and tb at 90 degrees (181 views):
FBP (Hann), TV with the disc support fitted from the sinogram, and TV without it. Also
calibrates acrylic's attenuation on the solid-disc scan (the basis of the TV upper bound).

    python benchmarks/htc2022.py [--size 512] [--data ../shared/data/ct/htc2022]

Writes benchmarks/results/htc2022.json and figures in benchmarks/results/htc2022/.
The same reconstruction from the command line:
    inverselab ct-file DATA/tb_subsample_90.mat --truth DATA/tb_groundtruth.npy --out runs/tb90
"""

from __future__ import annotations

import time
from pathlib import Path


from _common import BenchmarkParser, RESULTS, save
import inverselab as il
from inverselab.data import read_htc2022, read_segmentation
from inverselab.problems.real import (
    ACRYLIC_UPPER_BOUND,
    disc_mask,
    fit_disc,
    scan_problem,
    score_segmentation,
    segment,
)
from inverselab.report import save_comparison

SCANS = (("ta_category7.mat", "ta", "30"), ("tb_category7.mat", "tb", "30"), ("tb_subsample_90.mat", "tb", "90"))


def calibrate(data: Path) -> dict:
    """Attenuation of acrylic from the solid 70 mm disc: least-squares fit of the measured
    sinogram to the projection of the fitted disc."""
    scan = read_htc2022(data / "solid_disc_subsample73.mat", image_size=256)
    cx, cy, radius = fit_disc(scan)
    mask = disc_mask(scan, (cx, cy), radius).double()
    p = scan.operator(mask).ravel()
    m = scan.sinogram.ravel()
    return {"mu_per_mm": float(p @ m / (p @ p)), "radius_mm": radius, "centre_mm": [cx, cy]}


def main() -> None:
    parser = BenchmarkParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/ct/htc2022")
    args = parser.parse_args()
    cal = calibrate(args.data)
    print(f"solid disc: radius {cal['radius_mm']:.2f} mm, acrylic attenuation {cal['mu_per_mm']:.4f} / mm")
    rows = []
    for file, phantom, arc in SCANS:
        scan = read_htc2022(args.data / file, image_size=args.size)
        truth = read_segmentation(args.data / f"{phantom}_groundtruth.npy")
        y = scan.sinogram.float()
        estimates, scores = {}, {}
        for label, support, method in (("fbp", True, "fbp"), ("tv, no support", False, "tv"), ("tv", True, "tv")):
            problem = scan_problem(scan, support=support)
            start = time.perf_counter()
            x, hist = il.reconstruct(problem, y, method)
            seconds = time.perf_counter() - start
            score = score_segmentation(x, truth)
            rows.append({"scan": file, "phantom": phantom, "arc_deg": arc, "method": label, "mcc": score,
                         "seconds": seconds, "iterations": hist.iterations, "size": args.size,
                         "support": problem.config.get("support")})
            estimates[label], scores[label] = (x / ACRYLIC_UPPER_BOUND).clamp(0, 1), f"MCC {score:.3f}"
            estimates[f"{label} seg."] = segment(x)
            print(f"{phantom} {arc:>2s} deg  {label:15s} MCC {score:.3f}  {seconds:7.1f} s", flush=True)
        save_comparison(RESULTS / "htc2022" / f"{Path(file).stem}.png", truth, estimates, scores)
    path = save("htc2022", {"config": {k: str(v) for k, v in vars(args).items()}, "calibration": cal, "rows": rows})
    print(f"-> {path}")


if __name__ == "__main__":
    main()
