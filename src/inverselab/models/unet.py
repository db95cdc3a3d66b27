"""U-Net: an image-to-image network, used after a fast baseline (FBPConvNet style) and as a
denoiser in hybrids."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .layers import from_channels, physics_precision, to_channels

Tensor = torch.Tensor

__all__ = ["UNet", "PostProcessing"]


def _block(c_in: int, c_out: int, dropout: float) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by group normalisation and ReLU."""
    groups = max(1, min(8, c_out // 4))
    mods: list[nn.Module] = []
    for a in (c_in, c_out):
        mods += [nn.Conv2d(a, c_out, 3, padding=1), nn.GroupNorm(groups, c_out), nn.ReLU(inplace=True)]
    if dropout > 0:
        mods.append(nn.Dropout(dropout))
    return nn.Sequential(*mods)


class UNet(nn.Module):
    """U-Net with a residual output ``x + N(x)``.

    Complex inputs ``(B, C, H, W)`` are handled as ``2C`` real channels and returned complex.
    Any ``H, W`` works: the input is padded to a multiple of ``2**depth`` and cropped back.

    Parameters
    ----------
    channels : int
        Real channels of the input and output (2 for a single complex image).
    depth : int
        Number of down-sampling steps.
    width : int
        Channels at the finest scale; doubled at each coarser scale.
    dropout : float
        Dropout probability after each block (0 disables; enables Monte Carlo dropout).
    residual : bool
        Learn the correction ``N`` of ``x + N(x)`` (the last layer starts at zero, so the
        untrained network is the identity).
    """

    def __init__(self, channels: int = 1, depth: int = 3, width: int = 32, dropout: float = 0.0, residual: bool = True) -> None:
        super().__init__()
        if depth < 1 or width < 1 or channels < 1:
            raise InputError(f"UNet needs channels, depth and width >= 1, got {channels}, {depth}, {width}")
        if not 0 <= dropout < 1:
            raise InputError(f"dropout must be in [0, 1), got {dropout}")
        self.channels, self.depth, self.residual = channels, depth, residual
        widths = [width * 2**k for k in range(depth + 1)]
        self.down = nn.ModuleList([_block(channels, widths[0], dropout)])
        self.down.extend(_block(widths[k], widths[k + 1], dropout) for k in range(depth))
        self.up = nn.ModuleList(nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2) for k in reversed(range(depth)))
        self.merge = nn.ModuleList(_block(2 * widths[k], widths[k], dropout) for k in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], channels, 1)
        if residual:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def forward(self, x: Tensor) -> Tensor:
        """Apply to ``(B, C, H, W)`` (real, or complex with ``2C == channels``)."""
        is_complex = x.is_complex()
        h = to_channels(x)
        if h.ndim != 4 or h.shape[1] != self.channels:
            raise InputError(
                f"UNet expects (B, {self.channels}, H, W) real channels, got {tuple(h.shape)}"
                f"{' (complex counts twice)' if is_complex else ''}"
            )
        height, width = h.shape[-2:]
        m = 2**self.depth
        inp = F.pad(h, (0, -width % m, 0, -height % m), mode="replicate")
        skips, z = [], inp
        for k, block in enumerate(self.down):
            z = block(z if k == 0 else F.max_pool2d(z, 2))
            skips.append(z)
        skips.pop()
        for up, merge in zip(self.up, self.merge):
            z = merge(torch.cat([up(z), skips.pop()], dim=1))
        out = self.head(z)
        if self.residual:
            out = out + inp
        out = out[..., :height, :width]
        if is_complex and out.dtype in (torch.float16, torch.bfloat16):  # under autocast
            out = out.float()
        return from_channels(out, is_complex)


class PostProcessing(nn.Module):
    """A network applied to a fixed fast reconstruction: ``y -> network(baseline(y))``.

    Parameters
    ----------
    baseline : callable
        ``y -> x0`` (FBP, zero-filled inverse FFT, Wiener...); not trained.
    network : nn.Module
        Image-to-image network, e.g. :class:`UNet`.
    """

    def __init__(self, baseline: Callable[[Tensor], Tensor], network: nn.Module) -> None:
        super().__init__()
        self.baseline = baseline
        self.network = network

    def bind(self, problem) -> None:
        """Post-process ``problem``'s baseline from now on (same image shape required)."""
        self.baseline = problem.baseline_fn

    def forward(self, y: Tensor) -> Tensor:
        # no graph is built in training (y needs no gradient); stability analysis differentiates
        # through the baseline with respect to y
        with physics_precision(y) as y:
            x0 = self.baseline(y)
        return self.network(x0)
