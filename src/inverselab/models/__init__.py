"""Neural networks for reconstruction: U-Net, unrolled schemes (LGD, LPD, MoDL-like), InversionNet,
and a conditional WGAN-GP for posterior sampling.

Every model maps measurements to images, ``model(y) -> x``, with the batch first and complex
data carried as channel pairs; :func:`build_model` makes one for a problem by name.
"""

from .gan import ConditionalWGAN, GatherCritic, VelocityGenerator
from .generative import VAE
from .inversionnet import InversionNet
from .layers import from_channels, to_channels
from .registry import MODELS, build_model, default_loss, model_options, register
from .symmetry import Symmetrized
from .tracewise import TraceNet
from .trained import TrainedModel, load_run
from .unet import PostProcessing, UNet
from .unrolled import LearnedGradientDescent, LearnedPrimalDual, UnrolledDataConsistency

__all__ = [
    "MODELS",
    "ConditionalWGAN",
    "GatherCritic",
    "InversionNet",
    "LearnedGradientDescent",
    "LearnedPrimalDual",
    "PostProcessing",
    "Symmetrized",
    "TraceNet",
    "TrainedModel",
    "UNet",
    "UnrolledDataConsistency",
    "VAE",
    "VelocityGenerator",
    "build_model",
    "default_loss",
    "register",
    "from_channels",
    "load_run",
    "model_options",
    "to_channels",
]
