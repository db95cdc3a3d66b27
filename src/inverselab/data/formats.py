"""Readers for the field's public data sets, in their published layouts.

- **LoDoPaB-CT** (Leuschner et al. 2021): ``ground_truth_{part}_{k:03d}.hdf5`` and
  ``observation_{part}_{k:03d}.hdf5``, each with a dataset ``data`` of 128 samples per file
  (the last file of a part may hold fewer): images ``(N, 362, 362)`` of attenuation divided by
  ``mu_max = 81.35858 / m`` on a 26 cm square, and post-log sinograms ``(N, 1000, 513)`` of the
  same units (line integrals in metres), 1000 parallel-beam angles at the centres of ``[0, pi)``
  in 1000 equal parts and 513 detector bins spanning the image diagonal. ``part`` is
  ``train``, ``validation`` or ``test``.
- **fastMRI** (Zbontar et al. 2018): one HDF5 file per volume with ``kspace`` — complex
  ``(slices, coils, H, W)`` for multi-coil data or ``(slices, H, W)`` for single-coil — the
  reference images ``reconstruction_rss`` (multi-coil) or ``reconstruction_esc`` (single-coil)
  of ``(slices, 320, 320)`` where present (not in the test set), and ``ismrmrd_header`` (XML
  bytes, with the encoded and reconstructed matrix sizes). Masks: :func:`fastmri_mask`, the
  challenge's equispaced or random column masks with a fully sampled centre of 8 % (4x) or
  4 % (8x) of the columns.
- **OpenFWI** (Deng et al. 2022; FlatVel-A/B, CurveVel-A/B, FlatFault-A/B, CurveFault-A/B,
  Style-A/B): ``data*.npy`` shot gathers ``(N, 5, 1000, 70)`` (sources, 1 ms time samples,
  receivers) and ``model*.npy`` velocities ``(N, 1, 70, 70)`` in m/s on 10 m cells, in files
  that pair by their number (``data1.npy`` with ``model1.npy``).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, format_shape

Tensor = torch.Tensor

__all__ = ["LODOPAB", "read_lodopab", "FastMRIVolume", "read_fastmri", "fastmri_mask", "read_openfwi"]

#: LoDoPaB-CT's geometry and units.
LODOPAB = {"image_size": 362, "angles": 1000, "detectors": 513, "side_m": 0.26, "mu_max": 81.35858}

_FASTMRI_CENTER = {4: 0.08, 8: 0.04}


def _h5(path: Path):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"cannot read {path} as HDF5: {str(exc).splitlines()[0]}") from None


def _dataset(f, key: str, path: Path) -> np.ndarray:
    if key not in f:
        raise InputError(f"{path} is not in the expected layout: no dataset {key!r} (it holds "
                         f"{', '.join(sorted(f.keys())) or 'nothing'})")
    return f[key][()]


def read_lodopab(folder: str | Path, part: str = "test", limit: int | None = None) -> tuple[Tensor, Tensor]:
    """Ground truths ``(N, 1, 362, 362)`` and observations ``(N, 1, 1000, 513)`` (float32) of
    one part of LoDoPaB-CT in ``folder``, paired in file and sample order.

    Parameters
    ----------
    folder : str or Path
        Folder with the ``ground_truth_*`` and ``observation_*`` HDF5 files.
    part : {"train", "validation", "test"}
        Which part.
    limit : int, optional
        Read at most this many pairs (the parts hold 35 820, 3 522 and 3 553).
    """
    folder = Path(folder)
    if part not in ("train", "validation", "test"):
        raise InputError(f"unknown LoDoPaB part {part!r}: choose train, validation or test")
    truths_files = sorted(folder.glob(f"ground_truth_{part}_*.hdf5"))
    if not truths_files:
        raise InputError(f"{folder} holds no LoDoPaB files ground_truth_{part}_NNN.hdf5")
    truths, observations, count = [], [], 0
    for truth_file in truths_files:
        observation_file = folder / truth_file.name.replace("ground_truth_", "observation_")
        if not observation_file.is_file():
            raise InputError(f"{observation_file.name} is missing beside {truth_file.name}")
        with _h5(truth_file) as f, _h5(observation_file) as g:
            x, y = _dataset(f, "data", truth_file), _dataset(g, "data", observation_file)
        if x.ndim != 3 or y.ndim != 3 or x.shape[0] != y.shape[0]:
            raise InputError(f"{truth_file.name} {format_shape(x.shape)} and {observation_file.name} "
                             f"{format_shape(y.shape)} do not pair as (N, 362, 362) and (N, 1000, 513)")
        take = x.shape[0] if limit is None else min(x.shape[0], limit - count)
        truths.append(torch.from_numpy(np.ascontiguousarray(x[:take], dtype=np.float32)))
        observations.append(torch.from_numpy(np.ascontiguousarray(y[:take], dtype=np.float32)))
        count += take
        if limit is not None and count >= limit:
            break
    return torch.cat(truths)[:, None], torch.cat(observations)[:, None]


@dataclass
class FastMRIVolume:
    """One fastMRI volume.

    Attributes
    ----------
    kspace : Tensor
        Complex ``(slices, coils, H, W)`` (``coils = 1`` for single-coil data).
    reference : Tensor or None
        ``reconstruction_rss`` or ``reconstruction_esc``, ``(slices, h, w)``, where present.
    kind : {"multicoil", "singlecoil"}
        The acquisition.
    encoding : (int, int)
        Encoded matrix size (readout, phase) from the ISMRMRD header.
    reconstruction : (int, int)
        Reconstructed matrix size from the header.
    attrs : dict
        The file's attributes (acquisition, max, norm, ...).
    """

    kspace: Tensor
    reference: Tensor | None
    kind: str
    encoding: tuple[int, int]
    reconstruction: tuple[int, int]
    attrs: dict = field(default_factory=dict)


def _matrix(header: ElementTree.Element, section: str) -> tuple[int, int]:
    space = header.find(f".//{{*}}encoding/{{*}}{section}/{{*}}matrixSize")
    if space is None:
        raise InputError(f"the ISMRMRD header has no {section} matrixSize")
    return int(space.find("{*}x").text), int(space.find("{*}y").text)


def read_fastmri(path: str | Path) -> FastMRIVolume:
    """One fastMRI HDF5 volume (single- or multi-coil) with its header's matrix sizes."""
    path = Path(path)
    with _h5(path) as f:
        kspace = _dataset(f, "kspace", path)
        reference = None
        for key in ("reconstruction_rss", "reconstruction_esc"):
            if key in f:
                reference = torch.from_numpy(np.ascontiguousarray(f[key][()], dtype=np.float32))
        header_bytes = _dataset(f, "ismrmrd_header", path)
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    if not np.iscomplexobj(kspace) or kspace.ndim not in (3, 4):
        raise InputError(f"{path}: kspace must be complex (slices, coils, H, W) or (slices, H, W), got "
                         f"{kspace.dtype} {format_shape(kspace.shape)}")
    try:
        header = ElementTree.fromstring(bytes(header_bytes).decode() if not isinstance(header_bytes, str) else header_bytes)
    except (ElementTree.ParseError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: unreadable ismrmrd_header ({exc})") from None
    kind = "multicoil" if kspace.ndim == 4 else "singlecoil"
    k = torch.from_numpy(np.ascontiguousarray(kspace, dtype=np.complex64))
    return FastMRIVolume(k if kind == "multicoil" else k[:, None], reference, kind, _matrix(header, "encodedSpace"),
                         _matrix(header, "reconSpace"), attrs)


def fastmri_mask(width: int, acceleration: int = 4, kind: str = "equispaced", seed: int = 0) -> Tensor:
    """The fastMRI challenge's column mask ``(width,)`` (boolean): a fully sampled centre of 8 %
    (4x) or 4 % (8x) of the columns plus ``"equispaced"`` columns (a random offset) or
    ``"random"`` ones, for an acceleration of ``acceleration`` overall."""
    if acceleration not in _FASTMRI_CENTER:
        raise InputError(f"fastMRI masks are defined for 4x and 8x, got {acceleration}")
    if kind not in ("equispaced", "random"):
        raise InputError(f"unknown fastMRI mask {kind!r}: choose equispaced or random")
    from ..operators.mri import equispaced_mask_1d, random_mask_1d

    make = equispaced_mask_1d if kind == "equispaced" else random_mask_1d
    return make((1, width), float(acceleration), _FASTMRI_CENTER[acceleration], seed=seed)[0]


def read_openfwi(folder: str | Path, limit: int | None = None) -> tuple[Tensor, Tensor]:
    """Velocities ``(N, 70, 70)`` (m/s) and shot gathers ``(N, 5, 70, 1000)`` (sources,
    receivers, time: the layout of our acoustic operator) of the OpenFWI files in ``folder``,
    paired by file number (``data3.npy`` with ``model3.npy``)."""
    folder = Path(folder)

    def number(p: Path) -> int:
        digits = re.findall(r"\d+", p.stem)
        return int(digits[-1]) if digits else -1

    data_files = sorted(folder.glob("data*.npy"), key=number)
    if not data_files:
        raise InputError(f"{folder} holds no OpenFWI files data*.npy")
    velocities, gathers, count = [], [], 0
    for data_file in data_files:
        model_file = folder / data_file.name.replace("data", "model", 1)
        if not model_file.is_file():
            raise InputError(f"{model_file.name} is missing beside {data_file.name}")
        try:
            d = np.load(data_file, mmap_mode="r", allow_pickle=False)
            m = np.load(model_file, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"cannot read {data_file.name}/{model_file.name}: {exc}") from None
        if d.ndim != 4 or m.ndim != 4 or m.shape[1] != 1 or d.shape[0] != m.shape[0]:
            raise InputError(f"{data_file.name} {format_shape(d.shape)} and {model_file.name} {format_shape(m.shape)} "
                             "are not OpenFWI's (N, sources, time, receivers) and (N, 1, nz, nx)")
        take = d.shape[0] if limit is None else min(d.shape[0], limit - count)
        velocities.append(torch.from_numpy(np.array(m[:take, 0], dtype=np.float32)))
        gathers.append(torch.from_numpy(np.array(d[:take], dtype=np.float32)).transpose(2, 3))
        count += take
        if limit is not None and count >= limit:
            break
    return torch.cat(velocities), torch.cat(gathers).contiguous()


def lodopab_angles() -> np.ndarray:
    """LoDoPaB's 1000 angles: the centres of ``[0, pi)`` cut into 1000 equal parts (radians)."""
    n = LODOPAB["angles"]
    return (np.arange(n) + 0.5) * math.pi / n
