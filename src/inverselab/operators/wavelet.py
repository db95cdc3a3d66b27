"""Orthogonal 2-D discrete wavelet transform with periodic boundaries (periodisation).

With periodisation the transform of an orthogonal wavelet (Haar, Daubechies, Symlets,
Coiflets) is an orthogonal matrix, so its adjoint is its inverse and the prox of
``||W x||_1`` is exact. The filters come from PyWavelets; the transform runs in torch
(batched, any device). The coefficients agree with
``pywt.wavedec2(x, wavelet, mode="periodization")`` packed by ``pywt.coeffs_to_array``.

(ptwt, the maintained torch wavelet package, offers no periodisation mode: its padded modes
are redundant, so their adjoint is not their inverse.)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
import torch.nn.functional as F

from ..errors import InputError
from .base import LinearOperator

Tensor = torch.Tensor

__all__ = ["Wavelet2D"]


@lru_cache(maxsize=None)
def _filters(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    import pywt

    try:
        w = pywt.Wavelet(name)
    except ValueError:
        raise InputError(f"unknown wavelet {name!r}: use an orthogonal one such as 'haar', 'db4', 'sym8'") from None
    if not w.orthogonal:
        raise InputError(f"wavelet {name!r} is not orthogonal: use 'haar', 'dbN', 'symN' or 'coifN'")
    return tuple(w.dec_lo), tuple(w.dec_hi)


def _analysis_1d(x: Tensor, bank: Tensor, shift: int) -> tuple[Tensor, Tensor]:
    """One periodised analysis step along the last axis: (..., L) -> two (..., L/2)."""
    shape = x.shape
    length = shape[-1]
    taps = bank.shape[-1]
    flat = x.reshape(-1, 1, length)
    flat = torch.roll(flat, shifts=-shift, dims=-1)
    reps = -(-(taps - 1) // length)  # wrap-around may exceed one period for short signals
    padded = torch.cat([flat] * (reps + 1), dim=-1)[..., : length + taps - 1]
    out = F.conv1d(padded, bank, stride=2)  # (N, 2, L/2)
    lo, hi = out[:, 0], out[:, 1]
    half = (*shape[:-1], length // 2)
    return lo.reshape(half), hi.reshape(half)


def _synthesis_1d(lo: Tensor, hi: Tensor, bank: Tensor, shift: int) -> Tensor:
    """Adjoint (= inverse) of :func:`_analysis_1d`."""
    shape = lo.shape
    half = shape[-1]
    length = 2 * half
    taps = bank.shape[-1]
    coeffs = torch.stack([lo.reshape(-1, half), hi.reshape(-1, half)], dim=1)
    full = F.conv_transpose1d(coeffs, bank, stride=2)  # (N, 1, 2 * half + taps - 2)
    total = length + taps - 1
    full = F.pad(full, (0, total - full.shape[-1]))
    folded = full[..., :length].clone()
    tail = full[..., length:]
    while tail.shape[-1] > 0:  # wrap the periodic overhang back onto the start
        chunk = tail[..., :length]
        folded[..., : chunk.shape[-1]] += chunk
        tail = tail[..., length:]
    folded = torch.roll(folded, shifts=shift, dims=-1)
    return folded.reshape(*shape[:-1], length)


class Wavelet2D(LinearOperator):
    r"""Orthogonal multilevel 2-D wavelet transform (periodised), coefficients packed in an
    array of the image's shape (coarsest approximation in the top-left corner).

    Parameters
    ----------
    shape : sequence of int
        Image shape ``(C, H, W)``; H and W must be divisible by ``2**levels``.
    wavelet : str
        Orthogonal PyWavelets name (``"haar"``, ``"db4"``, ``"sym8"``, ...).
    levels : int, optional
        Decomposition levels; default: as many as keep the coarsest band at least as large as
        the filter.
    is_complex : bool
        Transform complex images (real and imaginary parts separately).

    Notes
    -----
    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    Each level filters the rows and columns of the current approximation with the low- and
    high-pass filters of an orthogonal wavelet and keeps every second sample (periodised at the
    border), giving an approximation and three detail bands. The transform is orthogonal,
    :math:`W^H W = I`, so its adjoint is its inverse and the proximal map of
    :math:`\lambda \|W x\|_1` is :math:`W^H \operatorname{soft}_\lambda(W x)`. The coefficients
    equal PyWavelets' ``wavedec2`` with ``mode="periodization"``.

    References
    ----------
    S. Mallat, *A Wavelet Tour of Signal Processing*, 3rd ed. Academic Press, 2009.

    I. Daubechies, *Ten Lectures on Wavelets*. SIAM, 1992.
    """

    def __init__(
        self, shape: Sequence[int], wavelet: str = "db4", levels: int | None = None, is_complex: bool = False
    ) -> None:
        shape = tuple(int(s) for s in shape)
        if len(shape) != 3:
            raise InputError(f"Wavelet2D needs an image shape (C, H, W), got {shape}")
        super().__init__(shape, shape, domain_complex=is_complex, range_complex=is_complex)
        dec_lo, dec_hi = _filters(wavelet)
        self.wavelet = wavelet
        taps = len(dec_lo)
        h, w = shape[1:]
        if levels is None:  # deepest level whose coarsest band is divisible and >= the filter
            levels = 1
            while all(s % 2 ** (levels + 1) == 0 and s >> (levels + 1) >= taps for s in (h, w)):
                levels += 1
        if levels < 1 or h % (2**levels) or w % (2**levels):
            raise InputError(
                f"image size ({h}, {w}) must be divisible by 2**levels = {2 ** levels}: pad the image or "
                "use fewer levels"
            )
        self.levels = int(levels)
        bank = torch.tensor([dec_lo[::-1], dec_hi[::-1]], dtype=torch.float64)[:, None, :]
        self.register_buffer("bank", bank, persistent=False)
        # matches pywt's periodisation alignment
        self.shift = 1 - taps // 2

    def _bank(self, x: Tensor) -> Tensor:
        return self.bank.to(device=x.device, dtype=x.real.dtype)

    def _forward(self, x: Tensor) -> Tensor:
        if x.is_complex():
            return torch.complex(self._forward(x.real), self._forward(x.imag))
        bank = self._bank(x)
        out = x.clone()
        h, w = x.shape[-2:]
        for _ in range(self.levels):
            band = out[..., :h, :w]
            lo, hi = _analysis_1d(band, bank, self.shift)  # along W
            rows = torch.cat([lo, hi], dim=-1)
            lo, hi = _analysis_1d(rows.transpose(-1, -2), bank, self.shift)  # along H
            out[..., :h, :w] = torch.cat([lo, hi], dim=-1).transpose(-1, -2)
            h, w = h // 2, w // 2
        return out

    def _adjoint(self, c: Tensor) -> Tensor:
        if c.is_complex():
            return torch.complex(self._adjoint(c.real), self._adjoint(c.imag))
        bank = self._bank(c)
        out = c.clone()
        h, w = (s >> (self.levels - 1) for s in c.shape[-2:])
        for _ in range(self.levels):
            band = out[..., :h, :w].transpose(-1, -2)
            rows = _synthesis_1d(band[..., : h // 2], band[..., h // 2 :], bank, self.shift)
            rows = rows.transpose(-1, -2)
            out[..., :h, :w] = _synthesis_1d(rows[..., : w // 2], rows[..., w // 2 :], bank, self.shift)
            h, w = 2 * h, 2 * w
        return out

    def _normal(self, x: Tensor) -> Tensor:
        return x

    def norm(self, *args, **kwargs) -> float:
        return 1.0

    def detail_mask(self) -> Tensor:
        """Boolean ``(H, W)`` mask of detail coefficients (False on the coarsest approximation)."""
        h, w = self.domain_shape[1:]
        mask = torch.ones(h, w, dtype=torch.bool)
        mask[: h >> self.levels, : w >> self.levels] = False
        return mask
