"""Cartesian MRI operator, coil maps and sampling masks."""

from __future__ import annotations

import numpy as np
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


def _numpy_masked_fft(x: np.ndarray, mask: np.ndarray, maps: np.ndarray | None) -> np.ndarray:
    """Reference forward model: ``mask * F(S_c x)`` with the centred orthonormal FFT written
    out in NumPy (zero frequency moved to ``(H // 2, W // 2)``)."""
    coils = x if maps is None else x * maps[None]  # (B, 1 or C, H, W)
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coils, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    return k * mask


def _numpy_adjoint(y: np.ndarray, mask: np.ndarray, maps: np.ndarray | None) -> np.ndarray:
    images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(y * mask, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    return images if maps is None else (images * maps[None].conj()).sum(1, keepdims=True)


@pytest.mark.parametrize("shape", [(12, 16), (9, 11)], ids=["even", "odd"])
@pytest.mark.parametrize("coils", [0, 3], ids=["single-coil", "multi-coil"])
def test_cartesian_mri_matches_a_numpy_masked_fft(shape, coils):
    """A random (not symmetric) mask, so that a mask applied off the k-space centre, or a
    centring that is off by one on odd sizes, shows."""
    rng = np.random.default_rng(0)
    mask = rng.random(shape) < 0.4
    maps = coil_sensitivities(coils, shape).numpy() if coils else None
    op = CartesianMRI(torch.from_numpy(mask), None if maps is None else torch.from_numpy(maps))
    x = rng.standard_normal((2, 1, *shape)) + 1j * rng.standard_normal((2, 1, *shape))
    y = rng.standard_normal((2, max(coils, 1), *shape)) + 1j * rng.standard_normal((2, max(coils, 1), *shape))
    np.testing.assert_allclose(op(torch.from_numpy(x)).numpy(), _numpy_masked_fft(x, mask, maps), atol=1e-12)
    np.testing.assert_allclose(op.adjoint(torch.from_numpy(y)).numpy(), _numpy_adjoint(y, mask, maps), atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 9), (3, 6, 9)], ids=["2-d", "3-d"])
def test_centred_fft_acts_on_the_last_two_axes_of_any_array(shape):
    x = np.random.default_rng(1).standard_normal(shape) + 0j
    axes = (-2, -1)
    expected = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=axes), norm="ortho"), axes=axes)
    np.testing.assert_allclose(fft2c(torch.from_numpy(x)).numpy(), expected, atol=1e-12)
    expected = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(x, axes=axes), norm="ortho"), axes=axes)
    np.testing.assert_allclose(ifft2c(torch.from_numpy(x)).numpy(), expected, atol=1e-12)


def test_a_column_mask_samples_whole_columns():
    columns = torch.tensor([1, 0, 0, 1, 1, 0, 1, 0])
    x = torch.randn(2, 1, 5, 8, dtype=torch.complex128)
    full = CartesianMRI(columns.expand(5, 8))
    torch.testing.assert_close(CartesianMRI(columns, shape=(5, 8))(x), full(x))
    assert CartesianMRI(columns, coil_sensitivities(2, (5, 8))).domain_shape == (1, 5, 8)


def test_operator_buffers_are_not_weights():
    """Masks and coil maps are physics, rebuilt with the operator: they must stay out of the
    state_dict of a network that holds the operator."""
    assert CartesianMRI(torch.ones(4, 4), coil_sensitivities(2, (4, 4))).state_dict() == {}


def test_acceleration_and_norm():
    one = torch.zeros(4, 6)
    one[2, 3] = 1
    assert CartesianMRI(one).acceleration == 24.0 and CartesianMRI(one).norm() == 1.0
    assert CartesianMRI(torch.zeros(4, 6)).norm() == 0.0
    maps = 2 * coil_sensitivities(3, (8, 8))  # root-sum-of-squares 2: ||A|| = 2
    assert CartesianMRI(torch.ones(8, 8), maps).norm() == pytest.approx(2.0, rel=1e-4)


def test_random_mask_centre_is_the_zero_frequency_column():
    """At the highest acceleration its centre allows, the mask is the centre band alone: here
    a single column, at W // 2 where the centred FFT puts zero frequency."""
    mask = random_mask_1d((4, 64), acceleration=64, center_fraction=0.01, seed=0)
    assert mask[0].nonzero().flatten().tolist() == [32]


def test_random_mask_samples_the_asked_fraction_on_average():
    """The columns outside the centre are kept with the probability that makes the expected
    count ``W / acceleration`` (64 here); over 400 seeds the mean is within 1.5 of it (4
    standard errors)."""
    counts = [float(random_mask_1d((2, 256), 4, 0.04, seed=s)[0].sum()) for s in range(400)]
    assert sum(counts) / len(counts) == pytest.approx(64, abs=1.5)


def test_random_mask_defaults():
    assert torch.equal(random_mask_1d((4, 256)), random_mask_1d((4, 256), 4.0, 0.08, seed=0))


def test_the_centre_column_of_a_mask_samples_the_zero_frequency():
    """A constant image has all its energy at zero frequency: a mask holding only the centre
    column (W // 2, where the 1-D masks put their fully sampled band) keeps all of it."""
    h, w = 8, 10
    mask = torch.zeros(h, w)
    mask[:, w // 2] = 1
    y = CartesianMRI(mask)(torch.ones(1, 1, h, w, dtype=torch.complex128))
    assert float(y.abs().square().sum()) == pytest.approx(h * w), "the mask is applied off the k-space centre"


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
    with pytest.raises(InputError, match="only 0 and 1"):
        CartesianMRI(torch.full((4, 4), 0.5))
    with pytest.raises(InputError, match="only 0 and 1"):
        CartesianMRI(torch.ones(4, 4, dtype=torch.complex64))
    with pytest.raises(InputError, match="acceleration"):
        random_mask_1d((16, 16), 0.5)
    with pytest.raises(InputError, match="center_fraction"):
        random_mask_1d((16, 16), 8, 0.3)
    with pytest.raises(InputError, match="does not match"):
        CartesianMRI(torch.ones(8, 8), coil_sensitivities(2, (8, 10)))
