"""Learned CT at scale: a U-Net trained on crops, applied to whole 512² and 1024² images.

A U-Net after FBP (FBPConvNet style) is trained on random 128² crops of 512² random-ellipse
phantoms and their FBPs (parallel beam, 360 views, the ct-parallel preset's 5 % noise), turned
and flipped at random, and kept at its best validation PSNR on whole 512² validation images.
The same weights are then applied to whole 512² and 1024² images (a fully convolutional
network has no size of its own). TV (PDHG from the FBP, the library's default step rule) gets
its weight ``lam`` and its iteration count from a sweep on validation images at 512²: the
first iteration within ``PLATEAU_DB`` of the best validation PSNR; at 1024² it runs 100
iterations from the FBP with ``lam`` scaled as the sweep found it scale from 256² to 512²
(marked truncated). Every method is timed at the same batch size; FBP and the U-Net by
:func:`inverselab.timing.time_batches`, TV by its wall time on each batch of the test images
(the median over the batches).

Commands (each fits in a working session; results in ``benchmarks/results/learned_scale.json``).
The published results came from these, in order (two training stages of 400 steps each, the
second from the first's best weights; each keeps its best validation weights)::

    python benchmarks/learned_at_scale.py train --steps 400 --lr 1.5e-3
    cp benchmarks/runs/scale/unet_512.safetensors benchmarks/runs/scale/unet_512_stage1.safetensors
    python benchmarks/learned_at_scale.py train --steps 400 --lr 1e-3 --seed 1 \
        --init benchmarks/runs/scale/unet_512_stage1.safetensors
    python benchmarks/learned_at_scale.py tv-sweep --sizes 512 --lams 16 32 64 128 --iters 250
    python benchmarks/learned_at_scale.py tv-sweep --sizes 512 --lams 128 256 --iters 400
    python benchmarks/learned_at_scale.py tv-sweep --sizes 256 --lams 16 32 64 --iters 200
    python benchmarks/learned_at_scale.py score      # 16 test images at 512², 2 at 1024²
    python benchmarks/learned_at_scale.py figure     # seconds per image against size

Data and weights go to ``benchmarks/runs/scale`` (not committed).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm, trange

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BenchmarkParser, RESULTS, environment, save  # noqa: E402

from inverselab.metrics import psnr  # noqa: E402
from inverselab.models import UNet  # noqa: E402
from inverselab.models.weights import load_weights, save_weights  # noqa: E402
from inverselab.problems import make_problem  # noqa: E402
from inverselab.runs import write_json_atomic  # noqa: E402
from inverselab.solvers import tv_pdhg  # noqa: E402
from inverselab.timing import Timing, busy_warning, time_batches  # noqa: E402

HERE = Path(__file__).resolve().parent
RUN = HERE / "runs" / "scale"
VIEWS = {128: 90, 256: 180, 512: 360, 1024: 720}
SEEDS = {"train": 1000, "validation": 500, "test": 0}
TV_LAMS = (8.0, 16.0, 32.0, 64.0, 128.0, 256.0)
TV_MAX_ITERS = 400
TV_ITERS_1024 = 100
#: TV stops at the first iteration whose mean validation PSNR is within this many dB of the
#: best (its curves flatten out for hundreds of iterations at the best weights).
PLATEAU_DB = 0.05


def problem(size: int):
    """ct-parallel at ``size`` with the views of the table above, the preset's noise."""
    return make_problem("ct-parallel", size=size, views=VIEWS[size])


def dataset(size: int, split: str, n: int) -> dict[str, torch.Tensor]:
    """Truths ``x``, measurements ``y`` and FBPs ``f`` of ``n`` phantoms (cached in RUN)."""
    path = RUN / f"data_{size}_{split}_{n}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    p = problem(size)
    data: dict[str, list[torch.Tensor]] = {"x": [], "y": [], "f": []}
    seed = SEEDS[split]
    chunk = 8
    for start in trange(0, n, chunk, desc=f"{split} data {size}²", leave=False):
        m = min(chunk, n - start)
        x = p.sample_truth(m, seed=seed + start, split=split)
        y = p.simulate(x, seed=seed + start + 10_000)
        data["x"].append(x)
        data["y"].append(y)
        data["f"].append(p.baseline(y))
    out = {k: torch.cat(v) for k, v in data.items()}
    RUN.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(out, tmp)
    tmp.replace(path)
    return out


def random_crops(f: torch.Tensor, x: torch.Tensor, batch: int, crop: int, gen: torch.Generator):
    """``batch`` aligned crops of FBPs and truths, each turned by a multiple of 90° and
    flipped at random (the eight symmetries of the square leave the CT problem's statistics
    unchanged for a full-circle parallel geometry up to the view sampling)."""
    n, size = f.shape[0], f.shape[-1]
    idx = torch.randint(n, (batch,), generator=gen)
    tops = torch.randint(size - crop + 1, (batch,), generator=gen)
    lefts = torch.randint(size - crop + 1, (batch,), generator=gen)
    turns = torch.randint(8, (batch,), generator=gen)
    fin, tgt = [], []
    for i, t, c, k in zip(idx.tolist(), tops.tolist(), lefts.tolist(), turns.tolist()):
        pair = torch.stack([f[i, 0, t : t + crop, c : c + crop], x[i, 0, t : t + crop, c : c + crop]])
        pair = torch.rot90(pair, k % 4, (1, 2))
        if k >= 4:
            pair = pair.flip(2)
        fin.append(pair[0])
        tgt.append(pair[1])
    return torch.stack(fin)[:, None], torch.stack(tgt)[:, None]


def apply(net: torch.nn.Module, f: torch.Tensor, batch: int = 2) -> torch.Tensor:
    """The network on whole images, ``batch`` at a time."""
    net.eval()
    with torch.inference_mode():
        return torch.cat([net(f[i : i + batch]) for i in range(0, f.shape[0], batch)])


def train(args) -> None:
    torch.manual_seed(args.seed)
    tr = dataset(args.size, "train", args.n_train)
    va = dataset(args.size, "validation", args.n_val)
    net = UNet(width=args.width, depth=args.depth)
    if args.init:
        load_weights(args.init, net)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    gen = torch.Generator().manual_seed(args.seed)
    fbp_val = psnr(va["f"], va["x"], data_range=1.0).item()
    history = {"step": [], "loss": [], "val_psnr": []}
    best, losses, start = -math.inf, [], time.perf_counter()
    if args.init:  # a further stage keeps the earlier weights unless it beats them
        best = psnr(apply(net, va["f"]), va["x"], data_range=1.0).item()
        history["step"].append(0)
        history["loss"].append(None)
        history["val_psnr"].append(best)
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "func"}
    record = RUN / f"unet_{args.size}.json"
    stages = []
    if args.init and record.exists():
        earlier = json.loads(record.read_text())
        stages = earlier.get("stages") or [{k: earlier[k] for k in ("config", "history", "minutes")}]

    def write_record() -> None:  # after every validation, so a stopped run keeps its record
        stage = {"config": config, "history": history, "minutes": (time.perf_counter() - start) / 60}
        write_json_atomic(record, {
            "config": config, "history": history, "best_val_psnr": best, "fbp_val_psnr": fbp_val,
            "minutes": sum(s["minutes"] for s in stages) + stage["minutes"], "stages": [*stages, stage],
            "environment": environment()})

    bar = trange(args.steps, desc=f"U-Net on {args.crop}² crops")
    for step in bar:
        net.train()
        fin, tgt = random_crops(tr["f"], tr["x"], args.batch, args.crop, gen)
        loss = F.mse_loss(net(fin), tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % args.every == 0 or step + 1 == args.steps:
            val = psnr(apply(net, va["f"]), va["x"], data_range=1.0).item()
            history["step"].append(step + 1)
            history["loss"].append(float(np.mean(losses)))
            history["val_psnr"].append(val)
            losses = []
            if val > best:
                best = val
                save_weights(RUN / f"unet_{args.size}.safetensors", net)
            write_record()
            bar.set_postfix(val=f"{val:.2f}", best=f"{best:.2f}", fbp=f"{fbp_val:.2f}")
    print(f"best validation PSNR {best:.2f} dB (FBP {fbp_val:.2f}) after "
          f"{history['step'][int(np.argmax(history['val_psnr']))]} steps -> {RUN / f'unet_{args.size}.safetensors'}")


def tv_sweep(args) -> None:
    """TV's ``lam`` and iteration count at the best mean validation PSNR, at each size. Curves
    of earlier sweeps on the same validation images are kept in ``tv_sweep.json`` (a ``lam``
    swept again is replaced), so a sweep can be extended to more weights or iterations."""
    path = RUN / "tv_sweep.json"
    results = json.loads(path.read_text())["sizes"] if path.exists() else {}
    for size in args.sizes:
        va = dataset(size, "validation", args.n_val)
        op = problem(size).operator
        earlier = results.get(str(size), {})
        curves = dict(earlier.get("curves", {})) if earlier.get("n_val") == args.n_val else {}
        for lam in args.lams:
            _, hist = tv_pdhg(op, va["y"], lam=lam, iters=args.iters, tol=0.0, bounds=(0.0, None), x0=va["f"],
                              truth=va["x"], data_range=1.0, step_ratio=args.step_ratio, data_step="linearized")
            curves[str(float(lam))] = hist.psnr
            print(f"{size}² lam {lam:g}: best {max(hist.psnr):.2f} dB at iteration {int(np.argmax(hist.psnr)) + 1}")
        lam, curve = max(curves.items(), key=lambda kv: max(kv[1]))
        iters = int(np.argmax(np.asarray(curve) >= max(curve) - PLATEAU_DB)) + 1
        results[str(size)] = {"lam": float(lam), "iters": iters, "best_iters": int(np.argmax(curve)) + 1,
                              "val_psnr": curve[iters - 1], "best_val_psnr": max(curve), "plateau_db": PLATEAU_DB,
                              "fbp_val_psnr": psnr(va["f"], va["x"], data_range=1.0).item(),
                              "curves": curves, "n_val": args.n_val, "step_ratio": args.step_ratio,
                              "max_iters": {k: len(c) for k, c in curves.items()}}
        latest = json.loads(path.read_text())["sizes"] if path.exists() else {}
        results = {**latest, str(size): results[str(size)]}  # sizes swept meanwhile by another run stay
        write_json_atomic(path, {"sizes": results, "environment": environment()})
    for size, r in results.items():
        print(f"{size}²: lam {r['lam']:g}, {r['iters']} iterations, validation {r['val_psnr']:.2f} dB")


def _lam_at(size: int, sweep: dict) -> tuple[float, bool]:
    """Swept ``lam`` at ``size``, or the power law through the two largest swept sizes."""
    if str(size) in sweep:
        return sweep[str(size)]["lam"], False
    sizes = sorted(int(s) for s in sweep)
    (s0, s1) = sizes[-2:]
    l0, l1 = sweep[str(s0)]["lam"], sweep[str(s1)]["lam"]
    return l1 * (size / s1) ** (math.log(l1 / l0) / math.log(s1 / s0)), True


def score(args) -> None:
    sweep = json.loads((RUN / "tv_sweep.json").read_text())["sizes"]
    state = load_weights(RUN / "unet_512.safetensors")
    train_cfg = json.loads((RUN / "unet_512.json").read_text())["config"]
    net = UNet(width=train_cfg["width"], depth=train_cfg["depth"])
    net.load_state_dict(state)
    net.eval()
    rows = []
    for size, n in zip(args.sizes, args.n):
        te = dataset(size, "test", n)
        p = problem(size)
        op, batch = p.operator, args.batch
        lam, extrapolated = _lam_at(size, sweep)
        iters = sweep[str(size)]["iters"] if str(size) in sweep else TV_ITERS_1024
        truncated = str(size) not in sweep
        y1 = te["y"][:batch]

        def unet_call():
            with torch.inference_mode():
                return net(p.baseline(y1))

        est = {"fbp": te["f"], "unet": apply(net, te["f"], batch)}
        timings = {"fbp": time_batches(lambda: p.baseline(y1), batch, repeats=args.repeats),
                   "unet": time_batches(unet_call, batch, repeats=args.repeats)}
        tv_parts, tv_seconds = [], []
        for i in trange(0, n, batch, desc=f"TV {size}²"):
            y = te["y"][i : i + batch]
            t0 = time.perf_counter()
            x, _ = tv_pdhg(op, y, lam=lam, iters=iters, tol=0.0, bounds=(0.0, None), x0=p.baseline(y),
                           step_ratio=args.step_ratio, data_step="linearized")
            tv_seconds.append(time.perf_counter() - t0)
            tv_parts.append(x)
        est["tv"] = torch.cat(tv_parts)
        timings["tv"] = Timing(float(np.median(tv_seconds)), min(tv_seconds), max(tv_seconds), len(tv_seconds),
                               batch, torch.get_num_threads(), "cpu")
        scores = {}
        for name, x in est.items():
            ev = p.evaluate(x, te["x"])
            scores[name] = {"psnr": float(np.mean(ev["psnr"])), "ssim": float(np.mean(ev["ssim"])),
                            "psnr_per_image": ev["psnr"], "timing": timings[name].as_dict()}
        row = {"size": size, "views": VIEWS[size], "n_test": n, "batch_size": batch,
               "tv": {"lam": lam, "lam_extrapolated": extrapolated, "iters": iters, "truncated": truncated},
               "methods": scores,
               "unet_over_tv_speed": timings["tv"].per_item / timings["unet"].per_item,
               "unet_minus_tv_psnr": scores["unet"]["psnr"] - scores["tv"]["psnr"]}
        rows.append(row)
        _print_row(row)
        warning = busy_warning({f"{k} {size}²": t for k, t in timings.items()})
        if warning:
            print(warning)
    train_info = json.loads((RUN / "unet_512.json").read_text())
    kept = ("config", "best_val_psnr", "fbp_val_psnr", "minutes", "history")
    save("learned_scale", {"rows": rows, "training": {k: train_info[k] for k in kept},
               "tv_sweep": {s: {k: v for k, v in r.items() if k != "curves"} for s, r in sweep.items()},
               "config": {"views": VIEWS, "seeds": SEEDS, "batch_size": args.batch, "repeats": args.repeats,
                          "step_ratio": args.step_ratio}})


def _print_row(row: dict) -> None:
    print(f"\n{row['size']}², {row['views']} views, {row['n_test']} test images, batch {row['batch_size']}"
          + (" (TV truncated)" if row["tv"]["truncated"] else ""))
    for name, s in row["methods"].items():
        t = s["timing"]
        print(f"  {name:5s} {s['psnr']:6.2f} dB  SSIM {s['ssim']:.3f}  {t['per_item']:9.3f} s/image "
              f"[{t['minimum'] / t['batch_size']:.3f}-{t['maximum'] / t['batch_size']:.3f}]")
    print(f"  U-Net {row['unet_over_tv_speed']:.0f}x faster than TV, {row['unet_minus_tv_psnr']:+.2f} dB")


def figure(args) -> None:
    """Seconds per image against size for FBP, TV, the U-Net and learned primal-dual, at
    batch size 1, measured here (median of ``--repeats``): TV is its cost per iteration
    times the iterations the validation sweep chose at 512²; LPD is the architecture of
    ``inverselab.models.LearnedPrimalDual`` (untrained: the cost does not depend on the
    weights). Writes ``learned_scale_seconds.json`` and ``.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from inverselab.models import LearnedPrimalDual

    sweep = json.loads((RUN / "tv_sweep.json").read_text())["sizes"]
    iters = sweep["512"]["iters"]
    net = UNet(width=16, depth=3).eval()
    series: dict[str, dict[int, dict]] = {"fbp": {}, "tv": {}, "unet": {}, "lpd": {}}
    for size in args.sizes:
        p = problem(size)
        x, y = p.test_data(1, seed=0)
        f = p.baseline(y)
        lpd = LearnedPrimalDual(p.operator).eval()
        tv_iters = 3
        with torch.inference_mode():
            calls = {"fbp": lambda: p.baseline(y), "unet": lambda: net(p.baseline(y)), "lpd": lambda: lpd(y),
                     "tv": lambda: tv_pdhg(p.operator, y, lam=1.0, iters=tv_iters, tol=0.0, x0=f,
                                           data_step="linearized")}
            for name, call in tqdm(list(calls.items()), desc=f"{size}²", leave=False):
                t = time_batches(call, 1, repeats=args.repeats)
                scale = iters / tv_iters if name == "tv" else 1.0
                series[name][size] = {**t.as_dict(), "seconds_per_image": t.per_item * scale}
    save("learned_scale_seconds", {"series": series, "tv_iterations": iters, "views": VIEWS, "batch_size": 1,
                                   "repeats": args.repeats})
    fig, ax = plt.subplots(figsize=(5.5, 4))
    labels = {"fbp": "FBP", "tv": f"TV ({iters} iterations)", "unet": "U-Net (FBP + network)",
              "lpd": "learned primal-dual"}
    for name, points in series.items():
        n = sorted(points)
        ax.loglog(n, [points[k]["seconds_per_image"] for k in n], "o-", label=labels[name])
    ax.set_xlabel("image side n (n² pixels; 0.7 n views)")
    ax.set_ylabel("seconds per image (batch 1)")
    ax.set_title(f"Parallel-beam CT on CPU ({torch.get_num_threads()} threads)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    out = RESULTS / "learned_scale_seconds.png"
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    for name, points in series.items():
        print(f"{name:5s} " + "  ".join(f"{k}²: {v['seconds_per_image']:.3g} s" for k, v in sorted(points.items())))
    print(f"figure -> {out}")


def main(argv: list[str] | None = None) -> None:
    parser = BenchmarkParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(required=True)
    t = sub.add_parser("train", help="train the U-Net on crops")
    t.add_argument("--size", type=int, default=512)
    t.add_argument("--n-train", type=int, default=96)
    t.add_argument("--n-val", type=int, default=4)
    t.add_argument("--crop", type=int, default=128)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--steps", type=int, default=400)
    t.add_argument("--every", type=int, default=100)
    t.add_argument("--lr", type=float, default=1.5e-3)
    t.add_argument("--width", type=int, default=16)
    t.add_argument("--depth", type=int, default=3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--init", type=Path, default=None, help="start from these weights (a further training stage)")
    t.set_defaults(func=train)
    s = sub.add_parser("tv-sweep", help="TV's lam and iterations on validation images")
    s.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    s.add_argument("--n-val", type=int, default=2)
    s.add_argument("--lams", type=float, nargs="*", default=list(TV_LAMS),
                   help="weights to sweep (none: choose again among the stored curves)")
    s.add_argument("--iters", type=int, default=TV_MAX_ITERS)
    s.add_argument("--step-ratio", type=float, default=None, help="PDHG step balance (default: the library's rule)")
    s.set_defaults(func=tv_sweep)
    c = sub.add_parser("score", help="score FBP, TV and the U-Net on test images")
    c.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    c.add_argument("--n", type=int, nargs="+", default=[16, 2])
    c.add_argument("--batch", type=int, default=2)
    c.add_argument("--repeats", type=int, default=5)
    c.add_argument("--step-ratio", type=float, default=None)
    c.set_defaults(func=score)
    f = sub.add_parser("figure", help="seconds per image against size")
    f.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1024])
    f.add_argument("--repeats", type=int, default=5)
    f.set_defaults(func=figure)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
