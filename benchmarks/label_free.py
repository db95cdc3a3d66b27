"""Training without truths: equivariant imaging against measurement consistency alone, and
self-supervised sample splitting (SSDU) against supervised training, at equal time.

- ``ei``: inpainting with 50 % of the pixels missing (64 x 64 natural images; a large null
  space that measurement consistency alone cannot fill). A U-Net after the normalised-
  convolution baseline is trained ``--minutes`` with ``--loss equivariant`` (circular shifts)
  and with ``--loss consistency`` (``lam=0``), one run per seed; neither sees a truth.
- ``ssdu``: the mri preset at 4x with 4 coils and a random 1-D column mask. A U-Net after the
  zero-filled baseline is trained ``--minutes`` with ``--loss ssdu`` (no fully sampled data)
  and with ``--loss supervised``.

Every network is scored on ``--n`` held-out images (truths only for scoring; seed 0 of the
test split, noise seed 1). Prints the table and writes ``benchmarks/results/label_free.json``.

    python benchmarks/label_free.py [--minutes 20] [--seeds 0 1 2] [--n 64] [--only ei ssdu]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import inverselab as il
from _common import RESULTS, save
from inverselab.jobs import evaluate_job, train_job

SETTINGS = {
    "ei": {"problem": {"size": 64, "fraction": 0.5}, "preset": "inpaint", "model": {"width": 32, "depth": 3},
           "losses": {"equivariant": {"transform": "shift"}, "consistency": {"lam": 0.0}}},
    "ssdu": {"problem": {"size": 128, "coils": 4, "acceleration": 4.0, "mask": "random"}, "preset": "mri",
             "model": {"width": 32, "depth": 3}, "losses": {"ssdu": {"fraction": 0.4}, "supervised": {}}},
}


def run(study: str, minutes: float, seeds: list[int], n: int, runs: Path) -> dict:
    spec = SETTINGS[study]
    problem = il.make_problem(spec["preset"], **spec["problem"])
    out: dict = {"config": {**spec, "minutes": minutes, "seeds": seeds, "n": n}, "scores": {}}
    for loss, options in spec["losses"].items():
        for seed in seeds:
            folder = runs / f"{study}-{loss}-{seed}"
            train_job(problem, "unet", folder, options=spec["model"], loss=loss, loss_options=options, minutes=minutes,
                      training={"batch_size": 8, "seed": seed})
            metrics = evaluate_job(folder, n=n, seed=0, device="cpu", out=folder / "scored")
            out["scores"].setdefault(loss, []).append({"seed": seed, "psnr": metrics["psnr"], "ssim": metrics["ssim"]})
            print(f"{study} {loss:12s} seed {seed}: PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.3f}", flush=True)
    first, second = spec["losses"]
    gains = [a["psnr"] - b["psnr"] for a, b in zip(out["scores"][first], out["scores"][second])]
    out["gain_db"] = {"per_seed": gains, "mean": float(np.mean(gains)), "min": float(np.min(gains))}
    print(f"{study}: {first} - {second} = {np.mean(gains):+.2f} dB mean, {np.min(gains):+.2f} dB worst seed")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--only", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", default=str(Path(__file__).resolve().parent / "runs" / "label_free"))
    parser.add_argument("--out", default="label_free", help="results file name under benchmarks/results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {study: run(study, args.minutes, args.seeds, args.n, Path(args.runs)) for study in args.only}
    print(f"-> {save(args.out, {'config': vars(args), **results})}")


if __name__ == "__main__":
    assert RESULTS.is_dir()
    main()
