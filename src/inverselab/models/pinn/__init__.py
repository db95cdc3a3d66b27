"""Physics-informed neural networks for inverse problems.

Declare the problem (:class:`PINN`: a :class:`Box` domain, :class:`Net` fields, :class:`Scalar`
unknowns, named residuals, conditions and observations), then train it with :func:`fit`
(Adam, then L-BFGS). The loss is ``sum_k w_k L_k`` over the named terms, with fixed or adaptive
weights (:mod:`.weighting`).
"""

from .fit import FitConfig, PINNHistory, fit
from .network import Box, Net, Scalar
from .spec import PINN, Constraint, Dirichlet, Initial, Observed, Values
from .weighting import GradientAnnealing, ReLoBRaLo, Weighting, make_weighting

__all__ = [
    "PINN",
    "Box",
    "Constraint",
    "Dirichlet",
    "FitConfig",
    "GradientAnnealing",
    "Initial",
    "Net",
    "Observed",
    "PINNHistory",
    "ReLoBRaLo",
    "Scalar",
    "Values",
    "Weighting",
    "fit",
    "make_weighting",
]
