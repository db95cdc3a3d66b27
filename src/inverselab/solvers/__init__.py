"""Classical solvers: linear least squares, proximal methods, nonlinear optimisation, FWI.

Every solver takes an operator and a batch of measurements and returns ``(x, History)``.
"""

from .analytic import fill_missing, upsample, wiener
from .fwi import FWIHistory, fwi
from .generative import generative_prior
from .history import History, progress, record_objective
from .linear import cg, lsqr, tikhonov
from .nonlinear import minimize
from .proximal import fista, tv_admm, tv_pdhg, wavelet_fista

__all__ = [
    "FWIHistory",
    "History",
    "cg",
    "fill_missing",
    "fista",
    "fwi",
    "generative_prior",
    "lsqr",
    "minimize",
    "progress",
    "record_objective",
    "tikhonov",
    "tv_admm",
    "tv_pdhg",
    "upsample",
    "wavelet_fista",
    "wiener",
]
