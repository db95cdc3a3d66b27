"""The model registry: ``build_model(name, problem, **options)`` by name.

A trained model is rebuilt from its name, its options and the problem's configuration, so a
checkpoint needs to store only those plain values next to the weights. Each entry is a builder
``(problem, **options) -> nn.Module`` with its network class (whose constructor declares the
options), the constructor arguments the builder fills from the problem, and the loss it trains
with unless another is named. Add one with :func:`register`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ..problems.base import Problem
from ..registry import Parameter, Registry, parameters_of
from .design import DesignGAN
from .gan import ConditionalWGAN
from .generative import VAE
from .inversionnet import InversionNet
from .joint import JointEstimator
from .layers import channels_of
from .pod import PODInversionNet
from .probabilistic import GaussianMLP
from .unet import PostProcessing, UNet
from .unrolled import LearnedGradientDescent, LearnedPrimalDual, UnrolledDataConsistency

__all__ = ["MODELS", "register", "build_model", "model_options", "default_loss"]

#: Every model; ``entry.extras``: ``network`` (its class) and ``default_loss``.
MODELS = Registry("model", noun="option")


def _class_options(network: type, supplied: tuple[str, ...]) -> tuple[Parameter, ...]:
    """Constructor options of ``network``, with those of its parents where it passes
    ``**kwargs`` on to them, less the ones the builder supplies."""
    chain = [k for k in network.__mro__ if k is not object and "__init__" in vars(k)]
    return parameters_of(chain[0], skip=supplied, follow=tuple(chain[1:]))


def register(name: str, description: str, network: type | None = None, supplied: tuple[str, ...] = (),
             default_loss: str = "supervised") -> Callable[[Callable], Callable]:
    """Decorator registering a builder ``(problem, **options) -> nn.Module`` as model ``name``.

    Parameters
    ----------
    name : str
        What users type (``--model NAME``).
    description : str
        One line.
    network : type, optional
        The network class; its constructor's keyword parameters are the model's options.
    supplied : tuple of str
        Constructor arguments the builder fills from the problem (not options).
    default_loss : str
        The training loss used unless another is named.
    """

    def wrap(builder: Callable[..., Any]) -> Callable[..., Any]:
        own = parameters_of(builder, skip=("problem",))
        taken = {p.name for p in own}
        options = own + tuple(p for p in (_class_options(network, supplied) if network else ()) if p.name not in taken)
        MODELS.add(name, builder, description, options, network=network, default_loss=default_loss)
        return builder

    return wrap


_SEISMIC = ("shots", "nt", "receivers", "output_shape", "time_last", "vmin", "vmax")


@register("unet", "U-Net after the problem's baseline (FBPConvNet style)", UNet, supplied=("channels",))
def _unet(problem: Problem, **options) -> nn.Module:
    op = problem.operator
    if len(op.domain_shape) != 3:
        raise InputError(f"model 'unet' needs images of shape (C, H, W); {problem.name} has unknowns of shape "
                         f"{tuple(op.domain_shape)}")
    return PostProcessing(problem.baseline_fn, UNet(channels_of(op.domain_shape, op.domain_complex), **options))


@register("lgd", "learned gradient descent (unrolled, 10 iterations)", LearnedGradientDescent,
          supplied=("operator", "initial"))
def _lgd(problem: Problem, start: bool = True, **options) -> nn.Module:
    return LearnedGradientDescent(problem.operator, initial=problem.baseline_fn if start else None, **options)


@register("lpd", "learned primal-dual (Adler & Öktem 2018)", LearnedPrimalDual, supplied=("operator", "initial"))
def _lpd(problem: Problem, start: bool = True, **options) -> nn.Module:
    return LearnedPrimalDual(problem.operator, initial=problem.baseline_fn if start else None, **options)


@register("unrolled", "CNN + exact data consistency (MoDL-like; MRI)", UnrolledDataConsistency,
          supplied=("operator",))
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


@register("inversionnet", "encoder-decoder from shot gathers to velocity (Wu & Lin 2019)", InversionNet,
          supplied=_SEISMIC + ("velocity_output",))
def _inversionnet(problem: Problem, **options) -> nn.Module:
    return InversionNet(velocity_output=True, **_seismic_sizes(problem, "inversionnet"), **options)


@register("cwgan", "conditional WGAN-GP: posterior samples of velocity given shot gathers", ConditionalWGAN,
          supplied=_SEISMIC, default_loss="wgan-gp")
def _cwgan(problem: Problem, **options) -> nn.Module:
    return ConditionalWGAN(**_seismic_sizes(problem, "cwgan"), **options)


@register("gaussian-mlp", "MLP to a few unknowns with a standard deviation each (Gaussian NLL)", GaussianMLP,
          supplied=("inputs", "low", "high", "scale"), default_loss="gaussian-nll")
def _gaussian_mlp(problem: Problem, **options) -> nn.Module:
    bounds = getattr(problem, "bounds", None)
    if bounds is None:
        raise InputError(f"model 'gaussian-mlp' needs a problem with a few bounded unknowns (e.g. pollutant-source); "
                         f"{problem.name} is not one")
    inputs = math.prod(problem.operator.range_shape)
    return GaussianMLP(inputs, bounds[:, 0], bounds[:, 1], scale=max(problem.noise.sigma, 1e-12), **options)


@register("pod-inversionnet", "InversionNet's encoder to the coefficients of a POD basis of training velocity "
          "models", PODInversionNet, supplied=_SEISMIC + ("fields", "velocity_output"))
def _pod_inversionnet(problem: Problem, samples: int = 1000, **options) -> nn.Module:
    sizes = _seismic_sizes(problem, "pod-inversionnet")
    fields = problem.sample_truth(samples, seed=POD_SEED, split="train", dtype=torch.float64)
    return PODInversionNet(fields, velocity_output=True, **sizes, **options)


@register("joint-mlp", "MLP from an instance to its unknowns, trained on the summed instance losses",
          JointEstimator, supplied=("family",), default_loss="objective")
def _joint_mlp(problem: Problem, **options) -> nn.Module:
    family = getattr(problem, "family", None)
    if family is None:
        raise InputError(f"model 'joint-mlp' needs a joint-optimisation problem (joint-toy, joint-wave-packet, "
                         f"joint-heat-sources); {problem.name} is not one")
    return JointEstimator(family, **options)


@register("design-gan", "conditional WGAN-GP with a property penalty: designs for a target property",
          DesignGAN, supplied=("operator", "low", "high"), default_loss="property-wgan")
def _design_gan(problem: Problem, **options) -> nn.Module:
    op = problem.operator
    if tuple(op.range_shape) != (1,) or len(op.domain_shape) != 3:
        raise InputError(f"model 'design-gan' needs a design problem (a field to one property, e.g. materials-design); "
                         f"{problem.name} is not one")
    return DesignGAN(op, low=float(op.k0), high=float(op.k1), **options)


@register("vae", "variational autoencoder of the problem's images: the generator of method 'generative'", VAE,
          supplied=("shape", "baseline"), default_loss="vae")
def _vae(problem: Problem, **options) -> nn.Module:
    op = problem.operator
    if op.domain_complex or len(op.domain_shape) != 3:
        raise InputError(f"model 'vae' needs real images of shape (C, H, W); {problem.name} has "
                         f"{'complex ' if op.domain_complex else ''}unknowns of shape {tuple(op.domain_shape)}")
    return VAE(tuple(op.domain_shape), baseline=problem.baseline_fn, **options)


POD_SEED = 4_000_000  # training-split seed of the velocity models behind the POD basis

def default_loss(name: str) -> str:
    """The loss model ``name`` trains with unless another is named."""
    return MODELS.get(name).extras["default_loss"]


def model_options(name: str) -> tuple[str, ...]:
    """Options ``build_model(name, ...)`` accepts."""
    return tuple(p.name for p in MODELS.get(name).parameters)


def build_model(name: str, problem: Problem, **options) -> nn.Module:
    """A fresh (untrained) network ``y -> x`` for ``problem``.

    Parameters
    ----------
    name : str
        A registered model (``inverselab list``): unet, lgd, lpd, unrolled, inversionnet, cwgan,
        pod-inversionnet, gaussian-mlp, design-gan, joint-mlp, vae, or a plugin's.
    problem : Problem
        Supplies the operator (unrolled networks) or the baseline (U-Net).
    **options
        Architecture options, e.g. ``width=16``, ``depth=3``, ``dropout=0.1``, ``start=False``.

    Raises
    ------
    InputError
        Unknown model or option, or an option of the wrong type.
    """
    checked = MODELS.options(name, options)
    if getattr(problem, "operator", None) is None:
        raise InputError(f"model {name!r} needs a problem with a forward operator; {problem.name} is an estimation "
                         f"problem (estimate it with one of its methods: {', '.join(problem.methods)})")
    return MODELS.get(name).obj(problem, **checked)
