"""TV by PDHG with its three data steps: the closed-form normal solves they rely on, the same
minimiser whichever step runs, the constraints, the rule that picks a step, and refusals."""

from __future__ import annotations

import pytest
import torch

from inverselab import solvers
from inverselab.errors import InputError
from inverselab.operators import Blur, CartesianMRI, Diagonal, Identity, Inpainting, ParallelBeam2D, gaussian_kernel
from inverselab.operators.mri import random_mask_1d
from inverselab.solvers.proximal import _tv_objective

G = torch.Generator().manual_seed(3)


def _exact_operators():
    mask = random_mask_1d((16, 16), 4.0, seed=1)
    return [
        Blur(16, gaussian_kernel(1.5, 7)),
        Inpainting.random(16, 0.6, seed=2),
        CartesianMRI(mask),
        Identity((1, 16, 16)),
        Diagonal(torch.rand(1, 16, 16, generator=G, dtype=torch.float64) + 0.1),
        2.5 * Blur(16, gaussian_kernel(1.0, 5)),
    ]


@pytest.mark.parametrize("op", _exact_operators(), ids=lambda op: op.name)
def test_normal_solve_inverts_the_shifted_normal_operator(op):
    assert op.exact_normal_solve
    dtype = torch.complex128 if op.domain_complex else torch.float64
    b = torch.randn((2, *op.domain_shape), generator=G, dtype=dtype)
    for shift in (1e-3, 0.5, 10.0):
        x = op.normal_solve(b, shift)
        residual = op.normal(x) + shift * x - b
        assert float(residual.abs().max()) < 1e-9 * float(b.abs().max()) / min(shift, 1.0)


def test_normal_solve_refusals():
    ct = ParallelBeam2D(16, 8)
    assert not ct.exact_normal_solve
    with pytest.raises(InputError, match="cg"):
        ct.normal_solve(torch.zeros(1, 1, 16, 16), 1.0)
    blur = Blur(16, gaussian_kernel(1.0, 5))
    with pytest.raises(InputError, match="shift"):
        blur.normal_solve(torch.zeros(1, 1, 16, 16), 0.0)
    with pytest.raises(InputError, match="shape"):
        blur.normal_solve(torch.zeros(1, 1, 8, 8), 1.0)
    assert not Blur(16, gaussian_kernel(1.0, 5), boundary="zero").exact_normal_solve


def _deblur_problem(n: int = 24):
    x = torch.zeros(1, 1, n, n, dtype=torch.float64)
    x[..., 6:18, 8:15] = 1.0
    x[..., 3:9, 3:21] += 0.5
    op = Blur(n, gaussian_kernel(1.5, 9))
    y = op(x) + 0.01 * torch.randn(op(x).shape, generator=G, dtype=torch.float64)
    return op, x, y


@pytest.mark.parametrize("bounds", [None, (0.0, 1.2)])
def test_data_steps_reach_the_same_minimum(bounds):
    op, x, y = _deblur_problem()
    lam = 0.02
    f = _tv_objective(op, y, lam)
    results = {}
    for step in ("linearized", "exact", "cg"):
        ratio = 10.0 if step == "linearized" else None  # the default rule's constant is fitted on CT and MRI
        xs, hist = solvers.tv_pdhg(op, y, lam, iters=400, tol=0, bounds=bounds, data_step=step, cg_iters=3,
                                   step_ratio=ratio)
        results[step] = (xs, float(f(xs)))
        if bounds is not None:
            assert float(xs.min()) >= 0.0 and float(xs.max()) <= 1.2
    reference = min(value for _, value in results.values())
    for step, (xs, value) in results.items():
        assert value - reference <= 1e-3 * reference, step
        assert float((xs - results["exact"][0]).abs().max()) < 0.03, step


def test_default_steps_are_near_the_best_fixed_balance():
    op, x, y = _deblur_problem()
    lam = 0.02
    f = _tv_objective(op, y, lam)
    target = float(f(solvers.tv_pdhg(op, y, lam, iters=1000, tol=0, data_step="exact")[0]))

    def iterations_to_tolerance(**kw) -> int:
        with solvers.record_objective(1):
            _, hist = solvers.tv_pdhg(op, y, lam, iters=400, tol=0, **kw)
        gaps = [(v - target) / target for v in hist.objective]
        return next((i for i, g in enumerate(gaps, 1) if g <= 1e-3), 10_000)

    default = iterations_to_tolerance()
    best_fixed = min(iterations_to_tolerance(step_ratio=r) for r in (1.0, 10.0, 100.0))
    assert default <= 1.5 * best_fixed
    assert iterations_to_tolerance(data_step="exact") == default  # auto chose the exact step for a circular blur


def test_complex_images_with_the_exact_step():
    n = 32
    truth = torch.zeros(1, 1, n, n, dtype=torch.complex128)
    truth[..., 8:24, 8:24] = 1 + 0.5j
    op = CartesianMRI(random_mask_1d((n, n), 3.0, center_fraction=0.15, seed=0))
    y = op(truth)
    x_exact, _ = solvers.tv_pdhg(op, y, 1e-3, iters=300, tol=0, data_step="exact")
    x_lin, _ = solvers.tv_pdhg(op, y, 1e-3, iters=300, tol=0, data_step="linearized", step_ratio=40.0)
    f = _tv_objective(op, y, 1e-3)
    assert x_exact.is_complex()
    assert abs(float(f(x_exact)) - float(f(x_lin))) <= 1e-3 * float(f(x_lin))


def test_data_step_refusals():
    ct = ParallelBeam2D(16, 8)
    y = ct(torch.rand(1, 1, 16, 16, generator=G))
    with pytest.raises(InputError, match="closed-form"):
        solvers.tv_pdhg(ct, y, 0.1, data_step="exact")
    with pytest.raises(InputError, match="linearized"):
        solvers.tv_pdhg(ct, y, 0.1, data_step="cg", preconditioned=True)
    with pytest.raises(InputError, match="data_step"):
        solvers.tv_pdhg(ct, y, 0.1, data_step="newton")
    with pytest.raises(InputError, match="cg_iters"):
        solvers.tv_pdhg(ct, y, 0.1, data_step="cg", cg_iters=0)


def test_record_objective_evaluates_every_iteration():
    op, _, y = _deblur_problem(16)
    _, hist = solvers.tv_pdhg(op, y, 0.02, iters=25, tol=0)
    assert hist.objective_iters == [10, 20, 25]
    with solvers.record_objective(1):
        _, hist = solvers.tv_pdhg(op, y, 0.02, iters=25, tol=0)
    assert hist.objective_iters == list(range(1, 26))
    with pytest.raises(InputError):
        with solvers.record_objective(0):
            pass
