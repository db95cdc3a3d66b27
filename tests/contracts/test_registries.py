"""Contracts of the registries, parametrised from the registries themselves (test ids are the
registered names; no list of problems, methods, models or losses is kept here):

1. every problem builds at a tiny size, simulates finite data and scores its baseline (or, for
   an estimation problem, its truth); the truth scored against itself is perfect;
2. every method that applies to a problem runs on it and returns ``(x, History)`` of the
   right type and shape, with a finite value the problem can score;
3. every model trains one step on the first problem it fits, saves, loads back and scores;
4. the problems' own linear operators are dot-tested from the registry by
   ``tests/operators/test_adjoints_all.py`` (not repeated here): this checks that its selection
   (presets with a ``size``) misses none, and dot-tests linear operators nested in forward models;
5. every loss builds with its defaults, and every entry has a description and typed
   parameters whose defaults are valid.

Tiny sizes and fast settings are derived from the declared parameters by name
(:func:`tiny_overrides`, :func:`fast_params`), never from the names of entries.
"""

from __future__ import annotations

import json
import keyword
import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch

import inverselab as il
from inverselab.errors import InputError
from inverselab.methods import METHODS, Method, available_methods, make_method
from inverselab.models import MODELS, build_model
from inverselab.operators.base import LinearOperator, dottest
from inverselab.problems import (
    PROBLEMS,
    Estimate,
    EstimationProblem,
    Observations,
    Problem,
)
from inverselab.registry import Entry, Parameter
from inverselab.solvers import History
from inverselab.training import LOSSES, Loss, make_loss

# -- tiny sizes and fast settings, by parameter name ------------------------------------------

#: Small values of size-like parameters of problems and models, applied where the declared
#: default (or tuned value) is larger. Chosen so that every preset stays valid: images of 16
#: pixels (presets need >= 8), an odd blur kernel below that, a few CT views (ct-htc's views
#: follow its ``arc`` in degrees, one every 0.5 degree), four seismic shots and a short record
#: (s), a wave-speed grid of 40 cells of 10 m run for 100 steps of 2 ms (time for a wave to
#: cross it), and a few samples/observations/sensors/antennas. No value is keyed by problem.
TINY = {
    # problems
    "size": 16, "views": 8, "arc": 3.0, "kernel_size": 5, "antennas": 8, "snapshots": 2,
    "samples": 32, "observations": 32, "grid": 12, "cells": 40, "steps": 100, "sensors": 4,
    "shots": 4, "record": 0.2,  # 4 shots: fwi-marmousi's tuned FWI draws batches of 4
    "iters": 3,  # presets whose tuned method budget is a parameter (joint-*, fwi-*)
    # models (network widths and depths, unrolled iterations, POD basis, latent sizes)
    "width": 8, "critic_width": 8, "depth": 2, "layers": 2, "iterations": 2, "memory": 2,
    "primal": 2, "dual": 2, "cg_iters": 2, "latent": 8, "noise_dim": 8, "mean_samples": 2,
    "modes": 4,  # POD modes, at most the (tiny) number of POD samples
}

#: Caps of iteration-like (and a few cost-like) parameters of methods and losses. Counts stay
#: valid: MCMC needs 2 chains and burn_in < steps; a PINN records at least once.
FAST = {
    "iters": 3, "steps": 4, "adam_steps": 3, "lbfgs_steps": 2, "lbfgs_chunk": 2, "iters_per_band": 1,
    "cg_iters": 2, "deviation_iters": 2, "rounds": 1, "restarts": 2, "chains": 2, "burn_in": 1, "thin": 1,
    "segments": 2, "collocation": 16, "record_every": 1, "critic_steps": 1,
    "width": 8, "hidden": 8, "cells": 8,  # networks inside methods (PINN, RNN), grids of adjoint solvers
}

#: Settings of the one-step training runs.
TRAINING = {"batch_size": 2, "steps_per_epoch": 1, "val_size": 2, "seed": 0}


def _capped(value: Any, cap: float) -> Any:
    """``value`` (a number, or a sequence of numbers such as per-band budgets) no larger than ``cap``."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return type(value)(min(value, cap))
    if isinstance(value, (tuple, list)) and all(isinstance(v, (int, float, type(None))) for v in value):
        return type(value)(_capped(v, cap) for v in value)
    return value


def shrink(parameters: tuple[Parameter, ...], current: dict[str, Any], table: dict[str, float]) -> dict[str, Any]:
    """The values of ``parameters`` named in ``table`` capped at the table's value, where that
    changes ``current`` (the values in force: defaults or tuned settings)."""
    out = {}
    for p in parameters:
        if p.name not in table or p.name not in current:
            continue
        cap = table[p.name]
        value = _capped(current[p.name], int(cap) if p.type is int else cap)
        if value != current[p.name]:
            out[p.name] = value
    return out


def tiny_overrides(entry: Entry) -> dict[str, Any]:
    """Problem parameters of registry entry ``entry`` shrunk to a tiny, still valid size."""
    return shrink(entry.parameters, entry.defaults, TINY)


def fast_params(method: Method) -> dict[str, Any]:
    """Hyper-parameters of a bound method with its iteration-like budgets capped."""
    return shrink(method.parameters, method.settings(), FAST)


def tiny_options(entry: Entry) -> dict[str, Any]:
    """Options of model ``entry`` for a small network (``samples`` here: POD training fields)."""
    return shrink(entry.parameters, entry.defaults, {**TINY, "samples": 8})


def fast_loss_options(entry: Entry) -> dict[str, Any]:
    """Options of loss ``entry`` with its inner steps capped (a critic's steps per update)."""
    return shrink(entry.parameters, entry.defaults, FAST)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny problems gain nothing from threads, and OpenMP kernels (deepwave's propagator)
    slow down a hundredfold when the two cores are shared with another process."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- tiny problems, built once -------------------------------------------------------------------

_PROBLEMS: dict[str, Any] = {}
_DATA: dict[str, tuple[Any, Any]] = {}


def _build(name: str) -> Any:
    """The tiny problem, or the exception building it raised."""
    if name not in _PROBLEMS:
        try:
            _PROBLEMS[name] = il.make_problem(name, **tiny_overrides(PROBLEMS.get(name)))
        except Exception as exc:  # noqa: BLE001 - reported by the test that needs the problem
            _PROBLEMS[name] = exc
    return _PROBLEMS[name]


def _missing_file(exc: BaseException) -> bool:
    """Real data that is absent, or a data-set preset given no location (the readers and their
    problems are tested on files in the published layouts in tests/data/test_formats.py)."""
    text = str(exc).lower()
    return isinstance(exc, (InputError, FileNotFoundError)) and any(
        w in text for w in ("not found", "no such file", "does not exist", "needs the location of the data"))


def tiny_problem(name: str) -> Problem | EstimationProblem:
    """Problem ``name`` at its tiny size; skips where it needs real data that is absent."""
    problem = _build(name)
    if isinstance(problem, BaseException):
        if _missing_file(problem):
            pytest.skip(f"{name}: {problem}")
        raise problem
    return problem


def tiny_data(name: str) -> tuple[Any, Any]:
    """``test_data(2, seed=0)`` of the tiny problem (skips where a real-data file is absent)."""
    problem = tiny_problem(name)
    if name not in _DATA:
        try:
            _DATA[name] = problem.test_data(2, seed=0)
        except (InputError, FileNotFoundError) as exc:
            if _missing_file(exc):
                pytest.skip(f"{name}: {exc}")
            raise
    return _DATA[name]


def _is_estimation(entry: Entry) -> bool:
    return entry.extras["kind"] == "estimation"


# -- checks --------------------------------------------------------------------------------------


def _numbers(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every number inside nested dicts, lists and tensors, with where it is."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        yield path, float(value)
    elif isinstance(value, torch.Tensor):
        for i, v in enumerate(value.detach().cpu().reshape(-1).tolist()):
            yield f"{path}[{i}]", abs(v) if isinstance(v, complex) else float(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _numbers(v, f"{path}[{i}]")


def assert_finite(value: Any, what: str) -> None:
    bad = [(p, v) for p, v in _numbers(value) if not math.isfinite(v)]
    assert not bad, f"{what}: non-finite values at {bad[:5]}"


def assert_tensor_finite(x: torch.Tensor, what: str) -> None:
    assert torch.isfinite(x).all(), f"{what}: {int((~torch.isfinite(x)).sum())} non-finite values"


def assert_perfect(scores: dict, what: str) -> None:
    """Scores of the truth against itself: errors 0, PSNR infinite or huge, SSIM 1."""
    for name, values in scores.items():
        values = values if isinstance(values, list) else [values]
        if not all(isinstance(v, (int, float)) for v in values):
            continue
        if "error" in name:
            assert all(abs(v) < 1e-9 for v in values), f"{what}: {name} = {values} for the truth itself"
        elif name == "psnr":
            assert all(v > 100 for v in values), f"{what}: psnr = {values} for the truth itself"
        elif name == "ssim":
            assert all(abs(v - 1) < 1e-6 for v in values), f"{what}: ssim = {values} for the truth itself"


def assert_valid_default(p: Parameter, owner: str) -> None:
    """A declared parameter: a keyword name, a known type, and a default that is a plain value
    (what a run's config.toml holds) valid under its own :meth:`Parameter.coerce`."""
    assert isinstance(p, Parameter), f"{owner}: {p!r} is not a Parameter"
    assert p.name.isidentifier() and not keyword.iskeyword(p.name), f"{owner}: bad parameter name {p.name!r}"
    assert p.type in (None, bool, int, float, str), f"{owner}: {p.name} has type {p.type!r}"
    if p.required:
        return

    def plain(v: Any) -> bool:
        return v is None or isinstance(v, (bool, int, float, str)) or (
            isinstance(v, (tuple, list)) and all(plain(u) for u in v)) or (
            isinstance(v, dict) and all(isinstance(k, str) and plain(u) for k, u in v.items()))

    assert plain(p.default), f"{owner}: {p.name} defaults to {p.default!r} ({type(p.default).__name__}), not a plain value"
    value = p.coerce(p.default, owner)  # raises InputError when the default is invalid
    if p.default is not None and p.type in (bool, int, float, str):
        assert value == p.default, f"{owner}: {p.name} default {p.default!r} coerces to {value!r}"


# -- parametrisation (from the registries) -------------------------------------------------------

PROBLEM_NAMES = PROBLEMS.names()


def _method_cases() -> list:
    cases = []
    for name in PROBLEM_NAMES:
        problem = _build(name)
        if isinstance(problem, BaseException):  # the test reports it (or skips for missing data)
            cases.append(pytest.param(name, None, id=f"{name}-unbuildable"))
            continue
        cases += [pytest.param(name, method, id=f"{name}-{method}") for method in available_methods(problem)]
    return cases


METHOD_CASES = _method_cases()

RECONSTRUCTION = [e.name for e in PROBLEMS if not _is_estimation(e)]

REGISTRIES = {"problem": PROBLEMS, "method": METHODS, "model": MODELS, "loss": LOSSES}
ENTRIES = [pytest.param(kind, e.name, id=f"{kind}-{e.name}") for kind, reg in REGISTRIES.items() for e in reg]


# -- 1. problems ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROBLEM_NAMES)
def test_problem_simulates_and_scores(name):
    entry = PROBLEMS.get(name)
    problem = tiny_problem(name)
    truth, y = tiny_data(name)
    if _is_estimation(entry):
        assert isinstance(problem, EstimationProblem)
        assert isinstance(truth, Estimate) and isinstance(y, Observations)
        assert truth.parameters or truth.fields, "an estimation problem has unknowns"
        assert y.points.ndim == 2 and y.points.shape[1] == len(y.coordinates), y.points.shape
        assert y.values.shape[0] == y.points.shape[0], (y.values.shape, y.points.shape)
        assert_tensor_finite(y.points, "observation points")
        assert_tensor_finite(y.values, "observations")
        scores = problem.evaluate(truth, truth)
        assert_finite(scores, "scores of the truth")
        assert scores["rel_error"] == pytest.approx(0.0, abs=1e-12)
        summary = problem.summarize(truth, truth, History(), y)
        assert_finite(summary, "summary of the truth")
        json.dumps(summary)
        return

    assert isinstance(problem, Problem)
    op = problem.operator
    assert isinstance(truth, torch.Tensor) and isinstance(y, torch.Tensor)
    assert truth.shape == (2, *op.domain_shape), (truth.shape, op.domain_shape)
    assert truth.is_complex() == bool(op.domain_complex)
    assert y.shape == (2, *op.range_shape), (y.shape, op.range_shape)
    assert_tensor_finite(truth, "truth")
    assert_tensor_finite(y, "measurements")

    baseline = problem.baseline(y)
    assert baseline.shape == truth.shape, (baseline.shape, truth.shape)
    assert_tensor_finite(baseline, "baseline")
    scores = problem.evaluate(baseline, truth, y=y)
    assert set(problem.metrics) <= set(scores), (problem.metrics, list(scores))
    assert all(len(v) == 2 for v in scores.values()), "one score per sample"
    assert_finite(scores, "scores of the baseline")
    summary = problem.summarize(baseline, truth, History(), y)
    assert set(summary["scores"]) == set(scores)
    assert_finite({k: summary[k] for k in scores}, "summary of the baseline")
    json.dumps(summary)

    perfect = problem.summarize(truth, truth, History(), y)
    assert_perfect({k: perfect[k] for k in scores}, "summary of the truth")


# -- 2. methods x problems -------------------------------------------------------------------------


@pytest.mark.parametrize("problem_name, method_name", METHOD_CASES)
def test_method_runs_on_problem(problem_name, method_name):
    problem = tiny_problem(problem_name)  # raises (or skips) for an unbuildable problem
    truth, y = tiny_data(problem_name)
    owner = f"method {method_name!r} on {problem_name}"
    method = make_method(method_name, problem)
    accepted = set(method.accepted())
    assert set(method.params) <= accepted, f"{owner}: tuned settings {set(method.params) - accepted} are not declared"
    registered = set(METHODS.get(method_name).parameters)
    for p in method.parameters:
        if p not in registered:  # parameters that depend on the problem (the registry's are tested below)
            assert_valid_default(p, owner)
        if p.name in method.params:
            p.coerce(method.params[p.name], owner)
    method = make_method(method_name, problem, **fast_params(method))

    x, history = method.reconstruct(y, truth=truth)
    assert isinstance(history, History), f"{owner}: history is a {type(history).__name__}"
    if isinstance(problem, EstimationProblem):
        assert isinstance(x, Estimate), f"{owner}: returned a {type(x).__name__}"
        assert_finite(x.parameters, f"{owner}: estimated parameters")
        for field, value in x.fields.items():
            assert value.shape == problem.true_fields[field].shape, (field, value.shape)
            assert_tensor_finite(value, f"{owner}: field {field}")
        scores = problem.evaluate(x)  # against the problem's own truth
        assert_finite(scores, f"{owner}: scores")
        json.dumps(problem.summarize(x, truth, history, y))
        return

    op = problem.operator
    assert isinstance(x, torch.Tensor), f"{owner}: returned a {type(x).__name__}"
    assert x.shape == (2, *op.domain_shape), f"{owner}: shape {tuple(x.shape)}, domain {op.domain_shape}"
    assert x.is_floating_point() or x.is_complex(), f"{owner}: dtype {x.dtype}"
    assert x.is_complex() == bool(op.domain_complex), f"{owner}: dtype {x.dtype}, complex domain {op.domain_complex}"
    assert_tensor_finite(x, owner)
    if history.interval is not None:
        assert all(t.shape == x.shape for t in history.interval), f"{owner}: interval shapes"
    scores = problem.evaluate(x, truth, interval=history.interval, y=y)
    assert_finite(scores, f"{owner}: scores")
    summary = problem.summarize(x, truth, history, y)
    assert_finite({k: summary[k] for k in scores}, f"{owner}: summary")
    json.dumps(summary)


# -- 3. models -------------------------------------------------------------------------------------


def _first_fit(model: str, options: dict) -> str:
    """The first reconstruction problem (registry order) the model builds on at the tiny size.
    Estimation problems are left out: networks are trained (``train_job``) on reconstruction
    problems; estimation problems train theirs inside their methods (``pinn``, ``rnn``)."""
    for name in RECONSTRUCTION:
        problem = _build(name)
        if isinstance(problem, BaseException):
            continue
        try:
            build_model(model, problem, **options)
        except InputError:
            continue
        return name
    pytest.fail(f"model {model!r} builds on no registered reconstruction problem (options {options})")


@pytest.mark.parametrize("model", MODELS.names())
def test_model_trains_saves_loads_and_scores(model, tmp_path):
    from inverselab.jobs import evaluate_job, train_job

    entry = MODELS.get(model)
    options = tiny_options(entry)
    name = _first_fit(model, options)
    problem = il.make_problem(name, **tiny_overrides(PROBLEMS.get(name)))  # a fresh one: training may move it
    loss = entry.extras["default_loss"]
    assert loss in LOSSES, f"model {model!r}: default loss {loss!r} is not registered"
    run = tmp_path / "run"
    train_job(problem, model, run, options=options, loss_options=fast_loss_options(LOSSES.get(loss)), epochs=1,
              training=dict(TRAINING))
    assert (run / "model.safetensors").is_file() and (run / "config.toml").is_file()
    metrics = evaluate_job(run, n=2, seed=0, device="cpu")
    assert metrics["problem"] == name and metrics["training_run"] == str(run)
    assert set(problem.metrics) <= set(metrics["scores"]), (problem.metrics, metrics["scores"])
    assert_finite({k: metrics[k] for k in metrics["scores"]}, f"model {model!r} on {name}")


@pytest.mark.parametrize("model", MODELS.names())
def test_model_fits_or_refuses_every_problem(model):
    """On every problem, ``build_model`` either refuses with a one-line InputError (what the
    command line prints) or builds a network that maps the problem's measurements to
    estimates shaped like its truths."""
    entry = MODELS.get(model)
    options = tiny_options(entry)
    wrong = {}
    for name in PROBLEM_NAMES:
        problem = _build(name)
        if isinstance(problem, BaseException):
            continue
        try:
            network = build_model(model, problem, **options)
        except InputError:
            continue
        except Exception as exc:  # noqa: BLE001
            wrong[name] = f"build_model raised {type(exc).__name__}: {exc}"
            continue
        try:
            truth, y = tiny_data(name)
            with torch.no_grad():
                out = network.eval()(y)
        except pytest.skip.Exception:
            continue
        except Exception as exc:  # noqa: BLE001
            wrong[name] = f"built, but the network fails on its measurements: {type(exc).__name__}: {exc}"
            continue
        if not (isinstance(out, torch.Tensor) and out.shape == truth.shape):
            wrong[name] = f"built, but maps measurements to {getattr(out, 'shape', type(out).__name__)}, truths are {tuple(truth.shape)}"
    assert not wrong, f"model {model!r}: " + "; ".join(f"{k}: {v}" for k, v in wrong.items())


# -- 4. linear operators ---------------------------------------------------------------------------
# The problems' own linear operators are dot-tested from the registry (every preset with a
# ``size``, at sizes 16 and 32, float64, below 1e-10) by tests/operators/test_adjoints_all.py;
# here: that this selection misses none, and the linear operators nested in forward models.


@pytest.mark.parametrize("name", RECONSTRUCTION)
def test_linear_operators_of_problem_have_exact_adjoints(name):
    problem = tiny_problem(name)
    op = problem.operator
    if isinstance(op, LinearOperator):
        assert "size" in PROBLEMS.get(name).defaults, (
            f"{name} has a linear operator but no size parameter: tests/operators/test_adjoints_all.py does not test it")
    nested = {path: m for path, m in op.named_modules() if path and isinstance(m, LinearOperator)}
    nested.update({k: v for k, v in vars(problem).items()
                   if isinstance(v, LinearOperator) and v is not op and k != "operator"})
    errors = {path: dottest(m, dtype=torch.float64, batch=2) for path, m in nested.items()}
    assert all(e < 1e-10 for e in errors.values()), errors


# -- 5. losses and registry entries -----------------------------------------------------------------


def _needs_value(p: Parameter) -> bool:
    """Required, or an empty string placeholder for something only the user can name (a run)."""
    return p.required or (p.type is str and p.default == "")


@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_builds_with_defaults(name):
    entry = LOSSES.get(name)
    needs = [p for p in entry.parameters if _needs_value(p)]
    if needs:
        with pytest.raises(InputError):  # a clean one-line error, not a traceback
            make_loss(name)
        pytest.skip(f"loss {name!r} has no usable default for {', '.join(p.name for p in needs)}"
                    + (f" ({needs[0].help})" if needs[0].help else "") + ": " + entry.description)
    loss = make_loss(name)
    assert isinstance(loss, Loss)
    assert isinstance(loss.config(), dict)
    assert make_loss(name, **fast_loss_options(entry)) is not None


@pytest.mark.parametrize("kind, name", ENTRIES)
def test_entry_is_described_and_typed(kind, name):
    entry = REGISTRIES[kind].get(name)
    owner = f"{kind} {name!r}"
    assert entry.name == name
    assert isinstance(entry.description, str) and entry.description.strip(), f"{owner}: no description"
    assert "\n" not in entry.description, f"{owner}: description is not one line"
    names = [p.name for p in entry.parameters]
    assert len(names) == len(set(names)), f"{owner}: repeated parameters {names}"
    for p in entry.parameters:
        assert_valid_default(p, owner)
    if kind == "problem":
        assert entry.extras["kind"] in ("reconstruction", "estimation")
        assert not [p.name for p in entry.parameters if p.required], f"{owner}: presets need defaults for all"
    if kind == "method":
        assert callable(entry.extras["applies_to"])
    if kind == "model":
        assert entry.extras["default_loss"] in LOSSES
