"""The work behind the command line: solve, train, evaluate and the demo, each writing a run
directory (``config.toml``, ``metrics.json``, ``figures/``, ``samples.safetensors``).

Every job draws its test truths with seed ``seed`` from the problem's "test" split and its
noise with seed ``seed + 1``, so classical and learned runs with the same seed see the same
measurements.
"""

from __future__ import annotations

import platform
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from ._tensor import check_device
from .errors import InputError, check_count
from .methods.base import Method
from .problems import make_problem
from .problems.base import Problem
from .records import TRAINED_CONFIG, TRAINING_HISTORY, read_json, read_toml
from .runs import run_lock, toml_view, write_json_atomic, write_toml_atomic
from .solvers.history import History

Tensor = torch.Tensor

__all__ = ["solve_job", "train_job", "evaluate_job", "uq_job", "stability_job", "versions",
           "test_pairs"]

SAMPLES_KEPT = 4  # truths/estimates stored per run for reports


def versions() -> dict:
    """Software versions and threads, recorded in every run."""
    from . import __version__

    return {"inverselab": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "threads": torch.get_num_threads()}


def test_pairs(problem: Problem, n: int, seed: int, dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """Held-out truths and their measurements (:meth:`Problem.test_data`): test split ``seed``,
    noise ``seed + 1`` (an estimation problem: its true unknowns and the observations of
    ``seed``)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InputError(f"--n must be >= 1, got {n}")
    return problem.test_data(n, seed, dtype)


def _check_sample_memory(problem: Problem, n: int, dtype: torch.dtype, device: str, copies: int = 6,
                         flag: str = "--n") -> None:
    """Refuse ``n`` samples whose truths, measurements and ``copies`` work arrays per sample
    (estimates, residuals, solver state) cannot fit in memory, from the operator's shapes."""
    from math import prod

    from .preflight import check_memory

    operator = getattr(problem, "operator", None)
    shapes = [getattr(operator, "domain_shape", None), getattr(operator, "range_shape", None)]
    if not all(isinstance(s, tuple) for s in shapes):
        return
    itemsize = torch.finfo(dtype).bits // 8
    per_sample = itemsize * copies * sum(prod(s) for s in shapes)
    for where in {"cpu", device}:
        check_memory(n * per_sample, f"{n} samples of {problem.name}", f"lower {flag}", where)


def _to(value: Any, device: str | torch.device) -> Any:
    return value.to(device) if isinstance(value, Tensor) else value


def solve_job(problem: Problem, method: str | Method, params: dict, n: int, seed: int, out: str | Path,
              dtype: torch.dtype = torch.float32, device: str = "cpu", write_config: bool = True,
              extra: dict | None = None, extra_config: dict | None = None, shard: bool = False,
              timing_batch: int | None = None) -> dict:
    """Reconstruct ``n`` simulated samples of ``problem`` with ``method`` (a registered name, a
    training run directory, or a bound :class:`~inverselab.methods.Method`) on ``device``, and
    score them; returns the metrics, also written to ``out/metrics.json`` with the figures and
    (``write_config``) ``out/config.toml``.

    The data are simulated on the CPU, so every device sees the same measurements. A method
    with a ``seed`` parameter is seeded with ``seed`` unless ``params`` names one.

    ``timing_batch``: also time the method by the timing protocol (:mod:`inverselab.timing`:
    a warm-up, then the median, min and max of 5 calls) on the first ``timing_batch``
    measurements and on one, recorded as ``timing`` in the metrics (per batch size).

    ``shard``: under ``torchrun`` (every rank calls this), each rank reconstructs its
    contiguous block of the ``n`` samples (:func:`~inverselab.training.distributed.block`;
    bare ``cuda`` is GPU ``LOCAL_RANK`` modulo the GPU count) and the main rank gathers the
    estimates and writes the run as one process would, with the wall time of the slowest rank
    and the blocks' histories merged (:func:`_merge_histories`); the other ranks write
    nothing, and every rank returns the metrics. The estimates equal one process's for
    methods that treat each sample on its own; a method that stops on a tolerance over the
    whole batch, or draws random numbers for the whole batch, does so per block. An
    estimation problem (one system, not a batch of samples) is refused. In one process
    ``shard`` changes nothing. From the command line: ``torchrun --nproc_per_node=4 -m
    inverselab -- solve ... --n N`` (the ``--`` keeps torchrun from taking ``--n`` for one of
    its own options).
    """
    from .methods import make_method

    device = str(check_device(device))
    bound = method if isinstance(method, Method) else make_method(method, problem, **params)
    _check_sample_memory(problem, n, dtype, device)
    x, y = test_pairs(problem, n, seed, dtype)  # bad input is refused before the run folder exists
    if shard:
        from .training.distributed import world_size

        if world_size() > 1:
            return _solve_sharded(problem, bound, params, x, y, n, seed, Path(out), dtype, device, write_config, extra,
                                  extra_config)
    if timing_batch is not None:
        check_count("timing batch size", timing_batch)
    with run_lock(out):
        (Path(out) / "metrics.json").unlink(missing_ok=True)  # complete again only once this run is scored
        return _solve(problem, bound, params, x, y, n, seed, Path(out), dtype, device, write_config, extra, extra_config,
                      timing_batch)


def _solve(problem: Problem, bound: Method, params: dict, x: Any, y: Any, n: int, seed: int, out: Path,
           dtype: torch.dtype, device: str, write_config: bool, extra: dict | None, extra_config: dict | None,
           timing_batch: int | None = None) -> dict:
    _seed_method(bound, params, seed)
    estimate, history, seconds = _reconstruct(bound, x, y, device, bound.name)
    if timing_batch is not None and isinstance(y, Tensor):
        extra = {**(extra or {}), "timing": _protocol_timing(bound, y, device, min(timing_batch, y.shape[0]))}
    return _record(problem, bound, x, y, estimate, history, seconds, n, seed, out, dtype, device, write_config, extra,
                   extra_config)


def _seed_method(bound: Method, params: dict, seed: int) -> None:
    """Seed a method that takes a ``seed`` with the run's, unless ``params`` names one."""
    if "seed" in bound.accepted() and "seed" not in params:
        bound.params.setdefault("seed", seed)


def _reconstruct(bound: Method, x: Any, y: Any, device: str, label: str | None) -> tuple[Any, History, float]:
    """Run ``bound`` on ``y`` (``x`` feeds its history) on ``device``; returns the estimate and
    history on the CPU and the seconds of the timed call (``label``: its progress bar, None for
    none)."""
    from .solvers import progress

    try:
        bound.to(device)
        x_dev, y_dev = _to(x, device), _to(y, device)
    except (RuntimeError, AssertionError) as exc:  # no such device, or torch built without it
        raise InputError(f"--device {device}: {str(exc).splitlines()[0]} (use --device cpu)") from None
    try:
        bound.warm_up(y_dev)
        start = time.perf_counter()
        with progress(label):
            estimate, history = bound.reconstruct(y_dev, truth=x_dev)
        seconds = time.perf_counter() - start
    finally:  # scores and figures run on the CPU
        bound.to("cpu")
    if history.interval is not None:
        history.interval = tuple(t.cpu() for t in history.interval)
    return _to(estimate, "cpu"), history, seconds


def _protocol_timing(bound: Method, y: Tensor, device: str, batch: int) -> dict:
    """Seconds of ``bound`` on the first ``batch`` measurements and on one, by the timing
    protocol; plain values per batch size."""
    from .solvers import progress
    from .timing import time_batches

    timings = {}
    try:
        bound.to(device)
        y_dev = _to(y, device)
        with torch.no_grad(), progress(None):
            for b in sorted({batch, 1}, reverse=True):
                timings[str(b)] = time_batches(lambda b=b: bound.reconstruct(y_dev[:b]), b, device=device).as_dict()
    finally:
        bound.to("cpu")
    return timings


def _record(problem: Problem, bound: Method, x: Any, y: Any, estimate: Any, history: History, seconds: float, n: int,
            seed: int, out: Path, dtype: torch.dtype, device: str, write_config: bool, extra: dict | None,
            extra_config: dict | None) -> dict:
    """Write the run's ``config.toml`` (``write_config``) and score and write the rest
    (:func:`_write_run`); returns the metrics."""
    out = Path(out)
    config = {"problem": problem.config, "method": bound.config(), "n": n, "seed": seed,
              "dtype": str(dtype).replace("torch.", ""), "device": str(device), "versions": versions(),
              **(extra_config or {})}
    if write_config:
        write_toml_atomic(out / "config.toml", config)
    return _write_run(out, problem, bound.name, x, y, estimate, history, seconds, config, {"seed": seed, **(extra or {})})


def _solve_sharded(problem: Problem, bound: Method, params: dict, x: Any, y: Any, n: int, seed: int, out: Path,
                   dtype: torch.dtype, device: str, write_config: bool, extra: dict | None,
                   extra_config: dict | None) -> dict:
    """:func:`_solve` shared out over the ranks of ``torchrun`` (see :func:`solve_job`)."""
    from .training.distributed import block, broadcast_from_main, gather_to_main, joined

    if not isinstance(y, Tensor):
        raise InputError(f"{problem.name} solves one system, not a batch of samples to share out: run "
                         "'inverselab solve' without torchrun")
    _seed_method(bound, params, seed)
    with joined("cpu") as ctx:
        share = block(n, ctx.rank, ctx.world)
        rows = slice(share.start, share.stop)
        metrics = None
        with run_lock(out) if ctx.main else nullcontext():
            if ctx.main:
                (out / "metrics.json").unlink(missing_ok=True)  # complete again only once this run is scored
            piece = None
            if share:
                local = f"cuda:{ctx.local % torch.cuda.device_count()}" if device == "cuda" else device
                truth = None if x is None else x[rows]
                piece = _reconstruct(bound, truth, y[rows], local, bound.name if ctx.main else None)
            pieces = [p for p in gather_to_main(piece, ctx) or [] if p is not None]
            if ctx.main:
                estimate = torch.cat([p[0] for p in pieces])
                history = _merge_histories([p[1] for p in pieces], [p[0].shape[0] for p in pieces])
                metrics = _record(problem, bound, x, y, estimate, history, max(p[2] for p in pieces), n, seed, out,
                                  dtype, device, write_config, extra, extra_config)
        return broadcast_from_main(metrics, ctx)


def _merge_histories(histories: list[History], sizes: list[int]) -> History:
    """One history for the blocks of a sharded run (``sizes`` samples each), as one process
    over the whole batch records it: per iteration the sample-weighted mean PSNR and objective,
    the largest criterion and the slowest block's time; a block that stopped earlier keeps its
    last values. The iterations, stop reason and objective iterations are those of the block
    that ran longest; the intervals are joined."""
    if len(histories) == 1:
        return histories[0]
    longest = max(histories, key=lambda h: h.iterations)
    intervals = [h.interval for h in histories]
    interval = None
    if all(i is not None for i in intervals):
        interval = (torch.cat([i[0] for i in intervals]), torch.cat([i[1] for i in intervals]))

    def merged(field: str, weighted: bool) -> list[float]:
        kept = [(getattr(h, field), size) for h, size in zip(histories, sizes) if getattr(h, field)]
        if not kept:
            return []
        length = max(len(values) for values, _ in kept)
        columns = zip(*(values + values[-1:] * (length - len(values)) for values, _ in kept))
        if not weighted:
            return [max(column) for column in columns]
        total = sum(size for _, size in kept)
        return [sum(v * size for v, (_, size) in zip(column, kept)) / total for column in columns]

    return History(seconds=merged("seconds", False), objective=merged("objective", True),
                   objective_iters=list(longest.objective_iters), psnr=merged("psnr", True),
                   criterion=merged("criterion", False), iterations=longest.iterations,
                   stop_reason=longest.stop_reason, interval=interval)


def _write_run(out: Path, problem: Problem, method: str, x: Any, y: Any, estimate: Any, history: History,
               seconds: float, config: dict, extra: dict | None = None) -> dict:
    """Score ``estimate`` against ``x`` and write the figures, the kept arrays and, last (so that
    a run stopped on the way has none and reports refuse it), ``metrics.json`` into ``out``;
    returns the metrics."""
    from .report import problem_figures
    from .runs import write_atomic
    from .training.checkpoint import safetensors_bytes

    n = x.shape[0] if isinstance(x, Tensor) else 1
    if isinstance(estimate, Tensor) and not bool(torch.isfinite(estimate).all()):
        bad = int((~torch.isfinite(estimate)).reshape(estimate.shape[0], -1).any(1).sum())
        raise InputError(f"{method} returned NaN or infinite values for {bad} of {estimate.shape[0]} samples: "
                         "change its parameters (e.g. more regularisation or fewer iterations)")
    metrics = {"problem": problem.name, "method": method, "n": n, **problem.summarize(estimate, x, history, y),
               "seconds_per_sample": seconds / n, "images_per_second": n / seconds if seconds > 0 else float("inf"),
               "config": config, **(extra or {})}
    problem_figures(problem, out / "figures", x, y, estimate, history, method)
    name, arrays = problem.kept_arrays(x, estimate, SAMPLES_KEPT)
    if arrays:
        write_atomic(out / name, safetensors_bytes(arrays, {}))
    write_json_atomic(out / "metrics.json", metrics)  # last: a run folder with metrics.json is complete
    return metrics


def train_job(
    problem: Problem,
    model_name: str,
    out: str | Path,
    *,
    options: dict | None = None,
    loss: str | None = None,
    loss_options: dict | None = None,
    epochs: int | None = None,
    minutes: float | None = None,
    curriculum: str | None = None,
    multitask: tuple[str, tuple] | None = None,
    data: str | Path | None = None,
    resume: bool = False,
    training: dict | None = None,
    init: str | Path | None = None,
    device: str | torch.device | None = None,
) -> dict:
    """Train a network on ``problem`` into run directory ``out``; returns the run config.

    The config (problem, model, loss, schedule, optimisation settings, versions) is written to
    ``out/config.toml`` before training starts, so an interrupted run resumes from it.
    ``loss`` defaults to the model's own (:func:`~inverselab.models.default_loss`), with ``loss_options`` its parameters. ``init`` is a finished run whose weights start the training: the same
    architecture, or a trained InversionNet for a ``cwgan`` generator. ``device`` defaults to
    this rank's GPU when there is one, else the CPU.

    ``out`` is locked while training (a second process is refused), and a finished run's
    ``metrics.json`` is removed first, so a run stopped on the way is never taken for complete.
    ``resume`` needs a run that was started (its ``config.toml``); it continues from the latest
    checkpoint, or from the start when none was written yet.
    """
    from .models import build_model
    from .models.registry import default_loss
    from .training import Curriculum, HDF5Pairs, MultiTask, Trainer, TrainingConfig, latest_checkpoint, make_loss, make_task
    from .training.distributed import is_main_process, teardown

    out = Path(out)
    if device is not None:
        device = check_device(device)
    if resume and not (out / "config.toml").is_file():
        raise InputError(f"--resume: {out} holds no started training run (no config.toml); drop --resume")
    loss = loss or default_loss(model_name)
    settings = TrainingConfig(**(training or {}))
    config: dict[str, Any] = {
        "problem": problem.config,
        "model": {"name": model_name, "options": options or {}},
        "loss": {"name": loss, **({"options": loss_options} if loss_options else {})},
        "init": str(init) if init else None,
        "budget": {"epochs": epochs, "minutes": minutes},
        "schedule": {"curriculum": curriculum, "multitask": list(multitask) if multitask else None},
        "data": str(data) if data else None,
        "training": settings.__dict__,
        "versions": versions(),
    }
    if resume:
        stored = read_toml(out / "config.toml", TRAINED_CONFIG, "drop --resume and train into a new --out")
        for key in ("problem", "model", "loss", "schedule"):
            if key in stored and stored[key] != toml_view(config[key]):
                raise InputError(f"--resume: {out} was trained with a different {key} ({stored[key]}); drop --resume or use another --out")
    _check_sample_memory(problem, settings.batch_size, torch.float32, str(device or "cpu"), copies=4,
                         flag="--batch-size")
    torch.manual_seed(settings.seed)
    model = build_model(model_name, problem, **(options or {}))
    if init and not (resume and latest_checkpoint(out / "checkpoints")):
        _warm_start(model, Path(init))
    source = HDF5Pairs(data, problem) if data else None
    target = make_task(problem, settings.val_size, source=source)
    if curriculum:
        tasks = Curriculum.over(problem, curriculum, val_size=settings.val_size)
        tasks.stages[-1] = target
    elif multitask:
        key, values = multitask
        base = {k: v for k, v in problem.config.items() if k != "problem"}
        tasks = MultiTask([make_task(make_problem(problem.name, **{**base, key: v}), settings.val_size, name=f"{key}={v}")
                           for v in values], seed=settings.seed)
    else:
        tasks = target
    trainer = Trainer(model, tasks, make_loss(loss, **(loss_options or {})), out=out, config=settings, device=device)
    main = is_main_process()
    try:
        with run_lock(out) if main else nullcontext():
            if main:
                (out / "metrics.json").unlink(missing_ok=True)  # complete again only once scored
                write_toml_atomic(out / "config.toml", config)
            trainer.fit(epochs=epochs, minutes=minutes, resume=resume)
    finally:
        teardown()
    return config


def _warm_start(model: torch.nn.Module, run: Path) -> None:
    """Start ``model`` from the weights of finished run ``run``."""
    from .training import load_weights

    weights = run / "model.safetensors"
    if not weights.is_file():
        raise InputError(f"--init {run}: no model.safetensors there; give a finished training run")
    state = load_weights(weights)
    if hasattr(model, "warm_start"):
        model.warm_start(state)
    else:
        load_weights(weights, model)


def average_job(run: str | Path, out: str | Path, last: int | None = None, from_step: int | None = None) -> dict:
    """Average the weights of a run's kept checkpoints into a new run ``out`` (stochastic
    weight averaging after the fact): the ``last`` latest, or all from step ``from_step`` on.

    ``out`` gets the run's ``config.toml`` with an ``[average]`` table (source run and steps),
    its ``training.json`` and the averaged ``model.safetensors``; score it with
    ``inverselab evaluate``. Returns the ``[average]`` table.
    """
    import shutil

    from .training.checkpoint import average_weights, checkpoint_records, save_weights

    run, out = Path(run), Path(out)
    if (last is None) == (from_step is None):
        raise InputError("give either last (the number of latest checkpoints) or from_step")
    if last is not None and last < 1:
        raise InputError(f"last must be >= 1, got {last}")
    if not (run / "config.toml").exists():
        raise InputError(f"{run} is not a training run (no config.toml)")
    config = read_toml(run / "config.toml", TRAINED_CONFIG, "train the run again, or restore the file it wrote")
    if out.resolve() == run.resolve():
        raise InputError("--out must be a new run directory, not the run itself")
    records = checkpoint_records(run / "checkpoints")
    chosen = records[-last:] if last is not None else [r for r in records if r[0] >= from_step]
    if not chosen:
        raise InputError(f"{run}/checkpoints holds no checkpoints {'at all' if last else f'from step {from_step}'}: "
                         "train with --keep 0 to keep every checkpoint")
    weights = average_weights([path for _, path in chosen])
    config["average"] = {"run": str(run), "steps": [step for step, _ in chosen]}
    write_toml_atomic(out / "config.toml", config)
    if (run / "training.json").is_file():
        shutil.copyfile(run / "training.json", out / "training.json")
    save_weights(out / "model.safetensors", weights)
    return config["average"]


def evaluate_job(run: str | Path, n: int = 100, seed: int = 0, overrides: dict | None = None, batch_size: int = 1,
                 out: str | Path | None = None, device: str | None = None, symmetrize: bool = False,
                 problem: Problem | None = None) -> dict:
    """Score the network of a training run on ``n`` held-out samples, through the same path as
    :func:`solve_job` (``method`` is the model name), plus the throughput in images per second
    at ``batch_size``, the timing protocol's seconds at ``batch_size`` and 1 (``timing``) and
    the training time; writes ``metrics.json`` and the figures in ``out``
    (default the run directory; its ``config.toml`` is left alone). The network runs on
    ``device`` (default CUDA when available); ``symmetrize`` averages it over the problem's
    exact symmetries (:class:`~inverselab.models.Symmetrized`). ``problem`` scores it on
    another problem than the one its config describes (one built in Python, or other data)."""
    from .methods.trained import TrainedMethod

    run = Path(run)
    if batch_size < 1:
        raise InputError(f"batch size must be >= 1, got {batch_size}")
    device = str(check_device(device or ("cuda" if torch.cuda.is_available() else "cpu")))
    method = TrainedMethod.from_run(run, problem=problem, overrides=overrides, device=device, batch_size=batch_size,
                                    symmetrize=symmetrize)
    problem = method.problem
    extra: dict[str, Any] = {"training_run": str(run)}
    training = run / "training.json"
    if training.exists():
        hist = read_json(training, TRAINING_HISTORY, "train the run again, or restore the file it wrote")["history"]
        if hist:
            extra["training_seconds"] = hist[-1]["seconds"]
            extra["training_steps"] = hist[-1]["step"]
    extra_config = {"run": str(run), "batch_size": batch_size,
                    "symmetrized": [sym.name for sym in problem.symmetries] if symmetrize else []}
    return solve_job(problem, method, {}, n, seed, Path(out) if out is not None else run, device=device,
                     write_config=False, extra=extra, extra_config=extra_config, timing_batch=batch_size)


UQ_KINDS = ("dropout", "ensemble", "samples")


def uq_job(run: str | Path, kind: str, n: int = 100, seed: int = 0, samples: int = 32, val_size: int = 100,
           out: str | Path | None = None, device: str | None = None) -> dict:
    """Predictive uncertainty of a trained network and its calibration on ``n`` held-out samples.

    ``kind`` is ``"dropout"`` (Monte Carlo dropout of the run's network), ``"ensemble"`` (the
    runs ``RUN/member-*`` made by ``inverselab train --ensemble K``) or ``"samples"`` (draws of a
    conditional generator). A post-hoc scale of the standard deviation is fitted on ``val_size``
    validation pairs (the training stream's validation seeds, disjoint from the test set) so
    that 90 % intervals cover 90 % there; coverage, width and the calibration curve are
    reported before and after it. Writes ``uq-<kind>.json`` and ``figures/uq-<kind>-*.png`` in
    ``out`` (default: the run); for an ensemble also ``metrics.json`` of its mean, so the
    directory enters reports like a run.
    """
    from .errors import check_choice
    from .metrics import psnr
    from .models import load_run
    from .report.uq import calibration_plot, uncertainty_maps
    from .training.data import VALIDATION_SEED, OnTheFly
    from .uq import LEVELS, calibration_curve, coverage, ensemble, fit_scale, generator_samples, mc_dropout, standardised_errors

    check_choice("--uq", kind, UQ_KINDS)
    run = Path(run)
    device = str(check_device(device or ("cuda" if torch.cuda.is_available() else "cpu")))
    if kind == "ensemble":
        members = sorted(p for p in run.glob("member-*") if p.is_dir())
        if len(members) < 2:
            raise InputError(f"{run} holds {len(members)} ensemble members (member-*); train them with "
                             "'inverselab train ... --ensemble K --out RUN'")
        trained = [load_run(m, device=device) for m in members]
        problem, networks = trained[0].problem, [t.network for t in trained]
        predict = lambda y: ensemble(networks, y.to(device))  # noqa: E731
        name = f"{trained[0].name} ensemble of {len(members)}"
    else:
        trained = load_run(run, device=device)
        problem = trained.problem
        fn = mc_dropout if kind == "dropout" else generator_samples
        predict = lambda y: fn(trained.network, y.to(device), samples=samples, seed=seed)  # noqa: E731
        name = f"{trained.name}, {kind} ({samples} draws)"
    validation = OnTheFly(problem, val_size, offset=VALIDATION_SEED).get(list(range(val_size)))
    scale = fit_scale(predict(validation.y), validation.truth.to(device))
    x, y = test_pairs(problem, n, seed)
    start = time.perf_counter()
    pred = predict(y)
    seconds = time.perf_counter() - start
    x = x.to(pred.mean.device)
    rows = {}
    for label, s in (("raw", 1.0), ("calibrated", scale)):
        low, high = pred.interval(0.9, s)
        rows[label] = {"coverage_90": float(coverage(pred, x, 0.9, s).mean()),
                       "width_90": float((high - low).mean()),
                       "curve": calibration_curve(pred, x, LEVELS, s),
                       "standardised_error_std": float((standardised_errors(pred, x) / s).std())}
    out = Path(out) if out is not None else run
    figures = out / "figures"
    uncertainty_maps(figures / f"uq-{kind}-maps.png", x.cpu(), pred.mean.cpu(), pred.std.cpu(), scale, title=name)
    calibration_plot(figures / f"uq-{kind}-calibration.png", LEVELS,
                     {"raw": rows["raw"]["curve"], f"calibrated (x {scale:.2f})": rows["calibrated"]["curve"]}, title=name)
    metrics = {"problem": problem.name, "uq": kind, "model": name, "n": n, "seed": seed, "samples": samples,
               "val_size": val_size, "scale": scale, "levels": list(LEVELS), **rows,
               "psnr_of_mean": float(psnr(pred.mean, x, problem.data_range)), "seconds_per_sample": seconds / n,
               "config": {"problem": problem.config, "run": str(run), "device": device, "versions": versions()}}
    write_json_atomic(out / f"uq-{kind}.json", metrics)
    if kind == "ensemble":  # the ensemble directory has no metrics of its own: score its mean like a network
        from .solvers.history import History

        history = History(seconds=[seconds], iterations=1, stop_reason="direct", interval=pred.interval(0.9, scale))
        _write_run(out, problem, name, x.cpu(), y, pred.mean.cpu(), history, seconds, metrics["config"])
    return metrics


def stability_job(run: str | Path, n_sweep: int = 50, n_attack: int = 10, levels: tuple[float, ...] | None = None,
                  eps: tuple[float, ...] = (0.01, 0.05), steps: int = 10, tv_iters: int = 100, seed: int = 0,
                  out: str | Path | None = None) -> dict:
    """Stability of a run's network beside the problem's baseline and TV (when the problem has
    one): PSNR over noise levels (default 1/4, 1/2, 1 and 2 times the training noise), the
    PSNR drop under worst-case perturbations of relative size ``eps`` and local Lipschitz
    constants. Writes ``stability.json`` and ``figures/stability.png`` in ``out`` (default: the
    run). TV runs ``tv_iters`` iterations with its graph kept, so the attack can differentiate
    through it.
    """
    from .analysis.stability import stability_markdown, stability_table
    from .report.stability import stability_figure
    from .models import load_run
    from .solvers import tv_pdhg

    run = Path(run)
    trained = load_run(run)
    problem, network = trained.problem, trained.network.eval()
    noise = float(getattr(problem.noise, "sigma", 0.0))
    if levels is None:
        if not noise > 0:
            raise InputError("the problem has no noise level to scale: pass the noise levels explicitly")
        levels = tuple(noise * f for f in (0.25, 0.5, 1.0, 2.0))
    methods = {"baseline": problem.baseline_fn}
    if "tv" in problem.methods:
        tv = {k: v for k, v in problem.methods["tv"].items() if k not in ("iters", "tol")}
        methods["tv"] = lambda y: tv_pdhg(problem.operator, y, iters=tv_iters, tol=0.0, differentiable=True, **tv)[0]
    methods[trained.name] = network
    result = stability_table(problem, methods, levels, eps, n_sweep=n_sweep, n_attack=n_attack, steps=steps, seed=seed)
    out = Path(out) if out is not None else run
    stability_figure(out / "figures" / "stability.png", result, title=f"{problem.name}: {trained.name}")
    metrics = {"problem": problem.name, "run": str(run), **result, "table": stability_markdown(result),
               "config": {"problem": problem.config, "n_sweep": n_sweep, "n_attack": n_attack, "steps": steps,
                          "tv_iters": tv_iters, "seed": seed, "versions": versions()}}
    write_json_atomic(out / "stability.json", metrics)
    return metrics
