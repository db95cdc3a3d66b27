"""Faults and odd-but-valid inputs: a stopped job is never taken for complete, a resumed
training equals an uninterrupted one (history included), and valid inputs that look odd
(unsorted or repeated CT angles) give the right result rather than an error."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from inverselab.cli import main
from inverselab.operators import FanBeam2D, ParallelBeam2D

TRAIN = ["train", "cs", "--set", "size=16", "--model", "unet", "--option", "width=4", "depth=1", "--epochs", "2",
         "--steps-per-epoch", "4", "--batch-size", "2", "--checkpoint-every", "2", "--keep", "0", "--n", "1"]


def test_resume_from_mid_epoch_equals_an_uninterrupted_run_and_clears_orphans(tmp_path):
    reference, stopped = tmp_path / "reference", tmp_path / "stopped"
    assert main([*TRAIN, "--out", str(reference)]) == 0
    shutil.copytree(reference, stopped)
    # as if killed after step 6 (mid-epoch 2), while writing a checkpoint and the final weights
    for name in ("step-00000008.json", "step-00000008.safetensors"):
        (stopped / "checkpoints" / name).unlink()
    for name in ("model.safetensors", "training.json", "metrics.json"):
        (stopped / name).unlink()
    (stopped / "checkpoints" / ".step-00000008.safetensors.abc123.tmp").write_bytes(b"partial")
    (stopped / ".model.safetensors.def456.tmp").write_bytes(b"partial")
    assert main([*TRAIN, "--resume", "--out", str(stopped)]) == 0
    a, b = load_file(str(reference / "model.safetensors")), load_file(str(stopped / "model.safetensors"))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    history = [json.loads((run / "training.json").read_text())["history"] for run in (reference, stopped)]
    assert [e["loss"] for e in history[0]] == [e["loss"] for e in history[1]]  # epoch 2's loss covers all 4 steps
    assert not list(stopped.rglob(".*.tmp"))


def test_a_job_that_fails_part_way_leaves_no_completion_record(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    solve = ["solve", "cs", "--set", "size=16", "--method", "tv", "--param", "iters=5", "--n", "1", "--out", str(run)]
    assert main(solve) == 0 and (run / "metrics.json").is_file()
    import inverselab.report as report

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "problem_figures", broken)
    assert main(solve) == 2  # the same folder again; the disk fills while writing figures
    assert "free some disk space" in capsys.readouterr().err
    assert not (run / "metrics.json").exists()
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 2
    assert "not complete" in capsys.readouterr().err


def test_diverging_training_stops_with_one_line_and_no_nan_weights(tmp_path, capsys):
    out = tmp_path / "run"
    code = main([*TRAIN, "--lr", "1e30", "--out", str(out)])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("inverselab: error")]
    assert code == 2 and len(errors) == 1 and "nan" in errors[0] and "--lr" in errors[0]
    assert not (out / "model.safetensors").exists() and not (out / "metrics.json").exists()


@pytest.mark.parametrize("geometry", [ParallelBeam2D, FanBeam2D])
def test_unsorted_and_repeated_angles_reconstruct_as_the_sorted_scan(geometry):
    torch.manual_seed(0)
    x = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    x[..., 8:20, 10:24] = 1.0
    period = math.pi if geometry is ParallelBeam2D else 2 * math.pi
    angles = torch.arange(24, dtype=torch.float64) * period / 24
    reference = geometry(32, angles).fbp(geometry(32, angles)(x))
    order = torch.randperm(24)
    shuffled = geometry(32, angles[order])
    assert torch.allclose(shuffled.fbp(shuffled(x)), reference, atol=1e-10)
    repeated = torch.cat([angles, angles[5:6]])
    op = geometry(32, repeated)
    error = (op.fbp(op(x)) - reference).norm() / reference.norm()
    assert error < 0.02  # a view measured twice counts once in the quadrature
