"""Analyses of trained and classical methods: stability under noise and worst-case
perturbations, local Lipschitz constants."""

from .stability import local_lipschitz, noise_sweep, stability_markdown, stability_table, worst_case

__all__ = ["local_lipschitz", "noise_sweep", "stability_markdown", "stability_table", "worst_case"]
