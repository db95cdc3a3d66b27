"""Post-stack acoustic-impedance inversion on the Marmousi section (poststack_model.npz).

Synthetic set-up (``inverselab.studies.impedance.poststack_synthetic``): Vp from
``shared/data/seismic/poststack_model.npz`` (4 m grid, km/s -> m/s), Gardner density,
impedance ``Z = rho vp`` (m/s * g/cm^3), data from the exact reflection coefficients convolved
with a zero-phase Ricker (default 20 Hz) at dt = 4 ms, the depth samples taken as time samples
(the usual tutorial shortcut), Gaussian noise with a standard deviation of 10 % of the clean
data's RMS (seeded). The starting model is the true log-impedance smoothed by a Gaussian of
``--sigma`` samples along time (and ``--sigma-x`` traces laterally).

Inversions of the log-impedance (``invert_impedance``), each regularising ``m - m0``:

* linear model, smoothness (CG on the Tikhonov normal equations),
* linear model, total variation (PDHG),
* nonlinear model (exact reflection coefficients), smoothness, L-BFGS through autograd,
* trace-wise networks (``inverselab.models.TraceNet``: dilated 1-D CNN and bidirectional GRU)
  trained on the traces of the left half of the section (noise-free data plus fresh noise of
  the same level at every step) and applied to the noisy data of the right half.

Every method is scored on the whole section and on the right half (the networks' test
traces), so the networks compare with the inversions on the same traces.

    .venv/bin/python benchmarks/impedance.py [--crop 0 550 0 800] [--threads 2]

"seconds" is wall-clock time, "cpu s" the process's CPU time (all threads; a check on wall
times taken on a busy machine).

Writes benchmarks/results/impedance.json and impedance.png (sections, data, a trace, the error
of the first inversion) and prints a table: relative
errors of the impedance and of the log-impedance, the fraction of the starting model's
log-impedance error left, PSNR of the impedance, iterations and seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from _common import BenchmarkParser, RESULTS, save
from inverselab.models import TraceNet
from inverselab.studies.impedance import (
    fit_tracewise,
    impedance_metrics,
    invert_impedance,
    poststack_synthetic,
    read_poststack_model,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "seismic" / "poststack_model.npz"


def figure(p, estimates: dict[str, torch.Tensor], extent: list[float], path: Path) -> None:
    """Sections (true, start, estimates), the data, one trace, and the error of the first estimate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z_true = p.impedance[0].numpy()
    lo, hi = np.percentile(z_true, [1, 99])
    panels = [("true impedance", z_true), ("start (smoothed)", p.background[0].exp().numpy())]
    panels += [(name, m[0].exp().numpy()) for name, m in estimates.items()]
    rows = -(-(len(panels) + 3) // 4)  # sections, data, a trace, one error map
    fig, axes = plt.subplots(rows, 4, figsize=(20, 4.5 * rows))
    flat = list(axes.ravel())
    for ax, (title, img) in zip(flat, panels):
        im = ax.imshow(img, cmap="viridis", vmin=lo, vmax=hi, extent=extent, aspect="auto")
        ax.set(title=title, xlabel="x (m)", ylabel="time (s)")
        fig.colorbar(im, ax=ax, shrink=0.8, label="m/s * g/cm^3")
    k = len(panels)
    data = p.data[0].numpy()
    clip = float(np.percentile(np.abs(data), 99))
    im = flat[k].imshow(data, cmap="gray", vmin=-clip, vmax=clip, extent=extent, aspect="auto")
    flat[k].set(title=f"data (noise {p.noise_std:.3g} std)", xlabel="x (m)", ylabel="time (s)")
    fig.colorbar(im, ax=flat[k], shrink=0.8)
    j = z_true.shape[1] // 2
    t = np.arange(z_true.shape[0]) * p.dt
    ax = flat[k + 1]
    ax.plot(z_true[:, j], t, "k", lw=1.5, label="true")
    ax.plot(p.background[0, :, j].exp().numpy(), t, "--", color="gray", label="start")
    for name, m in estimates.items():
        ax.plot(m[0, :, j].exp().numpy(), t, lw=1, label=name)
    ax.set_ylim(t[-1], 0)
    ax.set(xlabel="impedance (m/s * g/cm^3)", ylabel="time (s)", title=f"trace {j}")
    ax.legend(fontsize=7)
    if k + 2 < len(flat):
        name, m = next(iter(estimates.items()))
        err = m[0].exp().numpy() - z_true
        lim = float(np.percentile(np.abs(err), 99))
        im = flat[k + 2].imshow(err, cmap="RdBu_r", vmin=-lim, vmax=lim, extent=extent, aspect="auto")
        flat[k + 2].set(title=f"error: {name}", xlabel="x (m)", ylabel="time (s)")
        fig.colorbar(im, ax=flat[k + 2], shrink=0.8)
    for ax in flat[k + 3 :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = BenchmarkParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--crop", type=int, nargs=4, default=[0, 550, 0, 800], metavar=("Z0", "Z1", "X0", "X1"),
                        help="rows z0:z1 and columns x0:x1 of the model (default: all)")
    parser.add_argument("--frequency", type=float, default=20.0)
    parser.add_argument("--dt", type=float, default=0.004)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sigma", type=float, default=10.0)
    parser.add_argument("--sigma-x", type=float, default=0.0)
    parser.add_argument("--lam", type=float, default=0.01, help="smoothness weight (linear and nonlinear)")
    parser.add_argument("--lam-tv", type=float, default=0.01)
    parser.add_argument("--iters", type=int, default=300, help="CG iterations")
    parser.add_argument("--iters-tv", type=int, default=1000, help="PDHG iterations")
    parser.add_argument("--iters-nonlinear", type=int, default=200, help="L-BFGS iterations")
    parser.add_argument("--net-steps", type=int, nargs=2, default=[800, 400], metavar=("CNN", "GRU"),
                        help="training steps of the trace-wise CNN and GRU (0 skips one)")
    parser.add_argument("--net-batch", type=int, default=32, help="traces per training step")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = read_poststack_model(args.data)
    z0, z1, x0, x1 = args.crop
    vp = 1000 * model.vp[z0:z1, x0:x1]
    p = poststack_synthetic(vp, frequency=args.frequency, dt=args.dt, noise=args.noise, seed=args.seed,
                            sigma=args.sigma, sigma_x=args.sigma_x)
    truth = p.log_impedance
    rows = {"start (smoothed model)": {**impedance_metrics(p.background, truth, p.background), "seconds": 0.0,
                                       "iterations": 0}}
    runs = {
        "linear, smoothness (CG)": dict(lam=args.lam, reg="smoothness", iters=args.iters),
        "linear, TV (PDHG)": dict(lam=args.lam_tv, reg="tv", iters=args.iters_tv),
        "nonlinear, smoothness (L-BFGS)": dict(lam=args.lam, reg="smoothness", iters=args.iters_nonlinear,
                                                nonlinear=True),
    }
    estimates = {}
    for name, kw in runs.items():
        start, cpu = time.perf_counter(), time.process_time()
        m, history = invert_impedance(p.operator, p.data, p.background, **kw)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        estimates[name] = m
        rows[name] = {**impedance_metrics(m, truth, p.background), "seconds": seconds, "cpu_seconds": cpu,
                      "iterations": history.iterations, "stop_reason": history.stop_reason, "settings": kw}
    nx = vp.shape[1]
    train, test = range(0, nx // 2), slice(nx // 2, nx)
    nets = {"trace-wise CNN": (TraceNet("cnn", width=16, layers=6), args.net_steps[0]),
            "trace-wise GRU": (TraceNet("gru", width=16, layers=2), args.net_steps[1])}
    right = {}
    for name, (net, steps) in nets.items():
        if steps <= 0:
            continue
        torch.manual_seed(args.seed)
        net = net.double()
        start, cpu = time.perf_counter(), time.process_time()
        losses = fit_tracewise(net, p, train, steps=steps, batch=args.net_batch, seed=args.seed)
        train_seconds = time.perf_counter() - start
        with torch.no_grad():
            start = time.perf_counter()
            m = net(p.data[..., test], p.background[..., test])
            seconds = time.perf_counter() - start
        right[name] = {**impedance_metrics(m, truth[..., test], p.background[..., test]), "seconds": seconds,
                       "training_seconds": train_seconds, "training_steps": steps, "final_loss": losses[-1],
                       "parameters": sum(q.numel() for q in net.parameters())}
        estimates[name] = torch.cat([p.background[..., :nx // 2], m], dim=-1)  # left half: training traces
    for name, m in list(estimates.items()):
        if name not in right:
            right[name] = {**impedance_metrics(m[..., test], truth[..., test], p.background[..., test]),
                           "seconds": rows[name]["seconds"]}
    right = {"start (smoothed model)": impedance_metrics(p.background[..., test], truth[..., test],
                                                         p.background[..., test]), **right}
    # the best any inversion can do with this wavelet: the clean data, the same settings
    m_clean, _ = invert_impedance(p.operator, p.clean, p.background, **runs["linear, smoothness (CG)"])
    rows["linear, smoothness, noise-free data"] = impedance_metrics(m_clean, truth, p.background)

    print(f"model {tuple(vp.shape)} (rows {z0}:{z1}, columns {x0}:{x1}), Ricker {args.frequency:g} Hz, "
          f"dt {args.dt * 1e3:g} ms, noise {100 * args.noise:g} % RMS, threads {args.threads}")
    print(f"{'method':36s} {'rel.err Z':>9s} {'rel.err lnZ':>11s} {'err/start':>9s} {'PSNR Z':>7s} "
          f"{'iters':>6s} {'seconds':>8s} {'cpu s':>7s}")
    for name, r in rows.items():
        print(f"{name:36s} {r['rel_error_impedance']:9.4f} {r['rel_error_log']:11.5f} {r['error_fraction']:9.3f} "
              f"{r['psnr_impedance']:7.2f} {r.get('iterations', ''):>6} {r.get('seconds', float('nan')):8.2f} "
              f"{r.get('cpu_seconds', float('nan')):7.2f}")
    print(f"\nright half (traces {nx // 2}-{nx - 1}; the networks trained on the left half)")
    print(f"{'method':36s} {'rel.err Z':>9s} {'err/start':>9s} {'PSNR Z':>7s} {'seconds':>8s}")
    for name, r in right.items():
        print(f"{name:36s} {r['rel_error_impedance']:9.4f} {r['error_fraction']:9.3f} {r['psnr_impedance']:7.2f} "
              f"{r.get('seconds', 0.0):8.3f}")

    dz = float(model.z[1] - model.z[0]) if model.z.numel() > 1 else 4.0
    extent = [float(model.x[x0]), float(model.x[x1 - 1]), (vp.shape[0] - 1) * args.dt, 0.0]
    png = RESULTS / "impedance.png"
    figure(p, estimates, extent, png)
    config = {**vars(args), "data": str(args.data), "shape": list(vp.shape), "grid_m": dz,
              "noise_std": p.noise_std, "wavelet_samples": int(p.wavelet.numel()),
              "impedance_unit": "m/s * g/cm^3", "time_axis": "depth samples taken as time samples at dt"}
    path = save("impedance", {"config": config, "results": rows, "right_half": right})
    print(f"-> {path}, {png}")


if __name__ == "__main__":
    main()
