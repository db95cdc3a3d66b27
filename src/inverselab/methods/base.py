"""The method contract and its registry.

A method turns measurements into an estimate: ``reconstruct(y, truth=None) -> (x, History)``.
Classical solvers, trained networks (a run folder is a method), plug-and-play and generative
priors, samplers, design optimisers and the estimators of PDE/ODE problems all obey it, so
``solve``, ``evaluate``, reports and benchmarks treat them alike.

A registered method is a function ``run(problem, y, truth, **params)`` returning ``x`` or
``(x, History)``, with a description, its typed parameters (from the signature) and a rule
saying which problems it applies to. Problems supply tuned defaults for the methods they
declare (``problem.methods[name]``); the user overrides them by keyword.

>>> @register("my-shrink", "soft-thresholded adjoint", applies_to=linear)   # doctest: +SKIP
... def my_shrink(problem, y, truth=None, *, tau: float = 0.1):
...     x = problem.operator.adjoint(y)
...     return x.sign() * (x.abs() - tau).clamp_min(0)
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .._tensor import numpy_boundary
from ..errors import check_finite
from ..operators.base import LinearOperator
from ..registry import Entry, Parameter, Registry, parameters_of
from ..solvers.history import History

Tensor = torch.Tensor

__all__ = ["METHODS", "Method", "register", "available_methods", "applies", "declared", "linear", "parameters"]

Rule = Callable[[Any], "bool | str"]


def _discover() -> None:
    """Import every module of this package (each registers its entries)."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__package__}.{module.name}")


#: Every method; ``entry.extras`` holds ``applies_to`` (problem -> True or the reason it does
#: not apply) and ``parameters_for`` (problem -> parameters, where they depend on the problem).
METHODS = Registry("method", _discover)

_CALLER_SUPPLIED = ("problem", "y", "truth")


def declared(problem: Any, name: str) -> bool | str:
    """Rule: the problem declares tuned defaults for the method (``problem.methods``)."""
    return True if name in getattr(problem, "methods", {}) else f"{problem.name} does not declare method {name!r}"


def linear(problem: Any) -> bool | str:
    """Rule: the forward operator is linear (has an exact adjoint)."""
    op = getattr(problem, "operator", None)
    return True if isinstance(op, LinearOperator) else f"{problem.name} has no linear forward operator"


def register(name: str, description: str, applies_to: Rule | None = None,
             parameters: tuple[Parameter, ...] | None = None,
             parameters_for: Callable[[Any], tuple[Parameter, ...]] | None = None,
             needs_run: bool = False) -> Callable[[Callable], Callable]:
    """Register ``run(problem, y, truth=None, **params)`` as method ``name``.

    Parameters
    ----------
    name : str
        What users type (``--method NAME``).
    description : str
        One line.
    applies_to : callable, optional
        ``problem -> True | str``: True where the method applies, else the reason it does not.
        Default: the problem declares the method in ``problem.methods``.
    parameters : tuple of Parameter, optional
        Declared parameters, where ``run`` takes ``**params`` (default: its keyword parameters).
    parameters_for : callable, optional
        ``problem -> tuple of Parameter`` for methods whose parameters depend on the problem;
        default: the keyword parameters of ``run``.
    needs_run : bool
        The method needs a trained network named by a parameter (``pnp``, ``generative``); it
        is listed for a problem only when asked for (``available_methods(..., with_models=True)``).
    """

    def wrap(run: Callable) -> Callable:
        params = parameters if parameters is not None else parameters_of(run, skip=_CALLER_SUPPLIED)
        rule = applies_to or (lambda problem: declared(problem, name))
        METHODS.add(name, run, description, params, applies_to=rule, parameters_for=parameters_for,
                    needs_run=needs_run)
        return run

    return wrap


class Method:
    """A method bound to a problem and its hyper-parameters.

    Attributes
    ----------
    name : str
        Registry name (or, for a trained network, its architecture).
    problem : Problem
        The problem whose measurements it takes.
    params : dict
        Hyper-parameters: the problem's tuned defaults overridden by the user's.
    """

    def __init__(self, name: str, problem: Any, params: dict, run: Callable | None,
                 parameters: tuple[Parameter, ...] = ()) -> None:
        self.name = name
        self.problem = problem
        self.params = params
        self.parameters = parameters
        self._run = run

    def accepted(self) -> tuple[str, ...]:
        """Names of the parameters it takes."""
        return tuple(p.name for p in self.parameters)

    def config(self) -> dict:
        """The method table of a run's ``config.toml``: name and hyper-parameters."""
        return {"name": self.name, **self.params}

    def settings(self) -> dict:
        """Every parameter's value: the declared defaults overridden by :attr:`params`."""
        return {**{p.name: p.default for p in self.parameters if not p.required}, **self.params}

    def to(self, device: str | torch.device) -> Method:
        """Move what it computes with (the forward operator) to ``device``."""
        operator = getattr(self.problem, "operator", None)
        if operator is not None:
            operator.to(device)
        return self

    def warm_up(self, y: Any) -> None:
        """Run once on the first measurements before a timed call, where a first call costs
        more (caches, kernels); nothing for most methods."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.problem.name!r}, {self.params})"

    @numpy_boundary
    def reconstruct(self, y: Any, truth: Any = None) -> tuple[Any, History]:
        """Estimate from measurements ``y`` (a batch ``(B, *range_shape)``, or an estimation
        problem's observations); ``truth`` only feeds the history's PSNR where given.

        Returns
        -------
        (x, History)
            The estimate, shaped like the truth, and what the method did.
        """
        _check_measurements(self.problem, y)
        start = time.perf_counter()
        out = self._run(self.problem, y, truth, **self.params)
        if isinstance(out, tuple):
            return out
        return out, History(seconds=[time.perf_counter() - start], iterations=1, stop_reason="direct")


def _check_measurements(problem: Any, y: Any) -> None:
    """Measurements of the problem's shape and type, all finite (InputError otherwise)."""
    operator = getattr(problem, "operator", None)
    if isinstance(y, torch.Tensor) and operator is not None:
        operator._check(y, operator.range_shape, operator.range_complex, "measurement")
        check_finite("measurement y", y)


def parameters(entry: Entry, problem: Any) -> tuple[Parameter, ...]:
    """The parameters ``entry`` takes on ``problem``."""
    rule = entry.extras.get("parameters_for")
    return tuple(rule(problem)) if rule is not None else entry.parameters


def applies(entry: Entry, problem: Any) -> bool | str:
    """Whether ``entry`` applies to ``problem`` (True) or why not (a reason)."""
    try:
        return entry.extras["applies_to"](problem)
    except Exception as exc:  # a plugin's rule must not break listings
        return f"its applies_to rule failed ({type(exc).__name__}: {exc})"


def available_methods(problem: Any, with_models: bool = False) -> list[str]:
    """Names of the registered methods that apply to ``problem`` (the problem's default first);
    ``with_models`` adds those that need a trained network as a parameter (``pnp``,
    ``generative``)."""
    names = [e.name for e in METHODS
             if applies(e, problem) is True and (with_models or not e.extras.get("needs_run"))]
    first = [n for n in ("baseline", *getattr(problem, "methods", {})) if n in names]
    return first + [n for n in names if n not in first]
