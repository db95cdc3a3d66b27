"""Readers of real data (skipped when ../shared/data is absent) and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import data_file
from inverselab.data import read_cfl, read_htc2022, read_kspace, read_velocity_model
from inverselab.errors import InputError

HTC = ("ct", "htc2022")


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name,truth,views",
    [("ta_category7.mat", "ta", 61), ("tb_category7.mat", "tb", 61), ("tb_subsample_90.mat", "tb", 181)],
)
def test_htc2022_geometry_reproduces_measured_sinogram(name, truth, views):
    """Projecting the ground truth through our FanBeam2D correlates with the measurement
    (the data README reports 0.993-0.997 for the verified convention)."""
    scan = read_htc2022(data_file(*HTC, name), image_size=256)
    assert scan.sinogram.shape == (1, 1, views, 560)
    gt = torch.from_numpy(np.load(data_file(*HTC, f"{truth}_groundtruth.npy")).astype(np.float64))
    gt = torch.nn.functional.avg_pool2d(gt[None, None], 2)
    p = scan.operator(gt).ravel().numpy()
    corr = np.corrcoef(p, scan.sinogram.ravel().numpy())[0, 1]
    assert corr > 0.99
    mu = float(p @ scan.sinogram.ravel().numpy() / (p @ p))
    assert 0.03 < mu < 0.04  # acrylic attenuation per mm


@pytest.mark.realdata
def test_htc2022_matlab_v73_file():
    scan = read_htc2022(data_file(*HTC, "solid_disc_subsample73.mat"), image_size=128)
    assert scan.sinogram.shape == (1, 1, 61, 560)
    assert scan.angles_deg[0] == pytest.approx(181.0)
    assert scan.name == "solid_disc_subsample73"
    # the 70 mm disc's shadow is about 472 elements wide
    row = scan.sinogram[0, 0, 30]
    assert 440 < int((row > 0.3 * row.max()).sum()) < 500


@pytest.mark.realdata
def test_bart_cfl_equals_npy_copy():
    k = read_cfl(data_file("mri", "ksp.cfl"))
    ref = np.load(data_file("mri", "ksp.npy"))
    assert k.shape == (1, 180, 230, 8)
    np.testing.assert_array_equal(k, ref)
    sampled = (np.abs(k[0, :, :, 0]) > 0).mean()
    assert sampled == pytest.approx(0.1266, abs=0.002)


@pytest.mark.realdata
def test_gre_kspace_reconstructs_phantom():
    k = read_kspace(data_file("mri", "gre_kspace.npy"))
    assert k.shape == (2, 160, 320) and k.is_complex()
    from inverselab.operators import ifft2c

    img = ifft2c(k).abs().square().sum(0).sqrt()[:, 80:240]
    assert img.shape == (160, 160)
    # a phantom: signal in the middle, little in the corners
    assert img[60:100, 60:100].mean() > 5 * img[:10, :10].mean()


@pytest.mark.realdata
def test_marmousi():
    v = read_velocity_model(data_file("seismic", "cp_true.mat"))
    assert v.shape == (134, 384) and v.dtype == torch.float32
    assert v.min().item() == pytest.approx(1500.0) and v.max().item() == pytest.approx(5500.0)
    assert torch.all(v[:10] == 1500.0)  # water layer


def test_corrupt_and_missing_files_give_clear_errors(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_htc2022(tmp_path / "nope.mat")
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file garbage" + bytes(200))
    with pytest.raises(InputError, match="cannot read .*bad.mat as an HTC2022 file"):
        read_htc2022(bad)
    npy = tmp_path / "real.npy"
    np.save(npy, np.zeros((2, 2)))
    with pytest.raises(InputError, match="must be complex"):
        read_kspace(npy)
    (tmp_path / "k.hdr").write_text("# Dimensions\n4 4 1\n")
    np.zeros(3, np.complex64).tofile(tmp_path / "k.cfl")
    with pytest.raises(InputError, match="truncated"):
        read_cfl(tmp_path / "k")
    pickled = tmp_path / "obj.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="cannot read"):
        read_kspace(pickled)
