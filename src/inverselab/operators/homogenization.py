"""Effective conductivity of a two-phase microstructure by numerical homogenisation.

With a linear (affine) boundary condition ``u = x`` on the whole boundary, the temperature is
``u = x + w`` where ``-div(a grad w) = div(a e_x)`` and ``w = 0`` on the boundary; the
effective conductivity along x is the mean x-flux ``<a du/dx>`` over the faces. Both solves go
through :func:`~inverselab.operators.heat.solve_steady` (finite volumes, harmonic face means,
sparse LU), so the map is differentiable in the phase field by the adjoint-state method. A
uniform medium gives its own conductivity exactly; layers along x give the arithmetic mean;
affine boundaries over-estimate the effective property of a finite sample (the upper,
Voigt-side estimate), and the estimate converges as the sample grows.
"""

from __future__ import annotations

import torch

from ..errors import check_positive
from .base import Operator
from .heat import Grid2D, solve_steady

Tensor = torch.Tensor

__all__ = ["EffectiveConductivity"]


class EffectiveConductivity(Operator):
    r"""Phase field ``(B, 1, n, n)`` in [0, 1] -> effective conductivity along x ``(B, 1)``.

    The local conductivity is ``k0 + (k1 - k0) * phase`` (phase 1 = the conductor).

    Parameters
    ----------
    size : int
        Pixels per side of the (square, unit-size) sample.
    k0, k1 : float
        Conductivities of phases 0 and 1 (any consistent unit, e.g. W/(m K)).

    Notes
    -----
    With :math:`a(x) = k_0 + (k_1 - k_0)\,\phi(x)` on the unit square and the affine boundary
    condition :math:`u = x`, write :math:`u = x + w` with :math:`-\nabla \cdot (a \nabla w) =
    \nabla \cdot (a e_x)` and :math:`w = 0` on the boundary; the effective conductivity is the mean
    flux :math:`k_{\mathrm{eff}} = \langle a\, \partial_x u \rangle`. It lies between the harmonic
    and arithmetic means of :math:`a` (the Wiener bounds), with affine boundaries on the upper side
    for a finite sample.

    References
    ----------
    S. Torquato, *Random Heterogeneous Materials: Microstructure and Macroscopic Properties*.
    Springer, 2002.
    """

    def __init__(self, size: int, k0: float = 1.0, k1: float = 10.0) -> None:
        super().__init__((1, size, size), 1)
        self.k0, self.k1 = check_positive("k0", k0), check_positive("k1", k1)
        self.grid = Grid2D(shape=(size, size), extent=((0.0, 1.0), (0.0, 1.0)))

    def conductivity(self, phase: Tensor) -> Tensor:
        """Local conductivity ``(B, n, n)`` of phase fields ``(B, 1, n, n)``."""
        return self.k0 + (self.k1 - self.k0) * phase[:, 0]

    def _forward(self, phase: Tensor) -> Tensor:
        a = self.conductivity(phase)
        h = self.grid.hx
        # x-fluxes of the linear field u = x: harmonic face means inside, the cell's own value on the boundary
        faces = torch.cat([a[..., :1], 2 * a[..., :-1] * a[..., 1:] / (a[..., :-1] + a[..., 1:]), a[..., -1:]], dim=-1)
        w = solve_steady(a, (faces[..., 1:] - faces[..., :-1]) / h, self.grid)
        wx = torch.cat([w[..., :1], w[..., 1:] - w[..., :-1], -w[..., -1:]], dim=-1) / torch.tensor(
            [0.5 * h] + [h] * (w.shape[-1] - 1) + [0.5 * h], dtype=w.dtype, device=w.device)
        flux = faces * (1 + wx)  # (B, n, n + 1) through the vertical faces
        cells = 0.5 * (flux[..., 1:] + flux[..., :-1])  # each cell's mean x-flux
        return cells.mean((-2, -1))[:, None]

    def extra_repr(self) -> str:
        return f"size={self.grid.nx}, k0={self.k0:g}, k1={self.k1:g}"
