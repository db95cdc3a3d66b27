"""Figures and reports (matplotlib, Agg backend)."""

from .figures import save_comparison, save_convergence, save_image, save_measurement, solve_figures
from .html import build_report, read_run
from .problem_figures import problem_figures

__all__ = ["build_report", "problem_figures", "read_run", "save_comparison", "save_convergence", "save_image", "save_measurement", "solve_figures"]
