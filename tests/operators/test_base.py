"""The operator contract: shapes, dtypes, algebra, adjoints from autograd, norm, errors."""

from __future__ import annotations

import math

import pytest
import torch

from inverselab.errors import InputError
from inverselab.operators import (
    Blur,
    Diagonal,
    Gradient,
    Identity,
    Inpainting,
    LinearOperator,
    Operator,
    ParallelBeam2D,
    dottest,
    gradcheck,
    vstack,
)


@pytest.fixture
def blur():
    return Blur.gaussian(16, 1.5)


def test_shape_error_names_expected_shape_and_fix(blur):
    with pytest.raises(InputError, match=r"expects input of shape \(B, 1, 16, 16\), got \(1, 16, 16\) \(add a batch"):
        blur(torch.zeros(1, 16, 16))
    with pytest.raises(InputError, match=r"got \(2, 1, 8, 8\)"):
        blur(torch.zeros(2, 1, 8, 8))


def test_dtype_errors(blur):
    with pytest.raises(InputError, match="convert with x.float"):
        blur(torch.zeros(1, 1, 16, 16, dtype=torch.int64))
    with pytest.raises(InputError, match="expects a real input"):
        blur(torch.zeros(1, 1, 16, 16, dtype=torch.complex64))
    with pytest.raises(InputError, match="torch.Tensor"):
        blur([[0.0]])
    with pytest.raises(InputError, match="adjoint input"):
        blur.adjoint(torch.zeros(1, 1, 15, 16))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_dtype_follows_input(blur, dtype):
    x = torch.rand(2, 1, 16, 16, dtype=dtype)
    assert blur(x).dtype == dtype and blur.adjoint(x).dtype == dtype


def test_algebra_matches_explicit_computation(blur):
    mask = Inpainting.random(16, 0.5, seed=3)
    x = torch.rand(2, 1, 16, 16, dtype=torch.float64)
    torch.testing.assert_close((blur @ mask)(x), blur(mask(x)))
    torch.testing.assert_close((blur + mask)(x), blur(x) + mask(x))
    torch.testing.assert_close((blur - 2.5 * mask)(x), blur(x) - 2.5 * mask(x))
    torch.testing.assert_close((-blur)(x), -blur(x))
    torch.testing.assert_close(blur.H(x), blur.adjoint(x))
    torch.testing.assert_close(blur.T.H(x), blur(x))
    torch.testing.assert_close(blur.normal(x), blur.adjoint(blur(x)))
    for op in (blur @ mask, blur + mask, 3.0 * blur, blur.H, -mask):
        assert dottest(op) < 1e-12


def test_vstack_splits_and_adjoint(blur):
    grad = Gradient((1, 16, 16))
    stacked = vstack([blur, grad])
    x = torch.rand(2, 1, 16, 16, dtype=torch.float64)
    y = stacked(x)
    assert y.shape == (2, 16 * 16 + 2 * 16 * 16)
    a, b = stacked.split(y)
    torch.testing.assert_close(a, blur(x))
    torch.testing.assert_close(b, grad(x))
    assert dottest(stacked) < 1e-12
    with pytest.raises(InputError, match="domains"):
        vstack([blur, Identity((1, 8, 8))])


def test_composition_shape_mismatch_is_clear(blur):
    with pytest.raises(InputError, match="cannot compose"):
        blur @ ParallelBeam2D(16, 4)
    with pytest.raises(InputError, match="cannot add"):
        blur + Identity((1, 8, 8))


def test_from_function_adjoint_from_autograd():
    weights = torch.randn(5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    op = LinearOperator.from_function(lambda x: x @ weights.T, (7,), (5,))
    y = torch.randn(3, 5, dtype=torch.float64)
    torch.testing.assert_close(op.adjoint(y), y @ weights)
    assert dottest(op) < 1e-13
    # complex: unitary FFT, adjoint is the inverse FFT
    fft = LinearOperator.from_function(
        lambda x: torch.fft.fft(x, norm="ortho"), (8,), (8,), domain_complex=True, range_complex=True
    )
    k = torch.randn(2, 8, dtype=torch.complex128)
    torch.testing.assert_close(fft.adjoint(k), torch.fft.ifft(k, norm="ortho"))
    assert dottest(fft) < 1e-13


def test_adjoint_from_autograd_is_differentiable():
    op = LinearOperator.from_function(lambda x: 2 * x.cumsum(-1), (6,), (6,))
    y = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    op.adjoint(y).square().sum().backward()
    # loss = ||A^T y||^2 with A = 2 L (L: cumulative sum) -> gradient 2 A A^T y = 8 L L^T y
    expected = 8 * y.flip(-1).cumsum(-1).flip(-1).cumsum(-1)
    torch.testing.assert_close(y.grad, expected.detach())


def test_norm_by_power_iteration_is_cached_and_accurate():
    w = torch.tensor([[0.5, -3.0], [2.0, 1.0]], dtype=torch.float64)
    op = Diagonal(w)
    assert op.norm() == pytest.approx(3.0)
    grad = Gradient((1, 32, 32))
    first = grad.norm()
    assert first == grad.norm()  # cached
    assert 2.7 < first < math.sqrt(8)
    blur = Blur.gaussian(32, 2.0, boundary="zero")
    x = torch.randn(1, 1, 32, 32, dtype=torch.float64)
    assert torch.linalg.vector_norm(blur(x)) <= blur.norm() * torch.linalg.vector_norm(x) * (1 + 1e-4)


def test_complex_operator_has_no_plain_transpose():
    from inverselab.operators import CartesianMRI

    op = CartesianMRI(torch.ones(8, 8))
    with pytest.raises(InputError, match=r"use \.H"):
        op.T


def test_gradcheck_detects_wrong_gradient():
    good = Operator.from_function(lambda x: torch.exp(x) * x, (4,), (4,))
    assert gradcheck(good) < 1e-8

    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # should be 2 x

    bad = Operator.from_function(Wrong.apply, (4,), (4,))
    assert gradcheck(bad) > 0.1


def test_dottest_detects_a_wrong_adjoint():
    class Broken(LinearOperator):
        def __init__(self):
            super().__init__((5,), (5,))

        def _forward(self, x):
            return x.cumsum(-1)

        def _adjoint(self, y):
            return y.cumsum(-1)  # should be the reversed cumulative sum

    assert dottest(Broken()) > 1e-3
