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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["write_atomic", "write_json_atomic", "write_toml_atomic", "plain", "run_lock", "toml_view"]


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


@contextmanager
def run_lock(folder: str | Path) -> Iterator[None]:
    """Hold ``folder/.lock`` (with this process's pid) while a job writes into the run folder;
    a second process asking for it gets an InputError naming the holder. A lock left by a
    process that no longer runs is taken over."""
    from .errors import InputError

    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / ".lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                holder = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                holder = 0
            if holder and holder != os.getpid() and _alive(holder):
                raise InputError(f"{folder} is being written by another inverselab process (pid {holder}): wait for it "
                                 "or choose another --out") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
    else:
        raise InputError(f"cannot lock {folder}: remove {lock} if no inverselab process uses it")
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)
        if created and not any(folder.iterdir()):  # a job that failed before writing leaves nothing behind
            folder.rmdir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def toml_view(value: Any) -> Any:
    """How a value reads back from a config.toml (None dropped, tuples as lists)."""
    return _toml_ready(plain(value))
