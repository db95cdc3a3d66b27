"""Figures and reports (matplotlib, Agg backend)."""

from .figures import save_comparison, save_convergence, save_image, save_measurement, solve_figures

__all__ = ["save_comparison", "save_convergence", "save_image", "save_measurement", "solve_figures"]
