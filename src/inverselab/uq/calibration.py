"""Calibration of predictive distributions: do the intervals cover what they claim?

For a :class:`~inverselab.uq.predictive.Prediction` and the truths:

- :func:`coverage`: the share of pixels (per sample) inside the central Gaussian interval at a
  level, optionally with the standard deviation scaled;
- :func:`calibration_curve`: mean coverage at several levels;
- :func:`standardised_errors`: ``(truth - mean) / std``, whose spread is 1 for a calibrated
  Gaussian prediction (above 1: over-confident);
- :func:`fit_scale`: the post-hoc factor on the standard deviation that gives the nominal
  coverage on validation data (a one-parameter recalibration; apply it to test data);
- :func:`crps`: the continuous ranked probability score of draws, per pixel, a proper scoring
  rule (lowest in expectation for draws from the true distribution), usable as a training loss.
"""

from __future__ import annotations

import torch

from ..errors import InputError, format_shape
from .predictive import Prediction, z_score

Tensor = torch.Tensor

__all__ = ["LEVELS", "coverage", "calibration_curve", "standardised_errors", "fit_scale", "crps"]

LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def _check(prediction: Prediction, truth: Tensor) -> None:
    if prediction.mean.shape != truth.shape:
        raise InputError(f"prediction {format_shape(prediction.mean.shape)} and truth {format_shape(truth.shape)} differ in shape")


def standardised_errors(prediction: Prediction, truth: Tensor, floor: float = 1e-12) -> Tensor:
    """``(truth - mean) / std`` per pixel (std floored at ``floor``)."""
    _check(prediction, truth)
    return (truth - prediction.mean) / prediction.std.clamp_min(floor)


def coverage(prediction: Prediction, truth: Tensor, level: float = 0.9, scale: float = 1.0) -> Tensor:
    """Share of each sample's pixels inside ``mean -/+ z(level) * scale * std``: ``(B,)``."""
    low, high = prediction.interval(level, scale)
    _check(prediction, truth)
    return ((low <= truth) & (truth <= high)).flatten(1).to(truth.dtype).mean(1)


def calibration_curve(prediction: Prediction, truth: Tensor, levels=LEVELS, scale: float = 1.0) -> list[float]:
    """Mean coverage at each nominal level."""
    return [float(coverage(prediction, truth, level, scale).mean()) for level in levels]


def fit_scale(prediction: Prediction, truth: Tensor, level: float = 0.9) -> float:
    """The factor ``s`` such that ``mean -/+ z(level) * s * std`` covers exactly ``level`` of
    the pixels of this (validation) set: the ``level`` quantile of ``|standardised error|``
    divided by ``z(level)``."""
    z = standardised_errors(prediction, truth).abs().flatten()
    if z.numel() > 2**24:  # torch.quantile's limit: subsample evenly
        z = z[:: z.numel() // 2**24 + 1]
    return float(torch.quantile(z.double(), level)) / z_score(level)


def crps(samples: Tensor, truth: Tensor) -> Tensor:
    """Unbiased estimate of the continuous ranked probability score of ``m`` draws, per pixel.

    ``CRPS(P, x) = E|X - x| - E|X - X'| / 2`` for independent ``X, X' ~ P``, estimated as the
    mean of ``|s_i - x|`` minus the sum of ``|s_i - s_j|`` over pairs ``i < j`` divided by
    ``m (m - 1)`` (the "fair" estimator, exact in expectation for any ``m >= 2``). Lower is
    better; the expectation over ``x`` is lowest when the draws follow the distribution of
    ``x``, so the score rewards spread where draws miss and penalises it where they do not.

    Parameters
    ----------
    samples : Tensor
        ``(B, m, *shape)`` draws, ``m >= 2``; differentiable.
    truth : Tensor
        ``(B, *shape)``.

    Returns
    -------
    Tensor
        ``(B, *shape)`` scores, in the units of the values.
    """
    if samples.dim() != truth.dim() + 1 or samples.shape[0] != truth.shape[0] or samples.shape[2:] != truth.shape[1:]:
        raise InputError(f"crps needs samples (B, m, *shape) and truth (B, *shape), got {format_shape(samples.shape)} "
                         f"and {format_shape(truth.shape)}")
    m = samples.shape[1]
    if m < 2:
        raise InputError(f"crps needs at least 2 draws per truth, got {m}")
    miss = (samples - truth.unsqueeze(1)).abs().mean(1)
    ordered = samples.sort(dim=1).values  # sum over pairs i < j of |s_i - s_j| = sum_k (2k - m - 1) s_(k)
    weights = torch.arange(1 - m, m, 2, dtype=samples.dtype, device=samples.device)
    spread = (ordered * weights.view(1, m, *([1] * (samples.dim() - 2)))).sum(1)
    return miss - spread / (m * (m - 1))
