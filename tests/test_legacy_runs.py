"""Run folders written by earlier versions (a training run, an image solve and an estimation
solve, in tests/fixtures/legacy_runs) still load, evaluate, solve as methods and report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from inverselab.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "legacy_runs"
PROBLEM = ["--set", "size=16", "views=8"]


@pytest.fixture
def legacy(tmp_path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "runs")
    return tmp_path / "runs"


def _metrics(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def test_a_legacy_training_run_evaluates_to_its_recorded_scores(legacy):
    recorded = _metrics(legacy / "train-unet")
    assert main(["evaluate", str(legacy / "train-unet"), "--n", "2", "--device", "cpu", "--out",
                 str(legacy / "again")]) == 0
    again = _metrics(legacy / "again")
    assert again["method"] == recorded["method"] == "unet"
    assert again["psnr"] == pytest.approx(recorded["psnr"], abs=1e-3)
    assert again["ssim"] == pytest.approx(recorded["ssim"], abs=1e-4)
    assert (legacy / "train-unet" / "config.toml").read_text().startswith("[problem]")  # left alone


def test_a_legacy_training_run_is_a_method_with_the_solve_schema(legacy):
    assert main(["solve", "ct-parallel", *PROBLEM, "--method", str(legacy / "train-unet"), "--n", "2", "--out",
                 str(legacy / "as-method")]) == 0
    assert main(["solve", "ct-parallel", *PROBLEM, "--method", "tv", "--param", "iters=20", "--n", "2", "--out",
                 str(legacy / "tv-now")]) == 0
    as_method, tv_now = _metrics(legacy / "as-method"), _metrics(legacy / "tv-now")
    assert set(as_method) == set(tv_now)
    assert as_method["psnr"] == pytest.approx(_metrics(legacy / "train-unet")["psnr"], abs=1e-3)
    assert tv_now["psnr"] == pytest.approx(_metrics(legacy / "solve-tv")["psnr"], abs=1e-3)  # same numbers as before
    assert set(_metrics(legacy / "solve-tv")) <= set(tv_now)


def test_a_legacy_training_run_of_another_problem_is_refused(legacy, capsys):
    assert main(["solve", "mri", "--method", str(legacy / "train-unet"), "--out", str(legacy / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained on 'ct-parallel'" in err[0]
    assert not (legacy / "x").exists()


def test_legacy_solve_runs_enter_a_report(legacy, capsys):
    out = legacy / "report.html"
    runs = [str(legacy / name) for name in ("solve-tv", "train-unet", "solve-adjoint")]
    assert main(["report", *runs, "--out", str(out)]) == 0
    html = out.read_text()
    assert "poisson-conductivity" in html and "unet" in html and "tv" in html
