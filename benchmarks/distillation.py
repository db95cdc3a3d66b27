"""Knowledge distillation on ct-parallel: small U-Nets that imitate the benchmark U-Net.

Teacher: the ``ct`` part's width-32 U-Net (benchmarks/runs/ct_unet, 1.93 M parameters).
Students (``--students``, run names under benchmarks/runs or paths): the README's width-12 and
width-16 U-Nets learned from the teacher and the truths of the benchmark's cached pairs for 35
minutes on one CPU thread:

    inverselab train ct-parallel --set size=128 views=30 noise=0.05 --model unet --option width=12 \
        --loss distill --loss-option teacher=benchmarks/runs/ct_unet truth_weight=1 \
        --data benchmarks/data/ct_parallel_128.h5 --batch-size 8 --minutes 35 --out benchmarks/runs/ct_student_w12_cpu

(omit ``truth_weight`` to learn from the teacher alone, from measurements without truths).

On 100 held-out phantoms: PSNR, the share of the teacher's gain over FBP the student keeps,
parameters, and seconds per image on one CPU thread (one image at a time). Writes
benchmarks/results/distillation.json.

    python benchmarks/distillation.py --students ct_student_w12_cpu ct_student_w16_cpu
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from _common import BenchmarkParser, save
from inverselab.jobs import test_pairs
from inverselab.metrics import psnr
from inverselab.models import load_run
from inverselab.operators import fbp

RUNS = Path(__file__).resolve().parent / "runs"


def per_image(fn, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    with torch.no_grad():
        fn(y[:1])
        start = time.perf_counter()
        out = torch.cat([fn(y[i : i + 1]) for i in range(y.shape[0])])
    return out, (time.perf_counter() - start) / y.shape[0]


def main(argv=None) -> int:
    p = BenchmarkParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--students", nargs="+", default=["ct_student_w16", "ct_student_w12"],
                   help="student runs (names under benchmarks/runs or paths)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    teacher = load_run(RUNS / "ct_unet")
    problem = teacher.problem
    x, y = test_pairs(problem, args.n, seed=0)
    rows = {}
    est, seconds = per_image(lambda v: fbp(problem.operator, v, filter="hann"), y)
    rows["FBP (Hann)"] = {"psnr": float(psnr(est, x, 1.0)), "seconds_per_image": seconds, "parameters": 0}
    networks = {"teacher U-Net (width 32)": teacher.network}
    for run in args.students:
        student = load_run(RUNS / run)
        networks[f"student U-Net (width {student.options.get('width', 32)}, {Path(run).name})"] = student.network
    for label, net in networks.items():
        net = net.eval()
        est, seconds = per_image(net, y)
        rows[label] = {"psnr": float(psnr(est, x, 1.0)), "seconds_per_image": seconds,
                       "parameters": sum(q.numel() for q in net.parameters())}
    fbp_psnr, t = rows["FBP (Hann)"]["psnr"], rows["teacher U-Net (width 32)"]
    lines = ["| network | PSNR (dB) | share of the teacher's gain over FBP | parameters | s / image | x faster than the teacher |",
             "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        r["gain_kept"] = (r["psnr"] - fbp_psnr) / (t["psnr"] - fbp_psnr)
        r["speed_up"] = t["seconds_per_image"] / r["seconds_per_image"]
        lines.append(f"| {name} | {r['psnr']:.2f} | {r['gain_kept']:.1%} | {r['parameters']:,} | {r['seconds_per_image']:.4f} | "
                     f"{r['speed_up']:.2f} |")
    md = "\n".join(lines)
    print(md)
    print(f"-> {save('distillation', {'config': vars(args) | {'problem': problem.config}, 'results': rows, 'table': md})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
