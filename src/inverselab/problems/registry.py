"""The problem registry: presets by name, created with keyword overrides.

Preset modules of this package register themselves with :func:`register` and are discovered
(every module of :mod:`inverselab.problems` is imported on first use); plugins register theirs
the same way (see :mod:`inverselab.registry`).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from collections.abc import Callable

from ..errors import check_choice
from ..registry import Entry, Registry
from .base import Problem

__all__ = ["PROBLEMS", "register", "make_problem", "list_problems", "problem_info"]

KINDS = ("reconstruction", "estimation")


def _discover() -> None:
    """Import every module of this package (each registers its entries)."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__package__}.{module.name}")


#: Every problem preset; ``entry.extras["kind"]`` is "reconstruction" (many truths, image-like
#: measurements) or "estimation" (one system, unknown coefficients observed once).
PROBLEMS = Registry("problem", _discover)


def register(name: str, description: str, kind: str = "reconstruction") -> Callable[[Callable], Callable]:
    """Decorator adding a preset builder (keyword parameters with defaults) to the registry.

    >>> @register("my-blur", "my deblurring set-up")   # doctest: +SKIP
    ... def my_blur(size: int = 64, noise: float = 0.01) -> Problem: ...
    """
    check_choice("problem kind", kind, KINDS)
    return PROBLEMS.register(name, description, kind=kind)


def list_problems(kind: str | None = None) -> list[str]:
    """Names of the registered problems, all or of one kind ("reconstruction", "estimation")."""
    if kind is not None:
        check_choice("problem kind", kind, KINDS)
    return sorted(e.name for e in PROBLEMS if kind in (None, e.extras["kind"]))


def problem_info(name: str) -> Entry:
    """The registry entry of a problem: ``description``, ``parameters``, ``defaults`` and
    ``extras["kind"]``."""
    return PROBLEMS.get(name)


def footprint(params: dict) -> int:
    """Bytes a preset needs at least, from its size parameters: a truth and a measurement on
    the image grid (``size`` or ``grid``, times ``coils``; ``views`` x ``detectors`` for
    tomography) with the few work copies every solver keeps, and the dense matrix of a
    Gaussian sensing operator. A lower bound: 0 where the preset has no such parameters."""
    side = next((params[k] for k in ("size", "grid") if isinstance(params.get(k), int)), None)
    if side is None or side < 1:
        return 0
    coils = params.get("coils") if isinstance(params.get("coils"), int) and params["coils"] > 0 else 1
    pixels = side * side
    data = pixels * coils
    if isinstance(params.get("views"), int):
        detectors = params.get("detectors") if isinstance(params.get("detectors"), int) else side
        data = params["views"] * max(detectors, 1)
    matrix = 0
    if params.get("kind") == "gaussian" and isinstance(params.get("ratio"), (int, float)):
        matrix = int(params["ratio"] * pixels) * pixels
    return 4 * (8 * pixels + 4 * data + matrix)


def make_problem(name: str, **overrides) -> Problem:
    """Create a registered problem, e.g. ``make_problem("ct-parallel", size=64, views=60)``.

    Parameters
    ----------
    name : str
        One of :func:`list_problems`.
    **overrides
        Preset parameters to change; strings (from the command line) are converted to the
        parameter's type.

    Raises
    ------
    InputError
        Unknown problem or parameter, or a value of the wrong type.
    """
    from ..preflight import check_memory

    entry = PROBLEMS.get(name)
    params = {**entry.defaults, **PROBLEMS.options(name, overrides, owner=f"problem {name!r}")}
    check_memory(footprint(params), f"problem {name!r} with {', '.join(f'{k}={overrides[k]}' for k in overrides)}"
                 if overrides else f"problem {name!r}", "choose a smaller size")
    problem = entry.obj(**params)
    problem.config = {"problem": name, **params}
    return problem

