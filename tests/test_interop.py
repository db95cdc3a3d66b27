"""Bridges to other people's operators: pairs of functions, scipy/PyLops operators and matrices,
deepinv physics; exact adjoints both ways, gradients through the adjoint, clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
import torch

import inverselab as il
from inverselab.errors import InputError
from inverselab.interop import FunctionPair, ScipyOperator, as_operator, to_deepinv, to_scipy
from inverselab.operators import dottest
from inverselab.solvers.linear import lsqr


def _moving_sum(width: int):
    def forward(x):
        return x.unfold(-1, width, 1).sum(-1)

    def adjoint(y):
        k = torch.ones(1, 1, width, dtype=y.dtype)
        return torch.nn.functional.conv_transpose1d(y[:, None], k)[:, 0]

    return forward, adjoint


def test_a_function_pair_is_checked_and_differentiates_through_its_adjoint():
    forward, adjoint = _moving_sum(3)
    op = as_operator((forward, adjoint), domain_shape=(20,))
    assert isinstance(op, FunctionPair) and op.range_shape == (18,)
    assert dottest(op) < 1e-12
    x = torch.randn(2, 20, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 18, dtype=torch.float64)
    (op(x) * g).sum().backward()
    torch.testing.assert_close(x.grad, adjoint(g))


def test_a_wrong_adjoint_is_refused_with_its_error():
    forward, _ = _moving_sum(3)
    with pytest.raises(InputError, match=r"relative dottest error \d\.\d\de[-+]\d\d"):
        as_operator((forward, lambda y: torch.nn.functional.pad(y, (2, 0))), domain_shape=(20,))
    op = as_operator((forward, lambda y: torch.nn.functional.pad(y, (2, 0))), domain_shape=(20,), check_adjoint=False)
    assert dottest(op) > 1e-3


def test_matrices_and_scipy_operators_keep_exact_adjoints_and_shapes():
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((30, 48))
    for matrix in (dense, scipy.sparse.csr_matrix(dense), scipy.sparse.linalg.aslinearoperator(dense)):
        op = as_operator(matrix, domain_shape=(1, 6, 8), range_shape=(30,))
        assert isinstance(op, ScipyOperator) and dottest(op) < 1e-12
        x = torch.randn(3, 1, 6, 8, dtype=torch.float64)
        np.testing.assert_allclose(op(x).numpy(), (dense @ x.reshape(3, -1).numpy().T).T, rtol=1e-12)
    with pytest.raises(InputError, match="sizes must be 48 and 30"):
        as_operator(dense, domain_shape=(7, 7))
    wrong = scipy.sparse.linalg.LinearOperator((30, 48), matvec=lambda v: dense @ v, rmatvec=lambda v: dense.T @ v * 2)
    with pytest.raises(InputError, match="adjoint does not match"):
        as_operator(wrong)


def test_our_operator_in_scipy_matches_our_lsqr():
    p = il.make_problem("ct-parallel", size=24, views=16)
    op = p.operator
    y = p.simulate(p.sample_truth(1, seed=0, dtype=torch.float64), seed=1)
    A = to_scipy(op)
    assert A.shape == (int(np.prod(op.range_shape)), 24 * 24)
    v, w = np.random.default_rng(1).standard_normal(A.shape[1]), np.random.default_rng(2).standard_normal(A.shape[0])
    assert abs(w @ (A @ v) - (A.T @ w) @ v) / (np.linalg.norm(A @ v) * np.linalg.norm(w)) < 1e-12
    # damped (Tikhonov) least squares: well conditioned, so 50 iterations converge for both and
    # rounding, which Lanczos-type methods amplify on ill-conditioned systems, cannot tell them apart
    damp = 0.1 * op.norm(dtype=torch.float64)
    theirs = scipy.sparse.linalg.lsqr(A, y.reshape(-1).numpy(), damp=damp, iter_lim=50, atol=0, btol=0, conlim=0)[0]
    ours, _ = lsqr(op, y, damp=damp, iters=50, tol=0.0)
    np.testing.assert_allclose(ours.reshape(-1).numpy(), theirs, rtol=0, atol=1e-6 * np.abs(theirs).max())


def test_numpy_in_numpy_out_and_torch_in_torch_out():
    p = il.make_problem("deblur", size=32, phantom="ellipses")
    x = p.sample_truth(2, seed=0)
    y_np = p.simulate(x.numpy(), seed=1)
    assert isinstance(y_np, np.ndarray) and isinstance(p.simulate(x, seed=1), torch.Tensor)
    np.testing.assert_array_equal(y_np, p.simulate(x, seed=1).numpy())
    assert isinstance(p.operator.adjoint(y_np), np.ndarray) and isinstance(p.baseline(y_np), np.ndarray)
    estimate, history = il.reconstruct(p, y_np, "tv", truth=x.numpy(), iters=5)
    assert isinstance(estimate, np.ndarray) and estimate.shape == x.shape and len(history.psnr) == 5


def test_unknown_objects_are_refused():
    with pytest.raises(InputError, match="cannot make an operator of a str"):
        as_operator("blur")
    with pytest.raises(InputError, match="needs domain_shape"):
        as_operator(lambda x: x)
    with pytest.raises(InputError, match="not linear"):
        to_scipy(as_operator(lambda x: x**2, domain_shape=(4,)))


def test_deepinv_round_trip_keeps_exact_adjoints():
    physics = pytest.importorskip("deepinv.physics")
    ours = il.make_problem("deblur", size=32, phantom="ellipses").operator
    theirs = to_deepinv(ours)
    x = torch.randn(2, 1, 32, 32, dtype=torch.float64)
    y = torch.randn(2, *ours.range_shape, dtype=torch.float64)
    lhs, rhs = (theirs.A(x) * y).sum(), (x * theirs.A_adjoint(y)).sum()
    assert abs(float(lhs - rhs)) / float(theirs.A(x).norm() * y.norm()) < 1e-10
    mask = (torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.5).double()
    back = as_operator(physics.Inpainting(img_size=(1, 16, 16), mask=mask), domain_shape=(1, 16, 16))
    assert dottest(back) < 1e-10
