"""Blur, inpainting, downsampling and compressed sensing against direct computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage
import torch

from inverselab.errors import InputError
from inverselab.operators import Blur, CompressedSensing, Downsampling, Inpainting, gaussian_kernel, hartley


@pytest.mark.parametrize("boundary,mode", [("circular", "wrap"), ("zero", "constant")])
def test_blur_equals_spatial_convolution(boundary, mode):
    g = torch.Generator().manual_seed(0)
    kernel = torch.rand(5, 7, generator=g, dtype=torch.float64)
    x = torch.rand(2, 1, 20, 17, generator=g, dtype=torch.float64)
    op = Blur((1, 20, 17), kernel, boundary)
    expected = np.stack([scipy.ndimage.convolve(x[i, 0].numpy(), kernel.numpy(), mode=mode) for i in range(2)])
    np.testing.assert_allclose(op(x)[:, 0].numpy(), expected, atol=1e-12)


def test_gaussian_kernel_and_blur_norm():
    k = gaussian_kernel(2.0, 15)
    assert k.shape == (15, 15) and k.sum().item() == pytest.approx(1.0)
    assert Blur.gaussian(32, 2.0).norm() == pytest.approx(1.0)  # DC gain of a normalised kernel
    with pytest.raises(InputError, match="odd"):
        gaussian_kernel(1.0, 4)
    with pytest.raises(InputError, match="odd sides"):
        Blur(16, torch.ones(4, 4))
    with pytest.raises(InputError, match="boundary"):
        Blur(16, torch.ones(3, 3), boundary="reflect")


def test_inpainting_masks_and_keeps_fraction():
    op = Inpainting.random((3, 64, 64), 0.3, seed=2)
    assert op.mask.mean().item() == pytest.approx(0.3, abs=0.03)
    assert torch.equal(op.mask[0], op.mask[2])  # same pixels in every channel
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(op(x), x * op.mask.float())


def test_downsampling_keeps_lattice_and_filters():
    op = Downsampling(16, 4, "none")
    x = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(op(x), x[..., ::4, ::4])
    box = Downsampling(16, 3 * 0 + 2, "box")
    const = torch.ones(1, 1, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(box(const), torch.ones(1, 1, 8, 8, dtype=torch.float64))
    with pytest.raises(InputError, match="divisible"):
        Downsampling(30, 4)


def test_hartley_is_orthonormal_and_involutive():
    x = torch.randn(3, 50, dtype=torch.float64)
    torch.testing.assert_close(hartley(hartley(x)), x)
    torch.testing.assert_close(torch.linalg.vector_norm(hartley(x), dim=1), torch.linalg.vector_norm(x, dim=1))


def test_compressed_sensing_rows_and_isometry():
    n = 32 * 32
    m = 256
    op = CompressedSensing(32, m, "hartley", seed=1)
    y = torch.randn(2, m, dtype=torch.float64)
    # rows are orthogonal with squared norm n / m: A A^T = (n / m) I
    torch.testing.assert_close(op(op.adjoint(y)), y * (n / m))
    assert op.norm() == pytest.approx(math.sqrt(n / m))
    g = CompressedSensing(16, 100, "gaussian", seed=1)
    x = torch.randn(200, 1, 16, 16, dtype=torch.float64)
    ratio = (g(x).square().sum(1) / x.square().sum((1, 2, 3))).mean().item()
    assert ratio == pytest.approx(1.0, abs=0.1)
    with pytest.raises(InputError, match="measurements"):
        CompressedSensing(8, 100)
