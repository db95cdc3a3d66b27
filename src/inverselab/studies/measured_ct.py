"""Reconstruction of a measured parallel-beam scan from a plain file (``inverselab ct-file``
with a ``.npy``, TIFF or HDF5 file): transmission to line integrals, the centre of rotation
estimated from the data, stripe removal, any classical method."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..data import read_measured
from ..errors import InputError
from ..methods import make_method
from ..preprocessing import estimate_rotation_centre, flat_dark_correction, line_integrals, offset_for_centre
from ..preprocessing import remove_stripes
from ..problems.real import parallel_scan_problem
from ..report import save_image
from ..runs import run_lock, write_json_atomic, write_toml_atomic
from ..solvers import progress

__all__ = ["ScanSettings", "measured_scan_job"]


@dataclass
class ScanSettings:
    """How to read and prepare a measured parallel-beam scan.

    Attributes
    ----------
    angles : (float, float)
        First angle and the end of the range in degrees (the end excluded), spread evenly over
        the projections; ignored when ``angles_file`` is given.
    angles_file : str, optional
        ``.npy`` of one angle per projection, in degrees.
    layout : {"sinogram", "projections"}
        ``"sinogram"``: ``(n_angles, n_detectors)`` or a stack ``(slices, n_angles,
        n_detectors)``; ``"projections"``: ``(n_angles, rows, n_detectors)``.
    rows : (int, int), optional
        Detector rows (slices) to reconstruct, as ``start, stop`` (default all).
    transmission : bool
        The file holds intensities, not line integrals: convert by ``flat``/``dark`` or by the
        ``open_region`` columns.
    flat, dark : str, optional
        Files of the flat (open-beam) and dark fields: one value per detector element
        (``(n_detectors,)``, or ``(rows, n_detectors)`` for projections), or a stack of such
        fields on a first axis, averaged.
    open_region : (int, int), optional
        Detector columns outside the object in every projection (normalises each projection).
    centre : "auto" or float
        Rotation axis on the detector (elements, 0-based); "auto" estimates it.
    stripes : bool
        Remove the stripes of miscalibrated detector elements before reconstructing.
    size : int, optional
        Reconstruction grid (default ``n_detectors / sqrt(2)``).
    """

    angles: tuple[float, float] = (0.0, 180.0)
    angles_file: str | None = None
    layout: str = "sinogram"
    rows: tuple[int, int] | None = None
    transmission: bool = False
    flat: str | None = None
    dark: str | None = None
    open_region: tuple[int, int] | None = None
    centre: str | float = "auto"
    stripes: bool = False
    size: int | None = None


def _sinograms(data: np.ndarray, settings: ScanSettings) -> np.ndarray:
    """``(slices, n_angles, n_detectors)`` from the file's layout."""
    from ..errors import check_choice

    check_choice("layout", settings.layout, ("sinogram", "projections"))
    if settings.layout == "projections":
        if data.ndim != 3:
            raise InputError(f"a projection stack must be (n_angles, rows, n_detectors), got shape {data.shape}: "
                             "use --layout sinogram for (n_angles, n_detectors) data")
        data = np.moveaxis(data, 1, 0)
    elif data.ndim == 2:
        data = data[None]
    elif data.ndim != 3:
        raise InputError(f"a sinogram must be (n_angles, n_detectors) or (slices, n_angles, n_detectors), got shape "
                         f"{data.shape}")
    if settings.rows is not None:
        start, stop = settings.rows
        if not 0 <= start < stop <= data.shape[0]:
            raise InputError(f"rows {start}:{stop} outside the {data.shape[0]} detector rows of the file")
        data = data[start:stop]
    return data


def _field(path: str, settings: ScanSettings) -> np.ndarray:
    """A flat or dark field, averaged over its stack axis, broadcastable to the sinograms."""
    f = read_measured(path)
    per_element = 2 if settings.layout == "projections" else 1
    if f.ndim == per_element + 1:
        f = f.mean(0)
    if f.ndim != per_element:
        want = "(rows, n_detectors)" if per_element == 2 else "(n_detectors,)"
        raise InputError(f"{path}: a field of shape {f.shape}; give {want} or a stack of them")
    if per_element == 2:
        f = f[:, None, :]
        if settings.rows is not None:
            f = f[settings.rows[0]:settings.rows[1]]
    return f


def _angles(n: int, settings: ScanSettings) -> np.ndarray:
    if settings.angles_file:
        degrees = np.asarray(read_measured(settings.angles_file), dtype=np.float64).ravel()
        if degrees.size != n:
            raise InputError(f"{settings.angles_file} holds {degrees.size} angles for {n} projections: give one "
                             "angle (degrees) per projection")
    else:
        first, end = settings.angles
        degrees = first + (end - first) * np.arange(n) / n
    return np.deg2rad(degrees)


def prepare_scan(path: str | Path, settings: ScanSettings) -> tuple[np.ndarray, np.ndarray, float]:
    """Line integrals ``(slices, n_angles, n_detectors)``, angles (radians) and the centre
    of rotation of a measured scan, with the file's corrections applied."""
    data = _sinograms(read_measured(path), settings)
    if settings.transmission:
        if settings.flat:
            data = flat_dark_correction(data, _field(settings.flat, settings),
                                        _field(settings.dark, settings) if settings.dark else 0.0)
        elif settings.open_region is None:
            raise InputError("transmission data need --flat (and --dark) files or --open-region columns to "
                             "normalise them")
        data = line_integrals(data, open_region=settings.open_region)
    angles = _angles(data.shape[1], settings)
    if settings.stripes:
        data = remove_stripes(data)
    centre = estimate_rotation_centre(data, angles) if settings.centre == "auto" else float(settings.centre)
    return data, angles, centre


def measured_scan_job(file: str | Path, method: str, out: str | Path, settings: ScanSettings,
                      params: dict | None = None) -> dict:
    """Reconstruct the parallel-beam scan in ``file`` with ``method`` into run directory ``out``
    (``config.toml``, ``metrics.json``, the estimate as a figure and ``estimate.npy``).
    Returns the metrics."""
    from ..errors import check_choice
    from ..methods import METHODS

    check_choice("method", method, METHODS.names())
    sinograms, angles, centre = prepare_scan(file, settings)
    n_det = sinograms.shape[-1]
    y = torch.from_numpy(sinograms)[:, None].to(torch.float64)
    problem = parallel_scan_problem(y, angles, offset_for_centre(centre, n_det), settings.size,
                                    name=Path(str(file).split(":")[0]).stem)
    bound = make_method(method, problem, **(params or {}))
    start = time.perf_counter()
    with progress(f"{problem.name} {method}"):
        estimate, history = bound.reconstruct(y)
    seconds = time.perf_counter() - start
    config = {**problem.config, "file": str(file), "settings": {k: v for k, v in asdict(settings).items()
                                                                 if v is not None},
              "method": bound.config()}
    metrics = {"problem": problem.name, "scan": problem.name, "file": str(file), "method": bound.name,
               "n": int(sinograms.shape[0]), "scores": [], "centre": centre,
               "centre_offset": centre - (n_det - 1) / 2, "seconds": seconds,
               "seconds_per_sample": seconds / sinograms.shape[0], "config": config, "history": history.as_dict()}
    out = Path(out)
    with run_lock(out):
        (out / "metrics.json").unlink(missing_ok=True)
        write_toml_atomic(out / "config.toml", config)
        save_image(out / "figures" / "estimate.png", estimate[:1].float(), f"{problem.name} {bound.name}")
        tmp = out / "estimate.tmp.npy"
        np.save(tmp, estimate.detach().cpu().numpy())
        tmp.replace(out / "estimate.npy")
        write_json_atomic(out / "metrics.json", metrics)  # last: the completion record
    return metrics
