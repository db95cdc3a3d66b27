"""Readers of LoDoPaB-CT, fastMRI and OpenFWI on small files written in exactly the published
layouts, and the ready problems built on them, which solve and train accept."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

import inverselab as il
from inverselab.data.formats import fastmri_mask, read_fastmri, read_lodopab, read_openfwi
from inverselab.errors import InputError
from inverselab.jobs import solve_job, train_job

TRAINING = {"batch_size": 2, "steps_per_epoch": 1, "val_size": 1, "seed": 0}

ISMRMRD = """<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
  <encoding>
    <encodedSpace><matrixSize><x>{h}</x><y>{w}</y><z>1</z></matrixSize></encodedSpace>
    <reconSpace><matrixSize><x>{r}</x><y>{r}</y><z>1</z></matrixSize></reconSpace>
  </encoding>
</ismrmrdHeader>"""


@pytest.fixture(scope="module")
def lodopab_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lodopab")
    rng = np.random.default_rng(0)
    for k, count in enumerate((3, 2)):  # the last file of a part holds fewer samples
        with h5py.File(folder / f"ground_truth_test_{k:03d}.hdf5", "w") as f:
            f.create_dataset("data", data=rng.random((count, 362, 362), dtype=np.float32))
        with h5py.File(folder / f"observation_test_{k:03d}.hdf5", "w") as f:
            f.create_dataset("data", data=rng.random((count, 1000, 513), dtype=np.float32))
    return folder


def test_lodopab_reads_pairs_in_order_and_builds_its_geometry(lodopab_dir, tmp_path):
    x, y = read_lodopab(lodopab_dir, "test")
    assert x.shape == (5, 1, 362, 362) and y.shape == (5, 1, 1000, 513)
    with h5py.File(lodopab_dir / "observation_test_001.hdf5") as f:
        np.testing.assert_array_equal(y[3, 0].numpy(), f["data"][0])
    assert read_lodopab(lodopab_dir, "test", limit=4)[0].shape[0] == 4
    p = il.make_problem("lodopab", path=str(lodopab_dir), limit=4)
    assert p.operator.range_shape == (1, 1000, 513) and p.operator.domain_shape == (1, 362, 362)
    truth, measured = p.test_data(1)
    assert any(torch.equal(measured[0], y[i]) for i in range(4))  # a published observation, not a simulation
    metrics = solve_job(p, "fbp", {}, 1, 0, tmp_path / "fbp")
    assert np.isfinite(metrics["psnr"])
    train_job(p, "unet", tmp_path / "unet", options={"width": 4, "depth": 1}, epochs=1, training=TRAINING)
    assert (tmp_path / "unet" / "model.safetensors").is_file()
    with pytest.raises(InputError, match="no LoDoPaB files ground_truth_train"):
        read_lodopab(lodopab_dir, "train")
    with pytest.raises(InputError, match="needs the location"):
        il.make_problem("lodopab")


def _fastmri_file(path, coils: int | None, slices: int = 3, h: int = 32, w: int = 24):
    rng = np.random.default_rng(1)
    shape = (slices, coils, h, w) if coils else (slices, h, w)
    kspace = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace)
        f.create_dataset("reconstruction_rss" if coils else "reconstruction_esc",
                         data=rng.random((slices, 16, 16), dtype=np.float32))
        f.create_dataset("ismrmrd_header", data=np.bytes_(ISMRMRD.format(h=h, w=w, r=16)))
        f.attrs["acquisition"] = "AXT2"
        f.attrs["max"] = 1.0
    return kspace


@pytest.mark.parametrize("coils", [4, None], ids=["multicoil", "singlecoil"])
def test_fastmri_volumes_masks_and_problems(tmp_path, coils):
    kspace = _fastmri_file(tmp_path / "file.h5", coils)
    volume = read_fastmri(tmp_path / "file.h5")
    assert volume.kind == ("multicoil" if coils else "singlecoil")
    assert volume.kspace.shape == (3, coils or 1, 32, 24) and volume.encoding == (32, 24)
    assert volume.reference.shape == (3, 16, 16) and volume.attrs["acquisition"] == "AXT2"
    np.testing.assert_array_equal(volume.kspace.numpy().reshape(kspace.shape), kspace)
    p = il.make_problem("fastmri", path=str(tmp_path / "file.h5"), acceleration=4)
    x, y = p.test_data(1)
    assert x.is_complex() and y.shape == (1, coils or 1, 32, 24)
    kept = p.operator.mask[0].bool()
    assert torch.all(y[..., ~kept] == 0) and torch.any(y[..., kept] != 0)  # the real data, masked
    estimate, _ = il.reconstruct(p, y, "baseline")
    assert estimate.shape == x.shape
    train_job(p, "unet", tmp_path / "unet", options={"width": 4, "depth": 1}, epochs=1, training=TRAINING)
    assert (tmp_path / "unet" / "model.safetensors").is_file()


def test_fastmri_masks_follow_the_challenge():
    for acceleration, centre in ((4, 0.08), (8, 0.04)):
        for kind in ("equispaced", "random"):
            mask = fastmri_mask(368, acceleration, kind, seed=0)
            assert mask.shape == (368,) and mask[184 - int(368 * centre) // 2 + 1: 184 + int(368 * centre) // 2].all()
            assert abs(368 / int(mask.sum()) - acceleration) < 0.35 * acceleration
    with pytest.raises(InputError, match="4x and 8x"):
        fastmri_mask(368, 6)


@pytest.fixture(scope="module")
def openfwi_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("openfwi")
    rng = np.random.default_rng(2)
    for k in (1, 2):
        np.save(folder / f"data{k}.npy", rng.standard_normal((2, 5, 1000, 70)).astype(np.float32))
        np.save(folder / f"model{k}.npy", rng.uniform(1500, 4500, (2, 1, 70, 70)).astype(np.float32))
    return folder


def test_openfwi_pairs_files_and_transposes_the_gathers(openfwi_dir, tmp_path):
    v, d = read_openfwi(openfwi_dir)
    assert v.shape == (4, 70, 70) and d.shape == (4, 5, 70, 1000)
    raw = np.load(openfwi_dir / "data2.npy")
    np.testing.assert_array_equal(d[2].numpy(), raw[0].transpose(0, 2, 1))
    pytest.importorskip("deepwave")
    p = il.make_problem("openfwi", path=str(openfwi_dir))
    assert p.operator.range_shape == (5, 70, 1000) and p.value_range == (1500.0, 4500.0)
    metrics = solve_job(p, "baseline", {}, 1, 0, tmp_path / "start")
    assert np.isfinite(metrics["psnr"])
    train_job(p, "inversionnet", tmp_path / "inet", epochs=1, training=TRAINING)
    assert (tmp_path / "inet" / "model.safetensors").is_file()


def test_files_in_another_layout_are_refused(tmp_path):
    np.save(tmp_path / "data1.npy", np.zeros((2, 5, 70), np.float32))
    np.save(tmp_path / "model1.npy", np.zeros((2, 1, 70, 70), np.float32))
    with pytest.raises(InputError, match="are not OpenFWI's"):
        read_openfwi(tmp_path)
    with h5py.File(tmp_path / "vol.h5", "w") as f:
        f.create_dataset("kspace", data=np.zeros((2, 8, 8), np.float32))
        f.create_dataset("ismrmrd_header", data=np.bytes_(ISMRMRD.format(h=8, w=8, r=8)))
    with pytest.raises(InputError, match="kspace must be complex"):
        read_fastmri(tmp_path / "vol.h5")
    (tmp_path / "not.h5").write_bytes(b"plain text")
    with pytest.raises(InputError, match="cannot read .* as HDF5"):
        read_fastmri(tmp_path / "not.h5")
