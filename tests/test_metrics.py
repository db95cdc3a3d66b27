"""Metrics against scikit-image and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inverselab.data import natural_images
from inverselab.errors import InputError
from inverselab.metrics import mcc, otsu_threshold, psnr, relative_error, ssim


@pytest.fixture(scope="module")
def pair():
    x = natural_images(3, 64, seed=4)
    y = (x + 0.08 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)).clamp(0, 1)
    return y, x


def test_ssim_agrees_with_scikit_image(pair):
    y, x = pair
    ours = ssim(y, x, data_range=1.0, reduction="none")
    for i in range(3):
        ref = structural_similarity(y[i, 0].numpy(), x[i, 0].numpy(), data_range=1.0)
        assert abs(ours[i].item() - ref) < 1e-3
        ref_g = structural_similarity(
            y[i, 0].numpy(), x[i, 0].numpy(), data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False,
        )
        assert abs(ssim(y[i : i + 1], x[i : i + 1], 1.0, gaussian_weights=True).item() - ref_g) < 1e-3


def test_psnr_agrees_with_scikit_image(pair):
    y, x = pair
    ref = np.mean([peak_signal_noise_ratio(x[i, 0].numpy(), y[i, 0].numpy(), data_range=1.0) for i in range(3)])
    assert psnr(y, x, data_range=1.0).item() == pytest.approx(ref, abs=1e-9)
    # default data range is the reference's own max - min
    scaled = psnr(5 * y, 5 * x, data_range=None, reduction="none")
    assert torch.allclose(scaled, psnr(y, x, data_range=None, reduction="none"))


def test_identical_images_and_errors():
    x = torch.rand(2, 1, 16, 16)
    assert ssim(x, x, 1.0).item() == pytest.approx(1.0)
    assert relative_error(x, x).item() == 0
    assert relative_error(2 * x, x).item() == pytest.approx(1.0)
    with pytest.raises(InputError, match="differ in shape"):
        psnr(x, x[:, :, :8])
    with pytest.raises(InputError, match="data_range"):
        psnr(x, x, data_range=-1)
    with pytest.raises(InputError, match="reduction"):
        psnr(x, x + 0.1, reduction="sum")


def test_mcc_values():
    ref = torch.tensor([[1, 1, 0, 0]])
    assert mcc(ref, ref).item() == pytest.approx(1.0)
    assert mcc(1 - ref, ref).item() == pytest.approx(-1.0)
    half = torch.tensor([[1, 0, 1, 0]])
    assert mcc(half, ref).item() == pytest.approx(0.0)
    assert mcc(torch.zeros(1, 4), ref).item() == 0.0  # undefined -> 0


def test_otsu_separates_two_levels():
    x = torch.cat([torch.full((1, 100), 0.2), torch.full((1, 100), 0.8)], 1)
    t = otsu_threshold(x)
    assert 0.2 < t.item() < 0.8
