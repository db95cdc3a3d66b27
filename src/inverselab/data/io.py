"""Readers for the real data formats in ``shared/data``: HTC2022 CT, MRI k-space, Marmousi.

Every reader raises :class:`~inverselab.errors.InputError` with the path and what was expected
when a file is missing, truncated or of the wrong kind. Nothing is ever unpickled
(``numpy.load(allow_pickle=False)``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..operators.tomography import FanBeam2D

Tensor = torch.Tensor

__all__ = ["CTScan", "read_htc2022", "read_segmentation", "read_kspace", "read_cfl", "read_velocity_model", "shared_data", "check_file"]

DATA_ENV = "INVERSELAB_DATA"


def shared_data(*parts: str) -> Path:
    """Path of a file in the real-data folder (``shared/data``), which is never downloaded.

    The folder is ``$INVERSELAB_DATA`` when set, else the first of ``./shared/data``,
    ``../shared/data`` (from the working directory) and the ``shared/data`` beside a source
    checkout that exists. Raises :class:`~inverselab.errors.InputError` naming the fix when the
    file is not there.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        roots = [Path(env)]
    else:
        roots = [Path("shared/data"), Path("../shared/data"), Path(__file__).resolve().parents[4] / "shared" / "data"]
    for root in roots:
        if root.joinpath(*parts).exists():
            return root.joinpath(*parts).resolve()
    where = f"${DATA_ENV}={env}" if env else ", ".join(str(r) for r in roots)
    raise InputError(
        f"real-data file {'/'.join(parts)} not found (looked in {where}): set {DATA_ENV} to the folder "
        "holding the shared data, or pass the file's path"
    )


@dataclass
class CTScan:
    """A measured fan-beam sinogram with its geometry.

    Attributes
    ----------
    sinogram : Tensor
        ``(1, 1, n_angles, n_detectors)`` float64 line integrals (dimensionless).
    operator : FanBeam2D
        The matching forward operator (HTC2022 convention, lengths in mm).
    angles_deg : numpy.ndarray
        Source angles in degrees as stored in the file.
    name : str
        The file name without its suffix (e.g. ``"ta_category7"``).
    parameters : dict
        All numeric and text parameters of the file.
    """

    sinogram: Tensor
    operator: FanBeam2D
    angles_deg: np.ndarray
    name: str
    parameters: dict = field(repr=False)


def check_file(path: str | Path) -> Path:
    """``path`` as a Path; :class:`~inverselab.errors.InputError` naming it when it is not a
    regular file (missing, a folder, a pipe or a device; checked without opening it)."""
    from ..records import regular_file

    return regular_file(path, "data file", "check the path; real data live in shared/data")


def _mat_v5(path: Path) -> tuple[np.ndarray, dict]:
    import scipy.io

    struct = scipy.io.loadmat(path)["CtDataLimited"][0, 0]
    params = struct["parameters"][0, 0]
    out = {}
    for key in params.dtype.names:
        v = params[key]
        out[key] = str(v[0]) if v.dtype.kind == "U" else np.asarray(v, dtype=np.float64).squeeze()
    return np.asarray(struct["sinogram"], dtype=np.float64), out


def _mat_v73(path: Path) -> tuple[np.ndarray, dict]:
    import h5py

    with h5py.File(path, "r") as f:
        group = f["CtDataLimited"]
        sino = np.asarray(group["sinogram"][()], dtype=np.float64).T  # stored (detectors, angles)
        out = {}
        for key, ds in group["parameters"].items():
            v = ds[()]
            if ds.attrs.get("MATLAB_class", b"") == b"char":
                out[key] = "".join(chr(c) for c in np.asarray(v).ravel())
            else:
                out[key] = np.asarray(v, dtype=np.float64).squeeze()
    return sino, out


def read_htc2022(path: str | Path, image_size: int = 512) -> CTScan:
    """Read an HTC2022 ``.mat`` file (MATLAB v5 or v7.3) into a sinogram and geometry.

    The image grid covers the organisers' 512 x 512 field of view (0.148 mm pixels at 512)
    at ``image_size`` pixels.

    Parameters
    ----------
    path : str or Path
        The ``.mat`` file (e.g. ``shared/data/ct/htc2022/ta_category7.mat``).
    image_size : int
        Reconstruction grid size.
    """
    if not isinstance(image_size, int) or image_size < 2:
        raise InputError(f"image size must be an integer of at least 2, got {image_size!r}")
    path = check_file(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(128)
        is_hdf5 = b"MATLAB 7.3" in head or head[:8] == b"\x89HDF\r\n\x1a\n"
        sino, params = (_mat_v73 if is_hdf5 else _mat_v5)(path)
        angles = np.atleast_1d(params["angles"]).astype(np.float64)
        dso = float(params["distanceSourceOrigin"])
        dsd = float(params["distanceSourceDetector"])
        spacing = float(params["pixelSizePost"])
        effective = float(params["effectivePixelSizePost"])
    except Exception as exc:  # scipy/h5py raise many kinds on corrupt files
        raise InputError(
            f"cannot read {path} as an HTC2022 file ({type(exc).__name__}: {exc}); expected a "
            "MATLAB .mat holding a CtDataLimited struct"
        ) from None
    if sino.ndim != 2 or sino.shape[0] != angles.size:
        raise InputError(
            f"{path}: sinogram of shape {sino.shape} does not match {angles.size} angles"
        )
    op = FanBeam2D(
        image_size,
        np.deg2rad(angles),
        n_detectors=sino.shape[1],
        source_origin=dso,
        source_detector=dsd,
        detector_spacing=spacing,
        pixel_size=effective * 512 / image_size,
    )
    return CTScan(
        sinogram=torch.from_numpy(sino.copy())[None, None],
        operator=op,
        angles_deg=angles,
        name=path.stem,
        parameters=params,
    )


def read_segmentation(path: str | Path) -> Tensor:
    """Read a square 2-D ground-truth segmentation from ``.npy`` (no pickles), e.g. the
    HTC2022 ``ta_groundtruth.npy``.

    Returns
    -------
    Tensor
        ``(1, 1, n, n)`` float64 (nonzero = material).
    """
    path = check_file(path)
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several kinds on corrupt or pickled files
        raise InputError(f"cannot read {path} as a .npy array ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[0] != data.shape[1]:
        shape = getattr(data, "shape", "an archive")
        raise InputError(f"{path} holds {shape}; a segmentation must be a square 2-D .npy array")
    return torch.from_numpy(data.astype(np.float64))[None, None]


def read_cfl(path: str | Path) -> np.ndarray:
    """Read a BART ``.cfl``/``.hdr`` pair (complex64, column-major) into its BART dimensions.

    ``path`` may name either file or the common stem.
    """
    stem = Path(path)
    if stem.suffix in (".cfl", ".hdr"):
        stem = stem.with_suffix("")
    hdr, cfl = check_file(stem.with_suffix(".hdr")), check_file(stem.with_suffix(".cfl"))
    try:
        lines = [ln for ln in hdr.read_text().splitlines() if not ln.startswith("#")]
        dims = [int(d) for d in lines[0].split()]
    except (ValueError, IndexError):
        raise InputError(f"{hdr} is not a BART header (expected '# Dimensions' and a line of sizes)") from None
    data = np.fromfile(cfl, dtype=np.complex64)
    if data.size != int(np.prod(dims)):
        raise InputError(
            f"{cfl} holds {data.size} complex values but its header says {dims}: the file is truncated"
        )
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    return data.reshape(dims, order="F")


def read_kspace(path: str | Path) -> Tensor:
    """Read k-space from ``.npy`` (complex, no pickles) or a BART ``.cfl``/``.hdr`` pair.

    Returns
    -------
    Tensor
        Complex64 tensor in the file's own axis order (``gre_kspace.npy``:
        ``(coils, ky, kx)``; BART ``ksp``: ``(1, ky, kz, coils)``).
    """
    p = Path(path)
    if p.suffix in (".cfl", ".hdr", ""):
        return torch.from_numpy(read_cfl(p))
    p = check_file(p)
    try:
        data = np.load(p, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"cannot read {p} as a .npy array ({type(exc).__name__}: {exc})") from None
    if not np.iscomplexobj(data):
        raise InputError(f"{p} holds {data.dtype} data; k-space must be complex")
    return torch.from_numpy(np.ascontiguousarray(data))


def read_velocity_model(path: str | Path, key: str | None = None) -> Tensor:
    """Read a 2-D velocity model ``(nz, nx)`` from a MATLAB v5 file (e.g. Marmousi
    ``cp_true.mat``, m/s, row 0 at the surface).

    Parameters
    ----------
    path : str or Path
        The ``.mat`` file.
    key : str, optional
        Variable name; default: the file's only 2-D numeric variable.
    """
    import scipy.io

    p = check_file(path)
    try:
        content = {k: v for k, v in scipy.io.loadmat(p).items() if not k.startswith("__")}
    except Exception as exc:
        raise InputError(f"cannot read {p} as a MATLAB file ({type(exc).__name__}: {exc})") from None
    arrays = {k: v for k, v in content.items() if isinstance(v, np.ndarray) and v.ndim == 2 and v.dtype.kind == "f"}
    if key is None:
        if len(arrays) != 1:
            raise InputError(f"{p} holds variables {sorted(content)}: pass key= to choose one")
        key = next(iter(arrays))
    if key not in arrays:
        raise InputError(f"{p} has no 2-D numeric variable {key!r}; it holds {sorted(content)}")
    return torch.from_numpy(np.asarray(arrays[key], dtype=np.float32))
