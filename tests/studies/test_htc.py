"""Real HTC2022 data: disc fit, and limited-angle TV scored by MCC (skipped without data)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import data_file
import inverselab as il
from inverselab.cli import main
from inverselab.data import read_htc2022, read_segmentation
from inverselab.problems.real import fit_disc, scan_problem, score_segmentation

HTC = ("ct", "htc2022")


@pytest.mark.realdata
def test_fit_disc_finds_the_70mm_disc():
    scan = read_htc2022(data_file(*HTC, "solid_disc_subsample73.mat"), image_size=64)
    cx, cy, radius = fit_disc(scan)
    assert radius == pytest.approx(35.0, abs=0.5)
    assert abs(cx) < 1.0 and abs(cy) < 1.0
    # the same object seen over another arc gives the same disc
    tb30 = fit_disc(read_htc2022(data_file(*HTC, "tb_category7.mat"), image_size=64))
    tb90 = fit_disc(read_htc2022(data_file(*HTC, "tb_subsample_90.mat"), image_size=64))
    assert np.allclose(tb30, tb90, atol=0.3)


@pytest.mark.realdata
@pytest.mark.slow
def test_tv_on_90_degree_tb_reaches_mcc_090():
    """Issue requirement: tb at 90 degrees reaches MCC >= 0.9 with TV (here on a 256 grid,
    scored against the 512 ground truth; benchmarks/htc2022.py runs the 512 grid)."""
    scan = read_htc2022(data_file(*HTC, "tb_subsample_90.mat"), image_size=256)
    truth = read_segmentation(data_file(*HTC, "tb_groundtruth.npy"))
    problem = scan_problem(scan)
    y = scan.sinogram.float()
    x_tv, hist = il.reconstruct(problem, y, "tv")
    x_fbp, _ = il.reconstruct(problem, y, "fbp")
    mcc_tv, mcc_fbp = score_segmentation(x_tv, truth), score_segmentation(x_fbp, truth)
    assert mcc_tv >= 0.9, (mcc_tv, hist.iterations)
    assert mcc_tv > mcc_fbp + 0.1


@pytest.mark.realdata
def test_ct_file_command(tmp_path, capsys):
    """TV within the fitted disc on the limited-angle ta scan. Measured MCC: TV (100
    iterations) 0.876; the fitted disc alone, segmented as all material, 0.772; FBP 0.391."""
    out = tmp_path / "ta"
    code = main([
        "ct-file", str(data_file(*HTC, "ta_category7.mat")), "--method", "tv", "--size", "128",
        "--param", "iters=100", "--truth", str(data_file(*HTC, "ta_groundtruth.npy")), "--out", str(out),
    ])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["scan"] == "ta_category7"
    assert metrics["mcc"] > 0.82, f"MCC {metrics['mcc']:.3f}: no better than segmenting the fitted disc (0.772)"
    assert metrics["config"]["support"]["radius_mm"] == pytest.approx(34.8, abs=0.5)
    assert (out / "figures" / "segmentation.png").exists()
    assert main(["ct-file", str(tmp_path / "missing.mat"), "--out", str(out)]) == 2
    assert "file not found" in capsys.readouterr().err
