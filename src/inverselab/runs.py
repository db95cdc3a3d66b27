"""Run directories and atomic result files.

A run directory ``runs/<name>/`` holds ``config.toml``, ``metrics.json`` and ``figures/``.
Every file is written to a temporary file in the same directory, flushed, fsync'ed and then
renamed over the target, so a crash never leaves a half-written result.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["write_atomic", "write_json_atomic", "write_toml_atomic", "read_toml", "plain"]


_MAX_INLINE = 256  # larger arrays are described, not written, in configs and results


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def plain(value: Any) -> Any:
    """Convert tensors, numpy values, tuples and paths to JSON/TOML-friendly values."""
    if hasattr(value, "tolist"):
        count = value.numel() if hasattr(value, "numel") else getattr(value, "size", 1)
        if count > _MAX_INLINE:
            return f"<array of shape {tuple(value.shape)}>"
        return plain(value.tolist())
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return write_atomic(path, (json.dumps(plain(obj), indent=2) + "\n").encode())


def _toml_ready(value: Any) -> Any:
    """TOML has no null: drop None values (absent keys mean 'default')."""
    if isinstance(value, dict):
        return {k: _toml_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_toml_ready(v) if v is not None else "none" for v in value]
    return value


def write_toml_atomic(path: str | Path, obj: dict) -> Path:
    """Write a dict as TOML, atomically (None values are omitted)."""
    import tomli_w

    return write_atomic(path, tomli_w.dumps(_toml_ready(plain(obj))).encode())


def read_toml(path: str | Path) -> dict:
    """Read a TOML file."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open(path, "rb") as fh:
        return tomllib.load(fh)
