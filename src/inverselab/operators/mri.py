"""Cartesian MRI: undersampled centred orthonormal FFT, single- and multi-coil, and masks.

Images are complex ``(B, 1, H, W)``; k-space is complex ``(B, coils, H, W)`` on the full grid
with zeros where the mask did not sample (the fastMRI convention). Phase encoding runs along
the last axis (W): 1-D masks select columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .._tensor import complex_dtype, generator
from ..errors import InputError, format_shape
from .base import LinearOperator

Tensor = torch.Tensor

__all__ = [
    "CartesianMRI",
    "fft2c",
    "ifft2c",
    "random_mask_1d",
    "equispaced_mask_1d",
    "variable_density_mask_2d",
    "coil_sensitivities",
]


def fft2c(x: Tensor) -> Tensor:
    """Centred orthonormal 2-D FFT over the last two axes."""
    x = torch.fft.ifftshift(x, dim=(-2, -1))
    return torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1))


def ifft2c(k: Tensor) -> Tensor:
    """Centred orthonormal 2-D inverse FFT over the last two axes (adjoint of :func:`fft2c`)."""
    k = torch.fft.ifftshift(k, dim=(-2, -1))
    return torch.fft.fftshift(torch.fft.ifft2(k, norm="ortho"), dim=(-2, -1))


class CartesianMRI(LinearOperator):
    r"""Masked centred orthonormal Fourier transform, optionally with coil sensitivities.

    ``y_c = M F (S_c x)`` for coils ``c``; the adjoint is ``sum_c conj(S_c) F^H (M y_c)``.

    Parameters
    ----------
    mask : Tensor
        Sampling mask ``(H, W)`` (0/1 or boolean), or ``(W,)`` for a column mask.
    sensitivities : Tensor, optional
        Complex coil sensitivity maps ``(coils, H, W)``; single coil (maps of ones) if omitted.
    shape : (int, int), optional
        Image size ``(H, W)``; needed only with a 1-D mask and no maps.

    Notes
    -----
    Shapes: complex ``(B, 1, H, W) -> (B, coils, H, W)``.

    With the centred orthonormal 2-D DFT :math:`F`, the mask :math:`M` and the sensitivities
    :math:`S_c`, :math:`y_c = M F S_c x` and :math:`A^H y = \sum_c \bar S_c F^H M y_c`. For a single
    coil :math:`A^H A = F^H M F` is diagonal in k-space, so :math:`(A^H A + s I)^{-1} b = F^H
    [(F b) / (M + s)]` is exact; with several coils the normal equations are solved by CG (SENSE).

    References
    ----------
    K. P. Pruessmann, M. Weiger, M. B. Scheidegger and P. Boesiger, "SENSE: sensitivity encoding
    for fast MRI", *Magn. Reson. Med.* 42(5), 952-962, 1999.

    M. Lustig, D. Donoho and J. M. Pauly, "Sparse MRI: the application of compressed sensing for
    rapid MR imaging", *Magn. Reson. Med.* 58(6), 1182-1195, 2007.
    """

    def __init__(
        self,
        mask: Tensor,
        sensitivities: Tensor | None = None,
        shape: Sequence[int] | None = None,
    ) -> None:
        mask = torch.as_tensor(mask)
        if mask.is_complex() or not bool(((mask == 0) | (mask == 1)).all()):
            raise InputError("MRI sampling mask must hold only 0 and 1 (or booleans): threshold it, e.g. mask > 0.5")
        if sensitivities is not None:
            sensitivities = torch.as_tensor(sensitivities)
            if sensitivities.ndim != 3:
                raise InputError(
                    f"sensitivities must be (coils, H, W), got {format_shape(sensitivities.shape)}"
                )
            hw = tuple(sensitivities.shape[1:])
        elif shape is not None:
            hw = tuple(int(s) for s in shape)
        else:
            hw = tuple(mask.shape)
        if mask.ndim == 1:
            mask = mask.expand(hw[0], mask.shape[0]) if len(hw) == 2 else mask
        if mask.ndim != 2 or tuple(mask.shape) != hw:
            raise InputError(f"mask of shape {format_shape(mask.shape)} does not match the image {format_shape(hw)}")
        coils = 1 if sensitivities is None else sensitivities.shape[0]
        super().__init__((1, *hw), (coils, *hw), domain_complex=True, range_complex=True)
        self.register_buffer("mask", (mask != 0).to(torch.float64), persistent=False)
        self.register_buffer(
            "sensitivities",
            None if sensitivities is None else sensitivities.to(torch.complex128),
            persistent=False,
        )

    @property
    def acceleration(self) -> float:
        """Grid size over the number of sampled locations."""
        return float(self.mask.numel() / self.mask.sum().clamp(min=1))

    def _m(self, x: Tensor) -> Tensor:
        return self.mask.to(device=x.device, dtype=x.real.dtype)

    def _s(self, x: Tensor) -> Tensor:
        return self.sensitivities.to(device=x.device, dtype=complex_dtype(x.dtype))

    def _forward(self, x: Tensor) -> Tensor:
        if self.sensitivities is not None:
            x = x * self._s(x)
        return fft2c(x) * self._m(x)

    def _adjoint(self, y: Tensor) -> Tensor:
        images = ifft2c(y * self._m(y))
        if self.sensitivities is None:
            return images
        return (images * self._s(y).conj()).sum(1, keepdim=True)

    def with_mask(self, mask: Tensor) -> CartesianMRI:
        """The same coils and image size under another sampling mask ``(H, W)``."""
        return CartesianMRI(mask, sensitivities=self.sensitivities, shape=self.domain_shape[1:])

    def _normal(self, x: Tensor) -> Tensor:
        if self.sensitivities is None:
            return ifft2c(fft2c(x) * self._m(x))
        return self._adjoint(self._forward(x))

    def norm(self, *args, **kwargs) -> float:
        if self.sensitivities is None:
            return float(self.mask.max())
        return super().norm(*args, **kwargs)

    @property
    def exact_normal_solve(self) -> bool:
        return self.sensitivities is None

    def _normal_solve(self, b: Tensor, shift: float) -> Tensor:
        return ifft2c(fft2c(b) / (self._m(b) + shift))


def _center_columns(width: int, center_fraction: float) -> np.ndarray:
    n_center = max(1, round(width * center_fraction))
    start = (width - n_center + 1) // 2
    cols = np.zeros(width, dtype=bool)
    cols[start : start + n_center] = True
    return cols


def _check_acceleration(acceleration: float, center_fraction: float) -> None:
    if not acceleration >= 1:
        raise InputError(f"acceleration must be >= 1, got {acceleration}")
    if not 0 <= center_fraction < 1:
        raise InputError(f"center_fraction must be in [0, 1), got {center_fraction}")
    if center_fraction > 1 / acceleration:
        raise InputError(
            f"center_fraction {center_fraction} exceeds 1/acceleration = {1 / acceleration:.3f}: "
            "lower it or the acceleration"
        )


def random_mask_1d(
    shape: Sequence[int], acceleration: float = 4.0, center_fraction: float = 0.08, seed: int = 0
) -> Tensor:
    """fastMRI-style random column mask: a fully sampled centre plus random columns.

    Columns outside the centre are kept with the probability that makes the expected
    acceleration equal to ``acceleration``.

    Returns
    -------
    Tensor
        Boolean ``(H, W)`` mask.
    """
    h, w = (int(s) for s in shape)
    _check_acceleration(acceleration, center_fraction)
    center = _center_columns(w, center_fraction)
    n_low = int(center.sum())
    prob = (w / acceleration - n_low) / max(w - n_low, 1)
    u = torch.rand(w, generator=generator(seed), dtype=torch.float64).numpy()
    cols = center | (u < prob)
    return torch.from_numpy(np.broadcast_to(cols, (h, w)).copy())


def equispaced_mask_1d(
    shape: Sequence[int], acceleration: float = 4.0, center_fraction: float = 0.08, seed: int = 0
) -> Tensor:
    """Equispaced column mask with a fully sampled centre (fastMRI's "equispaced fraction").

    The spacing is chosen so the total fraction of columns is ``1 / acceleration``; the
    random offset of the lattice is drawn from ``seed``.
    """
    h, w = (int(s) for s in shape)
    _check_acceleration(acceleration, center_fraction)
    center = _center_columns(w, center_fraction)
    n_low = int(center.sum())
    spacing = (w - n_low) / max(w / acceleration - n_low, 1e-9)
    offset = int(torch.randint(0, max(1, round(spacing)), (1,), generator=generator(seed)))
    cols = center.copy()
    positions = np.round(np.arange(offset, w - 1, spacing)).astype(int)
    cols[positions[positions < w]] = True
    return torch.from_numpy(np.broadcast_to(cols, (h, w)).copy())


def variable_density_mask_2d(
    shape: Sequence[int],
    acceleration: float = 4.0,
    center_fraction: float = 0.08,
    power: float = 2.0,
    seed: int = 0,
) -> Tensor:
    """2-D variable-density random mask (for 3-D Cartesian acquisitions with two phase-encode
    directions): a fully sampled central square plus points drawn with density
    ``(1 - r)^power`` (``r`` the normalised distance to the centre), scaled so the expected
    sampled fraction is ``1 / acceleration``.
    """
    h, w = (int(s) for s in shape)
    _check_acceleration(acceleration, center_fraction)
    ky = (np.arange(h) - h // 2) / (h / 2)
    kx = (np.arange(w) - w // 2) / (w / 2)
    r = np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2) / math.sqrt(2)
    density = (1 - r) ** power
    ch = max(1, round(h * math.sqrt(center_fraction)))
    cw = max(1, round(w * math.sqrt(center_fraction)))
    center = np.zeros((h, w), dtype=bool)
    center[h // 2 - ch // 2 : h // 2 - ch // 2 + ch, w // 2 - cw // 2 : w // 2 - cw // 2 + cw] = True
    target = h * w / acceleration - center.sum()
    # scale the density so that its sum over non-centre points matches the target (bisection)
    lo, hi = 0.0, 1e6
    for _ in range(100):
        mid = (lo + hi) / 2
        if np.minimum(mid * density, 1)[~center].sum() < target:
            lo = mid
        else:
            hi = mid
    prob = np.minimum(hi * density, 1)
    u = torch.rand((h, w), generator=generator(seed), dtype=torch.float64).numpy()
    return torch.from_numpy(center | (u < prob))


def coil_sensitivities(n_coils: int, shape: Sequence[int], seed: int = 0) -> Tensor:
    """Smooth simulated coil sensitivities ``(n_coils, H, W)``, normalised to unit
    root-sum-of-squares at every pixel.

    Coils sit on a circle around the object; each map is a smooth Gaussian-like fall-off from
    its coil with a linear phase, slightly perturbed per seed.
    """
    h, w = (int(s) for s in shape)
    if n_coils < 1:
        raise InputError(f"number of coils must be >= 1, got {n_coils}")
    g = generator(seed)
    y = torch.linspace(-1, 1, h, dtype=torch.float64)[:, None]
    x = torch.linspace(-1, 1, w, dtype=torch.float64)[None, :]
    maps = []
    for c in range(n_coils):
        angle = 2 * math.pi * c / n_coils + 0.2 * float(torch.randn((), generator=g, dtype=torch.float64))
        cx, cy = 1.5 * math.cos(angle), 1.5 * math.sin(angle)
        dist2 = (x - cx) ** 2 + (y - cy) ** 2
        magnitude = torch.exp(-dist2 / 2.0)
        phase = angle + 0.5 * (x * math.cos(angle) + y * math.sin(angle))
        maps.append(magnitude * torch.exp(1j * phase))
    s = torch.stack(maps)
    return s / s.abs().pow(2).sum(0).sqrt()
