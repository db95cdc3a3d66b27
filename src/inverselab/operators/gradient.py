"""Discrete spatial gradient (forward differences, Neumann boundary) for total variation."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import InputError
from .base import LinearOperator

Tensor = torch.Tensor

__all__ = ["Gradient"]


class Gradient(LinearOperator):
    r"""Forward-difference gradient over the last two axes with a Neumann boundary.

    ``(Dx)[0] = x[..., i+1, j] - x[..., i, j]`` (vertical) and
    ``(Dx)[1] = x[..., i, j+1] - x[..., i, j]`` (horizontal), zero on the last row/column.
    The adjoint is minus the matching divergence; ``||D||^2 < 8``
    (:data:`Gradient.NORM_BOUND`).

    Parameters
    ----------
    shape : sequence of int
        Image shape ``(C, H, W)`` (or any shape whose last two axes are spatial).
    is_complex : bool
        Whether images are complex (e.g. MRI).

    Notes
    -----
    Shapes: ``(B, *shape) -> (B, 2, *shape)``.

    With forward differences :math:`(D_1 x)_{i,j} = x_{i+1,j} - x_{i,j}` and
    :math:`(D_2 x)_{i,j} = x_{i,j+1} - x_{i,j}` (zero on the last row and column), the adjoint is
    minus the backward-difference divergence, :math:`D^H p = -\operatorname{div} p`. Each
    difference has norm at most 2, hence :math:`\|D\|^2 \le 8`. The isotropic total variation used
    by the solvers is :math:`\mathrm{TV}(x) = \sum_{i,j} \sqrt{(D_1 x)_{i,j}^2 + (D_2 x)_{i,j}^2}`.

    References
    ----------
    A. Chambolle, "An algorithm for total variation minimization and applications", *J. Math.
    Imaging Vis.* 20, 89-97, 2004.
    """

    NORM_BOUND = 8**0.5

    def __init__(self, shape: Sequence[int], is_complex: bool = False) -> None:
        shape = tuple(int(s) for s in shape)
        if len(shape) < 2:
            raise InputError(f"Gradient needs at least two spatial axes, got shape {shape}")
        super().__init__(shape, (2, *shape), domain_complex=is_complex, range_complex=is_complex)

    def _forward(self, x: Tensor) -> Tensor:
        g = x.new_zeros((x.shape[0], 2, *x.shape[1:]))
        g[:, 0, ..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
        g[:, 1, ..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
        return g

    def _adjoint(self, g: Tensor) -> Tensor:
        gv, gh = g[:, 0], g[:, 1]
        x = torch.zeros_like(gv)
        x[..., :-1, :] -= gv[..., :-1, :]
        x[..., 1:, :] += gv[..., :-1, :]
        x[..., :, :-1] -= gh[..., :, :-1]
        x[..., :, 1:] += gh[..., :, :-1]
        return x
