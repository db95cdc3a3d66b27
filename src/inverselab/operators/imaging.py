"""Image-domain forward models: blur, inpainting, super-resolution and compressed sensing.

All operators act on image batches ``(B, C, H, W)`` (``C`` channels, usually 1) and implement
their own exact adjoints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._tensor import complex_dtype, generator, real_dtype
from ..errors import InputError, check_choice, check_count, check_positive, format_shape
from .base import LinearOperator

Tensor = torch.Tensor

__all__ = [
    "Blur",
    "Inpainting",
    "Downsampling",
    "CompressedSensing",
    "gaussian_kernel",
    "hartley",
]


def _image_shape(shape: int | Sequence[int]) -> tuple[int, int, int]:
    """``n`` -> (1, n, n); ``(H, W)`` -> (1, H, W); ``(C, H, W)`` unchanged."""
    if isinstance(shape, int):
        shape = (1, shape, shape)
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"image shape must be n, (H, W) or (C, H, W) with positive sizes, got {shape}")
    return shape


def gaussian_kernel(sigma: float, size: int | None = None, dtype: torch.dtype = torch.float64) -> Tensor:
    """Normalised isotropic Gaussian kernel ``(size, size)``.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels.
    size : int, optional
        Odd side length; default ``2 * ceil(3 * sigma) + 1``.
    """
    check_positive("sigma", sigma)
    size = 2 * math.ceil(3 * sigma) + 1 if size is None else int(size)
    if size < 1 or size % 2 == 0:
        raise InputError(f"kernel size must be a positive odd integer, got {size}")
    r = torch.arange(size, dtype=dtype) - size // 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    k = g[:, None] * g[None, :]
    return k / k.sum()


def _centred_transfer(kernel: Tensor, shape: tuple[int, int]) -> Tensor:
    """rFFT of ``kernel`` zero-padded to ``shape`` with its centre rolled to index (0, 0)."""
    kh, kw = kernel.shape
    if kh > shape[0] or kw > shape[1]:
        raise InputError(
            f"blur kernel {format_shape(kernel.shape)} is larger than the grid {format_shape(shape)}"
        )
    padded = torch.zeros(shape, dtype=torch.float64)
    padded[:kh, :kw] = kernel
    padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))
    return torch.fft.rfft2(padded)


class _FourierFilter(LinearOperator):
    """Shared core: multiplication by a transfer function on an FFT grid (real images)."""

    def _transfer(self, x: Tensor) -> Tensor:
        return self.transfer.to(device=x.device, dtype=complex_dtype(x.dtype))

    def _filter(self, x: Tensor, conj: bool) -> Tensor:
        h = self._transfer(x)
        spec = torch.fft.rfft2(x) * (h.conj() if conj else h)
        return torch.fft.irfft2(spec, s=x.shape[-2:])


class Blur(_FourierFilter):
    r"""Convolution with a fixed kernel, computed by FFT.

    Parameters
    ----------
    shape : int or (H, W) or (C, H, W)
        Image shape (channels are blurred independently).
    kernel : Tensor
        2-D kernel ``(kh, kw)`` with odd sides; its centre is element ``(kh // 2, kw // 2)``.
    boundary : {"circular", "zero"}
        Periodic images, or zero outside the image (the output keeps the image's size).

    Notes
    -----
    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    The blur is the convolution :math:`y = h * x`. With a circular boundary it is diagonal in the
    discrete Fourier basis, :math:`\hat y = \hat h \odot \hat x`, so :math:`A^H` multiplies by
    :math:`\overline{\hat h}` and :math:`(A^H A + s I)^{-1} b = \mathcal F^{-1}[\hat b / (|\hat h|^2
    + s)]` is exact (:meth:`normal_solve`); the zero boundary pads the image before the FFT and
    crops after, and its adjoint pads, correlates and crops.

    References
    ----------
    P. C. Hansen, J. G. Nagy and D. P. O'Leary, *Deblurring Images: Matrices, Spectra, and
    Filtering*. SIAM, 2006.
    """

    def __init__(self, shape: int | Sequence[int], kernel: Tensor, boundary: str = "circular") -> None:
        shape = _image_shape(shape)
        super().__init__(shape, shape)
        self.boundary = check_choice("boundary", boundary, ("circular", "zero"))
        kernel = torch.as_tensor(kernel, dtype=torch.float64)
        if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
            raise InputError(f"kernel must be 2-D with odd sides, got shape {format_shape(kernel.shape)}")
        if not bool(torch.isfinite(kernel).all()):
            raise InputError("kernel holds NaN or infinite values")
        self.register_buffer("kernel", kernel, persistent=False)
        self.nonnegative = bool((kernel >= 0).all())
        h, w = shape[1:]
        kh, kw = kernel.shape
        self.pad = (kh // 2, kw // 2) if boundary == "zero" else (0, 0)
        grid = (h + 2 * self.pad[0], w + 2 * self.pad[1])
        self.register_buffer("transfer", _centred_transfer(kernel, grid), persistent=False)

    @classmethod
    def gaussian(
        cls, shape: int | Sequence[int], sigma: float, size: int | None = None, boundary: str = "circular"
    ) -> Blur:
        """Gaussian blur with standard deviation ``sigma`` pixels; see :func:`gaussian_kernel`."""
        return cls(shape, gaussian_kernel(sigma, size), boundary)

    def _forward(self, x: Tensor) -> Tensor:
        ph, pw = self.pad
        if ph or pw:
            x = torch.nn.functional.pad(x, (pw, pw, ph, ph))
        y = self._filter(x, conj=False)
        return y[..., ph : y.shape[-2] - ph, pw : y.shape[-1] - pw] if ph or pw else y

    def _adjoint(self, y: Tensor) -> Tensor:
        ph, pw = self.pad
        if ph or pw:
            y = torch.nn.functional.pad(y, (pw, pw, ph, ph))
        x = self._filter(y, conj=True)
        return x[..., ph : x.shape[-2] - ph, pw : x.shape[-1] - pw] if ph or pw else x

    def _normal(self, x: Tensor) -> Tensor:
        if self.boundary == "circular":
            h = self._transfer(x)
            return torch.fft.irfft2(torch.fft.rfft2(x) * (h.abs() ** 2), s=x.shape[-2:])
        return self._adjoint(self._forward(x))

    def norm(self, *args, **kwargs) -> float:
        if self.boundary == "circular":
            return float(self.transfer.abs().max())
        return super().norm(*args, **kwargs)

    @property
    def exact_normal_solve(self) -> bool:
        return self.boundary == "circular"

    def _normal_solve(self, b: Tensor, shift: float) -> Tensor:
        key = (b.dtype, b.device)
        cache = self.__dict__.setdefault("_power_cache", {})  # |H|^2 per dtype and device
        if key not in cache:
            cache[key] = self._transfer(b).abs().square()
        return torch.fft.irfft2(torch.fft.rfft2(b).div_(cache[key] + shift), s=b.shape[-2:])


class Inpainting(LinearOperator):
    r"""Pixel masking ``y = m * x``: missing pixels are zero in the measurement.

    Parameters
    ----------
    mask : Tensor
        0/1 (or boolean) mask of shape ``(H, W)`` or ``(C, H, W)``.
    channels : int
        Number of image channels when ``mask`` is 2-D.

    Notes
    -----
    :math:`A = \operatorname{diag}(m)` with :math:`m \in \{0, 1\}`: self-adjoint, idempotent, and
    :math:`(A^H A + s I)^{-1} b = b / (m + s)` elementwise, so the data step of a proximal method
    is exact.

    References
    ----------
    M. Bertalmio, G. Sapiro, V. Caselles and C. Ballester, "Image inpainting", *SIGGRAPH*, 2000.
    """

    def __init__(self, mask: Tensor, channels: int = 1) -> None:
        mask = torch.as_tensor(mask)
        check_count("channels", channels)
        if mask.is_complex() or not bool(((mask == 0) | (mask == 1)).all()):
            raise InputError("Inpainting mask must hold only 0 and 1 (or booleans): threshold it, e.g. mask > 0.5")
        if not bool(mask.any()):
            raise InputError("Inpainting mask keeps no pixel: give 1 where pixels are measured")
        if mask.ndim == 2:
            mask = mask.expand(channels, *mask.shape)
        if mask.ndim != 3:
            raise InputError(f"mask must be (H, W) or (C, H, W), got {format_shape(mask.shape)}")
        shape = tuple(mask.shape)
        super().__init__(shape, shape)
        self.register_buffer("mask", (mask != 0).to(torch.float64), persistent=False)

    nonnegative = True

    @classmethod
    def random(cls, shape: int | Sequence[int], fraction: float, seed: int = 0) -> Inpainting:
        """Keep each pixel independently with probability ``fraction`` (same for all channels)."""
        c, h, w = _image_shape(shape)
        if not 0 < fraction <= 1:
            raise InputError(f"fraction of kept pixels must be in (0, 1], got {fraction}")
        keep = torch.rand((h, w), generator=generator(seed), dtype=torch.float64) < fraction
        return cls(keep, channels=c)

    def _m(self, x: Tensor) -> Tensor:
        return self.mask.to(device=x.device, dtype=x.dtype)

    def _forward(self, x: Tensor) -> Tensor:
        return x * self._m(x)

    def _adjoint(self, y: Tensor) -> Tensor:
        return y * self._m(y)

    _normal = _forward

    def norm(self, *args, **kwargs) -> float:
        return float(self.mask.max())

    exact_normal_solve = True

    def _normal_solve(self, b: Tensor, shift: float) -> Tensor:
        return b / (self._m(b) + shift)  # the mask is 0/1: m^2 = m


class Downsampling(_FourierFilter):
    """Anti-aliased decimation by an integer factor (the super-resolution forward model).

    ``y = S (h * x)``: circular convolution with an anti-alias filter ``h`` followed by keeping
    every ``factor``-th pixel (starting at pixel 0) in each direction.

    Parameters
    ----------
    shape : int or (H, W) or (C, H, W)
        High-resolution image shape; H and W must be divisible by ``factor``.
    factor : int
        Decimation factor.
    filter : {"gaussian", "box", "none"}
        Anti-alias filter: Gaussian with sigma ``factor / 2`` pixels, a ``factor x factor``
        average (pixel binning, centred), or none (plain subsampling).

    Notes
    -----
    Shapes: ``(B, C, H, W) -> (B, C, H / factor, W / factor)``.

    :math:`A = S H` with :math:`H` the circular convolution with the anti-alias filter and
    :math:`S` the decimation; :math:`A^H = H^H S^H`, where :math:`S^H` places each sample back on
    the fine grid with zeros between (zero-filling upsampling) and :math:`H^H` correlates with the
    filter.

    References
    ----------
    S. Farsiu, M. D. Robinson, M. Elad and P. Milanfar, "Fast and robust multiframe super
    resolution", *IEEE Trans. Image Process.* 13(10), 1327-1344, 2004.
    """

    def __init__(self, shape: int | Sequence[int], factor: int = 2, filter: str = "gaussian") -> None:
        c, h, w = _image_shape(shape)
        if int(factor) < 1 or h % factor or w % factor:
            raise InputError(
                f"image size ({h}, {w}) must be divisible by the factor {factor}: crop or pad the image"
            )
        self.factor = int(factor)
        super().__init__((c, h, w), (c, h // self.factor, w // self.factor))
        self.filter = check_choice("anti-alias filter", filter, ("gaussian", "box", "none"))
        if filter == "gaussian":
            kernel = gaussian_kernel(self.factor / 2)
        elif filter == "box":
            size = self.factor + 1 - self.factor % 2  # odd support; halves at the ends when even
            kernel = torch.ones(size, size, dtype=torch.float64)
            if self.factor % 2 == 0:
                kernel[[0, -1], :] *= 0.5
                kernel[:, [0, -1]] *= 0.5
            kernel /= kernel.sum()
        else:
            kernel = torch.ones(1, 1, dtype=torch.float64)
        self.register_buffer("transfer", _centred_transfer(kernel, (h, w)), persistent=False)

    nonnegative = True

    def _forward(self, x: Tensor) -> Tensor:
        f = self.factor
        return self._filter(x, conj=False)[..., ::f, ::f]

    def _adjoint(self, y: Tensor) -> Tensor:
        f = self.factor
        up = torch.zeros((y.shape[0], *self.domain_shape), dtype=y.dtype, device=y.device)
        up[..., ::f, ::f] = y
        return self._filter(up, conj=True)


def hartley(x: Tensor) -> Tensor:
    """Orthonormal discrete Hartley transform along the last dimension (its own inverse and
    adjoint): ``H x = Re(F x) - Im(F x)`` with the unitary DFT ``F``."""
    f = torch.fft.fft(x, dim=-1, norm="ortho")
    return f.real - f.imag


class CompressedSensing(LinearOperator):
    r"""Random linear measurements ``y = A x`` of a flattened image.

    Parameters
    ----------
    shape : int or (H, W) or (C, H, W)
        Image shape.
    m : int
        Number of measurements.
    kind : {"gaussian", "hartley"}
        ``"gaussian"``: a dense i.i.d. N(0, 1/m) matrix (stored; for small images).
        ``"hartley"``: ``sqrt(n/m) P H D`` with random signs ``D``, the orthonormal Hartley
        transform ``H`` and a random row selection ``P``: O(n log n), no matrix stored, scales to
        large ``n``.
    seed : int
        Seed of the random matrix, signs and rows.

    Notes
    -----
    Both kinds satisfy :math:`\mathbb E \|A x\|^2 = \|x\|^2`. Shapes: ``(B, C, H, W) -> (B, m)``.

    The structured kind is :math:`A = \sqrt{n/m}\, P \mathcal H D`: random signs :math:`D`, the
    orthonormal discrete Hartley transform :math:`\mathcal H` (:math:`\mathcal H x =
    \operatorname{Re} \mathcal F x - \operatorname{Im} \mathcal F x`, real and its own inverse)
    and a random selection :math:`P` of :math:`m` rows; :math:`A^H = \sqrt{n/m}\, D \mathcal H P^T`.
    Random signs followed by an orthonormal transform spread any image over all coefficients,
    which is what lets a subsampled transform act like a random matrix.

    References
    ----------
    E. J. Candès, J. Romberg and T. Tao, "Robust uncertainty principles: exact signal
    reconstruction from highly incomplete frequency information", *IEEE Trans. Inf. Theory*
    52(2), 489-509, 2006.

    T. T. Do, L. Gan, N. H. Nguyen and T. D. Tran, "Fast and efficient compressive sensing using
    structurally random matrices", *IEEE Trans. Signal Process.* 60(1), 139-154, 2012.
    """

    def __init__(self, shape: int | Sequence[int], m: int, kind: str = "gaussian", seed: int = 0) -> None:
        shape = _image_shape(shape)
        n = math.prod(shape)
        if not 1 <= int(m) <= n:
            raise InputError(f"number of measurements must be between 1 and {n}, got {m}")
        super().__init__(shape, (int(m),))
        self.kind = check_choice("compressed-sensing kind", kind, ("gaussian", "hartley"))
        g = generator(seed)
        if kind == "gaussian":
            matrix = torch.randn((int(m), n), generator=g, dtype=torch.float64) / math.sqrt(m)
            self.register_buffer("matrix", matrix, persistent=False)
        else:
            signs = torch.randint(0, 2, (n,), generator=g).to(torch.float64) * 2 - 1
            rows = torch.randperm(n, generator=g)[: int(m)].sort().values
            self.register_buffer("signs", signs * math.sqrt(n / m), persistent=False)
            self.register_buffer("rows", rows, persistent=False)

    def _forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], -1)
        if self.kind == "gaussian":
            return flat @ self.matrix.to(device=x.device, dtype=x.dtype).T
        s = self.signs.to(device=x.device, dtype=x.dtype)
        return hartley(flat * s)[:, self.rows.to(x.device)]

    def _adjoint(self, y: Tensor) -> Tensor:
        if self.kind == "gaussian":
            flat = y @ self.matrix.to(device=y.device, dtype=y.dtype)
        else:
            full = torch.zeros((y.shape[0], math.prod(self.domain_shape)), dtype=y.dtype, device=y.device)
            full[:, self.rows.to(y.device)] = y
            flat = hartley(full) * self.signs.to(device=y.device, dtype=real_dtype(y.dtype))
        return flat.reshape(y.shape[0], *self.domain_shape)

    def norm(self, *args, **kwargs) -> float:
        if self.kind == "hartley":
            return float(self.signs.abs().max())
        return super().norm(*args, **kwargs)
