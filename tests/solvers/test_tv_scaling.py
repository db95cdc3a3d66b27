"""TV solvers where ``||A|| != 1``: the solution does not depend on how the problem is scaled,
independent solvers agree on it, and the TV proximal map solves the TV denoising problem."""

from __future__ import annotations

import pytest
import torch

from inverselab import solvers
from inverselab.operators import Blur, Identity, LinearOperator, ParallelBeam2D
from inverselab.regularizers import TotalVariation

LAM = 0.5


def _truth() -> torch.Tensor:
    x = torch.zeros(2, 1, 16, 16, dtype=torch.float64)
    x[:, :, 4:12, 5:10] = 1.0
    x[1, :, 2:6, 2:14] += 0.5
    return x


def _ct() -> tuple[LinearOperator, torch.Tensor]:
    """A small parallel-beam CT problem (``||A|| = 12.4``) with 2 % noise."""
    op = ParallelBeam2D(16, 10)
    y = op(_truth())
    noise = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return op, y + 0.02 * y.abs().max() * noise


def _blur() -> tuple[LinearOperator, torch.Tensor]:
    """A blur scaled to ``||A|| = 3`` (closed-form data step)."""
    op = 3.0 * Blur.gaussian(16, 1.5)
    return op, op(_truth())


def _objective(op: LinearOperator, y: torch.Tensor, lam: float, x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (op(x) - y).abs().square().flatten(1).sum(1) + lam * TotalVariation().value(x)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("make", [_ct, _blur], ids=["ct-linearized", "blur-exact"])
@pytest.mark.parametrize("c", [0.05, 20.0])
def test_tv_solutions_are_invariant_to_the_scale_of_the_problem(make, c):
    """``min ||cA x - cy||^2 / 2 + c^2 lam TV(x)`` is the same problem for every ``c``: the
    weight must be normalised by ``||A||^2``, not ``||A||``."""
    op, y = make()
    reference, _ = solvers.tv_pdhg(op, y, LAM, iters=100, tol=0)
    scaled, _ = solvers.tv_pdhg(c * op, c * y, c * c * LAM, iters=100, tol=0)
    assert _relative(scaled, reference) < 1e-6, f"tv_pdhg(cA, cy, c^2 lam) differs from tv_pdhg(A, y, lam) at c={c}"
    reference, _ = solvers.tv_admm(op, y, LAM, iters=30, tol=0)
    scaled, _ = solvers.tv_admm(c * op, c * y, c * c * LAM, iters=30, tol=0)
    assert _relative(scaled, reference) < 1e-6, f"tv_admm(cA, cy, c^2 lam) differs from tv_admm(A, y, lam) at c={c}"


def test_pdhg_admm_and_fista_agree_on_ct():
    """Three independent TV solvers on an operator of norm 12.4. Measured objectives (sample
    1): PDHG 17.6177, ADMM 17.6185, FISTA (100 iterations, still converging) 17.6206; with the
    weight off by a factor ``||A||`` either way PDHG would end at 25.3 or 29.6."""
    op, y = _ct()
    pdhg, _ = solvers.tv_pdhg(op, y, LAM, iters=1000, tol=0)
    admm, _ = solvers.tv_admm(op, y, LAM, iters=100, cg_iters=10, tol=0)
    fista, _ = solvers.fista(op, y, TotalVariation(prox_iters=20).prox, LAM, iters=100, tol=0)
    assert _relative(admm, pdhg) < 1e-2, "PDHG and ADMM reach different TV solutions"
    f_pdhg, f_admm, f_fista = (_objective(op, y, LAM, x) for x in (pdhg, admm, fista))
    assert bool((f_pdhg <= f_fista * (1 + 1e-5)).all()), f"PDHG objective {f_pdhg.tolist()} above FISTA's {f_fista.tolist()}"
    assert bool((f_admm <= f_fista * (1 + 1e-5)).all()), f"ADMM objective {f_admm.tolist()} above FISTA's {f_fista.tolist()}"


def test_tv_prox_is_the_tv_denoising_solution():
    """``prox_{tTV}(x)`` minimises ``t TV(z) + ||z - x||^2 / 2``: TV denoising, which PDHG
    solves with ``A = I`` (measured: relative difference 2e-5 at 300 inner iterations)."""
    noisy = _truth() + 0.1 * torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = 0.1
    prox = TotalVariation(prox_iters=300).prox(noisy, t)
    reference, _ = solvers.tv_pdhg(Identity((1, 16, 16)), noisy, t, iters=3000, tol=1e-12)
    assert _relative(prox, reference) < 1e-3, "TotalVariation.prox does not solve the TV denoising problem"
    tv = TotalVariation().value
    assert bool((tv(prox) < tv(noisy)).all()), "the TV prox must lower the total variation of a noisy image"
