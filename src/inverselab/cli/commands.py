"""What each verb of the command line does, given its parsed arguments."""

from __future__ import annotations

from pathlib import Path

from .values import UsageError, pairs, parse_value

def _source(args) -> str:
    """The problem a command names: a preset's name or a file."""
    if args.problem and args.problem_file:
        raise UsageError("give a problem name or --problem FILE, not both")
    source = args.problem_file or args.problem
    if not source:
        raise UsageError("name a problem (see 'inverselab list') or give --problem FILE")
    return source


def _problem(args):
    """The problem a command names: a preset (with --set overrides), or --problem FILE (a
    problem file or a run's config.toml)."""
    from ..problems import make_problem
    from ..problems.files import is_problem_file, load_problem

    source = _source(args)
    overrides = pairs(args.set, "--set", parse=False)
    return load_problem(source, **overrides) if is_problem_file(source) else make_problem(source, **overrides)


def _run_settings(args) -> dict:
    """What a run's config.toml given as --problem says about its method, samples and seed."""
    source = _source(args)
    from ..problems.files import is_problem_file
    from ..records import read_toml

    if not source or not is_problem_file(source):
        return {}
    spec = read_toml(source, fix="correct the problem file", what="problem file")
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
    from ..methods import METHODS, available_methods
    from ..models import MODELS
    from ..problems import PROBLEMS, make_problem
    from ..errors import InputError
    from ..training import LOSSES

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

    from ..jobs import solve_job
    from ..training.distributed import is_main_process

    recorded = _run_settings(args)  # a run's config.toml: make the same run again
    seed = args.seed if args.seed is not None else recorded.get("seed") or 0
    torch.manual_seed(seed)
    problem = _problem(args)
    method = args.method or recorded.get("method") or problem.default_method
    carried = recorded.get("params", {}) if method == recorded.get("method") else {}
    params = {**carried, **pairs(args.param, "--param", parse=True)}
    dtype = torch.float64 if args.double or recorded.get("double") else torch.float32
    n = args.n if args.n is not None else recorded.get("n") or min(8, problem.truths or 8)
    metrics = solve_job(problem, method, params, n, seed, args.out, dtype, args.device, shard=True)
    if is_main_process():  # under torchrun the ranks share the samples; the main one reports
        _print_metrics(metrics, args.out)
    return 0


def _training_settings(args) -> dict:
    settings = {"batch_size": args.batch_size, "lr": args.lr, "steps_per_epoch": args.steps_per_epoch,
                "seed": args.seed, "checkpoint_every": args.checkpoint_every, "keep": args.keep}
    return {k: v for k, v in settings.items() if v is not None}


def cmd_train(args) -> int:
    from ..jobs import evaluate_job, train_job

    if (args.epochs is None) == (args.minutes is None):
        raise UsageError("give either --epochs E or --minutes M")
    problem = _problem(args)
    multitask = None
    if args.multitask:
        key, sep, values = args.multitask.partition("=")
        if not sep or "," not in values:
            raise UsageError(f"--multitask expects KEY=V1,V2,..., got {args.multitask!r}")
        multitask = (key, parse_value(values))
    if args.ensemble is not None:
        if args.ensemble < 2 or args.resume or args.init or args.curriculum or args.multitask:
            raise UsageError("--ensemble K needs K >= 2, and none of --resume, --init, --curriculum, --multitask")
        base = _training_settings(args)
        for k in range(args.ensemble):  # members differ in initialisation and data order
            member = Path(args.out) / f"member-{k}"
            train_job(problem, args.model, member, options=pairs(args.option, "--option", parse=True), loss=args.loss,
                      loss_options=pairs(args.loss_option, "--loss-option", parse=True), epochs=args.epochs,
                      minutes=args.minutes, data=args.data, training={**base, "seed": base.get("seed", 0) + k},
                      device=args.device)
            _print_metrics(evaluate_job(member, n=args.n, seed=0, device=args.device), member)
        return 0
    train_job(
        problem,
        args.model,
        args.out,
        options=pairs(args.option, "--option", parse=True),
        loss=args.loss,
        loss_options=pairs(args.loss_option, "--loss-option", parse=True),
        epochs=args.epochs,
        minutes=args.minutes,
        curriculum=args.curriculum,
        multitask=multitask,
        data=args.data,
        resume=args.resume,
        training=_training_settings(args),
        init=args.init,
        device=args.device,
    )
    from ..training.distributed import is_main_process

    if is_main_process():  # under torchrun the other ranks stop after training
        _print_metrics(evaluate_job(args.out, n=args.n, seed=0, device=args.device), args.out)
    return 0


def cmd_evaluate(args) -> int:
    from ..jobs import evaluate_job, uq_job

    if args.uq:
        if args.set or args.symmetrize:
            raise UsageError("--uq scores the network as trained, on its own problem; drop --set and --symmetrize")
        m = uq_job(args.run, args.uq, n=args.n, seed=args.seed, samples=args.samples, out=args.out, device=args.device)
        raw, cal = m["raw"], m["calibrated"]
        print(f"{m['problem']} {m['model']}: 90% coverage {raw['coverage_90']:.1%} (width {raw['width_90']:.4g}), "
              f"calibrated x{m['scale']:.3g}: {cal['coverage_90']:.1%} (width {cal['width_90']:.4g}); "
              f"PSNR of the mean {m['psnr_of_mean']:.2f} dB -> {args.out or args.run}")
        return 0
    metrics = evaluate_job(args.run, n=args.n, seed=args.seed, overrides=pairs(args.set, "--set", parse=False),
                           batch_size=args.batch_size, out=args.out, device=args.device, symmetrize=args.symmetrize)
    _print_metrics(metrics, args.out or args.run)
    return 0


def cmd_average(args) -> int:
    from ..jobs import average_job

    info = average_job(args.run, args.out, last=args.last, from_step=args.from_step)
    steps = info["steps"]
    print(f"averaged {len(steps)} checkpoints (steps {steps[0]}-{steps[-1]}) of {args.run} -> {args.out}")
    return 0


def cmd_stability(args) -> int:
    from ..jobs import stability_job

    m = stability_job(args.run, n_sweep=args.n, n_attack=args.n_attack, levels=tuple(args.levels or ()) or None,
                      eps=tuple(args.eps), steps=args.steps, tv_iters=args.tv_iters, seed=args.seed,
                      out=args.out)
    print(m["table"])
    print(f"-> {args.out or args.run}")
    return 0


def cmd_report(args) -> int:
    from ..report import build_report

    path = build_report(args.runs, args.out, title=args.title)
    print(f"report with {len(args.runs)} run(s) -> {path}")
    return 0


def cmd_data_generate(args) -> int:
    from ..training import generate_hdf5
    from ..training.distributed import is_main_process

    problem = _problem(args)
    path = generate_hdf5(problem, args.n, args.out, offset=args.offset, shard=True)
    if is_main_process():  # under torchrun the ranks share the pairs; the main one reports
        print(f"{args.n} {problem.name} pairs -> {path}")
    return 0


def cmd_demo(args) -> int:
    from ..demo import run_demo

    run_demo(quick=args.quick, out=args.out, seed=args.seed)
    return 0


def cmd_ct_file(args) -> int:
    """Reconstruct a measured scan: an HTC2022 ``.mat`` (segmented, and scored when a truth is
    given), or a parallel-beam sinogram or projection stack."""
    from ..errors import check_choice
    from ..methods import METHODS

    check_choice("method", args.method, METHODS.names())  # a bad name first, before any file is read
    params = pairs(args.param, "--param", parse=True)
    name = str(args.file).lower()
    if not (name.endswith((".mat", ".npy", ".tif", ".tiff", ".h5", ".hdf5")) or ".h5:" in name or ".hdf5:" in name):
        raise UsageError(f"cannot read {args.file}: ct-file takes an HTC2022 .mat (MATLAB) file, or a parallel-beam "
                         ".npy, .tif/.tiff or file.h5:dataset")
    if name.endswith(".mat"):
        from ..studies.htc import scan_job

        m = scan_job(args.file, args.method, args.out, size=args.size or 512, truth=args.truth,
                     support=not args.no_support, params=params)
        score = f", MCC {m['mcc']:.3f}" if "mcc" in m else ""
        print(f"{m['scan']} {m['method']}: {m['seconds']:.1f} s{score} -> {args.out}")
        return 0
    from ..studies.measured_ct import ScanSettings, measured_scan_job

    if args.truth:
        raise UsageError("--truth applies to HTC2022 .mat files; compare a parallel-beam result with estimate.npy")
    centre = args.centre
    if centre != "auto":
        try:
            centre = float(centre)
        except ValueError:
            raise UsageError(f"--centre takes a number of detector elements or auto, got {centre!r}") from None
    settings = ScanSettings(angles=args.angles, angles_file=args.angles_file, layout=args.layout, rows=args.rows,
                            transmission=args.transmission, flat=args.flat, dark=args.dark,
                            open_region=args.open_region, centre=centre, stripes=args.stripes, size=args.size)
    m = measured_scan_job(args.file, args.method, args.out, settings, params)
    print(f"{m['scan']} {m['method']}: {m['n']} slice(s), centre of rotation {m['centre']:.2f} "
          f"({m['centre_offset']:+.2f} from the detector middle), {m['seconds']:.1f} s -> {args.out}")
    return 0
