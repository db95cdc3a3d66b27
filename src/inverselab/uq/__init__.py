"""Uncertainty quantification: predictive distributions of trained networks and their calibration.

Three sources of spread share one result type, :class:`Prediction` (mean, standard deviation,
samples): Monte Carlo dropout (:func:`mc_dropout`), deep ensembles (:func:`ensemble`) and
posterior samples of a conditional generator (:func:`generator_samples`). :mod:`.calibration`
scores them: coverage of central intervals at several levels, interval width, the spread of
the standardised errors, a post-hoc scale of the standard deviation fitted on validation
data, and the CRPS of draws (also a training loss for generators).
"""

from .calibration import LEVELS, calibration_curve, coverage, crps, fit_scale, standardised_errors
from .predictive import Prediction, ensemble, generator_samples, mc_dropout, z_score

__all__ = ["Prediction", "mc_dropout", "ensemble", "generator_samples", "coverage", "calibration_curve", "fit_scale",
           "standardised_errors", "crps", "z_score", "LEVELS"]
