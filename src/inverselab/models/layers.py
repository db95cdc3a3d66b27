"""Building blocks shared by the networks: convolution stacks and complex <-> channel views.

Networks work on real tensors. A complex image ``(B, C, *S)`` is presented to them as
``(B, 2C, *S)`` (real parts, then imaginary parts), so one network design serves CT (real)
and MRI (complex) alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

Tensor = torch.Tensor

__all__ = ["to_channels", "from_channels", "channels_of", "conv_stack", "conv_layer", "physics_precision"]


def to_channels(x: Tensor) -> Tensor:
    """``(B, C, *S)`` complex -> ``(B, 2C, *S)`` real; real tensors pass through."""
    return torch.cat([x.real, x.imag], dim=1) if x.is_complex() else x


def from_channels(h: Tensor, is_complex: bool) -> Tensor:
    """Inverse of :func:`to_channels`: ``(B, 2C, *S)`` -> complex ``(B, C, *S)`` when asked."""
    if not is_complex:
        return h
    c = h.shape[1] // 2
    return torch.complex(h[:, :c], h[:, c : 2 * c])


@contextlib.contextmanager
def physics_precision(h: Tensor) -> Iterator[Tensor]:
    """Run the physics in full precision inside an autocast region (bf16 networks on CUDA).

    Yields ``h`` in float32 if it arrived in a half-precision type, else unchanged, with
    autocast disabled for the operator calls in the block.
    """
    with torch.autocast(h.device.type, enabled=False):
        yield h.float() if h.dtype in (torch.float16, torch.bfloat16) else h


def channels_of(shape: tuple[int, ...], is_complex: bool) -> int:
    """Real channels that represent one sample of ``shape = (C, *S)``."""
    return shape[0] * (2 if is_complex else 1)


def conv_layer(spatial_dims: int, c_in: int, c_out: int, kernel: int = 3) -> nn.Module:
    """A same-padded convolution in 1, 2 or 3 spatial dimensions."""
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[spatial_dims]
    return conv(c_in, c_out, kernel, padding=kernel // 2)


def conv_stack(
    spatial_dims: int, c_in: int, c_out: int, width: int = 32, layers: int = 3, dropout: float = 0.0
) -> nn.Sequential:
    """``layers`` convolutions ``c_in -> width -> ... -> c_out`` with PReLU between them.

    The last convolution starts at zero, so a residual update ``h + block(...)`` starts as the
    identity and an unrolled network starts from its initial reconstruction.

    Dropout (elementwise, after each hidden activation) is active in training mode and, for
    Monte Carlo dropout, whenever the module is put in training mode at inference.
    """
    sizes = [c_in] + [width] * (layers - 1) + [c_out]
    mods: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(conv_layer(spatial_dims, a, b))
        if i < layers - 1:
            mods.append(nn.PReLU(b))
            if dropout > 0:
                mods.append(nn.Dropout(dropout))
    nn.init.zeros_(mods[-1].weight)
    nn.init.zeros_(mods[-1].bias)
    return nn.Sequential(*mods)
