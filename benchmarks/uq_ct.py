"""Uncertainty on ct-parallel: Monte Carlo dropout against a deep ensemble, before and after
post-hoc calibration.

ct-parallel 128 x 128, 30 views, 5 % noise. Networks (benchmarks/runs, git-ignored): a width-32
U-Net with dropout 0.1 (ct_unet_dropout) and five width-32 U-Nets with seeds 0-4
(ct_ensemble/member-*), each trained for 4.3 minutes on one H200 GPU with

    inverselab train ct-parallel --set size=128 views=30 noise=0.05 --model unet \\
        --option width=32 [dropout=0.1] --minutes 4.3 --batch-size 16 --steps-per-epoch 100 --seed K

For each: 90 % interval coverage and mean width on 100 held-out phantoms, raw and with the
standard deviation scaled by the factor that gives 90 % on 100 validation phantoms; the
calibration curve; the spread of the standardised errors. Runs ``inverselab evaluate RUN --uq
KIND`` (which also writes the uncertainty maps into each run) and collects its results into
benchmarks/results/uq_ct.json.

    python benchmarks/uq_ct.py [--samples 32]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from _common import BenchmarkParser, save
from inverselab.jobs import uq_job

RUNS = Path(__file__).resolve().parent / "runs"


def main(argv=None) -> int:
    p = BenchmarkParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--samples", type=int, default=32, help="MC dropout draws")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {"MC dropout (p = 0.1, 32 draws)": uq_job(RUNS / "ct_unet_dropout", "dropout", n=args.n,
                                                        samples=args.samples, device="cpu"),
               "deep ensemble (5 U-Nets)": uq_job(RUNS / "ct_ensemble", "ensemble", n=args.n, device="cpu")}
    lines = ["| method | PSNR of mean | 90 % coverage, raw | width, raw | scale | 90 % coverage, calibrated | width, calibrated "
             "| std of standardised error | s / image |", "|---|---|---|---|---|---|---|---|---|"]
    for name, m in results.items():
        raw, cal = m["raw"], m["calibrated"]
        lines.append(f"| {name} | {m['psnr_of_mean']:.2f} | {raw['coverage_90']:.1%} | {raw['width_90']:.4f} | "
                     f"{m['scale']:.2f} | **{cal['coverage_90']:.1%}** | {cal['width_90']:.4f} | "
                     f"{raw['standardised_error_std']:.2f} | {m['seconds_per_sample']:.3f} |")
    md = "\n".join(lines)
    print(md)
    print(f"-> {save('uq_ct', {'config': vars(args), 'results': results, 'table': md})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
