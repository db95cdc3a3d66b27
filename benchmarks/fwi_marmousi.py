"""Marmousi full-waveform inversion (2-D acoustic, deepwave) from TorchFWI's 1-D starting model.

Synthetic data are computed from ``cp_true.mat`` with the same operator that inverts them
(134 x 384 cells at 24 m, the top 10 rows are water and stay fixed), and the inversion starts
from ``cp_init.mat``. Acceptance (issue 5): the relative model error
``||v - v_true|| / ||v_true||`` ends at most 0.7 times that of ``cp_init``.

Default setup (sized for 2 CPU cores, ~10 minutes): 16 shots in row 1 (under the water
surface, 9 km spread), receivers every other cell in row 1, a 5 Hz Ricker, 4 s records at
dt = 2.5 ms (Courant number 0.81 for v <= 5500 m/s, no sub-stepping), a 12-cell PML,
bounds 1000-5500 m/s (sigmoid reparametrisation), Adam (step 0.03 in the logit) on random
batches of 4 shots, frequency continuation over low-pass bands 3 Hz, 5 Hz and the full band
with 40, 100 and 220 iterations.

Writes ``benchmarks/results/fwi_marmousi.json`` (configuration, error and misfit per
iteration, seconds) and ``fwi_marmousi.png`` (true, initial and inverted models; error
against iteration).

    .venv/bin/python benchmarks/fwi_marmousi.py            # the full run
    .venv/bin/python benchmarks/fwi_marmousi.py --time 2   # seconds per iteration only
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from _common import BenchmarkParser, RESULTS, environment, save
from inverselab.operators.acoustic import AcousticWave2D
from inverselab.solvers.fwi import fwi



def parse(argv=None) -> argparse.Namespace:
    p = BenchmarkParser(description=__doc__.splitlines()[0])
    p.add_argument("--shots", type=int, default=16)
    p.add_argument("--receiver-step", type=int, default=2, help="receiver spacing in cells")
    p.add_argument("--frequency", type=float, default=5.0, help="Ricker peak frequency (Hz)")
    p.add_argument("--bands", type=str, default="3,5,none", help="low-pass corners (Hz), 'none' = full band")
    p.add_argument("--iters", type=str, default="40,100,220", help="iterations per band")
    p.add_argument("--optimizer", default="adam", choices=["lbfgs", "adam"])
    p.add_argument("--lr", type=float, default=0.03)
    p.add_argument("--record", type=float, default=4.0, help="record length (s)")
    p.add_argument("--dt", type=float, default=2.5e-3)
    p.add_argument("--courant", type=float, default=0.82, help="deepwave courant_number")
    p.add_argument("--vmin", type=float, default=1000.0)
    p.add_argument("--vmax", type=float, default=5500.0)
    p.add_argument("--absorbing", type=int, default=12)
    p.add_argument("--gradient-sampling", type=int, default=4)
    p.add_argument("--reg", default=None, choices=[None, "tikhonov", "smoothness", "tv"])
    p.add_argument("--lam", type=float, default=0.0)
    p.add_argument("--depth-weight", type=float, default=0.0)
    p.add_argument("--shots-per-batch", type=int, default=4, help="mini-batch size (Adam; 0: all shots)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads of deepwave (OpenMP) and torch (0: leave as is); 1 by default because "
                        "deepwave's per-step OpenMP barriers make 2 threads 10-100x slower on 2 cores "
                        "shared with other work (on an idle machine 2 threads are ~1.6x faster)")
    p.add_argument("--seconds", type=float, help="time budget of the inversion: --iters become upper bounds and "
                                                   "proportions (see solvers.fwi)")
    p.add_argument("--device", default="cpu", help="where deepwave runs, e.g. cuda")
    p.add_argument("--time", type=int, default=0, help="only time this many iterations (no files written)")
    p.add_argument("--name", default="fwi_marmousi")
    p.add_argument("--from-run", metavar="RUN",
                   help="write the JSON and figure of a finished 'inverselab solve fwi-marmousi' run instead of inverting")
    return p.parse_args(argv)


def from_run(run: Path, v0: torch.Tensor, name: str) -> int:
    """The JSON summary and figure of a CLI run (its config, model error per iteration, seconds)."""
    import json

    from safetensors.torch import load_file

    from inverselab.records import read_toml
    from inverselab.solvers.fwi import FWIHistory

    metrics = json.loads((run / "metrics.json").read_text())
    hist = FWIHistory(**metrics["history"])
    samples = load_file(run / "samples.safetensors")
    e0, e1 = hist.model_error_initial, hist.model_error[-1]
    path = save(name, {
        "config": read_toml(run / "config.toml"), "run": str(run),
        "model_error_initial": e0, "model_error_final": e1, "error_ratio": e1 / e0, "target_ratio": 0.7,
        "target_met": e1 / e0 <= 0.7, "seconds_total": metrics["seconds_per_sample"], "history": hist.as_dict(),
    })
    figure(samples["truth"][0], v0[0], samples["estimate"][0], hist, RESULTS / f"{name}.png")
    print(f"model error {e0:.4f} -> {e1:.4f} (ratio {e1 / e0:.3f}); wrote {path} and {path.with_suffix('.png')}")
    return 0


def figure(truth, v0, v, history, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 7), layout="constrained")
    nz, nx = truth.shape
    extent = (0, nx * 0.024, nz * 0.024, 0)
    for ax, m, title in zip(axes.flat[:3], (truth, v0, v), ("true (cp_true)", "initial (cp_init)", "FWI")):
        im = ax.imshow(m.numpy(), cmap="jet", vmin=1500, vmax=5500, extent=extent, aspect="auto")
        ax.set_title(title)
        ax.set_xlabel("x (km)")
        ax.set_ylabel("z (km)")
    fig.colorbar(im, ax=list(axes.flat[:3]), label="velocity (m/s)", shrink=0.6)
    ax = axes.flat[3]
    err = [history.model_error_initial, *history.model_error]
    ax.plot(range(len(err)), err, "o-", ms=3)
    ax.axhline(0.7 * history.model_error_initial, color="r", ls="--", lw=1, label="0.7 x initial")
    start = 0
    for band in history.bands:
        start += band["iterations"]
        ax.axvline(start, color="gray", lw=0.5)
    ax.set_xlabel("iteration")
    ax.set_ylabel("||v - v_true|| / ||v_true||")
    ax.set_title("model error (bands separated by grey lines)")
    ax.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse(argv)
    if args.threads:
        # deepwave runs its own OpenMP runtime: OMP_NUM_THREADS (read when it loads) sets its
        # threads, torch.set_num_threads does not
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    from inverselab.data.io import read_velocity_model, shared_data
    from inverselab.errors import InputError

    try:
        true_file, init_file = shared_data("seismic", "cp_true.mat"), shared_data("seismic", "cp_init.mat")
    except InputError as exc:
        print(f"skipped: {exc}")
        return 0
    truth = read_velocity_model(true_file)[None].to(args.device)
    v0 = read_velocity_model(init_file)[None].to(args.device)
    if args.from_run:
        return from_run(Path(args.from_run), v0.cpu(), args.name)
    nz, nx = truth.shape[1:]
    dx = 24.0
    nt = int(round(args.record / args.dt))
    nt -= nt % args.gradient_sampling
    shots = [int(round(i)) for i in torch.linspace(5, nx - 6, args.shots).tolist()]
    op = AcousticWave2D(
        (nz, nx), dx, args.dt, nt,
        sources=[(1, ix) for ix in shots],
        receivers=[(1, ix) for ix in range(0, nx, args.receiver_step)],
        frequency=args.frequency, absorbing=args.absorbing, max_velocity=args.vmax,
        courant_number=args.courant, gradient_sampling=args.gradient_sampling,
    )
    bands = [None if b.strip().lower() == "none" else float(b) for b in args.bands.split(",")]
    iters = [int(i) for i in args.iters.split(",")]
    config = {**{k: v for k, v in vars(args).items() if k not in ("time", "name")}, "nz": nz, "nx": nx, "dx": dx,
              "nt": nt, "sources_ix": shots, "step_ratio": op.step_ratio(), "fixed_rows": 10,
              "bands": bands, "iters": iters}
    print(f"Marmousi {nz}x{nx} at {dx} m, {len(shots)} shots, {op.range_shape[1]} receivers, nt={nt} "
          f"(dt={args.dt * 1e3:.2f} ms, {nt * args.dt:.2f} s, {op.step_ratio()} internal step(s)/sample), "
          f"{args.frequency} Hz Ricker, bands {bands}, iterations {iters}, threads {torch.get_num_threads()}",
          flush=True)
    start = time.perf_counter()
    with torch.no_grad():
        observed = op(truth)
    t_data = time.perf_counter() - start
    print(f"observed data: {t_data:.1f} s", flush=True)
    if args.time:  # seconds per iteration only, in the first band
        bands, iters = bands[:1], [args.time]
    start = time.perf_counter()
    v, hist = fwi(op, observed, v0, frequencies=bands, iters_per_band=iters, optimizer=args.optimizer, lr=args.lr,
                  bounds=(args.vmin, args.vmax), fixed=10, truth=truth, progress=True, reg=args.reg, lam=args.lam,
                  depth_weight=args.depth_weight, shots_per_batch=args.shots_per_batch or None,
                  seconds=args.seconds)
    if args.time:
        per = [b - a for a, b in zip([0.0, *hist.seconds[:-1]], hist.seconds)]
        print(f"seconds per iteration: {[round(s, 1) for s in per]}; model error {hist.model_error_initial:.4f} -> "
              f"{hist.model_error[-1]:.4f}", flush=True)
        return 0
    seconds = time.perf_counter() - start
    e0, e1 = hist.model_error_initial, hist.model_error[-1]
    ratio = e1 / e0
    print(f"model error {e0:.4f} -> {e1:.4f} (ratio {ratio:.3f}, target <= 0.7: {'met' if ratio <= 0.7 else 'NOT met'})"
          f" in {hist.iterations} iterations, {seconds:.0f} s", flush=True)
    for band in hist.bands:
        print(f"  band {band['f_cut']}: {band['iterations']} it, misfit {band['misfit_start']:.4f} -> "
              f"{band['misfit_end']:.4f}, {band['seconds']:.0f} s", flush=True)
    path = save(args.name, {
        "config": config,
        "model_error_initial": e0,
        "model_error_final": e1,
        "error_ratio": ratio,
        "target_ratio": 0.7,
        "target_met": ratio <= 0.7,
        "seconds_total": seconds,
        "seconds_observed_data": t_data,
        "device": torch.cuda.get_device_name() if v.is_cuda else "cpu",
        "history": hist.as_dict(),
    })
    figure(truth[0].cpu(), v0[0].cpu(), v[0].float().cpu(), hist, RESULTS / f"{args.name}.png")
    print(f"wrote {path} and {path.with_suffix('.png')} ({environment()['commit']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
