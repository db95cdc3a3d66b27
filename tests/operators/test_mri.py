"""Cartesian MRI operator, coil maps and sampling masks."""

from __future__ import annotations

import pytest
import torch

from inverselab.errors import InputError
from inverselab.operators import (
    CartesianMRI,
    coil_sensitivities,
    equispaced_mask_1d,
    fft2c,
    ifft2c,
    random_mask_1d,
    variable_density_mask_2d,
)


def test_centred_fft_is_unitary_and_centred():
    x = torch.randn(2, 1, 16, 20, dtype=torch.complex128)
    torch.testing.assert_close(ifft2c(fft2c(x)), x)
    torch.testing.assert_close(torch.linalg.vector_norm(fft2c(x)), torch.linalg.vector_norm(x))
    ones = torch.ones(1, 1, 16, 20, dtype=torch.complex128)
    k = fft2c(ones)[0, 0]
    assert k.abs().argmax().item() == 8 * 20 + 10  # DC at the centre (H // 2, W // 2)


def test_fully_sampled_single_coil_is_invertible():
    op = CartesianMRI(torch.ones(16, 16))
    x = torch.randn(2, 1, 16, 16, dtype=torch.complex128)
    torch.testing.assert_close(op.adjoint(op(x)), x)
    assert op.norm() == 1.0 and op.acceleration == 1.0


def test_multicoil_maps_normalised_and_adjoint_combines():
    maps = coil_sensitivities(6, (24, 24))
    torch.testing.assert_close(maps.abs().square().sum(0), torch.ones(24, 24, dtype=torch.float64))
    op = CartesianMRI(torch.ones(24, 24), maps)
    x = torch.randn(1, 1, 24, 24, dtype=torch.complex128)
    torch.testing.assert_close(op.adjoint(op(x)), x)  # sum |S_c|^2 = 1
    assert op(x).shape == (1, 6, 24, 24)


def test_real_input_is_promoted():
    op = CartesianMRI(torch.ones(8, 8))
    assert op(torch.rand(1, 1, 8, 8)).dtype == torch.complex64


@pytest.mark.parametrize("make", [random_mask_1d, equispaced_mask_1d])
@pytest.mark.parametrize("acc", [4, 8])
def test_1d_masks_acceleration_and_centre(make, acc):
    h, w = 64, 256
    mask = make((h, w), acc, 0.04, seed=3)
    cols = mask[0]
    assert torch.equal(mask, cols.expand(h, w))
    assert w / cols.sum().item() == pytest.approx(acc, rel=0.25)
    n_center = round(w * 0.04)
    start = (w - n_center + 1) // 2
    assert cols[start : start + n_center].all()


def test_masks_are_seeded():
    a = random_mask_1d((32, 128), 4, 0.08, seed=1)
    assert torch.equal(a, random_mask_1d((32, 128), 4, 0.08, seed=1))
    assert not torch.equal(a, random_mask_1d((32, 128), 4, 0.08, seed=2))


def test_variable_density_mask():
    mask = variable_density_mask_2d((128, 128), 6, 0.02, seed=0)
    assert mask.numel() / mask.sum().item() == pytest.approx(6, rel=0.15)
    centre = mask[56:72, 56:72].float().mean()
    corner = mask[:32, :32].float().mean()
    assert centre > 0.9 and corner < centre / 3


def test_mask_validation():
    with pytest.raises(InputError, match="acceleration"):
        random_mask_1d((16, 16), 0.5)
    with pytest.raises(InputError, match="center_fraction"):
        random_mask_1d((16, 16), 8, 0.3)
    with pytest.raises(InputError, match="does not match"):
        CartesianMRI(torch.ones(8, 8), coil_sensitivities(2, (8, 10)))
