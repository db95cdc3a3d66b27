"""Data generation and reconstruction shared out over the ranks of torchrun: the same pairs,
the same metrics as one process, and one process unchanged."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import inverselab as il
from inverselab.cli import main
from inverselab.errors import InputError
from inverselab.jobs import _merge_histories, solve_job
from inverselab.solvers.history import History
from inverselab.training import HDF5Pairs, generate_hdf5
from inverselab.training.distributed import block

TORCHRUN = Path(sys.executable).with_name("torchrun")
PROBLEM = ["deblur", "--set", "size=32"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # what torchrun sets: the runs compared record the same threads
TIMINGS = {"seconds_per_sample", "images_per_second", "seconds"}


def _torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=2 -m inverselab -- ARGS`` (the ``--`` keeps
    torchrun from reading ``--n`` as an abbreviation of its own options)."""
    if not TORCHRUN.is_file():
        pytest.skip("torchrun is not installed")
    done = subprocess.run([str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "inverselab", "--", *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _inverselab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "inverselab", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _contents(path: Path) -> tuple[dict, dict]:
    """Every dataset (as an array) and every attribute (value and type) of an HDF5 file."""
    with h5py.File(path, "r") as fh:
        arrays = {name: fh[name][()] for name in fh}
        attrs = {key: (value, type(value)) for key, value in fh.attrs.items()}
    return arrays, attrs


def _assert_close(a, b, where: str = "") -> None:
    """Equal structure; floats to 1e-6 relative; timings skipped."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            if key not in TIMINGS:
                _assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for k, (u, v) in enumerate(zip(a, b)):
            _assert_close(u, v, f"{where}[{k}]")
    elif isinstance(a, float):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_block_shares_indices_in_rank_order():
    for n in (1, 4, 5, 7, 16):
        for world in (1, 2, 3, 8):
            shares = [block(n, rank, world) for rank in range(world)]
            assert [i for share in shares for i in share] == list(range(n))
            sizes = [len(share) for share in shares]
            assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_one_process_cache_is_unchanged(tmp_path, monkeypatch):
    """Without torchrun: a plain chunked file, pair i from truth seed offset + i and noise seed
    offset + i + 7919, no parts folder."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    out = tmp_path / "pairs.h5"
    assert main(["data", "generate", *PROBLEM, "--n", "5", "--offset", "3", "--out", str(out)]) == 0
    problem = il.make_problem("deblur", size=32)
    truths = [problem.sample_truth(1, seed=3 + i, split="train", dtype=torch.float64) for i in range(5)]
    ys = [problem.simulate(t, seed=3 + i + 7_919) for i, t in enumerate(truths)]
    arrays, attrs = _contents(out)
    assert np.array_equal(arrays["truth"], torch.cat(truths).float().numpy())
    assert np.array_equal(arrays["y"], torch.cat(ys).float().numpy())
    assert {key: value for key, (value, _) in attrs.items()} == {
        "config": json.dumps(problem.config, sort_keys=True), "n": 5, "offset": 3, "completed": 5}
    with h5py.File(out, "r") as fh:
        assert [(fh[k].dtype, fh[k].chunks, fh[k].is_virtual) for k in ("truth", "y")] == \
            [(np.float32, (1, 1, 32, 32), False)] * 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.h5"]


@pytest.mark.slow
def test_torchrun_data_generate_equals_one_process(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    args = ["data", "generate", *PROBLEM, "--n", "5", "--offset", "3"]
    assert main([*args, "--out", str(tmp_path / "one.h5")]) == 0
    done = _torchrun(*args, "--out", "two.h5", cwd=tmp_path)
    assert done.stdout.count("5 deblur pairs -> two.h5") == 1  # the main rank reports
    one, two = _contents(tmp_path / "one.h5"), _contents(tmp_path / "two.h5")
    assert one[1] == two[1]
    assert one[0].keys() == two[0].keys()
    for name, array in one[0].items():
        assert array.dtype == two[0][name].dtype and np.array_equal(array, two[0][name]), name
    with h5py.File(tmp_path / "two.h5", "r") as fh:
        assert fh["truth"].is_virtual
    assert sorted(p.name for p in (tmp_path / "two.h5.parts").iterdir()) == ["0-of-2.h5", "1-of-2.h5"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    problem = il.make_problem("deblur", size=32)
    a, b = (HDF5Pairs(tmp_path / name, problem).get([4, 0, 2]) for name in ("one.h5", "two.h5"))
    assert torch.equal(a.truth, b.truth) and torch.equal(a.y, b.y)
    shutil.move(tmp_path / "two.h5.parts", tmp_path / "elsewhere")
    with pytest.raises(InputError, match="which is missing: put its parts folder back"):
        HDF5Pairs(tmp_path / "two.h5", problem)


def test_sharded_generation_keeps_a_finished_file_and_refuses_a_partial_one(tmp_path, monkeypatch):
    """Decided before any rank starts: nothing to do, or a one-line refusal."""
    problem = il.make_problem("deblur", size=32)
    done = generate_hdf5(problem, 3, tmp_path / "done.h5")
    partial = generate_hdf5(problem, 3, tmp_path / "partial.h5")
    with h5py.File(partial, "r+") as fh:
        fh.attrs["completed"] = 1
    monkeypatch.setenv("WORLD_SIZE", "2")
    before = done.read_bytes()
    assert generate_hdf5(problem, 3, done, shard=True) == done and done.read_bytes() == before
    with pytest.raises(InputError, match="holds 1 of 3 pairs written by one process; finish it without torchrun"):
        generate_hdf5(problem, 3, partial, shard=True)
    with pytest.raises(InputError, match="different dataset"):
        generate_hdf5(problem, 4, done, shard=True)


@pytest.mark.slow
@pytest.mark.parametrize("method, params", [("fbp", []),
                                            ("tikhonov", ["--param", "lam=0.01", "tol=0", "iters=20", "--double"])])
def test_torchrun_solve_equals_one_process(tmp_path, method, params):
    """Ranks reconstruct 3 and 2 of the 5 samples. CG in float32 gives batches of 3 and of 5
    that differ by a few 1e-6 even in one process, so tikhonov runs in float64; a fixed number
    of iterations, as a tolerance over the batch stops each block on its own."""
    args = ["solve", "ct-parallel", "--set", "size=32", "views=12", "--method", method, *params, "--n", "5"]
    _inverselab(*args, "--out", "one", cwd=tmp_path)
    done = _torchrun(*args, "--out", "two", cwd=tmp_path)
    assert done.stdout.count(f"ct-parallel {method}: PSNR") == 1  # the main rank reports
    one, two = tmp_path / "one", tmp_path / "two"
    assert sorted(p.relative_to(one) for p in one.rglob("*")) == sorted(p.relative_to(two) for p in two.rglob("*"))
    assert (one / "config.toml").read_text() == (two / "config.toml").read_text()
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (one, two)]
    _assert_close(*metrics)
    assert len(metrics[1]["history"]["seconds"]) == len(metrics[0]["history"]["seconds"])
    kept = [load_file(run / "samples.safetensors") for run in (one, two)]
    for key in kept[0]:
        torch.testing.assert_close(kept[0][key], kept[1][key], rtol=1e-6, atol=1e-6)


def test_sharded_solve_refuses_an_estimation_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    problem = il.make_problem("lorenz")
    with pytest.raises(InputError, match="lorenz solves one system.*without torchrun"):
        solve_job(problem, problem.default_method, {}, 1, 0, tmp_path / "run", shard=True)
    assert not (tmp_path / "run").exists()


def test_merged_history_is_what_one_batch_records():
    """Block sizes weight the PSNR and objective; a block that stopped keeps its last values."""
    short = History(seconds=[1.0, 2.0], psnr=[10.0, 20.0], criterion=[0.5, 0.1], objective=[4.0],
                    objective_iters=[2], iterations=2, stop_reason="tolerance")
    long = History(seconds=[0.5, 1.0, 3.0], psnr=[13.0, 23.0, 26.0], criterion=[0.4, 0.2, 0.3], objective=[1.0, 0.5],
                   objective_iters=[2, 3], iterations=3, stop_reason="max_iters")
    merged = _merge_histories([short, long], [1, 2])
    assert merged.seconds == [1.0, 2.0, 3.0]
    assert merged.psnr == [12.0, 22.0, 24.0]
    assert merged.criterion == [0.5, 0.2, 0.3]
    assert merged.objective == pytest.approx([2.0, 5 / 3]) and merged.objective_iters == [2, 3]
    assert (merged.iterations, merged.stop_reason) == (3, "max_iters")
    assert _merge_histories([short], [1]) is short
