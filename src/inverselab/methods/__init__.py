"""Methods: everything that turns measurements into an estimate, behind one contract
``make_method(name, problem, **params).reconstruct(y, truth=None) -> (x, History)``.

Registered methods are listed by ``inverselab list``; a training run directory is a method
too (``make_method("runs/lpd", problem)``). Add one with :func:`register`.
"""

from .base import METHODS, Method, available_methods, declared, linear, register
from .binding import estimate, make_method, reconstruct
from .trained import TrainedMethod

__all__ = ["METHODS", "Method", "TrainedMethod", "available_methods", "declared", "estimate", "linear", "make_method",
           "reconstruct", "register"]
