"""Binding methods to problems: :func:`make_method` by name or training run, and the one-call
forms :func:`reconstruct` and :func:`estimate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..registry import check_values
from ..solvers.history import History
from .base import METHODS, Method, applies, available_methods, parameters
from .trained import TrainedMethod

__all__ = ["make_method", "reconstruct", "estimate"]


def _is_run(name: str) -> bool:
    return "/" in name or name.startswith(".") or Path(name).is_dir()


def make_method(name: str | Path, problem: Any, **params) -> Method:
    """Bind a method to a problem, its defaults overridden by ``params``.

    Parameters
    ----------
    name : str or Path
        A registered method (``inverselab list``) or a training run directory (the trained
        network reconstructs).
    problem : Problem or EstimationProblem
        What to reconstruct.
    **params
        Hyper-parameters; strings (from the command line) are converted to their types.

    Raises
    ------
    InputError
        Unknown method, one that does not apply to the problem, or an unknown or ill-typed
        parameter.
    """
    name = str(name)
    if name not in METHODS and _is_run(name):
        return TrainedMethod.from_run(name, problem, **params)
    entry = METHODS.get(name)
    reason = applies(entry, problem)
    if reason is not True:
        valid = ", ".join(available_methods(problem, with_models=True))
        raise InputError(f"method {name!r} does not apply to {problem.name}: {reason} (valid are {valid})")
    accepted = parameters(entry, problem)
    owner = f"method {name!r}"
    values = check_values(accepted, params, owner)
    tuned = _tuned_defaults(name, problem)
    missing = [p.name for p in accepted if p.required and p.name not in values and p.name not in tuned]
    if missing:
        raise InputError(f"{owner} needs parameter {missing[0]!r} (e.g. --param {missing[0]}=...)")
    return Method(name, problem, {**tuned, **values}, entry.obj, accepted)


def _tuned_defaults(name: str, problem: Any) -> dict:
    """The problem's defaults for method ``name`` (``tv-admm`` shares TV's model and bounds)."""
    methods = getattr(problem, "methods", {})
    if name == "tv-admm":  # ADMM needs fewer, costlier iterations than PDHG: only the model is shared
        return {k: v for k, v in methods.get("tv", {}).items() if k in ("lam", "bounds")}
    return dict(methods.get(name, {}))


def reconstruct(problem: Any, y: Any, method: str | None = None, truth: Any = None, **params) -> tuple[Any, History]:
    """Reconstruct ``y`` with ``method`` (default: the problem's own) and its tuned defaults.

    >>> x_tv, history = reconstruct(problem, y, "tv", lam=0.01)   # doctest: +SKIP
    """
    return make_method(method or problem.default_method, problem, **params).reconstruct(y, truth=truth)


def estimate(problem: Any, method: str | None = None, data: Any = None, seed: int = 0, **params) -> Any:
    """Estimate the unknowns of an estimation problem with ``method`` from ``data`` (default:
    the observations drawn with ``seed``); returns the :class:`~inverselab.problems.Estimate`.
    ``seed`` also seeds the method (a PINN's initialisation) unless ``params`` names one."""
    if not hasattr(problem, "observe"):
        raise InputError(f"estimate works on estimation problems (unknown parameters and fields); "
                         f"{getattr(problem, 'name', problem)!r} reconstructs images: use reconstruct")
    bound = make_method(method or problem.default_method, problem, **params)
    if any(p.name == "seed" for p in parameters(METHODS.get(bound.name), problem)):
        bound.params.setdefault("seed", seed)
    data = problem.observe(seed) if data is None else data
    result, _ = bound.reconstruct(data)
    return result
