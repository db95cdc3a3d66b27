"""Exact resume after SIGKILL, and DistributedDataParallel equal to one process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

SCRIPT = Path(__file__).with_name("train_script.py")


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, **kwargs)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_gives_identical_weights(tmp_path):
    reference = tmp_path / "reference"
    done = _run(str(reference))
    assert done.returncode == 0, done.stderr[-2000:]

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(killed), "--slow", "0.25"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = killed / "checkpoints" / "step-00000008.json"  # epoch 2 is steps 7-12
    deadline = time.time() + 240
    while not target.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert target.exists(), "training never reached the mid-epoch checkpoint"
    assert not (killed / "model.safetensors").exists(), "training finished before it was killed"

    resumed = _run(str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = load_file(reference / "model.safetensors"), load_file(killed / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_torchrun_two_ranks_match_one_process(tmp_path):
    """2 ranks x batch 2 (gloo) against 1 process x batch 4: same global batch, same data.

    Parameters agree exactly across ranks (DDP all-reduces identical gradients) and with the
    single process to 1e-5 relative (the all-reduce sums in another order)."""
    common = ["--epochs", "2", "--steps-per-epoch", "4", "--batch", "4", "--dropout", "0", "--checkpoint-every", "0"]
    single = _run(str(tmp_path / "single"), *common, "--dump-params", str(tmp_path / "single.st"))
    assert single.returncode == 0, single.stderr[-2000:]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(SCRIPT),
         str(tmp_path / "ddp"), *common, "--dump-params", str(tmp_path / "ddp.st")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    rank0, rank1 = load_file(tmp_path / "ddp.st.0"), load_file(tmp_path / "ddp.st.1")
    one = load_file(tmp_path / "single.st.0")
    for k in one:
        assert torch.equal(rank0[k], rank1[k]), f"ranks differ in {k}"
        torch.testing.assert_close(rank0[k], one[k], rtol=1e-5, atol=1e-6 * float(one[k].abs().max()) + 1e-8)
    assert float(one["primal_blocks.0.4.weight"].abs().sum()) > 0  # zero-initialised: training moved it
