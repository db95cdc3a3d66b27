"""Reconstruction of a measured HTC2022 fan-beam scan (``inverselab ct-file``): the scanner's
problem with the disc support fitted to the data, any method, the Otsu segmentation and, given
the organisers' segmentation, its Matthews correlation."""

from __future__ import annotations

import time
from pathlib import Path

from ..data import read_htc2022, read_segmentation
from ..methods import make_method
from ..problems.real import scan_problem, score_segmentation, segment
from ..report import save_image
from ..runs import run_lock, write_json_atomic, write_toml_atomic
from ..solvers import progress

__all__ = ["scan_job"]


def scan_job(file: str | Path, method: str, out: str | Path, size: int = 512, truth: str | Path | None = None,
             support: bool = True, params: dict | None = None) -> dict:
    """Reconstruct the HTC2022 ``.mat`` sinogram ``file`` with ``method`` on a ``size`` grid
    into run directory ``out`` (``config.toml``, ``metrics.json``, the estimate and its
    segmentation as figures); ``truth``, a segmentation ``.npy``, adds the MCC. Returns the
    metrics."""
    from ..errors import check_choice
    from ..methods import METHODS

    check_choice("method", method, METHODS.names())
    reference = read_segmentation(truth) if truth else None  # checked before the long solve
    scan = read_htc2022(file, image_size=size)
    problem = scan_problem(scan, support=support)
    bound = make_method(method, problem, **(params or {}))
    start = time.perf_counter()
    with progress(f"{scan.name} {method}"):
        estimate, history = bound.reconstruct(scan.sinogram.float())
    seconds = time.perf_counter() - start
    out = Path(out)
    metrics = {
        "problem": problem.name,
        "scan": scan.name,
        "file": str(file),
        "method": bound.name,
        "n": 1,
        "scores": ["mcc"] if reference is not None else [],
        "seconds": seconds,
        "seconds_per_sample": seconds,
        "config": {**problem.config, "method": bound.config()},
        "history": history.as_dict(),
    }
    if reference is not None:
        metrics["mcc"] = score_segmentation(estimate, reference)
    with run_lock(out):
        (out / "metrics.json").unlink(missing_ok=True)
        write_toml_atomic(out / "config.toml", metrics["config"])
        save_image(out / "figures" / "estimate.png", estimate, f"{scan.name} {bound.name}")
        save_image(out / "figures" / "segmentation.png", segment(estimate), "Otsu segmentation")
        write_json_atomic(out / "metrics.json", metrics)  # last: the completion record
    return metrics
