"""Your own problem: a forward model in your own module and a folder of images, through the
Python API and through the command line with a problem file: solve, train (supervised and
without truths), evaluate, report, and a run made again from its config.toml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import inverselab as il
from inverselab.errors import InputError
from inverselab.jobs import evaluate_job, train_job

USER_MODULE = '''
import torch
import torch.nn.functional as F

WIDTH = 3


def forward(x):
    """Moving average over WIDTH x WIDTH pixels (valid part): (B, 1, n, n) -> (B, 1, n-2, n-2)."""
    return F.avg_pool2d(x, WIDTH, stride=1)


def adjoint(y):
    kernel = torch.full((1, 1, WIDTH, WIDTH), 1.0 / WIDTH**2, dtype=y.dtype, device=y.device)
    return F.conv_transpose2d(y, kernel)


def make_blur():
    return (forward, adjoint)
'''

SIZE = 24
TRAINING = {"batch_size": 4, "steps_per_epoch": 6, "val_size": 2, "seed": 0, "warmup_steps": 1, "lr": 3e-3}


def _write_images(folder: Path, count: int = 20) -> None:
    """Bright rectangles on a dark background, as 8-bit PNGs."""
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        image = np.full((SIZE, SIZE), 20, np.uint8)
        for _ in range(3):
            r, c = rng.integers(0, SIZE - 6, 2)
            h, w = rng.integers(3, 9, 2)
            image[r:r + h, c:c + w] = rng.integers(120, 255)
        Image.fromarray(image).save(folder / f"img{i:02d}.png")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("own-problem")
    (root / "usermod.py").write_text(textwrap.dedent(USER_MODULE))
    _write_images(root / "images")
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))
    sys.modules.pop("usermod", None)


def test_python_api_solve_train_evaluate_and_without_truths(workspace, tmp_path):
    import usermod

    p = il.custom_problem((usermod.forward, usermod.adjoint), truths=workspace / "images", noise=0.01, name="boxes")
    assert p.operator.domain_shape == (1, SIZE, SIZE) and p.operator.range_shape == (1, SIZE - 2, SIZE - 2)
    assert set(il.methods.available_methods(p)) >= {"baseline", "tikhonov", "tv"}
    x, y = p.test_data(2, seed=0)
    assert x.shape == (2, 1, SIZE, SIZE) and float(x.max()) <= 1.0
    base = np.mean(p.evaluate(p.baseline(y), x)["psnr"])
    tv = np.mean(p.evaluate(il.reconstruct(p, y, "tv")[0], x)["psnr"])
    assert tv > base + 3
    # the splits never share an image
    pool = [p.sample_truth(20, seed=0, split=s) for s in ("train", "test")]
    flat = [set(map(bytes, t.reshape(20, -1).numpy().astype(np.float32))) for t in pool]
    assert not flat[0] & flat[1]
    train_job(p, "unet", tmp_path / "unet", options={"width": 8, "depth": 2}, epochs=2, training=TRAINING)
    scored = evaluate_job(tmp_path / "unet", n=2, problem=p, device="cpu")
    assert scored["psnr"] > base
    # the same operator, trained from measurements alone
    measured = p.simulate(p.sample_truth(20, seed=1, split="train"), seed=2)
    q = il.custom_problem((usermod.forward, usermod.adjoint), measurements=measured.numpy(), name="boxes-measured",
                         domain_shape=(1, SIZE, SIZE))
    with pytest.raises(InputError, match="has measurements but no truths"):
        q.sample_truth(1)
    train_job(q, "unet", tmp_path / "ei", options={"width": 8, "depth": 2}, loss="equivariant",
              loss_options={"transform": "rotate"}, epochs=1, training=TRAINING)
    history = json.loads((tmp_path / "ei" / "training.json").read_text())["history"]
    assert "val_misfit" in history[-1] and np.isfinite(history[-1]["val_misfit"])
    label_free = evaluate_job(tmp_path / "ei", n=2, problem=p, device="cpu")  # truths only for scoring
    assert np.isfinite(label_free["psnr"])
    misfit = evaluate_job(tmp_path / "ei", n=2, problem=q, device="cpu", out=tmp_path / "ei-misfit")
    assert misfit["scores"] == ["data_misfit"] and 0 < misfit["data_misfit"] < 1


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "inverselab", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_command_line_with_a_problem_file(workspace):
    (workspace / "boxes.toml").write_text(textwrap.dedent('''
        name = "boxes"
        [operator]
        factory = "usermod:make_blur"
        domain_shape = [1, 24, 24]
        [data]
        truths = "images"
        [noise]
        sigma = 0.01
        [methods.tv]
        lam = 0.01
        iters = 200
    '''))
    import usermod

    p = il.load_problem(workspace / "boxes.toml")
    measured = p.simulate(p.sample_truth(20, seed=5, split="train"), seed=6)
    np.save(workspace / "measured.npy", measured.numpy())
    (workspace / "measured.toml").write_text(textwrap.dedent('''
        name = "boxes-measured"
        [operator]
        factory = "usermod:make_blur"
        domain_shape = [1, 24, 24]
        [data]
        measurements = "measured.npy"
    '''))
    assert usermod.WIDTH == 3
    train = ["--epochs", "2", "--steps-per-epoch", "6", "--batch-size", "4", "--n", "2", "--lr", "0.003"]
    steps = [
        ["solve", "--problem", "boxes.toml", "--method", "tv", "--n", "2", "--out", "runs/tv"],
        ["train", "--problem", "boxes.toml", "--model", "unet", "--option", "width=8", "depth=2", *train,
         "--out", "runs/unet"],
        ["train", "--problem", "boxes.toml", "--model", "lpd", "--option", "width=8", "iterations=2", *train,
         "--out", "runs/lpd"],
        ["evaluate", "runs/unet", "--n", "2", "--device", "cpu"],
        ["train", "--problem", "measured.toml", "--model", "unet", "--option", "width=8", "depth=2", "--loss",
         "equivariant", "--loss-option", "transform=rotate", *train, "--out", "runs/ei"],
        ["solve", "--problem", "boxes.toml", "--method", "runs/ei", "--n", "2", "--out", "runs/ei-scored"],
        ["solve", "--problem", "runs/tv/config.toml", "--out", "runs/tv-again"],
        ["report", "runs/tv", "runs/unet", "runs/lpd", "--out", "runs/report.html"],
    ]
    for args in steps:
        done = _cli(args, workspace)
        assert done.returncode == 0, (args, done.stderr[-1500:])
    first, again = (json.loads((workspace / "runs" / d / "metrics.json").read_text()) for d in ("tv", "tv-again"))
    assert again["psnr"] == pytest.approx(first["psnr"], rel=1e-6)
    assert again["config"]["method"] == first["config"]["method"]
    html = (workspace / "runs" / "report.html").read_text()
    assert "boxes" in html and "lpd" in html
    trained = json.loads((workspace / "runs" / "ei" / "metrics.json").read_text())  # scored by the misfit
    assert trained["scores"] == ["data_misfit"]
    scored = json.loads((workspace / "runs" / "ei-scored" / "metrics.json").read_text())  # truths for scoring only
    assert np.isfinite(scored["psnr"]) and scored["method"] == "unet"


def test_bad_own_problems_get_one_clear_error(workspace, tmp_path):
    import usermod

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no images"):
        il.custom_problem((usermod.forward, usermod.adjoint), truths=empty)
    mixed = tmp_path / "mixed"
    _write_images(mixed, 3)
    from PIL import Image

    Image.fromarray(np.zeros((10, 12), np.uint8)).save(mixed / "odd.png")
    with pytest.raises(InputError, match="differ in size.*size=64"):
        il.custom_problem((usermod.forward, usermod.adjoint), truths=mixed)
    resized = il.custom_problem((usermod.forward, usermod.adjoint), truths=mixed, size=SIZE)
    assert resized.operator.domain_shape == (1, SIZE, SIZE)
    with pytest.raises(InputError, match="relative dottest error"):
        il.custom_problem((usermod.forward, lambda y: torch.nn.functional.pad(y, (2, 0, 2, 0))),
                          truths=workspace / "images")
    with pytest.raises(InputError, match="do not fit the operator's range"):
        il.custom_problem((usermod.forward, usermod.adjoint), measurements=np.zeros((4, 1, 5, 5)),
                          domain_shape=(1, SIZE, SIZE))
    with pytest.raises(InputError, match="needs truths .* or measurements"):
        il.custom_problem((usermod.forward, usermod.adjoint), domain_shape=(1, SIZE, SIZE))
    bad = tmp_path / "bad.toml"
    for text, message in (('[operator]\nfactory = "nosuchmodule:make"\n[data]\ntruths = "x"\n', "cannot import nosuchmodule"),
                          ('[operator]\nfactory = "usermod:nothing"\n', "usermod has no 'nothing'"),
                          ('[preset]\nname = "ct-parallel"\nview = 3\n', "has no parameter 'view'"),
                          ('frobnicate = 1\n', "unknown key 'frobnicate'"),
                          ('[operator\n', "is not valid TOML")):
        bad.write_text(text)
        with pytest.raises(InputError, match=message):
            il.problems.load_problem(bad)
