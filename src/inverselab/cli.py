"""The ``inverselab`` command line: list, solve, ct-file, demo.

Bad input (unknown problem, method or parameter, malformed ``key=value``, unreadable file)
prints one line on stderr naming the fix and exits with code 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump)."""

    def error(self, message: str):  # noqa: D401
        raise _UsageError(f"{message} (see '{self.prog} --help')")


class _UsageError(Exception):
    pass


def _parse_value(text: str):
    """Command-line value: none/true/false, int, float, comma-separated list, or string."""
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if "," in text:
        return tuple(_parse_value(t) for t in text.split(","))
    return text


def _pairs(items: Sequence[str] | None, flag: str, parse: bool) -> dict:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _UsageError(f"{flag} expects key=value, got {item!r}")
        out[key.strip()] = _parse_value(value) if parse else value
    return out


def _versions() -> dict:
    import platform

    import torch

    from . import __version__

    return {
        "inverselab": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values))


def _run_method(problem, method_name: str, params: dict, x, y):
    """Reconstruct with progress; returns (estimate, history, seconds, per-sample metrics)."""
    from .methods import make_method
    from .solvers import progress

    method = make_method(method_name, problem, **params)
    start = time.perf_counter()
    with progress(method_name):
        estimate, history = method.reconstruct(y, truth=x)
    seconds = time.perf_counter() - start
    return method, estimate, history, seconds, problem.evaluate(estimate, x)


def cmd_list(args) -> int:
    from .methods import METHODS, available_methods
    from .problems import list_problems, make_problem, problem_info

    print("problems:")
    for name in list_problems():
        info = problem_info(name)
        params = ", ".join(f"{k}={v}" for k, v in info.defaults.items())
        print(f"  {name:12s} {info.description}")
        if args.verbose:
            print(f"  {'':12s} parameters: {params}")
            print(f"  {'':12s} methods: {', '.join(available_methods(make_problem(name)))}")
    print("methods:")
    for name, spec in METHODS.items():
        print(f"  {name:12s} {spec.description}")
    return 0


def cmd_solve(args) -> int:
    import torch

    from .problems import make_problem
    from .report import solve_figures
    from .runs import write_json_atomic, write_toml_atomic

    overrides = _pairs(args.set, "--set", parse=False)
    params = _pairs(args.param, "--param", parse=True)
    if args.n < 1:
        raise _UsageError(f"--n must be >= 1, got {args.n}")
    torch.manual_seed(args.seed)
    problem = make_problem(args.problem, **overrides)
    x = problem.sample_truth(args.n, seed=args.seed, dtype=torch.float64 if args.double else torch.float32)
    y = problem.simulate(x, seed=args.seed + 1)
    method, estimate, history, seconds, scores = _run_method(problem, args.method, params, x, y)
    out = Path(args.out)
    config = {
        "problem": problem.config,
        "method": {"name": method.name, **method.params},
        "n": args.n,
        "seed": args.seed,
        "dtype": str(x.dtype).replace("torch.", ""),
        "versions": _versions(),
    }
    metrics = {
        "problem": problem.name,
        "method": method.name,
        "n": args.n,
        "psnr": _mean(scores["psnr"]),
        "ssim": _mean(scores["ssim"]),
        "rel_error": _mean(scores["rel_error"]),
        "seconds_per_sample": seconds / args.n,
        "config": config,
        "per_sample": scores,
        "history": history.as_dict(),
    }
    write_toml_atomic(out / "config.toml", config)
    write_json_atomic(out / "metrics.json", metrics)
    solve_figures(out / "figures", x, y, estimate, history, method.name)
    print(
        f"{problem.name} {method.name}: PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.3f}, "
        f"rel. error {metrics['rel_error']:.3f}, {metrics['seconds_per_sample']:.3g} s/sample -> {out}"
    )
    return 0


def cmd_demo(args) -> int:
    """Classical CT comparison on ct-parallel: a table of quality and time per method."""
    from .problems import make_problem
    from .report import save_comparison, save_convergence
    from .runs import write_json_atomic

    problem = make_problem("ct-parallel", size=args.size)
    x = problem.sample_truth(args.n, seed=args.seed)
    y = problem.simulate(x, seed=args.seed + 1)
    rows, estimates, histories = [], {}, {}
    for name in ("fbp", "tikhonov", "wavelet", "tv"):
        method, estimate, history, seconds, scores = _run_method(problem, name, {}, x, y)
        rows.append(
            {
                "method": name,
                "psnr": _mean(scores["psnr"]),
                "ssim": _mean(scores["ssim"]),
                "rel_error": _mean(scores["rel_error"]),
                "seconds_per_sample": seconds / args.n,
                "params": method.params,
            }
        )
        estimates[name], histories[name] = estimate, history
    fbp_time = rows[0]["seconds_per_sample"]
    print(f"ct-parallel, {problem.config['size']}x{problem.config['size']}, {problem.config['views']} views, "
          f"{problem.config['noise']:.0%} noise, {args.n} random-ellipse phantoms (seed {args.seed})")
    print(f"{'method':10s} {'PSNR dB':>8s} {'SSIM':>6s} {'rel.err':>8s} {'s/sample':>9s} {'x FBP time':>10s}")
    for r in rows:
        print(
            f"{r['method']:10s} {r['psnr']:8.2f} {r['ssim']:6.3f} {r['rel_error']:8.3f} "
            f"{r['seconds_per_sample']:9.4f} {r['seconds_per_sample'] / fbp_time:10.0f}"
        )
    out = Path(args.out)
    write_json_atomic(out / "metrics.json", {"problem": problem.config, "n": args.n, "seed": args.seed,
                                             "rows": rows, "versions": _versions()})
    save_comparison(out / "figures" / "comparison.png", x, estimates,
                    {r["method"]: f"{r['psnr']:.2f} dB" for r in rows})
    save_convergence(out / "figures" / "convergence.png", {k: h for k, h in histories.items() if k != "fbp"})
    print(f"figures and metrics.json in {out}")
    return 0


def cmd_ct_file(args) -> int:
    """Reconstruct a measured HTC2022 sinogram; segment and score it when a truth is given."""
    from .data import read_htc2022, read_segmentation
    from .methods import make_method
    from .problems.real import scan_problem, score_segmentation, segment
    from .report import save_image
    from .runs import write_json_atomic, write_toml_atomic
    from .solvers import progress

    params = _pairs(args.param, "--param", parse=True)
    truth = read_segmentation(args.truth) if args.truth else None  # checked before the long solve
    scan = read_htc2022(args.file, image_size=args.size)
    problem = scan_problem(scan, support=not args.no_support)
    method = make_method(args.method, problem, **params)
    start = time.perf_counter()
    with progress(f"{scan.name} {args.method}"):
        estimate, history = method.reconstruct(scan.sinogram.float())
    seconds = time.perf_counter() - start
    out = Path(args.out)
    metrics = {
        "scan": scan.name,
        "file": str(args.file),
        "method": method.name,
        "seconds": seconds,
        "config": {**problem.config, "method": {"name": method.name, **method.params}},
        "history": history.as_dict(),
    }
    if truth is not None:
        metrics["mcc"] = score_segmentation(estimate, truth)
    write_toml_atomic(out / "config.toml", metrics["config"])
    write_json_atomic(out / "metrics.json", metrics)
    save_image(out / "figures" / "estimate.png", estimate, f"{scan.name} {method.name}")
    save_image(out / "figures" / "segmentation.png", segment(estimate), "Otsu segmentation")
    score = f", MCC {metrics['mcc']:.3f}" if truth is not None else ""
    print(f"{scan.name} {method.name}: {seconds:.1f} s{score} -> {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="inverselab", description="Inverse problems: classical and learned reconstruction.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list problems and methods")
    p.add_argument("-v", "--verbose", action="store_true", help="show parameters and methods per problem")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("solve", help="reconstruct simulated data of a problem with a classical method")
    p.add_argument("problem", help="problem name (see 'inverselab list')")
    p.add_argument("--method", default="tv", help="fbp, tikhonov, tv, tv-admm, wavelet or baseline")
    p.add_argument("--n", type=int, default=8, help="number of samples")
    p.add_argument("--seed", type=int, default=0, help="seed of the truths (noise uses seed + 1)")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="problem overrides, e.g. views=60")
    p.add_argument("--param", nargs="*", metavar="KEY=VALUE", help="method hyper-parameters, e.g. lam=0.01")
    p.add_argument("--double", action="store_true", help="compute in float64")
    p.add_argument("--out", required=True, help="run directory to write")
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("ct-file", help="reconstruct a measured HTC2022 .mat sinogram (FBP or TV)")
    p.add_argument("file", help="HTC2022 .mat file (MATLAB v5 or v7.3)")
    p.add_argument("--method", default="tv", help="baseline, fbp, tikhonov, tv or tv-admm")
    p.add_argument("--size", type=int, default=512, help="reconstruction grid (512 = organisers' grid)")
    p.add_argument("--truth", help="ground-truth segmentation .npy: report the MCC of the Otsu segmentation")
    p.add_argument("--no-support", action="store_true", help="do not constrain TV to the disc fitted to the data")
    p.add_argument("--param", nargs="*", metavar="KEY=VALUE", help="method hyper-parameters")
    p.add_argument("--out", required=True, help="run directory to write")
    p.set_defaults(func=cmd_ct_file)

    p = sub.add_parser("demo", help="classical CT comparison table (FBP, Tikhonov, wavelets, TV)")
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/demo")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    from .errors import InputError

    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (_UsageError, InputError) as exc:
        print(f"inverselab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"inverselab: error: {exc.strerror or exc}: {exc.filename} (check the path)", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("inverselab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
