"""Problem presets: ``make_problem(name, **overrides)`` and ``list_problems()``."""

from .base import Problem
from .registry import list_problems, make_problem, problem_info

__all__ = ["Problem", "list_problems", "make_problem", "problem_info"]
