"""Shared helpers of the benchmark scripts: environment record, timing, JSON output."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from inverselab.runs import write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results"


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=False, cwd=RESULTS.parents[1])
    except OSError:
        return ""
    return out.stdout.strip()


def environment() -> dict:
    """Versions, threads and commit, recorded with every result. The commit gets "-dirty"
    when tracked code differs from it (result files written by earlier runs do not count)."""
    changed = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)benchmarks/results")
    commit = _git("rev-parse", "--short", "HEAD") + ("-dirty" if changed else "")
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor_count": os.cpu_count(),
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def median_seconds(fn: Callable[[], object], repeats: int = 20, warmup: int = 3) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def save(name: str, payload: dict) -> Path:
    """Write ``benchmarks/results/<name>.json`` atomically, with the environment."""
    path = RESULTS / f"{name}.json"
    write_json_atomic(path, {"environment": environment(), **payload})
    return path
