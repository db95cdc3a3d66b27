"""Trace-wise networks for post-stack impedance inversion: one seismic trace at a time.

Each trace is inverted on its own, as a well log would be: the input is the seismic trace and
the smooth background log-impedance ``m0`` of the same trace (the low frequencies the band-limited
data lack), the output the log-impedance ``m = m0 + update``. Two architectures:

``"cnn"``
    Residual stack of dilated 1-D convolutions (dilations 1, 2, 4, ... per layer, kernel 3), so
    the receptive field (``2^(layers + 1) - 1`` samples) spans the wavelet.
``"gru"``
    A bidirectional GRU over time after a 1-D convolution embedding, then a linear read-out
    (the recurrent choice of Alfarraj & AlRegib 2019).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError, format_shape

Tensor = torch.Tensor

__all__ = ["TraceNet"]

_KINDS = ("cnn", "gru")


class _DilatedBlock(nn.Module):
    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.act = nn.GELU()

    def forward(self, h: Tensor) -> Tensor:
        return h + self.act(self.conv(h))


class TraceNet(nn.Module):
    """Map seismic traces and background log-impedance to log-impedance, trace by trace.

    Parameters
    ----------
    kind : {"cnn", "gru"}
        Dilated 1-D CNN or bidirectional GRU.
    width : int
        Hidden channels (CNN) or GRU hidden size per direction.
    layers : int
        Dilated blocks (CNN) or stacked GRU layers.

    Attributes
    ----------
    data_scale : Tensor
        Amplitude the data are divided by (a buffer, stored with the weights; set it to the RMS
        of the training data, as :func:`~inverselab.studies.impedance.fit_tracewise` does).
    """

    def __init__(self, kind: str = "cnn", width: int = 32, layers: int = 6) -> None:
        super().__init__()
        if kind not in _KINDS:
            raise InputError(f"unknown trace network {kind!r}: choose one of {', '.join(_KINDS)}")
        for name, value in (("width", width), ("layers", layers)):
            if not isinstance(value, int) or value < 1:
                raise InputError(f"TraceNet needs an integer {name} >= 1, got {value!r}")
        self.kind = kind
        self.register_buffer("data_scale", torch.ones((), dtype=torch.float64))
        if kind == "cnn":
            self.body = nn.Sequential(nn.Conv1d(2, width, 3, padding=1),
                                      *[_DilatedBlock(width, 2**k) for k in range(layers)])
            self.head = nn.Conv1d(width, 1, 1)
        else:
            self.embed = nn.Conv1d(2, width, 5, padding=2)
            self.body = nn.GRU(width, width, num_layers=layers, batch_first=True, bidirectional=True)
            self.head = nn.Linear(2 * width, 1)
        nn.init.zeros_(self.head.weight)  # an untrained network returns the background
        nn.init.zeros_(self.head.bias)

    def forward(self, data: Tensor, background: Tensor) -> Tensor:
        """Log-impedance ``m0 + update`` shaped like ``background``.

        Parameters
        ----------
        data : Tensor
            Seismic traces ``(B, nt)`` or sections ``(B, nt, nx)``.
        background : Tensor
            Background log-impedance ``m0``, the same shape.
        """
        if data.shape != background.shape or data.ndim not in (2, 3):
            raise InputError(f"TraceNet takes data and background of one shape (B, nt) or (B, nt, nx), "
                             f"got {format_shape(data.shape)} and {format_shape(background.shape)}")
        section = data.ndim == 3
        if section:  # (B, nt, nx) -> (B * nx, nt)
            b, nt, nx = data.shape
            data, background = (t.permute(0, 2, 1).reshape(b * nx, nt) for t in (data, background))
        dtype = self.head.weight.dtype
        h = torch.stack([data / self.data_scale.to(data.dtype), background - background.mean(dim=1, keepdim=True)], dim=1).to(dtype)
        if self.kind == "cnn":
            update = self.head(self.body(h))[:, 0]
        else:
            update = self.head(self.body(self.embed(h).transpose(1, 2))[0])[..., 0]
        m = background + update.to(background.dtype)
        return m.reshape(b, nx, nt).permute(0, 2, 1) if section else m
