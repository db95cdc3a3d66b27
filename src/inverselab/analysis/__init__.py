"""Analyses across problems and methods: joint against per-instance optimisation."""

from .landscape import FAMILIES, HeatSources, JointNetwork, ToyLandscape, WavePacket, compare, train_joint
from .optimizers import adam, gradient_descent, lbfgs, random_restarts

__all__ = [
    "FAMILIES",
    "HeatSources",
    "JointNetwork",
    "ToyLandscape",
    "WavePacket",
    "adam",
    "compare",
    "gradient_descent",
    "lbfgs",
    "random_restarts",
    "train_joint",
]
