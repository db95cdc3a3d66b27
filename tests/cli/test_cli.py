"""The command line: outputs of solve/demo and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from inverselab.cli import main
from inverselab.records import read_toml


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inverselab", *args], capture_output=True, text=True, timeout=300)


def test_list_shows_problems_and_methods(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("ct-parallel", "ct-fan", "mri", "deblur", "inpaint", "superres", "cs", "tv", "fbp", "wavelet"):
        assert word in out


def test_solve_writes_metrics_config_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["solve", "ct-parallel", "--method", "tv", "--n", "2", "--set", "size=32", "views=12",
                 "--param", "iters=40", "lam=1", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("problem", "method", "n", "psnr", "ssim", "rel_error", "seconds_per_sample", "config"):
        assert key in metrics
    assert metrics["problem"] == "ct-parallel" and metrics["method"] == "tv" and metrics["n"] == 2
    assert metrics["config"]["problem"]["views"] == 12 and metrics["config"]["method"]["iters"] == 40
    assert metrics["config"]["device"] == "cpu"
    # measured on these 2 samples: TV 26.07 dB, FBP 24.16 dB, an all-zero image 9.93 dB
    assert main(["solve", "ct-parallel", "--method", "fbp", "--n", "2", "--set", "size=32", "views=12",
                 "--out", str(tmp_path / "fbp")]) == 0
    fbp = json.loads((tmp_path / "fbp" / "metrics.json").read_text())["psnr"]
    assert metrics["psnr"] > fbp + 1.0, f"TV {metrics['psnr']:.2f} dB, FBP {fbp:.2f} dB: expected TV 1 dB better"
    config = read_toml(out / "config.toml")
    assert config["problem"]["size"] == 32 and config["method"]["lam"] == 1
    for fig in ("truth", "measurement", "estimate", "error", "convergence"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 1000
    assert "PSNR" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args,message",
    [
        (["solve", "ct-paralel", "--out", "x"], "did you mean 'ct-parallel'"),
        (["solve", "deblur", "--device", "gpu0", "--out", "x"], "unknown device 'gpu0'"),
        (["solve", "ct-parallel", "--set", "view=60", "--out", "x"], "problem 'ct-parallel' has no parameter 'view'"),
        (["solve", "ct-parallel", "--set", "views", "--out", "x"], "--set expects key=value"),
        (["solve", "ct-parallel", "--method", "magic", "--out", "x"], "unknown method 'magic'"),
        (["solve", "ct-parallel", "--set", "noise=-1", "--out", "x"], "noise=-1.0 is out of range"),
        (["solve", "deblur", "--param", "lambda=1", "--out", "x"], "has no parameter 'lambda'"),
        (["solve", "ct-parallel", "--n", "1", "--param", "bounds=0", "--out", "x"], "bounds must be a pair"),
        (["solve", "deblur", "--method", "fbp", "--out", "x"], "method 'fbp' does not apply to deblur"),
        (["solve", "deblur", "--param", "iters=2.5", "--out", "x"], "method 'tv': iters must be an integer, got 2.5"),
        (["solve", "deblur", "--param", "lam=abc", "--out", "x"], "method 'tv': lam='abc' is not a number"),
        (["solve", "deblur", "--param", "lam=nan", "--out", "x"], "method 'tv': lam must be finite"),
        (["train", "ct-parallel", "--model", "unet", "--epochs", "1", "--option", "width=2.5", "--out", "x"],
         "model 'unet': width must be an integer"),
        (["train", "ct-parallel", "--model", "unet", "--epochs", "1", "--loss-option", "l3=1", "--out", "x"],
         "loss 'supervised' has no option 'l3'"),
        (["train", "ct-parallel", "--model", "unet-xl", "--epochs", "1", "--out", "x"], "invalid choice: 'unet-xl'"),
        (["ct-file", "scan.mat", "--size", "0", "--out", "x"], "--size: must be >= 8"),
        (["solve", "ct-parallel"], "required: --out"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(args, message, tmp_path):
    result = run_cli(*[a if a != "x" else str(tmp_path / "x") for a in args])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0] and "Traceback" not in result.stderr


def test_image_and_estimation_problems_share_the_solve_path(tmp_path, monkeypatch, capsys):
    """``solve`` runs a PDE estimator and TV on CT through the same job and writes the same
    top-level metrics for both."""
    import inverselab.jobs as jobs

    calls = []
    original = jobs._write_run

    def spy(out, problem, method, *args, **kwargs):
        calls.append((problem.name, method))
        return original(out, problem, method, *args, **kwargs)

    monkeypatch.setattr(jobs, "_write_run", spy)
    assert main(["solve", "heat-conductivity", "--method", "adjoint", "--param", "cells=8", "steps=5", "iters=3",
                 "--out", str(tmp_path / "pde")]) == 0
    assert main(["solve", "ct-parallel", "--set", "size=16", "views=8", "--method", "tv", "--param", "iters=5",
                 "--n", "2", "--out", str(tmp_path / "ct")]) == 0
    assert calls == [("heat-conductivity", "adjoint"), ("ct-parallel", "tv")]
    pde, ct = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("pde", "ct"))
    common = {"problem", "method", "n", "seed", "seconds_per_sample", "images_per_second", "config", "history",
              "rel_error"}
    assert common <= set(pde) and common <= set(ct)
    assert pde["kind"] == "estimation" and 0 < pde["fields"]["a"] < 1
    assert read_toml(tmp_path / "pde" / "config.toml")["method"] == {"name": "adjoint", "cells": 8, "steps": 5,
                                                                      "lam": 0.1, "iters": 3, "reg": "smoothness",
                                                                      "seed": 0}


def test_bad_file_gives_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "scan.mat"
    bad.write_bytes(b"not a MATLAB file at all")
    result = run_cli("ct-file", str(bad), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr


def test_large_arrays_are_described_not_dumped():
    import torch

    from inverselab.runs import plain

    out = plain({"small": torch.zeros(3), "big": torch.zeros(1, 1, 64, 64)})
    assert out == {"small": [0.0, 0.0, 0.0], "big": "<array of shape (1, 1, 64, 64)>"}


@pytest.mark.parametrize("array", [np.zeros((1, 8, 8)), np.zeros((8, 6))])
def test_bad_truth_is_refused_before_the_reconstruction(array, tmp_path):
    truth = tmp_path / "truth.npy"
    np.save(truth, array)
    result = run_cli("ct-file", str(tmp_path / "missing.mat"), "--truth", str(truth), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "square 2-D" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_report_shows_runs_whose_images_have_no_channel_axis(tmp_path):
    """Velocity models and other (B, H, W) unknowns: the grid of reconstructions shows them too."""
    from safetensors.numpy import save_file

    run = tmp_path / "fwi"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"problem": "fwi-marmousi", "method": "fwi", "n": 2, "psnr": 20.0,
                                                  "ssim": 0.5, "rel_error": 0.1, "seconds_per_sample": 1.0}))
    truth = np.linspace(1500, 4500, 2 * 6 * 9, dtype=np.float32).reshape(2, 6, 9)
    save_file({"truth": truth, "estimate": truth + 50}, str(run / "samples.safetensors"))
    page = tmp_path / "r.html"
    assert main(["report", str(run), "--out", str(page)]) == 0
    assert "Reconstructions and error maps" in page.read_text()


@pytest.mark.parametrize(
    "args,message",
    [
        (["solve", "ct-parallel", "--out", ""], "--out is empty"),
        (["solve", "ct-parallel", "--method", "", "--out", "OUT"], "--method is empty"),
        (["train", "ct-parallel", "--model", "", "--epochs", "1", "--out", "OUT"], "invalid choice: ''"),
        (["solve", "ct-parallel", "--out", "FILE"], "is a file, not a run folder"),
        (["solve", "ct-parallel", "--out", "FILE/run"], "lies below the file"),
        (["solve", "ct-parallel", "--out", "/dev/null"], "is a device or pipe, not a run folder"),
        (["solve", "ct-parallel", "--out", "OUT/" + "n" * 300], "(use a shorter name)"),
        (["solve", "", "--out", "OUT"], "problem is empty"),
        (["evaluate", "", "--out", "OUT"], "run is empty"),
    ],
)
def test_empty_names_and_bad_output_locations_are_refused_before_any_work(args, message, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    args = [a.replace("FILE", str(tmp_path / "file")).replace("OUT", str(tmp_path / "out")) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "out").exists() and (tmp_path / "file").read_text() == "not a folder"


@pytest.mark.parametrize("device", ["cuda:7", "nonsense", "meta", "gpu", ""])
def test_every_verb_refuses_a_device_it_cannot_use_in_one_line(device, tmp_path, capsys):
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has that GPU")
    run = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_runs" / "train-unet"
    commands = [["solve", "ct-parallel", "--set", "size=16", "views=8", "--n", "1", "--device", device, "--out",
                 str(tmp_path / "s")],
                ["evaluate", str(run), "--n", "1", "--device", device, "--out", str(tmp_path / "e")],
                ["evaluate", str(run), "--uq", "dropout", "--n", "1", "--device", device, "--out", str(tmp_path / "u")]]
    for args in commands:
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "device" in err[0] and ("cpu" in err[0] or "GPU" in err[0])
    assert not any((tmp_path / d).exists() for d in "seu")


@pytest.mark.parametrize("damage,message", [
    (lambda m: m.pop("problem"), "field 'problem' is missing"),
    (lambda m: m.update(psnr="high"), "field 'psnr' is not a number"),
    (lambda m: m.update(scores=["psnr", "nonsense"]), "field 'scores' names scores the file lacks"),
])
def test_a_damaged_metrics_file_is_named_by_report(damage, message, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["solve", "ct-parallel", "--set", "size=16", "views=8", "--param", "iters=3", "--n", "1",
                 "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    damage(metrics)
    (run / "metrics.json").write_text(json.dumps(metrics))
    capsys.readouterr()
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "metrics.json" in err[0]
    assert not (tmp_path / "r.html").exists()


def test_an_unforeseen_fault_is_one_line_and_the_traceback_is_on_request(monkeypatch, capsys):
    import inverselab.cli.parser as cli

    def boom(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "cmd_list", boom)
    monkeypatch.delenv("INVERSELAB_DEBUG", raising=False)
    assert main(["list"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["inverselab: error: unexpected ZeroDivisionError: division by zero (INVERSELAB_DEBUG=1 shows where)"]
    monkeypatch.setenv("INVERSELAB_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["list"])
