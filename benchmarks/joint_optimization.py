"""Does a network trained jointly on many instances beat per-instance optimisers?

Tests the claim of Holl & Thuerey (2024) on three families of ``inverselab.problems.families``:
the toy landscape at several signal-to-noise ratios, wave-packet localisation at two noise
levels, and heat-source localisation from late-time sensors. For each setting: gradient
descent, Adam, L-BFGS (all from the box centre, ``--iters`` iterations), L-BFGS from
``--restarts`` random starts, the jointly trained network (``--steps`` Adam steps on the summed
losses of the training instances, no labels) and the network refined by L-BFGS, on the
training instances and on held-out ones. The headline number is the share of instances on
which the network's final loss is below per-instance L-BFGS's.

Writes ``benchmarks/results/joint_optimization.json`` and ``joint_optimization.png`` (loss
distributions per setting, shares against the toy's SNR).

    .venv/bin/python benchmarks/joint_optimization.py            # ~10 minutes on one thread
    .venv/bin/python benchmarks/joint_optimization.py --quick    # a smaller smoke run
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from _common import BenchmarkParser, RESULTS, environment, save
from inverselab.problems.families import HeatSources, ToyLandscape, WavePacket
from inverselab.studies.joint import compare

METHODS = ("gradient descent", "adam", "l-bfgs", "l-bfgs, random restarts", "network", "network + l-bfgs")


def settings(quick: bool, heat: bool = True) -> list[tuple[str, object, dict]]:
    toy = [(f"toy, SNR {snr:g}", ToyLandscape(snr=snr), {}) for snr in (0.1, 0.3, 1.0, 3.0)]
    waves = [(f"wave packet, noise {s:g}", WavePacket(noise=s), {}) for s in (0.1, 1.0)]
    heat = [("heat sources", HeatSources(), {"n_train": 128, "n_test": 64, "iters": 30, "restarts": 4, "steps": 400})]
    if quick:
        return toy[::2] + waves[:1]
    return toy + waves + (heat if heat else [])


def shares(losses: dict[str, list[float]], rtol: float = 1e-6) -> dict[str, float]:
    """Share of instances where a method ends below L-BFGS by more than ``rtol (1 + |L|)``
    (ties within the optimisers' convergence tolerance are not wins)."""
    ref = np.asarray(losses["l-bfgs"])
    out = {}
    for name in ("network", "network + l-bfgs", "l-bfgs, random restarts"):
        out[f"{name} < l-bfgs"] = float(np.mean(np.asarray(losses[name]) < ref - rtol * (1 + np.abs(ref))))
    return out


def figure(path, results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(3.2 * (len(names) + 1), 3.6))
    for ax, name in zip(axes, names):
        data = [np.maximum(np.asarray(results[name]["test"][m]), 1e-12) for m in METHODS]
        ax.boxplot(data, showfliers=False)
        ax.set_yscale("log")
        ax.set_xticks(range(1, len(METHODS) + 1), ["GD", "Adam", "L-BFGS", "restarts", "net", "net+LBFGS"],
                      rotation=60, fontsize=7)
        ax.set_title(f"{name}\n(held-out)", fontsize=8)
    toy = [n for n in names if n.startswith("toy")]
    snr = [results[n]["config"]["snr"] for n in toy]
    ax = axes[-1]
    for split, style in (("train", "o-"), ("test", "s--")):
        ax.plot(snr, [results[n]["shares"][split]["network < l-bfgs"] for n in toy], style, label=f"network, {split}")
    ax.plot(snr, [results[n]["shares"]["test"]["network + l-bfgs < l-bfgs"] for n in toy], "^:", label="net+L-BFGS, test")
    ax.axhline(0.5, color="gray", lw=0.5)
    ax.set(xscale="log", xlabel="toy SNR", ylabel="share of instances better than L-BFGS", ylim=(0, 1))
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = BenchmarkParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=512)
    p.add_argument("--n-test", type=int, default=512)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--restarts", type=int, default=8)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-heat", action="store_true", help="skip the heat-source family (the slowest)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    common = {"n_train": args.n_train, "n_test": args.n_test, "iters": args.iters, "restarts": args.restarts,
              "steps": args.steps, "seed": args.seed}
    if args.quick:
        common.update(n_train=128, n_test=64, steps=500)
    results = {}
    print(f"{'setting':26s} {'split':5s} " + " ".join(f"{m[:10]:>10s}" for m in METHODS) + "  net<LBFGS  net+LBFGS<LBFGS")
    for name, family, own in settings(args.quick, heat=not args.no_heat):
        start = time.perf_counter()
        out = compare(family, **{**common, **own}, progress=False)
        out["shares"] = {split: shares(out[split]) for split in ("train", "test")}
        out["wall_seconds"] = time.perf_counter() - start
        results[name] = out
        for split in ("train", "test"):
            medians = " ".join(f"{np.median(out[split][m]):10.3g}" for m in METHODS)
            s = out["shares"][split]
            print(f"{name:26s} {split:5s} {medians}  {s['network < l-bfgs']:9.2f}  {s['network + l-bfgs < l-bfgs']:14.2f}",
                  flush=True)
    path = save("joint_optimization" + ("_no_heat" if args.no_heat else ""), {"config": vars(args), "environment": environment(), "results": results})
    figure(RESULTS / "joint_optimization.png", results)
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
