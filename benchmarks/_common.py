"""Shared helpers of the benchmark scripts: the run record, timing, JSON output.

Every script parses its arguments with :class:`BenchmarkParser`, which refuses to run from a
tree with uncommitted changes (``--allow-dirty`` runs anyway and marks the results) and starts
sampling the machine's load. :func:`save` writes ``benchmarks/results/<name>.json`` with the
run record (:func:`environment`): the exact command, the commit, the versions of the libraries
used (peers included), the device, the thread count and the load during the run. A script run
with ``--quick`` stores its results as the ``quick`` block of that file instead, beside the
full results, so ``benchmarks/reproduce.py --quick`` can rerun and check it.

``INVERSELAB_RESULTS_DIR`` redirects the results (``reproduce.py`` writes its reruns there).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from inverselab.runs import write_json_atomic

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("INVERSELAB_RESULTS_DIR") or REPO / "benchmarks" / "results")
#: Libraries whose versions are recorded when a benchmark has imported them: module -> distribution.
RECORDED_LIBRARIES = {
    "numpy": "numpy", "scipy": "scipy", "numba": "numba", "deepinv": "deepinv", "astra": "astra-toolbox",
    "deepxde": "DeepXDE", "deepwave": "deepwave", "pylops": "pylops", "skimage": "scikit-image",
    "h5py": "h5py", "sklearn": "scikit-learn",
}
#: Seconds between two samples of the machine's load.
LOAD_INTERVAL = 5.0


def _git(*args: str) -> str:
    """Output of a git command in the repository (empty when git is missing)."""
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, check=False, cwd=REPO)
    except OSError:
        return ""
    return out.stdout


def _uncommitted() -> list[str]:
    """Tracked or untracked-but-not-ignored files that differ from HEAD, results excluded."""
    status = _git("status", "--porcelain", "-z", "--", ".", ":(exclude)benchmarks/results")
    return [entry[3:] for entry in status.split("\0") if len(entry) > 3]


class _LoadSampler(threading.Thread):
    """The 1-minute load average every :data:`LOAD_INTERVAL` seconds, in a daemon thread."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(LOAD_INTERVAL):
            self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict:
        s = self.samples + [os.getloadavg()[0]]
        return {"start": round(s[0], 2), "mean": round(float(np.mean(s)), 2), "max": round(max(s), 2),
                "end": round(s[-1], 2), "samples": len(s)}


class _Run:
    """What :func:`begin` learns about this process's run."""

    started: float | None = None
    command: str = ""
    commit: str = ""
    dirty: list[str] = []
    allow_dirty: bool = False
    quick: bool = False
    load: _LoadSampler | None = None


def _command() -> str:
    """The command line as typed from the repository root: interpreter, script, arguments."""
    exe = Path(sys.executable)
    try:
        exe_text = str(exe.relative_to(REPO))
    except ValueError:
        exe_text = "python"
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(REPO))
    except ValueError:
        script_text = sys.argv[0]
    return shlex.join([exe_text, script_text, *sys.argv[1:]])


def begin(allow_dirty: bool = False, quick: bool = False) -> None:
    """Start the run record; exit with a one-line error on uncommitted changes unless allowed."""
    if _Run.started is not None:
        return
    _Run.dirty = _uncommitted()
    if _Run.dirty and not allow_dirty:
        shown = ", ".join(_Run.dirty[:3]) + (" ..." if len(_Run.dirty) > 3 else "")
        sys.exit(f"error: uncommitted changes ({shown}); commit them so the results name the code that "
                 "made them, or pass --allow-dirty to mark the results as from a dirty tree")
    _Run.started = time.time()
    _Run.command = _command()
    _Run.commit = _git("rev-parse", "HEAD").strip()
    _Run.allow_dirty = allow_dirty
    _Run.quick = quick
    _Run.load = _LoadSampler()
    _Run.load.start()


class BenchmarkParser(argparse.ArgumentParser):
    """An argument parser that adds ``--allow-dirty`` and starts the run record when it parses."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--allow-dirty", action="store_true",
                          help="run from a tree with uncommitted changes (the results are marked dirty)")

    def parse_args(self, args=None, namespace=None):  # noqa: D102 - argparse's signature
        ns = super().parse_args(args, namespace)
        begin(allow_dirty=ns.allow_dirty, quick=bool(getattr(ns, "quick", False)))
        return ns


def library_versions() -> dict:
    """Versions of inverselab, torch and every recorded library this process has imported."""
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for module, dist in {"inverselab": "inverselab", **RECORDED_LIBRARIES}.items():
        if module in sys.modules:
            try:
                versions[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                versions[dist] = getattr(sys.modules[module], "__version__", "unknown")
    return versions


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_record() -> dict:
    """The CPU (model, cores) and, where torch sees one, the GPU."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return {"cpu": _cpu_model(), "processor_count": os.cpu_count(), "gpu": gpu}


def environment() -> dict:
    """The run record stored with every result.

    Keys: ``command`` (from the repository root), ``commit`` (full hash), ``dirty`` (files that
    differed from it, empty when clean), ``versions``, ``device``, ``threads``, ``load`` (the
    1-minute load average sampled during the run: start, mean, max, end), ``date`` and
    ``seconds`` (wall time of the run so far).
    """
    begin(allow_dirty=True)  # a script that skipped BenchmarkParser still gets a record
    return {
        "command": _Run.command,
        "commit": _Run.commit,
        "dirty": _Run.dirty,
        "versions": library_versions(),
        "device": device_record(),
        "threads": torch.get_num_threads(),
        "load": _Run.load.summary() if _Run.load else None,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": round(time.time() - _Run.started, 1),
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


def save(name: str, payload: dict, reproduce: dict | None = None) -> Path:
    """Write ``<RESULTS>/<name>.json`` atomically with the run record.

    Parameters
    ----------
    name : str
        File name without ``.json``.
    payload : dict
        The results (JSON-serialisable).
    reproduce : dict, optional
        What ``benchmarks/reproduce.py`` compares on a rerun: ``{"quality": {key: tolerance},
        "ratios": [key, ...]}``, keys as dotted paths into the payload (``*`` matches every key
        or list item at its level). Quality numbers must agree within their absolute tolerance,
        ratios within a factor of 1.5.

    Notes
    -----
    A run started with ``--quick`` replaces only the ``quick`` block of an existing file; a full
    run keeps the file's ``quick`` block.
    """
    path = RESULTS / f"{name}.json"
    try:
        previous = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, json.JSONDecodeError):
        previous = {}  # an unreadable earlier file is replaced, never a reason to lose this result
    record = {"environment": environment(), **payload}
    if reproduce is not None:
        record["reproduce"] = reproduce
    if _Run.quick:
        out = {**previous, "quick": record}
    else:
        out = {**record, **({"quick": previous["quick"]} if "quick" in previous else {})}
    write_json_atomic(path, out)
    return path
