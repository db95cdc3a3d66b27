"""Training without truths: equivariant imaging against measurement consistency alone, and
self-supervised sample splitting (SSDU) against supervised training, at equal time.

- ``ei``: inpainting with 50 % of the pixels missing (64 x 64 natural images; a large null
  space that measurement consistency alone cannot fill). A U-Net after the normalised-
  convolution baseline is trained ``--minutes`` with ``--loss equivariant`` (circular shifts)
  and with ``--loss consistency`` (``lam=0``), one run per seed; neither sees a truth.
- ``ssdu``: the mri preset at 4x with 4 coils and a random 1-D column mask. An unrolled
  network with exact data consistency (MoDL-like, 5 iterations; SSDU's setting) is trained
  ``--minutes`` with ``--loss ssdu`` (no fully sampled data) and with ``--loss supervised``.

The two runs of a pair (same seed) train at the same time, one process and one thread each,
so that whatever else the machine does slows both alike. Every network is scored on ``--n``
held-out images (truths only for scoring; seed 0 of the test split, noise seed 1). Prints the
table and writes ``benchmarks/results/label_free.json``.

    python benchmarks/label_free.py [--minutes 20] [--seeds 0 1 2] [--n 64] [--only ei ssdu]
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

import inverselab as il
from _common import BenchmarkParser, save
from inverselab.jobs import evaluate_job, train_job

SETTINGS = {
    "ei": {"problem": {"size": 64, "fraction": 0.5}, "preset": "inpaint", "network": "unet",
           "model": {"width": 32, "depth": 3},
           "losses": {"equivariant": {"transform": "shift"}, "consistency": {"lam": 0.0}}},
    "ssdu": {"problem": {"size": 128, "coils": 4, "acceleration": 4.0, "mask": "random"}, "preset": "mri",
             "network": "unrolled", "model": {"width": 16, "iterations": 5},
             "losses": {"ssdu": {"fraction": 0.4}, "supervised": {}}},
}


def _train_and_score(study: str, loss: str, seed: int, minutes: float, n: int, runs: str) -> dict:
    """One network of a study: trained for ``minutes`` on one thread, then scored."""
    torch.set_num_threads(1)
    spec = SETTINGS[study]
    problem = il.make_problem(spec["preset"], **spec["problem"])
    folder = Path(runs) / f"{study}-{loss}-{seed}"
    train_job(problem, spec["network"], folder, options=spec["model"], loss=loss, loss_options=spec["losses"][loss],
              minutes=minutes, training={"batch_size": 8, "seed": seed})
    metrics = evaluate_job(folder, n=n, seed=0, device="cpu", out=folder / "scored")
    steps = metrics.get("training_steps")
    print(f"{study} {loss:12s} seed {seed}: PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.3f}, {steps} steps",
          flush=True)
    return {"seed": seed, "psnr": metrics["psnr"], "ssim": metrics["ssim"], "training_steps": steps, "run": str(folder)}


def run(study: str, minutes: float, seeds: list[int], n: int, runs: Path) -> dict:
    spec = SETTINGS[study]
    out: dict = {"config": {**spec, "minutes": minutes, "seeds": seeds, "n": n}, "scores": {}}
    first, second = spec["losses"]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        for seed in seeds:  # the two arms of a seed side by side
            jobs = {loss: pool.submit(_train_and_score, study, loss, seed, minutes, n, str(runs)) for loss in (first, second)}
            for loss, job in jobs.items():
                out["scores"].setdefault(loss, []).append(job.result())
    gains = [a["psnr"] - b["psnr"] for a, b in zip(out["scores"][first], out["scores"][second])]
    out["gain_db"] = {"per_seed": gains, "mean": float(np.mean(gains)), "min": float(np.min(gains))}
    print(f"{study}: {first} - {second} = {np.mean(gains):+.2f} dB mean, {np.min(gains):+.2f} dB worst seed")
    return out


def main() -> None:
    parser = BenchmarkParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--only", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--runs", default=str(Path(__file__).resolve().parent / "runs" / "label_free"))
    parser.add_argument("--out", default="label_free", help="results file name under benchmarks/results")
    args = parser.parse_args()
    results = {study: run(study, args.minutes, args.seeds, args.n, Path(args.runs)) for study in args.only}
    print(f"-> {save(args.out, {'config': vars(args), **results})}")


if __name__ == "__main__":
    main()
