"""DeepXDE peer for the diffusion_1d_inverse benchmark (run as a subprocess).

Builds DeepXDE's published example ``examples/pinn_inverse/diffusion_1d_inverse.py`` with
the PyTorch backend and trains it with Adam, recording when the recovered diffusion
coefficient C first satisfies ``|C - 1| < threshold``. Results go to a JSON file.

    DDE_BACKEND=pytorch .venv-bench/bin/python benchmarks/_deepxde_diffusion.py \
        --seed 0 --iterations 50000 --threshold 1e-3 --check-every 10 --out run.json

Problem (as in the example):
    u_t = C u_xx - exp(-t) (sin(pi x) - pi^2 sin(pi x)),  x in [-1, 1], t in [0, 1],
    exact u = exp(-t) sin(pi x), so the true C is 1; C starts at 2.
    Dirichlet BC and IC from the exact solution; 10 observations of u at t = 1,
    x = linspace(-1, 1, 10) (a PointSetBC, and anchors of the training set);
    num_domain=40, num_boundary=20, num_initial=10, num_test=10000;
    FNN [2] + [32] * 3 + [1], tanh, Glorot uniform; Adam lr 1e-3, C an external trainable
    variable; metric "l2 relative error"; DeepXDE's default float32.

Times are ``time.perf_counter`` seconds. ``train_seconds`` and every per-iteration time
(``first_hit_seconds``, the history) count from just before ``model.train``; that includes
DeepXDE's initial test evaluation (10000 test points) and the periodic ones every
``--display-every`` iterations (``test_eval_seconds`` reports their total). Imports and
model construction/compile are reported separately (``import_seconds``, ``setup_seconds``).
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402

# The example is written for the pytorch backend; the backend is chosen at import time.
os.environ.setdefault("DDE_BACKEND", "pytorch")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, required=True, help="dde.config.set_random_seed(seed)")
    p.add_argument("--iterations", type=int, required=True, help="maximum Adam iterations")
    p.add_argument("--threshold", type=float, default=1e-3, help="hit when |C - 1| < threshold")
    p.add_argument("--check-every", type=int, default=10, help="read C every this many iterations")
    p.add_argument("--history-every", type=int, default=100, help="record (it, s, C) this often")
    p.add_argument("--no-stop", action="store_true", help="keep training after the first hit")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument(
        "--display-every",
        type=int,
        default=1000,
        help="DeepXDE's test evaluation/print period (model.train default and the example's: 1000)",
    )
    p.add_argument("--quiet", action="store_true", help="model.train(verbose=0): no loss table")
    p.add_argument(
        "--float",
        dest="float_type",
        choices=("float32", "float64"),
        default="float32",
        help="DeepXDE default float (the example uses DeepXDE's default, float32)",
    )
    p.add_argument("--out", required=True, help="JSON output file")
    args = p.parse_args(argv)
    for name in ("iterations", "check_every", "history_every", "display_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    import numpy as np
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)

    import deepxde as dde

    if dde.backend.backend_name != "pytorch":
        raise SystemExit(f"DeepXDE backend is {dde.backend.backend_name!r}; set DDE_BACKEND=pytorch")
    t_imported = time.perf_counter()

    # ---- setup: the example, with the seed and the float type set first -----------------
    t_setup0 = time.perf_counter()
    if args.float_type != "float32":
        dde.config.set_default_float(args.float_type)
    dde.config.set_random_seed(args.seed)

    # dde.Variable(2.0) is torch.tensor(2.0): float32 unless a dtype is given.
    C = dde.Variable(2.0) if args.float_type == "float32" else dde.Variable(2.0, dtype=torch.float64)

    def pde(x, y):
        dy_t = dde.grad.jacobian(y, x, i=0, j=1)
        dy_xx = dde.grad.hessian(y, x, i=0, j=0)
        return (
            dy_t
            - C * dy_xx
            + torch.exp(-x[:, 1:])
            * (torch.sin(np.pi * x[:, 0:1]) - np.pi**2 * torch.sin(np.pi * x[:, 0:1]))
        )

    def func(x):
        return np.sin(np.pi * x[:, 0:1]) * np.exp(-x[:, 1:])

    geom = dde.geometry.Interval(-1, 1)
    timedomain = dde.geometry.TimeDomain(0, 1)
    geomtime = dde.geometry.GeometryXTime(geom, timedomain)

    bc = dde.icbc.DirichletBC(geomtime, func, lambda _, on_boundary: on_boundary)
    ic = dde.icbc.IC(geomtime, func, lambda _, on_initial: on_initial)

    observe_x = np.vstack((np.linspace(-1, 1, num=10), np.full((10), 1))).T
    observe_y = dde.icbc.PointSetBC(observe_x, func(observe_x), component=0)

    data = dde.data.TimePDE(
        geomtime,
        pde,
        [bc, ic, observe_y],
        num_domain=40,
        num_boundary=20,
        num_initial=10,
        anchors=observe_x,
        solution=func,
        num_test=10000,
    )

    net = dde.nn.FNN([2] + [32] * 3 + [1], "tanh", "Glorot uniform")
    model = dde.Model(data, net)
    model.compile("adam", lr=0.001, metrics=["l2 relative error"], external_trainable_variables=C)
    t_setup1 = time.perf_counter()

    # ---- instrumentation ----------------------------------------------------------------
    # Total time spent in DeepXDE's test evaluations (initial, every display_every, last).
    test_eval = {"seconds": 0.0, "calls": 0}
    original_test = model._test

    def timed_test(*a, **kw):
        t = time.perf_counter()
        try:
            return original_test(*a, **kw)
        finally:
            test_eval["seconds"] += time.perf_counter() - t
            test_eval["calls"] += 1

    model._test = timed_test  # instance attribute; model.train calls self._test

    class CWatch(dde.callbacks.Callback):
        """Reads C every ``check_every`` iterations; stops at the first hit unless told not to."""

        def __init__(self, t0_ref):
            super().__init__()
            self.t0_ref = t0_ref
            self.hit_iteration = None
            self.hit_seconds = None
            self.hit_C = None
            self.history = []
            self.loop_begin = None
            self.loop_end = None

        def _now(self):
            return time.perf_counter() - self.t0_ref[0]

        def on_train_begin(self):
            self.loop_begin = self._now()
            self.history.append([int(self.model.train_state.iteration), self.loop_begin, C.item()])

        def on_epoch_end(self):
            it = int(self.model.train_state.iteration)
            check = it % args.check_every == 0
            record = it % args.history_every == 0
            if not (check or record):
                return
            now = self._now()
            c = C.item()
            if record:
                self.history.append([it, now, c])
            if check and self.hit_iteration is None and abs(c - 1.0) < args.threshold:
                self.hit_iteration, self.hit_seconds, self.hit_C = it, now, c
                if not args.no_stop:
                    self.model.stop_training = True

        def on_train_end(self):
            self.loop_end = self._now()
            it = int(self.model.train_state.iteration)
            if not self.history or self.history[-1][0] != it:
                self.history.append([it, self.loop_end, C.item()])

    t0_ref = [0.0]
    watch = CWatch(t0_ref)

    # ---- training -----------------------------------------------------------------------
    t0_ref[0] = t_train0 = time.perf_counter()
    losshistory, train_state = model.train(
        iterations=args.iterations,
        display_every=args.display_every,
        callbacks=[watch],
        verbose=0 if args.quiet else 1,
    )
    t_train1 = time.perf_counter()

    iterations_run = int(train_state.iteration)
    train_seconds = t_train1 - t_train0
    loop_seconds = watch.loop_end - watch.loop_begin
    c_final = C.item()
    last_metrics = losshistory.metrics_test[-1] if losshistory.metrics_test else []

    def _num(x):
        x = float(x)
        return x if math.isfinite(x) else None

    result = {
        "peer": "deepxde",
        "example": "diffusion_1d_inverse",
        "seed": args.seed,
        "iterations_requested": args.iterations,
        "iterations_run": iterations_run,
        "threshold": args.threshold,
        "check_every": args.check_every,
        "stop_at_first_hit": not args.no_stop,
        "first_hit_iteration": watch.hit_iteration,
        "first_hit_seconds": watch.hit_seconds,
        "first_hit_C": watch.hit_C,
        "C_final": c_final,
        "abs_error_final": abs(c_final - 1.0),
        "C_history": watch.history,
        "C_history_columns": ["iteration", "seconds", "C"],
        "train_seconds": train_seconds,
        "loop_seconds": loop_seconds,
        "pre_loop_seconds": watch.loop_begin,
        "test_eval_seconds": test_eval["seconds"],
        "test_eval_calls": test_eval["calls"],
        "iterations_per_second": iterations_run / train_seconds if train_seconds > 0 else None,
        "iterations_per_second_loop": iterations_run / loop_seconds if loop_seconds > 0 else None,
        "import_seconds": t_imported - _T_START,
        "setup_seconds": t_setup1 - t_setup0,
        "loss_train_final": [_num(v) for v in train_state.loss_train],
        "loss_train_final_step": int(losshistory.steps[-1]) if losshistory.steps else None,
        "l2_relative_error_test": _num(last_metrics[0]) if len(last_metrics) else None,
        "display_every": args.display_every,
        "float": args.float_type,
        "dtype_C": str(C.dtype).replace("torch.", ""),
        "threads": {
            "torch_num_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
            "requested": args.threads,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS"),
        },
        "versions": {
            "deepxde": dde.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "backend": dde.backend.backend_name,
        "argv": sys.argv[1:] if argv is None else list(argv),
    }
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    os.replace(tmp, args.out)
    print(
        f"deepxde diffusion_1d_inverse seed={args.seed}: {iterations_run} it in {train_seconds:.2f} s "
        f"({result['iterations_per_second']:.1f} it/s), C={c_final:.6f}, "
        f"first hit it={watch.hit_iteration} s={watch.hit_seconds}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
