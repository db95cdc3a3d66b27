"""Figures and reports (matplotlib, Agg backend)."""

from .figures import save_comparison, save_convergence, save_image, save_measurement, solve_figures
from .html import build_report, read_run

__all__ = ["build_report", "read_run", "save_comparison", "save_convergence", "save_image", "save_measurement", "solve_figures"]
