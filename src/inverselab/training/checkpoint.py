"""Checkpoints that never unpickle: tensors in safetensors, everything else in JSON.

A checkpoint ``NAME`` is two files written atomically in this order:

* ``NAME.safetensors``: model weights (``model/...``), optimiser tensors (``optim/...``) and
  random-number-generator states (``rng/...``);
* ``NAME.json``: epoch, step, optimiser hyper-parameters, training history, configuration and
  the SHA-256 of the tensor file.

The JSON file is the commit record: a checkpoint exists only when it is present and the hash
of its tensor file matches, so a crash between or during the writes never yields a
half-written checkpoint, and a truncated or altered file is refused with a clear error.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from ..models.weights import _load_state, _parse_tensors, check_finite_weights, load_weights, safetensors_bytes, save_weights
from ..records import CHECKPOINT, list_of, read_bytes, read_json, table, text
from ..runs import write_atomic, write_json_atomic

Tensor = torch.Tensor

__all__ = ["safetensors_bytes", "save_checkpoint", "load_checkpoint", "read_checkpoint", "average_weights", "checkpoint_records",
           "latest_checkpoint", "save_weights", "load_weights", "FORMAT"]

FORMAT = "inverselab-checkpoint/1"
_RECORD = table(**CHECKPOINT.fields, format=text(), tensors=text(), sha256=text(),
                optimizer=table(scalars=table(), param_groups=list_of(table())))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _rng_state() -> dict[str, Tensor]:
    """The CPU generator's state and, on a GPU machine, the current GPU's (one per process under
    torchrun), so a run resumes on any number of visible GPUs."""
    states = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["rng/cuda"] = torch.cuda.get_rng_state()
    return states


def _set_rng_state(tensors: dict[str, Tensor]) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    if "rng/cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng/cuda"])


def save_checkpoint(
    directory: str | Path, name: str, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
) -> Path:
    """Write checkpoint ``name`` (weights, optimiser, RNG states, ``state``) into ``directory``.

    Returns the path of the JSON record.
    """
    directory = Path(directory)
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in opt["state"].items():
        for key, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"optim/{index}/{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    tensors.update(_rng_state())
    data = safetensors_bytes(tensors, {"format": FORMAT})
    write_atomic(directory / f"{name}.safetensors", data)
    record = {
        "format": FORMAT,
        "tensors": f"{name}.safetensors",
        "sha256": _sha256(data),
        "optimizer": {"param_groups": opt["param_groups"], "scalars": scalars},
        **state,
    }
    return write_json_atomic(directory / f"{name}.json", record)


def checkpoint_records(directory: str | Path) -> list[tuple[int, Path]]:
    """``(step, JSON record)`` of every readable checkpoint in ``directory``, by step."""
    records = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            records.append((read_json(path, CHECKPOINT)["step"], path))
        except ValueError:  # InputError (read_json reports unreadable files so too): no checkpoint
            continue
    return sorted(records)


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The JSON record with the highest ``step`` in ``directory``, or None if there is none."""
    records = checkpoint_records(directory)
    return records[-1][1] if records else None


def _model_weights(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """The model's ``state_dict`` inside a checkpoint's tensors."""
    return {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}


def read_checkpoint(record: str | Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The JSON record and the tensors of a checkpoint written by :func:`save_checkpoint`,
    after checking the record's format and the tensor file's hash.

    Raises
    ------
    InputError
        Unreadable record, missing or truncated tensor file, or hash mismatch.
    """
    record = Path(record)
    fix = "delete it to resume from an earlier checkpoint"
    meta = read_json(record, _RECORD, fix, what="checkpoint record")
    if meta["format"] != FORMAT:
        raise InputError(f"{record} is not an inverselab checkpoint record (format {FORMAT}): {fix}")
    tensor_path = record.parent / Path(meta["tensors"]).name
    data = read_bytes(tensor_path, "checkpoint tensor file", "delete its record to resume from an earlier checkpoint")
    if _sha256(data) != meta["sha256"]:
        raise InputError(f"checkpoint {tensor_path} does not match its record (truncated or altered); delete both files to resume from an earlier one")
    tensors = _parse_tensors(data, tensor_path)
    check_finite_weights(_model_weights(tensors), tensor_path)
    return meta, tensors


def average_weights(records: list[str | Path]) -> dict[str, Tensor]:
    """The mean of the model weights of several checkpoints (of one run), as a ``state_dict``.

    Averaging the weights visited late in training (stochastic weight averaging, Izmailov et
    al. 2018) lands nearer the centre of the flat region the optimiser wanders in, which
    usually generalises better than the last iterate. Floating-point tensors are averaged in
    float64 and returned in their own precision; other tensors (counters) come from the last
    record.
    """
    if not records:
        raise InputError("no checkpoints to average: train with --keep 0 (keep all) or a larger --keep")
    sums: dict[str, Tensor] = {}
    for record in records:
        _, tensors = read_checkpoint(record)
        weights = _model_weights(tensors)
        if sums and set(weights) != set(sums):
            raise InputError(f"checkpoint {record} holds other weights than {records[0]}: not from the same run")
        for k, v in weights.items():
            if v.is_floating_point():
                sums[k] = sums[k] + v.double() if k in sums else v.double()
            else:
                sums[k] = v
    return {k: (v / len(records)).to(weights[k].dtype) if weights[k].is_floating_point() else v for k, v in sums.items()}


def load_checkpoint(record: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """Restore a checkpoint written by :func:`save_checkpoint`; returns its JSON record.

    Raises
    ------
    InputError
        Unreadable record, missing or truncated tensor file, hash mismatch, or weights that do
        not fit ``model``.
    """
    meta, tensors = read_checkpoint(record)
    tensor_path = Path(record).parent / meta["tensors"]
    _load_state(model, _model_weights(tensors), tensor_path)
    if optimizer is not None:
        opt_meta = meta["optimizer"]
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optim/"):
                _, index, name = key.split("/", 2)
                state.setdefault(int(index), {})[name] = value
        for index, extra in opt_meta["scalars"].items():
            state.setdefault(int(index), {}).update(extra)
        optimizer.load_state_dict({"state": state, "param_groups": opt_meta["param_groups"]})
    _set_rng_state(tensors)
    return meta
