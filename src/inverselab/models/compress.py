"""Model compression for CPU inference: dynamic int8 quantisation.

:func:`quantize_dynamic` stores the weights of linear and recurrent layers in int8 and
quantises their activations on the fly (PyTorch's dynamic quantisation); other layers stay in
float. Convolutions are not covered by dynamic quantisation, so convolutional networks (U-Net,
LPD, InversionNet) are refused with a clear error: shrink those by distillation
(``--loss distill``) instead.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from ..errors import InputError

__all__ = ["quantize_dynamic", "QUANTIZABLE"]

QUANTIZABLE = (nn.Linear, nn.GRU, nn.LSTM)


def quantize_dynamic(model: nn.Module) -> nn.Module:
    """An int8 copy of ``model`` for CPU inference (the original is left untouched)."""
    layers = [m for m in model.modules() if isinstance(m, QUANTIZABLE)]
    if not layers:
        raise InputError(f"{type(model).__name__} has no linear or recurrent layers to quantise dynamically; "
                         "distil convolutional networks into a smaller student instead (--loss distill)")
    quantize = getattr(getattr(torch.ao, "quantization", None), "quantize_dynamic", None)
    if quantize is None:
        raise InputError(f"PyTorch {torch.__version__} has no torch.ao.quantization.quantize_dynamic; use torchao instead")
    copied = copy.deepcopy(model).cpu().float().eval()
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao; it still works here
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        return quantize(copied, set(QUANTIZABLE), dtype=torch.qint8)
