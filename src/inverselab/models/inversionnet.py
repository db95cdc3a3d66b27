"""InversionNet: a data-driven map from seismic shot gathers to a velocity model.

After Wu & Lin (2019), "InversionNet: an efficient and accurate data-driven full waveform
inversion", and the OpenFWI baseline (Deng et al. 2022), written anew for this package.

Input layout
------------
``(B, shots, nt, receivers)``: one channel per shot, time down the rows, receivers along the
columns -- OpenFWI's layout, ``(B, 5, 1000, 70)`` for its 70 x 70 models. The forward operator
:class:`~inverselab.operators.acoustic.AcousticWave2D` returns ``(B, shots, receivers, nt)``
instead; build the network with ``time_last=True`` to feed its output directly (it is then
transposed inside).

Architecture (``width`` = w; OpenFWI's default w = 32)
------------------------------------------------------
Encoder
    1. Time compression: a ``(7, 1)`` convolution with stride ``(2, 1)``, then further stages of a
       ``(3, 1)`` convolution with stride ``(2, 1)`` and a ``(3, 1)`` convolution; in all
       ``max(1, round(log2(nt / receivers)))`` halvings of the time axis, so the gather
       becomes roughly square (1000 x 70 -> 63 x 70 after 4). Channels w, 2w, 2w, 4w, 4w, ...
    2. Space: stages of a 3x3 convolution with stride 2 and a 3x3 convolution, at least one and
       until both sides are <= 16 (63 x 70 -> 32 x 35 -> 16 x 18 -> 8 x 9). Channels 4w, 8w,
       8w, ...
    3. Global latent: adaptive average pooling to ``(min(h, 8), min(w, 8))`` and a convolution
       whose kernel covers that grid: a ``16 w``-dimensional 1 x 1 code. (OpenFWI uses an 8 x 9
       kernel on 8 x 9 features for 70 receivers; here it is 8 x 8 after pooling.)
Decoder
    A 5 x 5 transposed convolution of the code, then ``m = ceil(log2(max(nz, nx) / 5))``
    stride-2 transposed convolutions (kernel 4), each followed by a 3x3 convolution
    (channels 8w, 4w, 2w, w for m = 4: 5 -> 10 -> 20 -> 40 -> 80), a centre crop to
    ``(nz, nx)``, and a 3x3 convolution to one channel with ``tanh``.

Every convolution except the latent and the last one is followed by normalisation (batch norm
by default, as OpenFWI) and LeakyReLU(0.2). The 1 x 1 latent has no normalisation, so training
with batch size 1 works. Dropout (``dropout > 0``) follows each decoder stage.

Output units
------------
The network's raw output ``u`` is in [-1, 1] (tanh); the velocity in m/s is
``v = vmin + (u + 1) (vmax - vmin) / 2`` (:meth:`InversionNet.to_velocity`; inverse
:meth:`InversionNet.normalise`, OpenFWI's min-max normalisation). With
``velocity_output=True`` ``forward`` returns ``v`` directly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, format_shape

Tensor = torch.Tensor

__all__ = ["InversionNet"]

_NORMS = ("batch", "group", "none")


class _MCDropout(nn.Dropout):
    """Elementwise dropout that can stay active in evaluation mode (Monte Carlo dropout)."""

    def __init__(self, p: float) -> None:
        super().__init__(p)
        self.always = False

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training or self.always, self.inplace)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(max(1, min(8, channels // 4)), channels)
    return nn.Identity()


def _conv(c_in: int, c_out: int, kernel, stride, padding, norm: str) -> nn.Sequential:
    """Convolution, normalisation, LeakyReLU(0.2)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, padding), _norm(norm, c_out), nn.LeakyReLU(0.2, inplace=True)
    )


def _deconv(c_in: int, c_out: int, kernel: int, stride: int, padding: int, norm: str) -> nn.Sequential:
    """Transposed convolution, normalisation, LeakyReLU(0.2)."""
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, kernel, stride, padding), _norm(norm, c_out), nn.LeakyReLU(0.2, inplace=True)
    )


def _half(n: int) -> int:
    """Length after a stride-2 convolution with 'same'-style padding: ceil(n / 2)."""
    return (n + 1) // 2


class InversionNet(nn.Module):
    """Encoder-decoder CNN from shot gathers to a velocity model (Wu & Lin 2019; OpenFWI).

    See the module docstring for the input layout, the layer plan and the output units.

    Parameters
    ----------
    shots : int
        Number of shots (input channels).
    nt : int
        Time samples per trace.
    receivers : int
        Receivers per shot.
    output_shape : (int, int)
        Velocity model shape ``(nz, nx)`` in cells.
    width : int
        Channels of the first layer (w); the widest layers have ``16 w``. 32 as OpenFWI
        (23.4 M parameters for the default configuration; OpenFWI's has 24.4 M); 8 for quick experiments.
    dropout : float
        Dropout probability after each decoder stage, in [0, 1) (0: none). Active in training
        mode, and in evaluation mode too after ``net.mc_dropout = True`` (Monte Carlo dropout).
    norm : {"batch", "group", "none"}
        Normalisation after the hidden convolutions (batch norm as OpenFWI).
    vmin, vmax : float
        Velocities in m/s that the output values -1 and +1 stand for.
    velocity_output : bool
        Return velocities in m/s instead of the normalised ``[-1, 1]`` values.
    time_last : bool
        Take ``(B, shots, receivers, nt)`` (the layout of
        :class:`~inverselab.operators.acoustic.AcousticWave2D`) instead of
        ``(B, shots, nt, receivers)``.

    Examples
    --------
    >>> net = InversionNet()                      # OpenFWI: 5 shots, 1000 samples, 70 receivers
    >>> net.eval()(torch.randn(1, 5, 1000, 70)).shape
    torch.Size([1, 70, 70])
    >>> small = InversionNet(shots=3, nt=200, receivers=20, output_shape=(20, 20), width=8)
    """

    def __init__(
        self,
        shots: int = 5,
        nt: int = 1000,
        receivers: int = 70,
        output_shape: tuple[int, int] = (70, 70),
        width: int = 32,
        dropout: float = 0.0,
        norm: str = "batch",
        vmin: float = 1500.0,
        vmax: float = 4500.0,
        velocity_output: bool = False,
        time_last: bool = False,
    ) -> None:
        super().__init__()
        try:
            nz, nx = (int(s) for s in output_shape)
        except (TypeError, ValueError):
            raise InputError(f"output_shape must be a pair (nz, nx), got {output_shape!r}") from None
        sizes = {"shots": shots, "nt": nt, "receivers": receivers, "width": width, "nz": nz, "nx": nx}
        for name, value in sizes.items():
            if not isinstance(value, int) or value < 1:
                raise InputError(f"InversionNet needs an integer {name} >= 1, got {value!r}")
        if not 0 <= dropout < 1:
            raise InputError(f"dropout must be in [0, 1), got {dropout}")
        if norm not in _NORMS:
            raise InputError(f"unknown norm {norm!r}: choose one of {', '.join(_NORMS)}")
        if not (math.isfinite(vmin) and math.isfinite(vmax) and vmin < vmax):
            raise InputError(f"need finite vmin < vmax (m/s), got vmin={vmin}, vmax={vmax}")
        self.shots, self.nt, self.receivers = shots, nt, receivers
        self.output_shape = (nz, nx)
        self.vmin, self.vmax = float(vmin), float(vmax)
        self.velocity_output, self.time_last = velocity_output, time_last
        w = width

        # Encoder, part 1: compress time with (k, 1) kernels.
        halvings = max(1, round(math.log2(nt / receivers))) if nt > receivers else 1
        layers: list[nn.Module] = []
        h, c = nt, shots
        for k in range(halvings):
            c_out = w * min(4, 2 ** ((k + 1) // 2))
            if k == 0:
                layers.append(_conv(c, c_out, (7, 1), (2, 1), (3, 0), norm))
            else:
                layers += [_conv(c, c_out, (3, 1), (2, 1), (1, 0), norm), _conv(c_out, c_out, (3, 1), 1, (1, 0), norm)]
            h, c = _half(h), c_out
        # Encoder, part 2: 3x3 stages in space until both sides are <= 16.
        r, j = receivers, 0
        while j == 0 or max(h, r) > 16:
            c_out = w * min(8, 4 * 2 ** ((j + 1) // 2))
            layers += [_conv(c, c_out, 3, 2, 1, norm), _conv(c_out, c_out, 3, 1, 1, norm)]
            h, r, c, j = _half(h), _half(r), c_out, j + 1
        self.encoder = nn.Sequential(*layers)
        self.grid = (min(h, 8), min(r, 8))
        self.latent = nn.Sequential(nn.Conv2d(c, 16 * w, self.grid), nn.LeakyReLU(0.2, inplace=True))

        # Decoder: 1 -> 5 -> 10 -> ... >= max(nz, nx), then crop.
        ups = max(0, math.ceil(math.log2(max(nz, nx) / 5)))
        c = 16 * w
        stages: list[nn.Module] = [
            nn.Sequential(_deconv(c, c, 5, 1, 0, norm), _conv(c, c, 3, 1, 1, norm), *self._dropout(dropout))
        ]
        for k in range(ups):
            c_out = w * min(16, 2 ** (ups - 1 - k))
            up = _deconv(c, c_out, 4, 2, 1, norm)
            stages.append(nn.Sequential(up, _conv(c_out, c_out, 3, 1, 1, norm), *self._dropout(dropout)))
            c = c_out
        self.decoder = nn.Sequential(*stages)
        self.decoded_size = 5 * 2**ups
        self.head = nn.Conv2d(c, 1, 3, padding=1)

    @staticmethod
    def _dropout(p: float) -> list[nn.Module]:
        return [_MCDropout(p)] if p > 0 else []

    @property
    def mc_dropout(self) -> bool:
        """Whether dropout stays active in evaluation mode (Monte Carlo dropout); settable.
        Needs ``dropout > 0`` at construction to have any effect."""
        return any(m.always for m in self.modules() if isinstance(m, _MCDropout))

    @mc_dropout.setter
    def mc_dropout(self, enabled: bool) -> None:
        for m in self.modules():
            if isinstance(m, _MCDropout):
                m.always = bool(enabled)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Expected shape of one sample: ``(shots, nt, receivers)``, or ``(shots, receivers, nt)``
        with ``time_last``."""
        return (self.shots, self.receivers, self.nt) if self.time_last else (self.shots, self.nt, self.receivers)

    def to_velocity(self, u: Tensor) -> Tensor:
        """Normalised values in [-1, 1] -> velocities in m/s: ``vmin + (u + 1) (vmax - vmin) / 2``."""
        return self.vmin + (u + 1) * (0.5 * (self.vmax - self.vmin))

    def normalise(self, v: Tensor) -> Tensor:
        """Velocities in m/s -> normalised values (inverse of :meth:`to_velocity`)."""
        return (v - self.vmin) * (2.0 / (self.vmax - self.vmin)) - 1

    def _check_input(self, gathers: Tensor) -> None:
        expected = self.input_shape
        if gathers.is_complex() or gathers.ndim != 4 or tuple(gathers.shape[1:]) != expected:
            layout = "(B, shots, receivers, nt)" if self.time_last else "(B, shots, nt, receivers)"
            hint = ""
            if gathers.ndim == 4 and tuple(gathers.shape[1:]) == (expected[0], expected[2], expected[1]):
                hint = f"; time and receiver axes look swapped: {'drop' if self.time_last else 'pass'} time_last=True"
            elif gathers.ndim == 3:
                hint = "; add a batch axis (gathers[None])"
            kind = "complex " if gathers.is_complex() else ""
            raise InputError(
                f"InversionNet expects real shot gathers {layout} = (B, {', '.join(map(str, expected))}), "
                f"got {kind}{format_shape(gathers.shape)}{hint}"
            )

    def encode(self, gathers: Tensor) -> Tensor:
        """Latent code ``(B, 16 w, 1, 1)`` of shot gathers laid out as :meth:`forward` takes them."""
        self._check_input(gathers)
        h = gathers.transpose(-1, -2) if self.time_last else gathers
        h = h.to(self.latent[0].weight.dtype)  # e.g. float64 gathers from the simulator
        return self.latent(F.adaptive_avg_pool2d(self.encoder(h), self.grid))

    def _decode(self, code: Tensor) -> Tensor:
        """Latent code ``(B, 16 w, 1, 1)`` -> output in the units of :meth:`forward`."""
        h = self.decoder(code)
        nz, nx = self.output_shape
        top, left = (self.decoded_size - nz) // 2, (self.decoded_size - nx) // 2
        h = h[..., top : top + nz, left : left + nx]
        u = torch.tanh(self.head(h)).squeeze(1)
        return self.to_velocity(u) if self.velocity_output else u

    def forward(self, gathers: Tensor) -> Tensor:
        """Map shot gathers to velocity models.

        Parameters
        ----------
        gathers : Tensor
            ``(B, shots, nt, receivers)`` real (``(B, shots, receivers, nt)`` with
            ``time_last``). Amplitudes in any units with batch or group norm (the first
            convolution's output is normalised); scale them to about 1 with ``norm="none"``.

        Returns
        -------
        Tensor
            ``(B, nz, nx)``: normalised velocity in [-1, 1], or m/s with ``velocity_output``.
        """
        return self._decode(self.encode(gathers))
