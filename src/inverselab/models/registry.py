"""Model names for the command line and checkpoints: ``build_model(name, problem, **options)``.

A trained model is rebuilt from its name, its options and the problem's configuration, so a
checkpoint needs to store only those plain values next to the weights.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from ..errors import InputError, check_choice
from ..problems.base import Problem
from .gan import ConditionalWGAN
from .inversionnet import InversionNet
from .layers import channels_of
from .unet import PostProcessing, UNet
from .unrolled import LearnedGradientDescent, LearnedPrimalDual, UnrolledDataConsistency

__all__ = ["MODELS", "DEFAULT_LOSS", "build_model", "model_options"]


def _unet(problem: Problem, **options) -> nn.Module:
    op = problem.operator
    return PostProcessing(problem.baseline_fn, UNet(channels_of(op.domain_shape, op.domain_complex), **options))


def _lgd(problem: Problem, start: bool = True, **options) -> nn.Module:
    return LearnedGradientDescent(problem.operator, initial=problem.baseline_fn if start else None, **options)


def _lpd(problem: Problem, start: bool = True, **options) -> nn.Module:
    return LearnedPrimalDual(problem.operator, initial=problem.baseline_fn if start else None, **options)


def _unrolled(problem: Problem, **options) -> nn.Module:
    return UnrolledDataConsistency(problem.operator, **options)


def _seismic_sizes(problem: Problem, model: str) -> dict:
    """Gather and model sizes of a seismic problem, as InversionNet-style constructors take them."""
    op = problem.operator  # AcousticWave2D: domain (nz, nx), range (shots, receivers, nt)
    if len(op.domain_shape) != 2 or len(op.range_shape) != 3 or problem.value_range is None:
        raise InputError(f"model {model!r} needs a seismic problem (shot gathers to velocity, e.g. fwi-flat); "
                         f"{problem.name} is not one")
    shots, receivers, nt = op.range_shape
    vmin, vmax = problem.value_range
    return dict(shots=shots, nt=nt, receivers=receivers, output_shape=op.domain_shape, time_last=True, vmin=vmin, vmax=vmax)


def _inversionnet(problem: Problem, **options) -> nn.Module:
    return InversionNet(velocity_output=True, **_seismic_sizes(problem, "inversionnet"), **options)


def _cwgan(problem: Problem, **options) -> nn.Module:
    return ConditionalWGAN(**_seismic_sizes(problem, "cwgan"), **options)


MODELS: dict[str, tuple[Callable[..., nn.Module], type, str]] = {
    "unet": (_unet, UNet, "U-Net after the problem's baseline (FBPConvNet style)"),
    "lgd": (_lgd, LearnedGradientDescent, "learned gradient descent (unrolled, 10 iterations)"),
    "lpd": (_lpd, LearnedPrimalDual, "learned primal-dual (Adler & Öktem 2018)"),
    "unrolled": (_unrolled, UnrolledDataConsistency, "CNN + exact data consistency (MoDL-like; MRI)"),
    "inversionnet": (_inversionnet, InversionNet, "encoder-decoder from shot gathers to velocity (Wu & Lin 2019)"),
    "cwgan": (_cwgan, ConditionalWGAN, "conditional WGAN-GP: posterior samples of velocity given shot gathers"),
}

# The training loss a model uses unless another is asked for.
DEFAULT_LOSS = {"cwgan": "wgan-gp"}


def model_options(name: str) -> tuple[str, ...]:
    """Options ``build_model(name, ...)`` accepts."""
    check_choice("model", name, MODELS)
    builder, cls, _ = MODELS[name]
    skip = {"self", "operator", "initial", "channels", "shots", "nt", "receivers", "output_shape", "time_last",
            "velocity_output", "vmin", "vmax"}
    names = [p for p in inspect.signature(cls.__init__).parameters if p not in skip]
    if "start" in inspect.signature(builder).parameters:
        names.append("start")  # lgd/lpd: begin from the baseline (True) or from zero
    return tuple(names)


def build_model(name: str, problem: Problem, **options) -> nn.Module:
    """A fresh (untrained) network ``y -> x`` for ``problem``.

    Parameters
    ----------
    name : {"unet", "lgd", "lpd", "unrolled", "inversionnet", "cwgan"}
        Architecture.
    problem : Problem
        Supplies the operator (unrolled networks) or the baseline (U-Net).
    **options
        Architecture options, e.g. ``width=16``, ``depth=3``, ``dropout=0.1``, ``start=False``.
    """
    accepted = model_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError(f"model {name!r} has no option {unknown[0]!r}: valid are {', '.join(accepted)}")
    return MODELS[name][0](problem, **options)
