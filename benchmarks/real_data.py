"""Measured data as users have it: one part per question, one JSON and one figure each.

Parts:

* ``centre``: the centre of rotation found from the data (``inverselab.preprocessing``) on
  simulated parallel-beam scans of the Shepp-Logan phantom (128², 192 detector elements) over
  360° (360 views, opposed projections) and 180° (180 views, sharpness search), with the axis
  2 to 12 elements off the detector middle, 1 % Gaussian noise and six miscalibrated detector
  elements (offsets of ±3 % of the largest line integral). Per scan: the error of the
  estimate, the seconds it took, the PSNR of the FBP (Hann window) about the detector middle,
  about the estimated axis, and with stripe removal too, and the ring energy about the axis
  (the mean square of the radial high-pass of the image averaged over circles) with and
  without stripe removal, beside that of the same scan without miscalibrated elements.

    .venv/bin/python benchmarks/real_data.py centre

Writes ``benchmarks/results/real_data_<part>.json`` and ``.png``.
"""

from __future__ import annotations

import math
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from _common import RESULTS, BenchmarkParser, save  # noqa: E402
from inverselab.data import shepp_logan  # noqa: E402
from inverselab.metrics import psnr  # noqa: E402
from inverselab.operators import ParallelBeam2D, fbp  # noqa: E402
from inverselab.preprocessing import estimate_rotation_centre, offset_for_centre, remove_stripes, ring_energy  # noqa: E402

SIZE, N_DET, STRIPES = 128, 192, 6
SHIFTS = (2.0, -3.5, 5.25, -7.8, 9.6, -12.0)
#: What ``reproduce.py`` checks: the centre errors and the PSNRs.
REPRODUCE = {"quality": {"scans.*.centre_error": 0.1, "scans.*.psnr_estimated_centre": 0.3,
                         "scans.*.psnr_stripes_removed": 0.3}}


def scan(shift: float, full_circle: bool, seed: int, stripes: int = STRIPES) -> tuple[np.ndarray, np.ndarray]:
    """Line integrals ``(n_angles, N_DET)`` and angles (radians) of a scan with the axis
    ``shift`` elements off the detector middle."""
    rng = np.random.default_rng(seed)
    n_angles = 360 if full_circle else 180
    angles = np.arange(n_angles) * (2 if full_circle else 1) * math.pi / n_angles
    op = ParallelBeam2D(SIZE, angles, N_DET, detector_offset=offset_for_centre((N_DET - 1) / 2 + shift, N_DET))
    y = op(shepp_logan(SIZE).double().reshape(1, 1, SIZE, SIZE))[0, 0].numpy()
    y = y + 0.01 * np.abs(y).max() * rng.standard_normal(y.shape)
    columns = rng.choice(np.arange(40, N_DET - 40), size=stripes, replace=False)
    y[:, columns] += 0.03 * np.abs(y).max() * rng.choice([-1.0, 1.0], size=stripes)
    return y, angles


def reconstruct(sinogram: np.ndarray, angles: np.ndarray, centre: float) -> torch.Tensor:
    op = ParallelBeam2D(SIZE, angles, N_DET, detector_offset=offset_for_centre(centre, N_DET))
    return fbp(op, torch.from_numpy(np.ascontiguousarray(sinogram))[None, None], filter="hann")


def part_centre(args) -> dict:
    truth = shepp_logan(SIZE).double().reshape(1, 1, SIZE, SIZE)
    rows, images = [], {}
    for full_circle in (True, False):
        for i, shift in enumerate(SHIFTS):
            seed = 100 * full_circle + i
            y, angles = scan(shift, full_circle, seed)
            clean, _ = scan(shift, full_circle, seed, stripes=0)
            start = time.perf_counter()
            centre = estimate_rotation_centre(y, angles)
            seconds = time.perf_counter() - start
            true_centre = (N_DET - 1) / 2 + shift
            middle = reconstruct(y, angles, (N_DET - 1) / 2)
            found = reconstruct(y, angles, centre)
            cleaned = reconstruct(remove_stripes(y), angles, centre)
            row = {"scan": "360°" if full_circle else "180°", "method": "opposed" if full_circle else "sharpness",
                   "shift": shift, "estimate": centre - (N_DET - 1) / 2, "centre_error": abs(centre - true_centre),
                   "seconds": seconds, "psnr_detector_middle": float(psnr(middle, truth, 1.0)),
                   "psnr_estimated_centre": float(psnr(found, truth, 1.0)),
                   "psnr_stripes_removed": float(psnr(cleaned, truth, 1.0)),
                   "ring_energy": ring_energy(found), "ring_energy_stripes_removed": ring_energy(cleaned),
                   "ring_energy_without_miscalibration": ring_energy(reconstruct(clean, angles, centre))}
            rows.append(row)
            print(f"{row['scan']} shift {shift:+6.2f}: estimate {row['estimate']:+6.2f} ({seconds:.2f} s), PSNR middle "
                  f"{row['psnr_detector_middle']:.2f} -> {row['psnr_estimated_centre']:.2f} -> "
                  f"{row['psnr_stripes_removed']:.2f} dB, ring energy {row['ring_energy']:.2e} -> "
                  f"{row['ring_energy_stripes_removed']:.2e} (clean {row['ring_energy_without_miscalibration']:.2e})",
                  flush=True)
            if shift == SHIFTS[3] and not full_circle:
                images = {"about the detector middle": middle, "about the estimated axis": found,
                          "estimated axis, stripes removed": cleaned}
    figure(images, RESULTS / "real_data_centre.png")
    worst = max(r["centre_error"] for r in rows)
    return {"config": {"size": SIZE, "detectors": N_DET, "stripes": STRIPES, "shifts": SHIFTS, "noise": 0.01},
            "scans": rows, "summary": {"worst_centre_error": worst,
                                       "psnr_not_worse_after_stripe_removal": all(
                                           r["psnr_stripes_removed"] >= r["psnr_estimated_centre"] for r in rows),
                                       "rings_lower_after_stripe_removal": all(
                                           r["ring_energy_stripes_removed"] < r["ring_energy"] for r in rows)}}


def figure(images: dict[str, torch.Tensor], path) -> None:
    fig, axes = plt.subplots(1, len(images), figsize=(4 * len(images), 4.2))
    for ax, (title, image) in zip(axes, images.items()):
        ax.imshow(image[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle(f"180° scan, axis {SHIFTS[3]:+.1f} elements off the detector middle, 1 % noise, {STRIPES} bad elements")
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


PARTS = {"centre": part_centre}


def main() -> None:
    parser = BenchmarkParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", choices=sorted(PARTS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for part in args.parts:
        print(f"-> {save(f'real_data_{part}', PARTS[part](args), reproduce=REPRODUCE)}")


if __name__ == "__main__":
    main()
