"""inverselab: inverse problems with neural networks, side by side with classical methods.

The top-level namespace is lazy: ``import inverselab`` does not import torch; submodules and
the helpers below load on first use.

>>> import inverselab as il
>>> p = il.make_problem("ct-parallel", size=64, views=30)
>>> x = p.sample_truth(4, seed=0)
>>> y = p.simulate(x, seed=1)
>>> x_tv, hist = il.reconstruct(p, y, "tv", truth=x)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_SUBMODULES = {
    "analysis",
    "data",
    "errors",
    "methods",
    "metrics",
    "models",
    "noise",
    "operators",
    "problems",
    "registry",
    "interop",
    "regularizers",
    "report",
    "runs",
    "solvers",
    "studies",
    "training",
    "uq",
}
_ATTRIBUTES = {
    "make_problem": "problems",
    "custom_problem": "problems",
    "load_problem": "problems",
    "list_problems": "problems",
    "make_method": "methods",
    "reconstruct": "methods",
    "estimate": "methods",
    "InputError": "errors",
}

__all__ = sorted(_SUBMODULES | set(_ATTRIBUTES))

if TYPE_CHECKING:  # pragma: no cover
    from . import data, errors, methods, metrics, noise, operators, problems, regularizers, solvers
    from .errors import InputError
    from .methods import estimate, make_method, reconstruct
    from .problems import custom_problem, list_problems, load_problem, make_problem


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(f".{_ATTRIBUTES[name]}", __name__), name)
    raise AttributeError(f"module 'inverselab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
