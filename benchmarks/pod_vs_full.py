"""Reduced model against full field: POD coefficients against InversionNet's full decoder.

On ``fwi-flat`` (70 x 70 velocity models from 5 shot gathers): the POD-InversionNet
(InversionNet's encoder, a 32-mode POD basis of 1,000 training velocity models, one linear
layer to the coefficients) against the full InversionNet of ``benchmarks/fwi_vs_nn.py``, on
the same 100 held-out models: MAE/RMSE on [-1, 1], SSIM on [0, 1] (OpenFWI's conventions),
parameters, training time and seconds per model on one CPU thread. The best the basis can do,
the projection of each true model onto it, is listed too. Writes
benchmarks/results/pod_vs_full.json.

    python benchmarks/pod_vs_full.py --inversionnet RUN --data TRAIN.h5 [--minutes 15]

The POD run lands in benchmarks/runs/pod_inversionnet (reused when present), trained on the
same cached pairs as the InversionNet (``inverselab data generate fwi-flat``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from _common import BenchmarkParser, save
from fwi_vs_nn import network_seconds, scores
from inverselab.jobs import test_pairs, train_job
from inverselab.models import load_run

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    p = BenchmarkParser(description=__doc__.splitlines()[0])
    p.add_argument("--inversionnet", type=Path, required=True, help="training run of model inversionnet")
    p.add_argument("--data", type=Path, required=True, help="HDF5 training pairs of the same problem")
    p.add_argument("--pod", type=Path, default=HERE / "runs" / "pod_inversionnet")
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--modes", type=int, default=32)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    full = load_run(args.inversionnet)
    problem = full.problem
    if not (args.pod / "model.safetensors").exists():
        train_job(problem, "pod-inversionnet", args.pod, options={"width": 16, "modes": args.modes}, minutes=args.minutes,
                  data=args.data, training={"batch_size": 16, "steps_per_epoch": 100, "seed": 0})
    pod = load_run(args.pod)
    x, y = test_pairs(problem, args.n, seed=0)
    vmin, vmax = problem.value_range
    rows = {}
    net = pod.network.eval()
    with torch.no_grad():
        centred = pod.network.normalise(x.double()).flatten(1) - net.pod_mean.double().flatten()
        basis = net.pod_basis.double()
        projected = pod.network.to_velocity(net.pod_mean.double().flatten() + (centred @ basis.T) @ basis).reshape(x.shape)
    rows["projection on the POD basis (best possible)"] = {**scores(projected.float(), x, vmin, vmax)}
    for name, trained, run in (("InversionNet (full decoder)", full, args.inversionnet),
                               (f"POD-InversionNet ({args.modes} modes)", pod, args.pod)):
        network = trained.network.eval()
        with torch.no_grad():
            v = torch.cat([network(y[i : i + 10]) for i in range(0, args.n, 10)])
        history = json.loads((run / "training.json").read_text())["history"]
        rows[name] = {**scores(v, x, vmin, vmax), "seconds_per_model": network_seconds(network, y),
                      "parameters": sum(q.numel() for q in network.parameters()),
                      "training_minutes": history[-1]["seconds"] / 60, "training_steps": history[-1]["step"]}
    lines = ["| model | MAE | RMSE | SSIM | parameters | s / model | training |", "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        mean = {k: float(np.mean(r[k])) for k in ("mae", "rmse", "ssim")}
        r.update({f"mean_{k}": v for k, v in mean.items()})
        extra = (f"{r['parameters']:,} | {r['seconds_per_model']:.4f} | {r['training_minutes']:.0f} min, {r['training_steps']} steps"
                 if "parameters" in r else "- | - | -")
        lines.append(f"| {name} | {mean['mae']:.4f} | {mean['rmse']:.4f} | {mean['ssim']:.4f} | {extra} |")
    md = "\n".join(lines)
    print(md)
    print(f"-> {save('pod_vs_full', {'config': {k: str(v) for k, v in vars(args).items()}, 'results': rows, 'table': md})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
