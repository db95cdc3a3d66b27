"""The files inverselab writes into run folders and reads back, read safely and checked
against their schemas.

A file that is missing, is not a regular file (a folder, a pipe, a device), cannot be parsed,
or lacks a field or holds one of the wrong type is refused with one :class:`InputError` line
naming the file and the field. Reading never blocks on a pipe: the file's kind is checked
before it is opened.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["Spec", "anything", "boolean", "integer", "list_of", "number", "optional", "read_bytes", "read_json",
           "read_toml", "regular_file", "table", "text", "validate", "RERUN", "CONFIG", "TRAINED_CONFIG",
           "TRAINING_HISTORY", "METRICS", "UQ", "STABILITY", "CHECKPOINT"]

RERUN = "rerun the job that wrote it"


@dataclass(frozen=True)
class Spec:
    """What one field holds.

    ``kind`` is ``"text"``, ``"number"``, ``"integer"``, ``"boolean"``, ``"table"``, ``"list"``
    or ``"any"``; ``minimum`` bounds numbers, ``fields`` describes a table's known keys (others
    are allowed), ``items`` a list's elements. NaN is never valid; ``finite`` also refuses
    infinite numbers.
    """

    kind: str
    required: bool = True
    minimum: float | None = None
    finite: bool = True
    fields: dict[str, Spec] = field(default_factory=dict)
    items: Spec | None = None


def text() -> Spec:
    return Spec("text")


def number(minimum: float | None = None, finite: bool = True) -> Spec:
    return Spec("number", minimum=minimum, finite=finite)


def integer(minimum: int | None = None) -> Spec:
    return Spec("integer", minimum=minimum)


def boolean() -> Spec:
    return Spec("boolean")


def anything() -> Spec:
    return Spec("any")


def table(**fields: Spec) -> Spec:
    return Spec("table", fields=fields)


def list_of(items: Spec) -> Spec:
    return Spec("list", items=items)


def optional(spec: Spec) -> Spec:
    """``spec``, but the field may be absent (or ``null`` in JSON, ``"none"`` in TOML)."""
    return Spec(spec.kind, False, spec.minimum, spec.finite, spec.fields, spec.items)


def _mismatch(value: Any, spec: Spec) -> str | None:
    """What is wrong with ``value`` for ``spec`` (its own level only), or None."""
    kind = spec.kind
    if kind == "any":
        return None
    if kind == "text":
        return None if isinstance(value, str) else f"is not text ({value!r})"
    if kind == "boolean":
        return None if isinstance(value, bool) else f"is not true or false ({value!r})"
    if kind == "table":
        return None if isinstance(value, dict) else f"is not a table ({type(value).__name__})"
    if kind == "list":
        return None if isinstance(value, list) else f"is not a list ({type(value).__name__})"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"is not a number ({value!r})"
    if kind == "integer" and not isinstance(value, int):
        return f"is not a whole number ({value!r})"
    if math.isnan(value) or (spec.finite and not math.isfinite(value)):
        return f"is not finite ({value!r})"
    if spec.minimum is not None and value < spec.minimum:
        return f"is below {spec.minimum:g} ({value!r})"
    return None


def validate(value: Any, spec: Spec, path: str | Path, fix: str = RERUN, where: str = "") -> Any:
    """Return ``value`` if it matches ``spec``; else raise an :class:`InputError` naming
    ``path``, the field (dotted, with list indices) and ``fix``."""
    def fail(problem: str) -> InputError:
        subject = f"field {where!r}" if where else "the file"
        return InputError(f"{path}: {subject} {problem}: {fix}")

    if value is None or (value == "none" and spec.kind != "text"):
        if spec.required:
            raise fail("is empty")
        return value
    problem = _mismatch(value, spec)
    if problem:
        raise fail(problem)
    if spec.kind == "table":
        for key, sub in spec.fields.items():
            name = f"{where}.{key}" if where else key
            if key not in value:
                if sub.required:
                    raise InputError(f"{path}: field {name!r} is missing: {fix}")
                continue
            validate(value[key], sub, path, fix, name)
    elif spec.kind == "list" and spec.items is not None:
        for i, item in enumerate(value):
            validate(item, spec.items, path, fix, f"{where}[{i}]")
    return value


def regular_file(path: str | Path, what: str = "file", fix: str = "") -> Path:
    """``path`` if it is an existing regular file; else an :class:`InputError` saying what it is.

    Checked without opening it, so a named pipe or a device never blocks the caller.
    """
    path = Path(path)
    hint = f": {fix}" if fix else ""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}{hint}") from None
    except NotADirectoryError:
        raise InputError(f"{what} not found: {path} (a part of the path is a file){hint}") from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read ({exc.strerror}){hint}") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{what} {path} is a folder, not a file{hint}")
    if not stat.S_ISREG(mode):
        kind = "a named pipe" if stat.S_ISFIFO(mode) else "a device or socket"
        raise InputError(f"{what} {path} is {kind}, not a regular file{hint}")
    return path


def read_bytes(path: str | Path, what: str = "file", fix: str = "") -> bytes:
    """The contents of a regular file (see :func:`regular_file`)."""
    path = regular_file(path, what, fix)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read ({exc.strerror})") from None


def _decoded(data: bytes, path: Path, fix: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not text (not UTF-8): {fix}") from None


def read_json(path: str | Path, spec: Spec | None = None, fix: str = RERUN, what: str = "file") -> Any:
    """A JSON file, checked against ``spec`` (default: any JSON object)."""
    path = Path(path)
    source = _decoded(read_bytes(path, what, fix), path, fix)
    try:
        value = json.loads(source)
    except ValueError as exc:
        raise InputError(f"{path} is not valid JSON ({exc}): {fix}") from None
    return validate(value, spec or table(), path, fix)


def read_toml(path: str | Path, spec: Spec | None = None, fix: str = RERUN, what: str = "file") -> dict:
    """A TOML file, checked against ``spec`` (default: any table)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    path = Path(path)
    source = _decoded(read_bytes(path, what, fix), path, fix)
    try:
        value = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML ({exc}): {fix}") from None
    return validate(value, spec or table(), path, fix)


# -- the schemas of what inverselab writes ------------------------------------------------------

_PROBLEM = table(problem=text())

#: ``config.toml`` of any run: the problem it was made on.
CONFIG = table(problem=_PROBLEM, n=optional(integer(1)), seed=optional(integer(0)), dtype=optional(text()),
               method=optional(table(name=optional(text()))))

#: ``config.toml`` of a training run.
TRAINED_CONFIG = table(
    problem=_PROBLEM,
    model=table(name=text(), options=optional(table())),
    loss=optional(table(name=text(), options=optional(table()))),
    budget=optional(table(epochs=optional(integer(1)), minutes=optional(number(0)))),
    schedule=optional(table()),
    training=optional(table(batch_size=optional(integer(1)), lr=optional(number(0)),
                            steps_per_epoch=optional(integer(1)), val_size=optional(integer(1)),
                            seed=optional(integer(0)), checkpoint_every=optional(integer(0)), keep=optional(integer(0)))),
)

_HISTORY_ENTRY = table(epoch=integer(0), step=integer(0), loss=number(), seconds=optional(number(0)),
                       lr=optional(number(0)), val_psnr=optional(number(finite=False)),
                       val_misfit=optional(number(finite=False)))

#: ``training.json``: the history of a training run.
TRAINING_HISTORY = table(history=list_of(_HISTORY_ENTRY), training=optional(table()), loss=optional(table()))

#: ``metrics.json``: the completion record and scores of a solve or evaluate run.
METRICS = table(problem=text(), method=text(), n=optional(integer(1)), psnr=optional(number(finite=False)),
                ssim=optional(number()), rel_error=optional(number(0)), seconds_per_sample=optional(number(0)),
                seconds=optional(number(0)), scores=optional(list_of(text())), config=optional(table()))

_COVERAGE = table(coverage_90=number(0), width_90=number(0))

#: ``uq-KIND.json``: predictive uncertainty and calibration.
UQ = table(problem=text(), uq=text(), model=text(), n=integer(1), scale=number(0), raw=_COVERAGE,
           calibrated=_COVERAGE, psnr_of_mean=number(finite=False))

#: ``stability.json``: noise sweep and attacks.
STABILITY = table(problem=text(), table=text())

#: ``checkpoints/NAME.json``: a checkpoint record.
CHECKPOINT = table(step=integer(0), elapsed=number(0))
