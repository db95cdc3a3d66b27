"""The ``inverselab`` command line: list, solve, ct-file, train, evaluate, report, data, demo.

Bad input (unknown problem, method or parameter, malformed ``key=value``, unreadable file)
prints one line on stderr naming the fix and exits with code 2.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
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


def _seed(text: str) -> int:
    """A seed: an integer in [0, 2**63)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be an integer, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"seed must be in [0, 2**63), got {text}")
    return value


def _pairs(items: Sequence[str] | None, flag: str, parse: bool) -> dict:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _UsageError(f"{flag} expects key=value, got {item!r}")
        out[key.strip()] = _parse_value(value) if parse else value
    return out


def _problem(args):
    """The problem a command names: a preset (with --set overrides), or --problem FILE (a
    problem file or a run's config.toml)."""
    from .problems import make_problem
    from .problems.files import is_problem_file, load_problem

    if args.problem and args.problem_file:
        raise _UsageError("give a problem name or --problem FILE, not both")
    source = args.problem_file or args.problem
    if not source:
        raise _UsageError("name a problem (see 'inverselab list') or give --problem FILE")
    overrides = _pairs(args.set, "--set", parse=False)
    return load_problem(source, **overrides) if is_problem_file(source) else make_problem(source, **overrides)


def _run_settings(args) -> dict:
    """What a run's config.toml given as --problem says about its method, samples and seed."""
    source = args.problem_file or args.problem
    from .problems.files import is_problem_file
    from .runs import read_toml

    if not source or not is_problem_file(source):
        return {}
    spec = read_toml(source)
    method = spec.get("method")
    if not isinstance(method, dict) or not isinstance(spec.get("problem"), dict):
        return {}
    method = dict(method)
    name = method.pop("name", None)
    if "run" in spec:  # an evaluated training run: its network
        name, method = spec["run"], {}
    return {"method": name, "params": method, "n": spec.get("n"), "seed": spec.get("seed"),
            "double": spec.get("dtype") == "float64"}


def cmd_list(args) -> int:
    from .methods import METHODS, available_methods
    from .models import MODELS
    from .problems import PROBLEMS, make_problem
    from .errors import InputError
    from .training import LOSSES

    def parameters(entry, indent: str) -> None:
        for param in entry.parameters:
            print(f"{indent}{param.describe()}")

    print("problems:")
    for entry in sorted(PROBLEMS, key=lambda e: e.name):
        print(f"  {entry.name:20s} {entry.description}")
        if args.verbose:
            print(f"  {'':20s} parameters: {', '.join(f'{k}={v}' for k, v in entry.defaults.items())}")
            try:
                methods = ", ".join(available_methods(make_problem(entry.name)))
            except InputError as exc:  # presets of data sets need their location
                methods = f"(once built: {exc})"
            print(f"  {'':20s} methods: {methods}")
    sections = (("methods", METHODS), ("models", MODELS), ("losses", LOSSES))
    for title, registry in sections:
        print(f"{title}:")
        for entry in registry:
            extra = f" (default loss: {entry.extras['default_loss']})" if "default_loss" in entry.extras else ""
            print(f"  {entry.name:20s} {entry.description}{extra}")
            if args.verbose:
                parameters(entry, " " * 25)
    return 0


def _print_metrics(m: dict, out) -> None:
    if "parameters" in m and "fields" in m:  # the unknowns of an estimation problem
        found = ", ".join([f"{k} = {v['estimate']:.6g} (error {v['rel_error']:.2%})" for k, v in m["parameters"].items()]
                          + [f"{k}: rel. L2 error {v:.2%}" for k, v in m["fields"].items()])
        print(f"{m['problem']} {m['method']}: {found}; {m['seconds']:.3g} s -> {out}")
        return
    if "psnr" in m:
        scores = f"PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.3f}, rel. error {m['rel_error']:.3f}"
    else:
        scores = ", ".join(f"{name.replace('_', ' ')} {m[name]:.4g}" for name in m["scores"])
    for name in ("coverage", "interval_width"):
        if "psnr" in m and name in m:
            scores += f", {name.replace('_', ' ')} {m[name]:.4g}"
    print(f"{m['problem']} {m['method']}: {scores}, {m['seconds_per_sample']:.3g} s/sample -> {out}")


def cmd_solve(args) -> int:
    import torch

    from .jobs import solve_job

    recorded = _run_settings(args)  # a run's config.toml: make the same run again
    seed = args.seed if args.seed is not None else recorded.get("seed") or 0
    torch.manual_seed(seed)
    problem = _problem(args)
    method = args.method or recorded.get("method") or problem.default_method
    carried = recorded.get("params", {}) if method == recorded.get("method") else {}
    params = {**carried, **_pairs(args.param, "--param", parse=True)}
    dtype = torch.float64 if args.double or recorded.get("double") else torch.float32
    n = args.n if args.n is not None else recorded.get("n") or min(8, problem.truths or 8)
    _print_metrics(solve_job(problem, method, params, n, seed, args.out, dtype, args.device), args.out)
    return 0


def _training_settings(args) -> dict:
    settings = {"batch_size": args.batch_size, "lr": args.lr, "steps_per_epoch": args.steps_per_epoch,
                "seed": args.seed, "checkpoint_every": args.checkpoint_every, "keep": args.keep}
    return {k: v for k, v in settings.items() if v is not None}


def cmd_train(args) -> int:
    from .jobs import evaluate_job, train_job

    if (args.epochs is None) == (args.minutes is None):
        raise _UsageError("give either --epochs E or --minutes M")
    problem = _problem(args)
    multitask = None
    if args.multitask:
        key, sep, values = args.multitask.partition("=")
        if not sep or "," not in values:
            raise _UsageError(f"--multitask expects KEY=V1,V2,..., got {args.multitask!r}")
        multitask = (key, _parse_value(values))
    if args.ensemble is not None:
        if args.ensemble < 2 or args.resume or args.init or args.curriculum or args.multitask:
            raise _UsageError("--ensemble K needs K >= 2, and none of --resume, --init, --curriculum, --multitask")
        from pathlib import Path

        base = _training_settings(args)
        for k in range(args.ensemble):  # members differ in initialisation and data order
            member = Path(args.out) / f"member-{k}"
            train_job(problem, args.model, member, options=_pairs(args.option, "--option", parse=True), loss=args.loss,
                      loss_options=_pairs(args.loss_option, "--loss-option", parse=True), epochs=args.epochs,
                      minutes=args.minutes, data=args.data, training={**base, "seed": base.get("seed", 0) + k})
            _print_metrics(evaluate_job(member, n=args.n, seed=0), member)
        return 0
    train_job(
        problem,
        args.model,
        args.out,
        options=_pairs(args.option, "--option", parse=True),
        loss=args.loss,
        loss_options=_pairs(args.loss_option, "--loss-option", parse=True),
        epochs=args.epochs,
        minutes=args.minutes,
        curriculum=args.curriculum,
        multitask=multitask,
        data=args.data,
        resume=args.resume,
        training=_training_settings(args),
        init=args.init,
    )
    from .training.distributed import is_main_process

    if is_main_process():  # under torchrun the other ranks stop after training
        _print_metrics(evaluate_job(args.out, n=args.n, seed=0), args.out)
    return 0


def cmd_evaluate(args) -> int:
    from .jobs import evaluate_job, uq_job

    if args.uq:
        if args.set or args.symmetrize:
            raise _UsageError("--uq scores the network as trained, on its own problem; drop --set and --symmetrize")
        m = uq_job(args.run, args.uq, n=args.n, seed=args.seed, samples=args.samples, out=args.out, device=args.device)
        raw, cal = m["raw"], m["calibrated"]
        print(f"{m['problem']} {m['model']}: 90% coverage {raw['coverage_90']:.1%} (width {raw['width_90']:.4g}), "
              f"calibrated x{m['scale']:.3g}: {cal['coverage_90']:.1%} (width {cal['width_90']:.4g}); "
              f"PSNR of the mean {m['psnr_of_mean']:.2f} dB -> {args.out or args.run}")
        return 0
    metrics = evaluate_job(args.run, n=args.n, seed=args.seed, overrides=_pairs(args.set, "--set", parse=False),
                           batch_size=args.batch_size, out=args.out, device=args.device, symmetrize=args.symmetrize)
    _print_metrics(metrics, args.out or args.run)
    return 0


def cmd_average(args) -> int:
    from .jobs import average_job

    info = average_job(args.run, args.out, last=args.last, from_step=args.from_step)
    steps = info["steps"]
    print(f"averaged {len(steps)} checkpoints (steps {steps[0]}-{steps[-1]}) of {args.run} -> {args.out}")
    return 0


def cmd_stability(args) -> int:
    from .jobs import stability_job

    levels = tuple(float(v) for v in args.levels) if args.levels else None
    m = stability_job(args.run, n_sweep=args.n, n_attack=args.n_attack, levels=levels,
                      eps=tuple(float(e) for e in args.eps), steps=args.steps, tv_iters=args.tv_iters, seed=args.seed,
                      out=args.out)
    print(m["table"])
    print(f"-> {args.out or args.run}")
    return 0


def cmd_report(args) -> int:
    from .report import build_report

    path = build_report(args.runs, args.out, title=args.title)
    print(f"report with {len(args.runs)} run(s) -> {path}")
    return 0


def cmd_data_generate(args) -> int:
    from .training import generate_hdf5

    problem = _problem(args)
    path = generate_hdf5(problem, args.n, args.out, offset=args.offset)
    print(f"{args.n} {problem.name} pairs -> {path}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(quick=args.quick, out=args.out, seed=args.seed)
    return 0


def cmd_ct_file(args) -> int:
    """Reconstruct a measured HTC2022 sinogram; segment and score it when a truth is given."""
    from .studies.htc import scan_job

    m = scan_job(args.file, args.method, args.out, size=args.size, truth=args.truth, support=not args.no_support,
                 params=_pairs(args.param, "--param", parse=True))
    score = f", MCC {m['mcc']:.3f}" if "mcc" in m else ""
    print(f"{m['scan']} {m['method']}: {m['seconds']:.1f} s{score} -> {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .methods import METHODS
    from .models import MODELS
    from .training import LOSSES

    parser = _Parser(prog="inverselab", description="Inverse problems: classical and learned reconstruction.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list problems and methods")
    p.add_argument("-v", "--verbose", action="store_true", help="show parameters and methods per problem")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("solve", help="reconstruct simulated data of a problem with any method or a trained run")
    p.add_argument("problem", nargs="?", help="problem name (see 'inverselab list')")
    p.add_argument("--problem", dest="problem_file", metavar="FILE",
                   help="a problem file (TOML), or a run's config.toml (then its method, n and seed too: the same run again)")
    p.add_argument("--method", help=f"one of {', '.join(METHODS.names())}, or a training run directory (default: the "
                   "problem's own; 'inverselab list -v' shows which apply)")
    p.add_argument("--n", type=int, help="number of samples (default 8, or fewer where the problem has fewer "
                   "distinct truths: 1 for fwi-marmousi)")
    p.add_argument("--seed", type=_seed, help="seed of the truths (noise uses seed + 1; default 0)")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="problem overrides, e.g. views=60")
    p.add_argument("--param", nargs="*", metavar="KEY=VALUE", help="method hyper-parameters, e.g. lam=0.01")
    p.add_argument("--double", action="store_true", help="compute in float64")
    p.add_argument("--device", default="cpu", help="where the method runs, e.g. cuda (default cpu)")
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

    p = sub.add_parser("train", help=f"train a network ({', '.join(MODELS.names())}) on a problem")
    p.add_argument("problem", nargs="?", help="problem name (see 'inverselab list')")
    p.add_argument("--problem", dest="problem_file", metavar="FILE", help="a problem file (TOML) or a run's config.toml")
    p.add_argument("--model", required=True, choices=MODELS.names(), metavar="MODEL",
                   help="; ".join(f"{e.name}: {e.description}" for e in MODELS))
    p.add_argument("--loss", choices=LOSSES.names(), metavar="LOSS",
                   help="; ".join(f"{e.name}: {e.description}" for e in LOSSES)
                   + " (default: the model's own, see 'inverselab list')")
    p.add_argument("--ensemble", type=int, metavar="K",
                   help="train K members (seeds SEED..SEED+K-1) into OUT/member-*, for 'evaluate OUT --uq ensemble'")
    p.add_argument("--init", metavar="RUN", help="start from the weights of a finished run (cwgan: an InversionNet run)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes", type=float, help="training-time budget")
    budget.add_argument("--epochs", type=int, help="number of epochs (of --steps-per-epoch steps)")
    p.add_argument("--curriculum", metavar="PARAM", nargs="?", const="noise", choices=["noise", "views", "acceleration"],
                   help="train easy-to-hard over PARAM (default noise) ending at the problem's value")
    p.add_argument("--multitask", metavar="KEY=V1,V2,...", help="one network over several settings, e.g. views=30,60,90")
    p.add_argument("--resume", action="store_true", help="continue from the run's latest checkpoint")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="problem overrides")
    p.add_argument("--option", nargs="*", metavar="KEY=VALUE", help="model options, e.g. width=16 depth=3 dropout=0.1")
    p.add_argument("--loss-option", nargs="*", metavar="KEY=VALUE",
                   help="loss parameters, e.g. l1=1 ssim=0.5 weighting=psnr (supervised) or property_weight=1000 (property-wgan)")
    p.add_argument("--data", help="HDF5 cache of training pairs ('inverselab data generate')")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--checkpoint-every", type=int, help="also checkpoint every N steps")
    p.add_argument("--keep", type=int, help="checkpoints kept on disk (default 2; 0 keeps all, for 'inverselab average')")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--n", type=int, default=32, help="held-out samples scored after training")
    p.add_argument("--out", required=True, help="run directory")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a trained run on held-out samples (metrics.json like 'solve')")
    p.add_argument("run", help="training run directory")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="evaluate on a changed problem, e.g. noise=0.1")
    p.add_argument("--batch-size", type=int, default=1, help="images per network call (timing is per image)")
    p.add_argument("--device", help="where the network runs (default: cuda when available, else cpu)")
    p.add_argument("--symmetrize", action="store_true",
                   help="average the network over the problem's exact symmetries (radio: the half turn); one "
                        "network call per symmetry")
    p.add_argument("--out", help="where to write metrics.json and figures (default: the run)")
    p.add_argument("--uq", choices=["dropout", "ensemble", "samples"],
                   help="predictive uncertainty and its calibration instead: MC dropout, the ensemble RUN/member-* "
                        "('train --ensemble K'), or a generator's samples; writes uq-KIND.json and figures")
    p.add_argument("--samples", type=int, default=32, help="--uq dropout/samples: draws per measurement")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("average", help="average the weights of a run's last checkpoints into a new run (SWA)")
    p.add_argument("run", help="training run directory (trained with --keep 0 or a large --keep)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--last", type=int, metavar="K", help="the K latest checkpoints")
    which.add_argument("--from-step", type=int, metavar="S", help="every checkpoint from step S on")
    p.add_argument("--out", required=True, help="new run directory (score it with 'inverselab evaluate')")
    p.set_defaults(func=cmd_average)

    p = sub.add_parser("stability", help="noise sweep, worst-case perturbations and Lipschitz constants of a trained "
                                         "network beside the baseline and TV")
    p.add_argument("run", help="training run directory")
    p.add_argument("--n", type=int, default=50, help="held-out samples of the noise sweep")
    p.add_argument("--n-attack", type=int, default=10, help="held-out samples attacked")
    p.add_argument("--levels", nargs="*", help="relative noise levels (default: 1/4, 1/2, 1, 2 x the training noise)")
    p.add_argument("--eps", nargs="*", default=["0.01", "0.05"], help="perturbation sizes relative to ||y||")
    p.add_argument("--steps", type=int, default=10, help="projected gradient ascent steps")
    p.add_argument("--tv-iters", type=int, default=100, help="TV iterations (differentiated through)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--out", help="where to write stability.json and the figure (default: the run)")
    p.set_defaults(func=cmd_stability)

    p = sub.add_parser("report", help="one self-contained HTML report comparing runs")
    p.add_argument("runs", nargs="+", help="run directories (solve, train or evaluate)")
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("--title", default="inverselab report")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("data", help="datasets of training pairs")
    data_sub = p.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    g = data_sub.add_parser("generate", help="simulate pairs into an HDF5 cache (resumable)")
    g.add_argument("problem", nargs="?", help="problem name (see 'inverselab list')")
    g.add_argument("--problem", dest="problem_file", metavar="FILE", help="a problem file (TOML) or a run's config.toml")
    g.add_argument("--n", type=int, required=True)
    g.add_argument("--out", required=True, help=".h5 file")
    g.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="problem overrides")
    g.add_argument("--offset", type=int, default=0, help="index of the first pair in the training stream")
    g.set_defaults(func=cmd_data_generate)

    p = sub.add_parser("demo", help="the main job: FBP, TV, U-Net and LPD on CT, with an HTML report")
    p.add_argument("--quick", action="store_true", help="smaller and shorter (under 2 minutes)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--out", default="runs/demo")
    p.set_defaults(func=cmd_demo)
    return parser


def _check_names(args) -> None:
    """Refuse empty names where a default or the current folder would silently take their place."""
    for flag in ("out", "method", "model", "loss", "problem", "problem_file", "run", "device"):
        value = getattr(args, flag, None)
        if isinstance(value, str) and not value.strip():
            name = "--problem" if flag == "problem_file" else flag if flag in ("problem", "run") else f"--{flag}"
            hint = "use cpu (or cuda where a GPU is present)" if flag == "device" else "give a name"
            raise _UsageError(f"{name} is empty: {hint}")
    out = getattr(args, "out", None)
    if isinstance(out, str) and getattr(args, "command", "") != "report":
        target = Path(out)
        longest = max((len(part.encode()) for part in target.parts), default=0)
        if longest > 255:
            raise _UsageError(f"--out has a name of {longest} bytes; the file system allows 255 (use a shorter name)")
        if target.exists() and not target.is_dir():
            raise _UsageError(f"--out {out} is a file, not a run folder: choose another --out")
        for parent in target.parents:
            if parent.exists() and not parent.is_dir():
                raise _UsageError(f"--out {out} lies below the file {parent}: choose another --out")


_OS_HINTS = {errno.ENOSPC: "free some disk space", errno.ENAMETOOLONG: "use a shorter name",
             errno.EROFS: "choose a writable location", errno.EFBIG: "the file-size limit was reached; choose another "
             "location", errno.ENOTDIR: "a part of the path is a file"}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    from .errors import InputError

    try:
        args = build_parser().parse_args(argv)
        _check_names(args)
        return args.func(args)
    except (_UsageError, InputError) as exc:
        print(f"inverselab: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader closed the pipe (inverselab list | head -1): nothing more to say
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stdout must stay open for the interpreter's exit
        except OSError:
            pass
        return 0
    except OSError as exc:
        hint = _OS_HINTS.get(exc.errno, "check the path")
        where = f": {exc.filename}" if exc.filename else ""
        print(f"inverselab: error: {exc.strerror or exc}{where} ({hint})", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninverselab: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a fault we did not foresee: one line, the traceback on request
        if os.environ.get("INVERSELAB_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"inverselab: error: unexpected {type(exc).__name__}: {first} (INVERSELAB_DEBUG=1 shows where)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
