"""Problems: a forward model, a noise model and a source of ground truth (or, for estimation
problems, one system observed once). Presets by name: ``make_problem(name, **overrides)``;
add one with :func:`register`."""

from .base import Problem, Symmetry
from .custom import custom_problem
from .estimation import Estimate, EstimationProblem, Observations
from .files import load_problem, problem_from_config
from .registry import PROBLEMS, list_problems, make_problem, problem_info, register

__all__ = ["PROBLEMS", "Estimate", "EstimationProblem", "Observations", "Problem", "Symmetry", "custom_problem",
           "list_problems", "load_problem", "make_problem", "problem_from_config", "problem_info", "register"]
