"""deepinv's TV solvers on the exact objective inverselab minimises, for time-to-tolerance runs.

Every solver here minimises ``F(x) = ||A x - y||^2 / 2 + lam TV(x)`` with inverselab's
isotropic TV (forward differences, Neumann boundary; for complex images the modulus of the
complex gradient), without constraints:

* :func:`deepinv_pdcp`: ``deepinv.optim.PDCP`` (Chambolle-Pock) with ``g_first=True``, ``K``
  inverselab's gradient (so the TV term is the same function), ``L12Prior(l2_axis=-1)`` as
  the prior and ``L2()`` as the data fidelity, whose proximal map is exact for deepinv's
  decomposable physics (``BlurFFT``, ``Inpainting``) and deepinv's conjugate gradient
  otherwise (CT, multi-coil MRI: inverselab's operator wrapped by :class:`OperatorPhysics`,
  which is faster than deepinv's own tomography).
* :func:`deepinv_proximal_gradient`: ``deepinv.optim.PGD`` / ``FISTA`` with ``TVPrior`` (its
  prox is deepinv's inner TV denoiser), real images only.

Each returns a :class:`Trace`: the iterates and the wall-clock time at the end of each
iteration (a copy of each iterate is stored as the proximal map that produces it returns;
deepinv's own metrics are off; objective values are computed afterwards, outside the timed
path).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import deepinv as dinv
import numpy as np
import torch

from inverselab.operators import LinearOperator
from inverselab.operators.gradient import Gradient

Tensor = torch.Tensor

__all__ = ["OperatorPhysics", "Trace", "deepinv_pdcp", "deepinv_proximal_gradient", "to_real", "to_complex"]


def to_real(z: Tensor) -> Tensor:
    """Complex ``(B, 1, H, W)`` images as real ``(B, 2, H, W)`` (real and imaginary parts)."""
    return torch.cat([z.real, z.imag], 1) if z.is_complex() else z


def to_complex(x: Tensor) -> Tensor:
    """Inverse of :func:`to_real`."""
    return torch.complex(x[:, 0:1], x[:, 1:2])


class OperatorPhysics(dinv.physics.LinearPhysics):
    """An inverselab :class:`LinearOperator` divided by ``scale`` as a deepinv ``LinearPhysics``.

    Complex images are passed as two real channels, complex measurements as a trailing real
    axis of 2; deepinv's conjugate gradient solves the data term's proximal map with
    ``cg_iters`` iterations (tolerance ``cg_tol``). deepinv's CG converges in a few iterations
    only for a normalised operator: with ``scale = ||A||``, data ``y / ||A||`` and weight
    ``lam / ||A||^2`` give the same minimiser, and an objective ``||A||^2`` times smaller.
    """

    def __init__(self, op: LinearOperator, cg_iters: int, cg_tol: float = 1e-4, scale: float = 1.0) -> None:
        super().__init__(max_iter=cg_iters, tol=cg_tol, solver="CG")
        self.op, self.scale = op, scale

    def A(self, x: Tensor, **kwargs: object) -> Tensor:
        y = self.op(to_complex(x) if self.op.domain_complex else x) / self.scale
        return torch.view_as_real(y) if y.is_complex() else y

    def A_adjoint(self, y: Tensor, **kwargs: object) -> Tensor:
        y = torch.view_as_complex(y.contiguous()) if self.op.range_complex else y
        return to_real(self.op.adjoint(y / self.scale))


class _GradientK:
    """inverselab's gradient as deepinv's ``K``: output ``(B, ..., components)`` with the
    components last, so that ``L12Prior(l2_axis=-1)`` is inverselab's isotropic TV."""

    def __init__(self, shape: tuple[int, ...], is_complex: bool) -> None:
        self.grad, self.is_complex = Gradient(shape, is_complex), is_complex

    def __call__(self, x: Tensor) -> Tensor:
        g = self.grad(to_complex(x) if self.is_complex else x).movedim(1, -1)  # (B, C, H, W, 2)
        return (torch.view_as_real(g).flatten(-2) if self.is_complex else g).contiguous()

    def adjoint(self, u: Tensor) -> Tensor:
        if self.is_complex:
            u = torch.view_as_complex(u.unflatten(-1, (2, 2)).contiguous())
        return to_real(self.grad.adjoint(u.movedim(-1, 1).contiguous()))


@dataclass
class Trace:
    """Iterates ``(iters, B, ...)`` (deepinv's real layout) and cumulative seconds ``(iters,)``."""

    iterates: Tensor
    seconds: np.ndarray


class _Recorder:
    """Stores the time and a copy of every new iterate: wraps the proximal map whose output
    is the iterate (the data term's for Chambolle-Pock with ``g_first``, the prior's for
    PGD/FISTA), so deepinv runs with its metrics off and nothing else is added to its path."""

    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.iterates: list[Tensor] = []

    def wrap(self, term: object) -> object:
        prox = term.prox

        def recorded(*args: object, **kwargs: object) -> Tensor:
            out = prox(*args, **kwargs)
            self.stamps.append(time.perf_counter())
            self.iterates.append(out.detach().clone())
            return out

        term.prox = recorded
        return term

    def trace(self, start: float) -> Trace:
        return Trace(torch.stack(self.iterates), np.asarray(self.stamps) - start)


def deepinv_pdcp(physics: dinv.physics.LinearPhysics, y: Tensor, shape: tuple[int, ...], is_complex: bool,
                 lam: float, iters: int, step_ratio: float) -> Trace:
    """Chambolle-Pock from zero with ``tau = step_ratio / ||K||`` and
    ``sigma = 1 / (step_ratio ||K||)``, ``||K||^2 = 8`` (the gradient's bound).

    Parameters
    ----------
    physics : deepinv LinearPhysics
        The data term's operator (exact proximal map when decomposable).
    y : Tensor
        Measurements in deepinv's layout for ``physics``.
    shape : tuple of int
        inverselab image shape ``(1, H, W)``.
    is_complex : bool
        Complex images (two real channels in deepinv's layout).
    lam, iters, step_ratio
        TV weight, iterations, primal/dual step balance.
    """
    k = _GradientK(shape, is_complex)
    k_norm = Gradient.NORM_BOUND
    channels = 2 if is_complex else shape[0]
    x0 = torch.zeros((y.shape[0], channels, *shape[1:]), dtype=y.dtype)

    def init(y_: Tensor, physics_: object) -> dict:
        return {"est": (x0.clone(), x0.clone(), torch.zeros_like(k(x0)))}

    recorder = _Recorder()
    solver = dinv.optim.PDCP(
        K=k, K_adjoint=k.adjoint, data_fidelity=recorder.wrap(dinv.optim.L2()),
        prior=dinv.optim.L12Prior(l2_axis=-1), lambda_reg=lam, stepsize=step_ratio / k_norm,
        stepsize_dual=1 / (step_ratio * k_norm), g_first=True, max_iter=iters, early_stop=False, custom_init=init,
    )
    start = time.perf_counter()
    with torch.no_grad():
        solver(y, physics)
    return recorder.trace(start)


def deepinv_proximal_gradient(physics: dinv.physics.LinearPhysics, y: Tensor, lam: float, iters: int,
                              algorithm: str, inner: int, norm2: float) -> Trace:
    """``PGD`` or ``FISTA`` from zero, step ``1 / ||A||^2``, ``TVPrior`` with ``inner``
    iterations of its TV prox (warm-started across outer iterations)."""
    solvers = {"PGD": dinv.optim.PGD, "FISTA": dinv.optim.FISTA}
    x0 = torch.zeros_like(physics.A_adjoint(y))

    def init(y_: Tensor, physics_: object) -> tuple[Tensor, Tensor]:
        return x0.clone(), x0.clone()

    recorder = _Recorder()
    solver = solvers[algorithm](
        data_fidelity=dinv.optim.L2(), prior=recorder.wrap(dinv.optim.TVPrior(def_crit=1e-8, n_it_max=inner)),
        lambda_reg=lam, stepsize=1.0 / norm2, max_iter=iters, early_stop=False, custom_init=init,
    )
    start = time.perf_counter()
    with torch.no_grad():
        solver(y, physics)
    return recorder.trace(start)
