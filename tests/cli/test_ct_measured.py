"""``inverselab ct-file`` on plain files of a parallel-beam scan: the axis found from the data,
stripes removed, transmission converted, and one-line errors on bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from inverselab.cli import main
from inverselab.data import read_measured, shepp_logan
from inverselab.errors import InputError
from inverselab.metrics import psnr
from inverselab.operators import ParallelBeam2D
from inverselab.preprocessing import offset_for_centre

SIZE, N_DET, N_ANGLES = 64, 96, 90
SHIFT = 5.4


def _truth() -> torch.Tensor:
    return shepp_logan(SIZE).double().reshape(1, 1, SIZE, SIZE)


def _sinogram(rows: int = 1) -> np.ndarray:
    """``(rows, angles, detectors)`` line integrals with the axis SHIFT elements off the middle,
    1 % noise and two miscalibrated elements."""
    angles = np.arange(N_ANGLES) * math.pi / N_ANGLES
    op = ParallelBeam2D(SIZE, angles, N_DET, detector_offset=offset_for_centre((N_DET - 1) / 2 + SHIFT, N_DET))
    y = op(_truth().expand(rows, -1, -1, -1))[:, 0].numpy()
    y = y + 0.01 * np.abs(y).max() * np.random.default_rng(0).standard_normal(y.shape)
    y[..., [30, 61]] += 0.04 * np.abs(y).max()
    return y


def test_a_npy_sinogram_with_an_offset_axis_and_stripes(tmp_path, capsys):
    np.save(tmp_path / "scan.npy", _sinogram()[0])
    out = tmp_path / "run"
    assert main(["ct-file", str(tmp_path / "scan.npy"), "--method", "fbp", "--stripes", "--size", str(SIZE),
                 "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert abs(metrics["centre_offset"] - SHIFT) < 0.5
    assert "centre of rotation" in capsys.readouterr().out
    estimate = torch.from_numpy(np.load(out / "estimate.npy"))
    # against the same file reconstructed about the detector middle
    assert main(["ct-file", str(tmp_path / "scan.npy"), "--method", "fbp", "--size", str(SIZE),
                 "--centre", str((N_DET - 1) / 2), "--out", str(tmp_path / "middle")]) == 0
    middle = torch.from_numpy(np.load(tmp_path / "middle" / "estimate.npy"))
    assert float(psnr(estimate, _truth(), 1.0)) > float(psnr(middle, _truth(), 1.0)) + 3
    assert (out / "figures" / "estimate.png").exists() and (out / "config.toml").exists()


def test_a_tiff_projection_stack_in_transmission_with_flat_and_dark_fields(tmp_path):
    lines = _sinogram(rows=2)  # (rows, angles, detectors)
    dark, flat = 100.0, 5000.0
    counts = dark + (flat - dark) * np.exp(-np.moveaxis(lines, 0, 1))  # (angles, rows, detectors)
    pages = [Image.fromarray(page.astype(np.float32)) for page in counts]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    np.save(tmp_path / "flat.npy", np.full((3, 2, N_DET), flat))
    np.save(tmp_path / "dark.npy", np.full((2, N_DET), dark))
    assert read_measured(tmp_path / "stack.tif").shape == (N_ANGLES, 2, N_DET)
    out = tmp_path / "run"
    assert main(["ct-file", str(tmp_path / "stack.tif"), "--layout", "projections", "--rows", "1:2", "--transmission",
                 "--flat", str(tmp_path / "flat.npy"), "--dark", str(tmp_path / "dark.npy"), "--method", "fbp",
                 "--stripes", "--size", str(SIZE), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 1 and abs(metrics["centre_offset"] - SHIFT) < 0.5


@pytest.mark.parametrize(("args", "message"), [
    (["--angles", "0-180"], "expected START:END"),
    (["--centre", "left"], "--centre takes a number"),
    (["--layout", "projections"], "projection stack must be (n_angles, rows, n_detectors)"),
    (["--transmission"], "need --flat (and --dark) files or --open-region"),
    (["--rows", "3:5"], "outside the 1 detector rows"),
])
def test_bad_scan_options_end_in_one_line(tmp_path, capsys, args, message):
    np.save(tmp_path / "scan.npy", _sinogram()[0])
    code = main(["ct-file", str(tmp_path / "scan.npy"), "--method", "fbp", *args, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_angles_file_must_match_the_projections(tmp_path, capsys):
    np.save(tmp_path / "scan.npy", _sinogram()[0])
    np.save(tmp_path / "angles.npy", np.arange(N_ANGLES - 1) * 2.0)
    code = main(["ct-file", str(tmp_path / "scan.npy"), "--angles-file", str(tmp_path / "angles.npy"),
                 "--out", str(tmp_path / "r")])
    assert code == 2 and "one angle (degrees) per projection" in capsys.readouterr().err


def test_unreadable_measured_files_name_the_fix(tmp_path):
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    with pytest.raises(InputError, match="cannot read"):
        read_measured(tmp_path / "bad.tif")
    with pytest.raises(InputError, match="name the dataset"):
        np.save(tmp_path / "x.npy", np.zeros(3))
        (tmp_path / "x.h5").write_bytes(b"")
        read_measured(tmp_path / "x.h5")
    with pytest.raises(InputError, match="does not exist"):
        read_measured(tmp_path / "missing.npy")
