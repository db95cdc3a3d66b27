"""Model names for the command line and checkpoints: ``build_model(name, problem, **options)``.

A trained model is rebuilt from its name, its options and the problem's configuration, so a
checkpoint needs to store only those plain values next to the weights.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import torch
from torch import nn

from ..analysis.landscape import JointEstimator
from ..errors import InputError, check_choice
from ..problems.base import Problem
from .design import DesignGAN
from .gan import ConditionalWGAN
from .generative import VAE
from .inversionnet import InversionNet
from .layers import channels_of
from .pod import PODInversionNet
from .probabilistic import GaussianMLP
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


def _gaussian_mlp(problem: Problem, **options) -> nn.Module:
    bounds = getattr(problem, "bounds", None)
    if bounds is None:
        raise InputError(f"model 'gaussian-mlp' needs a problem with a few bounded unknowns (e.g. pollutant-source); "
                         f"{problem.name} is not one")
    inputs = math.prod(problem.operator.range_shape)
    return GaussianMLP(inputs, bounds[:, 0], bounds[:, 1], scale=max(problem.noise.sigma, 1e-12), **options)


def _pod_inversionnet(problem: Problem, samples: int = 1000, **options) -> nn.Module:
    sizes = _seismic_sizes(problem, "pod-inversionnet")
    fields = problem.sample_truth(samples, seed=POD_SEED, split="train", dtype=torch.float64)
    return PODInversionNet(fields, velocity_output=True, **sizes, **options)


def _joint_mlp(problem: Problem, **options) -> nn.Module:
    family = getattr(problem, "family", None)
    if family is None:
        raise InputError(f"model 'joint-mlp' needs a joint-optimisation problem (joint-toy, joint-wave-packet, "
                         f"joint-heat-sources); {problem.name} is not one")
    return JointEstimator(family, **options)


def _design_gan(problem: Problem, **options) -> nn.Module:
    op = problem.operator
    if tuple(op.range_shape) != (1,) or len(op.domain_shape) != 3:
        raise InputError(f"model 'design-gan' needs a design problem (a field to one property, e.g. materials-design); "
                         f"{problem.name} is not one")
    return DesignGAN(op, low=float(op.k0), high=float(op.k1), **options)


def _vae(problem: Problem, **options) -> nn.Module:
    op = problem.operator
    if op.domain_complex or len(op.domain_shape) != 3:
        raise InputError(f"model 'vae' needs real images of shape (C, H, W); {problem.name} has "
                         f"{'complex ' if op.domain_complex else ''}unknowns of shape {tuple(op.domain_shape)}")
    return VAE(tuple(op.domain_shape), baseline=problem.baseline_fn, **options)


MODELS: dict[str, tuple[Callable[..., nn.Module], type, str]] = {
    "unet": (_unet, UNet, "U-Net after the problem's baseline (FBPConvNet style)"),
    "lgd": (_lgd, LearnedGradientDescent, "learned gradient descent (unrolled, 10 iterations)"),
    "lpd": (_lpd, LearnedPrimalDual, "learned primal-dual (Adler & Öktem 2018)"),
    "unrolled": (_unrolled, UnrolledDataConsistency, "CNN + exact data consistency (MoDL-like; MRI)"),
    "inversionnet": (_inversionnet, InversionNet, "encoder-decoder from shot gathers to velocity (Wu & Lin 2019)"),
    "cwgan": (_cwgan, ConditionalWGAN, "conditional WGAN-GP: posterior samples of velocity given shot gathers"),
    "gaussian-mlp": (_gaussian_mlp, GaussianMLP, "MLP to a few unknowns with a standard deviation each (Gaussian NLL)"),
    "design-gan": (_design_gan, DesignGAN, "conditional WGAN-GP with a property penalty: designs for a target property"),
    "pod-inversionnet": (_pod_inversionnet, PODInversionNet,
                         "InversionNet's encoder to the coefficients of a POD basis of training velocity models"),
    "joint-mlp": (_joint_mlp, JointEstimator, "MLP from an instance to its unknowns, trained on the summed instance losses"),
    "vae": (_vae, VAE, "variational autoencoder of the problem's images: the generator of method 'generative'"),
}

POD_SEED = 4_000_000  # training-split seed of the velocity models behind the POD basis

# The training loss a model uses unless another is asked for.
DEFAULT_LOSS = {"cwgan": "wgan-gp", "gaussian-mlp": "gaussian-nll", "design-gan": "property-wgan", "joint-mlp": "objective",
                "vae": "vae"}


def model_options(name: str) -> tuple[str, ...]:
    """Options ``build_model(name, ...)`` accepts."""
    check_choice("model", name, MODELS)
    builder, cls, _ = MODELS[name]
    skip = {"self", "operator", "initial", "channels", "shots", "nt", "receivers", "output_shape", "time_last",
            "velocity_output", "vmin", "vmax", "inputs", "low", "high", "scale", "family", "fields", "shape",
            "baseline"}
    names: list[str] = []
    for klass in cls.__mro__:  # constructors that pass **kwargs on take their parent's options too
        params = inspect.signature(klass.__init__).parameters
        names += [p for p, v in params.items() if p not in skip and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)
                  and p not in names]
        if not any(v.kind is v.VAR_KEYWORD for v in params.values()):
            break
    if "samples" in inspect.signature(builder).parameters:
        names.append("samples")  # pod-inversionnet: training models behind the POD basis
    if "start" in inspect.signature(builder).parameters:
        names.append("start")  # lgd/lpd: begin from the baseline (True) or from zero
    return tuple(names)


def build_model(name: str, problem: Problem, **options) -> nn.Module:
    """A fresh (untrained) network ``y -> x`` for ``problem``.

    Parameters
    ----------
    name : {"unet", "lgd", "lpd", "unrolled", "inversionnet", "cwgan", "pod-inversionnet", "gaussian-mlp",
            "design-gan", "joint-mlp", "vae"}
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
