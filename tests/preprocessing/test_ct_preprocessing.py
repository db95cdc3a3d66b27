"""Measured CT data before reconstruction: Beer–Lambert conversion, centre of rotation, stripes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from inverselab.data.phantoms import shepp_logan
from inverselab.errors import InputError
from inverselab.metrics import psnr
from inverselab.operators import ParallelBeam2D, fbp
from inverselab.preprocessing import (
    centre_by_sharpness,
    centre_from_opposed,
    estimate_rotation_centre,
    flat_dark_correction,
    line_integrals,
    offset_for_centre,
    remove_stripes,
    ring_energy,
)

N_DET = 192
SIZE = 128


def _phantom() -> torch.Tensor:
    return shepp_logan(SIZE).double().reshape(1, 1, SIZE, SIZE)


def _scan(shift: float, full_circle: bool, seed: int = 0, stripes: int = 5) -> tuple[np.ndarray, np.ndarray, float]:
    """A parallel-beam sinogram with the axis ``shift`` elements off the detector middle, 1 %
    noise and ``stripes`` miscalibrated elements; returns it, its angles and the true centre."""
    rng = np.random.default_rng(seed)
    n_angles = 360 if full_circle else 180
    angles = np.arange(n_angles) * (2 if full_circle else 1) * math.pi / n_angles
    centre = (N_DET - 1) / 2 + shift
    op = ParallelBeam2D(SIZE, angles, N_DET, detector_offset=offset_for_centre(centre, N_DET))
    y = op(_phantom())[0, 0].numpy()
    y = y + 0.01 * np.abs(y).max() * rng.standard_normal(y.shape)
    columns = rng.choice(np.arange(40, N_DET - 40), size=stripes, replace=False)
    y[:, columns] += 0.03 * np.abs(y).max() * rng.choice([-1.0, 1.0], size=stripes)
    return y, angles, centre


@pytest.mark.parametrize("shift", [2.0, -4.6, 7.3, -12.0])
def test_opposed_projections_find_the_centre_of_a_360_degree_scan(shift):
    y, angles, centre = _scan(shift, full_circle=True, seed=int(abs(shift) * 10))
    assert abs(centre_from_opposed(y, angles) - centre) < 0.5
    assert abs(estimate_rotation_centre(torch.from_numpy(y), angles) - centre) < 0.5  # auto: opposed


@pytest.mark.parametrize("shift", [2.4, -7.0, 12.0])
def test_sharpness_search_finds_the_centre_of_a_180_degree_scan(shift):
    y, angles, centre = _scan(shift, full_circle=False, seed=int(abs(shift) * 10))
    assert abs(centre_by_sharpness(y, angles) - centre) < 0.5
    assert abs(estimate_rotation_centre(y, angles) - centre) < 0.5  # auto: sharpness


def test_a_180_degree_scan_has_no_opposed_projections():
    y, angles, _ = _scan(3.0, full_circle=False)
    with pytest.raises(InputError, match="360-degree scan; use centre_by_sharpness"):
        centre_from_opposed(y, angles)
    with pytest.raises(InputError, match="one angle"):
        centre_from_opposed(y, angles[:-1])


def test_reconstruction_with_the_estimated_centre_and_without_stripes():
    """The estimated centre removes the doubled edges; stripe removal brings the ring energy
    about the axis down to that of the same scan without miscalibrated elements (what is left
    is noise), without lowering the PSNR."""
    y, angles, centre = _scan(6.5, full_circle=False, seed=3, stripes=6)
    clean, _, _ = _scan(6.5, full_circle=False, seed=3, stripes=0)
    truth = _phantom()
    estimate = estimate_rotation_centre(y, angles)

    def reconstruct(sino: np.ndarray, c: float) -> torch.Tensor:
        op = ParallelBeam2D(SIZE, angles, N_DET, detector_offset=offset_for_centre(c, N_DET))
        return fbp(op, torch.from_numpy(sino.copy())[None, None], filter="hann")

    middle, found = reconstruct(y, (N_DET - 1) / 2), reconstruct(y, estimate)
    assert float(psnr(found, truth, 1.0)) > float(psnr(middle, truth, 1.0)) + 3.0
    cleaned = reconstruct(remove_stripes(y), estimate)
    floor = ring_energy(reconstruct(clean, estimate))
    assert ring_energy(found) > 1.3 * floor  # the stripes' rings
    assert ring_energy(cleaned) < 1.05 * floor
    assert float(psnr(cleaned, truth, 1.0)) >= float(psnr(found, truth, 1.0))


def test_stripe_removal_finds_the_offsets_of_miscalibrated_elements_and_keeps_types():
    clean, _, _ = _scan(0.0, full_circle=False, seed=5, stripes=0)
    striped, _, _ = _scan(0.0, full_circle=False, seed=5, stripes=4)
    out = remove_stripes(torch.from_numpy(striped).float())
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == striped.shape
    columns = np.nonzero(np.abs(striped - clean).max(0))[0]
    left = np.abs(out.double().numpy() - clean)[:, columns].mean(0)
    assert (left < 0.15 * np.abs(striped - clean)[:, columns].mean(0)).all()  # measured: at most 10 % left
    with pytest.raises(InputError, match="choose fewer neighbours"):
        remove_stripes(striped, neighbours=N_DET // 2)


def test_ring_energy_sees_rings_about_the_centre_only():
    yy, xx = np.mgrid[:65, :65] - 32.0
    radius = np.hypot(yy, xx)
    smooth = np.exp(-radius / 20)
    ringed = smooth + 0.1 * (np.abs(radius - 15) < 0.7)
    assert ring_energy(ringed) > 100 * ring_energy(smooth)


def test_flat_dark_correction_and_line_integrals_invert_beer_lambert():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 3, size=(20, 50))
    dark = rng.uniform(90, 110, size=50)
    flat = rng.uniform(9_000, 11_000, size=(4, 1, 50))  # four flat fields, averaged
    counts = dark + (flat.mean(0) - dark) * np.exp(-p)  # (20, 50)
    assert np.allclose(line_integrals(flat_dark_correction(counts, flat, dark)), p)
    # raw intensities with a drifting source, normalised by an open-beam region
    drift = rng.uniform(0.9, 1.1, size=(20, 1))
    p[:, :5] = 0
    assert np.allclose(line_integrals(1000 * drift * np.exp(-p), open_region=(0, 5)), p)


def test_bad_transmission_inputs_name_the_fix():
    counts = np.full((4, 8), 100.0)
    with pytest.raises(InputError, match="not swapped"):
        flat_dark_correction(counts, flat=np.full(8, 10.0), dark=np.full(8, 50.0))
    with pytest.raises(InputError, match="do not broadcast"):
        flat_dark_correction(counts, flat=np.full(7, 1000.0))
    with pytest.raises(InputError, match="NaN"):
        line_integrals(np.array([[0.5, np.nan]]))
    with pytest.raises(InputError, match="selects no detector column"):
        line_integrals(counts, open_region=(8, 8))
