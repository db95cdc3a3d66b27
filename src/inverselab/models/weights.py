"""Network weights on disk: one safetensors file (or a plain ``.pt`` tensor dict read with
``weights_only=True``), written atomically, never unpickled."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..records import read_bytes
from ..runs import write_atomic

Tensor = torch.Tensor

__all__ = ["load_weights", "save_weights", "safetensors_bytes", "check_finite_weights"]


def safetensors_bytes(tensors: dict[str, Tensor], metadata: dict[str, str]) -> bytes:
    """Serialise tensors (copied to contiguous CPU memory) and string metadata as safetensors."""
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, metadata=metadata)


def _parse_tensors(data: bytes, path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise InputError(f"{path} is not a valid safetensors file ({exc}); it may be truncated or corrupt") from None


def save_weights(path: str | Path, model: nn.Module | dict[str, Tensor]) -> Path:
    """Write a model's weights (its ``state_dict``, or a ``state_dict`` given directly) as one
    safetensors file, atomically."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    return write_atomic(path, safetensors_bytes(state, {"format": "inverselab-weights/1"}))


def load_weights(path: str | Path, model: nn.Module | None = None) -> dict[str, Tensor]:
    """Read weights from ``.safetensors`` (or ``.pt``/``.pth`` with ``weights_only=True``).

    Files that would need unpickling arbitrary objects are refused without running them.
    With ``model`` given the weights are loaded into it (names and shapes must match).
    """
    path = Path(path)
    data = read_bytes(path, "weights file", "give a finished training run")
    if path.suffix in (".pt", ".pth"):
        import io

        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"refused to load {path}: not a plain tensor file ({first}); convert it to safetensors") from None
        if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
            raise InputError(f"{path} does not hold a flat dict of tensors")
    else:
        state = _parse_tensors(data, path)
    check_finite_weights(state, path)
    if model is not None:
        _load_state(model, state, path)
    return state


def check_finite_weights(state: dict[str, Tensor], path: Path) -> None:
    """Refuse weights holding NaN or infinite values (a diverged training), naming the tensor."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise InputError(f"weights in {path} hold NaN or infinite values ({name}): the training diverged; "
                             "retrain with a smaller --lr or average earlier checkpoints")


def _load_state(model: nn.Module, state: dict[str, Tensor], path: Path) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        what = f"missing {missing[0]!r}" if missing else f"unexpected {extra[0]!r}"
        raise InputError(f"weights in {path} do not fit this model ({what}); was it trained with other options?")
    for k, v in state.items():
        if tuple(own[k].shape) != tuple(v.shape):
            raise InputError(f"weights in {path} do not fit this model: {k} is {tuple(v.shape)}, expected {tuple(own[k].shape)}")
    model.load_state_dict(state)
