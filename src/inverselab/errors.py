"""User-facing errors.

Every error that bad input can cause is an :class:`InputError` whose message is one line that
says what was wrong and how to fix it. The command line prints that line and exits with code 2;
library users can catch it like any ``ValueError``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence

__all__ = [
    "InputError",
    "check_choice",
    "check_finite",
    "check_nonnegative",
    "check_positive",
    "format_shape",
    "require",
]


class InputError(ValueError):
    """Bad input from the user; the message names the fix."""


def check_choice(kind: str, value: str, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise with the closest suggestion.

    Parameters
    ----------
    kind : str
        What is being chosen ("problem", "method", ...), used in the message.
    value : str
        The name given by the user.
    choices : iterable of str
        The valid names.
    """
    import difflib

    options = sorted(choices)
    if value in options:
        return value
    close = difflib.get_close_matches(str(value), options, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise InputError(f"unknown {kind} {value!r}: {hint}choose one of {', '.join(options)}")


def check_positive(name: str, value: float) -> float:
    """Raise unless ``value`` is a finite number > 0."""
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def check_nonnegative(name: str, value: float) -> float:
    """Raise unless ``value`` is a finite number >= 0."""
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def check_count(name: str, value: int, minimum: int = 1) -> int:
    """Raise unless ``value`` is an integer (Python or NumPy) >= ``minimum``; return it as int."""
    try:
        n = operator.index(value)
    except TypeError:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if n < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {n}")
    return n


def check_finite(name: str, tensor) -> None:
    """Raise if a tensor holds NaN or infinite values (forces a device sync)."""
    import torch

    if not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise InputError(f"{name} holds {bad} NaN or infinite values: clean or mask them before solving")


def format_shape(shape: Sequence[int]) -> str:
    """``(2, 1, 128, 128)`` style text for messages."""
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def require(module: str, extra: str, feature: str, package: str | None = None):
    """Import and return an optional dependency, or raise an :class:`InputError` naming the extra.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"deepwave"`` or ``"skimage.filters"``.
    extra : str
        The ``inverselab`` extra that installs it (``"seismic"``, ``"data"``).
    feature : str
        What needs it, as the subject of the message ("the acoustic wave operator").
    package : str, optional
        Name of the package on PyPI when it differs from the top-level module
        (``"scikit-image"`` for ``skimage``).

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    InputError
        If the module is not installed ("... needs the optional package X: pip install
        'inverselab[extra]'"), or is installed but fails to import (the cause is appended).
    """
    import importlib

    top = module.partition(".")[0]
    name = package or top
    fix = f"pip install 'inverselab[{extra}]'"
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if isinstance(exc, ModuleNotFoundError) and missing in {top, module}:
            raise InputError(f"{feature} needs the optional package {name}: {fix}") from None
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(
            f"{feature} needs the optional package {name}, which is installed but failed to import "
            f"({cause}): reinstall it with {fix}"
        ) from exc
