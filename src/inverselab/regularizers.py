"""Regularisers: value and proximal map, batched.

Each regulariser ``R`` gives ``value(x) -> (B,)`` and ``prox(x, t) = argmin_z R(z) * t +
||z - x||^2 / 2``. Shapes: ``x`` is ``(B, C, H, W)``, real or complex.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .operators.gradient import Gradient
from .operators.wavelet import Wavelet2D

Tensor = torch.Tensor

__all__ = ["Tikhonov", "TotalVariation", "L1Wavelet", "soft_threshold", "project_l2_ball"]


def soft_threshold(x: Tensor, t: float | Tensor) -> Tensor:
    """Soft thresholding ``sign(x) max(|x| - t, 0)``; shrinks the modulus of complex values."""
    if x.is_complex():
        mag = x.abs()
        return x * (1 - t / mag.clamp(min=torch.finfo(mag.dtype).tiny)).clamp(min=0)
    return torch.sign(x) * (x.abs() - t).clamp(min=0)


def project_l2_ball(g: Tensor, radius: float | Tensor) -> Tensor:
    """Project gradient fields ``(B, 2, ...)`` pointwise onto ``{|g_i|_2 <= radius}``
    (the dual ball of isotropic TV)."""
    a = g.abs() if g.is_complex() else g
    mag = torch.hypot(a[:, 0:1], a[:, 1:2]) if g.shape[1] == 2 else a.square().sum(1, keepdim=True).sqrt()
    return g / (mag / radius).clamp(min=1)


class Tikhonov:
    """``R(x) = ||x||^2 / 2`` (identity) or ``||D x||^2 / 2`` (gradient smoothing)."""

    def __init__(self, kind: str = "identity") -> None:
        from .errors import check_choice

        self.kind = check_choice("Tikhonov kind", kind, ("identity", "gradient"))

    def value(self, x: Tensor) -> Tensor:
        z = x if self.kind == "identity" else Gradient(x.shape[1:], x.is_complex())(x)
        return 0.5 * z.abs().pow(2).reshape(x.shape[0], -1).sum(1)

    def prox(self, x: Tensor, t: float) -> Tensor:
        if self.kind != "identity":
            raise NotImplementedError("the prox of gradient Tikhonov needs a linear solve: use solvers.tikhonov")
        return x / (1 + t)


class TotalVariation:
    """Isotropic total variation ``sum_i |(D x)_i|_2`` (forward differences, Neumann).

    Parameters
    ----------
    prox_iters : int
        Iterations of the fast gradient projection (Beck and Teboulle) used by :meth:`prox`.
    smoothing : float
        ``eps`` in the differentiable surrogate ``sum sqrt(|Dx|^2 + eps^2)`` used by
        :meth:`smooth_value` (for gradient-based solvers).
    """

    def __init__(self, prox_iters: int = 20, smoothing: float = 1e-3) -> None:
        self.prox_iters = int(prox_iters)
        self.smoothing = float(smoothing)

    def value(self, x: Tensor) -> Tensor:
        g = Gradient(x.shape[1:], x.is_complex())(x)
        return g.abs().pow(2).sum(1).sqrt().reshape(x.shape[0], -1).sum(1)

    def smooth_value(self, x: Tensor) -> Tensor:
        g = Gradient(x.shape[1:], x.is_complex())(x)
        return (g.abs().pow(2).sum(1) + self.smoothing**2).sqrt().reshape(x.shape[0], -1).sum(1)

    def prox(self, x: Tensor, t: float) -> Tensor:
        """Denoise ``x`` with TV weight ``t`` by FGP on the dual; warm-started from zero."""
        grad = Gradient(x.shape[1:], x.is_complex())
        p = x.new_zeros((x.shape[0], 2, *x.shape[1:]))
        r, s = p, 1.0
        for _ in range(self.prox_iters):
            z = x - t * grad.adjoint(r)
            p_new = project_l2_ball(r + grad(z) / (8 * t), 1.0)
            s_new = (1 + (1 + 4 * s * s) ** 0.5) / 2
            r = p_new + ((s - 1) / s_new) * (p_new - p)
            p, s = p_new, s_new
        return x - t * grad.adjoint(p)


class L1Wavelet:
    """``R(x) = ||W x||_1`` over the detail coefficients of an orthogonal wavelet transform.

    The coarsest approximation band is not penalised (it holds the image's mean level).
    The prox is exact: ``W^T soft(W x, t)``.

    Parameters
    ----------
    shape : sequence of int
        Image shape ``(C, H, W)``.
    wavelet, levels
        See :class:`~inverselab.operators.wavelet.Wavelet2D`.
    is_complex : bool
        Complex images (the modulus of each coefficient is shrunk).
    """

    def __init__(
        self, shape: Sequence[int], wavelet: str = "db4", levels: int | None = None, is_complex: bool = False
    ) -> None:
        self.transform = Wavelet2D(shape, wavelet, levels, is_complex=is_complex)
        self.mask = self.transform.detail_mask()

    def _mask(self, like: Tensor) -> Tensor:
        return self.mask.to(like.device)

    def value(self, x: Tensor) -> Tensor:
        c = self.transform(x)
        return (c.abs() * self._mask(c)).reshape(x.shape[0], -1).sum(1)

    def prox(self, x: Tensor, t: float) -> Tensor:
        c = self.transform(x)
        c = torch.where(self._mask(c), soft_threshold(c, t), c)
        return self.transform.adjoint(c)
