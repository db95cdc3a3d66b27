"""Orthogonal wavelet transform (against PyWavelets) and the TV gradient."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

from inverselab.errors import InputError
from inverselab.operators import Gradient, Wavelet2D


@pytest.mark.parametrize("name", ["haar", "db2", "db4", "sym4", "coif1"])
def test_matches_pywavelets_periodization(name):
    x = torch.randn(2, 1, 32, 64, dtype=torch.float64)
    op = Wavelet2D((1, 32, 64), name, levels=2)
    ref, _ = pywt.coeffs_to_array(pywt.wavedec2(x[1, 0].numpy(), name, mode="periodization", level=2))
    np.testing.assert_allclose(op(x)[1, 0].numpy(), ref, atol=1e-12)


def test_orthogonal_inverse_and_complex():
    op = Wavelet2D((1, 32, 32), "db4", is_complex=True)
    x = torch.randn(2, 1, 32, 32, dtype=torch.complex128)
    torch.testing.assert_close(op.adjoint(op(x)), x)
    torch.testing.assert_close(torch.linalg.vector_norm(op(x)), torch.linalg.vector_norm(x))


def test_wavelet_validation():
    with pytest.raises(InputError, match="divisible"):
        Wavelet2D((1, 24, 24), "haar", levels=4)
    with pytest.raises(InputError, match="not orthogonal"):
        Wavelet2D((1, 16, 16), "bior2.2")
    with pytest.raises(InputError, match="unknown wavelet"):
        Wavelet2D((1, 16, 16), "db99x")


def test_gradient_of_ramp_and_neumann_boundary():
    x = torch.arange(5, dtype=torch.float64).expand(1, 1, 4, 5).clone()  # increases along x
    g = Gradient((1, 4, 5))(x)
    assert torch.equal(g[0, 0], torch.zeros(1, 4, 5, dtype=torch.float64))
    assert torch.equal(g[0, 1, 0, :, :-1], torch.ones(4, 4, dtype=torch.float64))
    assert torch.equal(g[0, 1, 0, :, -1], torch.zeros(4, dtype=torch.float64))
    assert Gradient((1, 64, 64)).norm() < Gradient.NORM_BOUND
