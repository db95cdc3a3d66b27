"""The problem registry: presets by name, created with keyword overrides."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InputError, check_choice
from .base import Problem

__all__ = ["register", "make_problem", "list_problems", "problem_info", "PresetInfo"]


KINDS = ("reconstruction", "estimation")


@dataclass(frozen=True)
class PresetInfo:
    """A registered preset: its builder, one-line description, kind and default parameters.

    ``kind`` is ``"reconstruction"`` (a :class:`Problem`: many truths, image-like
    measurements) or ``"estimation"`` (an
    :class:`~inverselab.problems.estimation.EstimationProblem`: one system, unknown
    coefficients).
    """

    name: str
    builder: Callable[..., Problem]
    description: str
    kind: str = "reconstruction"

    @property
    def defaults(self) -> dict:
        return {
            k: p.default for k, p in inspect.signature(self.builder).parameters.items()
        }


_PRESETS: dict[str, PresetInfo] = {}


def register(name: str, description: str, kind: str = "reconstruction") -> Callable[[Callable], Callable]:
    """Decorator adding a preset builder (keyword parameters with defaults) to the registry."""
    check_choice("problem kind", kind, KINDS)

    def wrap(builder: Callable[..., Problem]) -> Callable[..., Problem]:
        _PRESETS[name] = PresetInfo(name, builder, description, kind)
        return builder

    return wrap


def _load_presets() -> None:
    from . import joint, lorenz, materials, pde, presets, radio, seismic, source  # noqa: F401  (register on import)


def list_problems(kind: str | None = None) -> list[str]:
    """Names of the registered problems, all or of one kind ("reconstruction", "estimation")."""
    _load_presets()
    if kind is not None:
        check_choice("problem kind", kind, KINDS)
    return sorted(name for name, info in _PRESETS.items() if kind in (None, info.kind))


def problem_info(name: str) -> PresetInfo:
    """The registry entry of a problem (description and default parameters)."""
    _load_presets()
    return _PRESETS[check_choice("problem", name, _PRESETS)]


def _coerce(problem: str, key: str, value, default):
    """Convert a command-line string (or a Python value) to the type of the default."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("none", "null"):
            return None
        try:
            if isinstance(default, bool):
                if text.lower() in ("true", "1", "yes", "on"):
                    return True
                if text.lower() in ("false", "0", "no", "off"):
                    return False
                raise ValueError
            if isinstance(default, int):
                return int(text)
            if isinstance(default, float) or default is None:
                number = float(text)
                return int(number) if default is None and number.is_integer() and "." not in text else number
        except ValueError:
            kind = type(default).__name__ if default is not None else "number"
            raise InputError(f"{problem}: {key}={value!r} is not a valid {kind}") from None
        return text
    if isinstance(default, bool) and not isinstance(value, bool):
        raise InputError(f"{problem}: {key} must be true or false, got {value!r}")
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise InputError(f"{problem}: {key} must be a number, got {value!r}")
        if isinstance(default, int) and not float(value).is_integer():
            raise InputError(f"{problem}: {key} must be an integer, got {value!r}")
        return type(default)(value)
    return value


def make_problem(name: str, **overrides) -> Problem:
    """Create a registered problem, e.g. ``make_problem("ct-parallel", size=64, views=60)``.

    Parameters
    ----------
    name : str
        One of :func:`list_problems`.
    **overrides
        Preset parameters to change; strings (from the command line) are converted to the
        parameter's type.

    Raises
    ------
    InputError
        Unknown problem or parameter, or a value of the wrong type.
    """
    info = problem_info(name)
    defaults = info.defaults
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise InputError(
            f"unknown parameter {unknown[0]!r} for problem {name!r}: valid are {', '.join(defaults)}"
        )
    params = {**defaults, **{k: _coerce(name, k, v, defaults[k]) for k, v in overrides.items()}}
    problem = info.builder(**params)
    problem.config = {"problem": name, **params}
    return problem
