"""Problem files: a TOML description of a problem that every verb accepts (``--problem FILE``),
and the ``[problem]`` table of a run's ``config.toml``, which is itself such a description.

A preset with overrides::

    [preset]
    name = "ct-parallel"
    size = 64
    views = 60

Your own forward model and data::

    name = "my-deconvolution"
    plugins = ["mymodule"]             # imported first: their methods, models, losses register

    [operator]
    factory = "mymodule:make_blur"     # module:function, or an inverselab.operators class name
    width = 5                          # keyword arguments of the factory
    domain_shape = [1, 64, 64]         # where the operator does not say it

    [data]
    truths = "images/"                 # folder, file.npy or file.h5:dataset, relative to this file
    measurements = "measured.npy"      # optional: data without truths
    size = 64                          # resize images to 64 x 64
    splits = [0.8, 0.1, 0.1]

    [noise]
    sigma = 0.01                       # Gaussian; relative = true for a share of the RMS

    [methods.tv]
    lam = 0.02

Paths are relative to the file. The problem's ``config`` records the description with absolute
paths, so a run made from it can be made again from its ``config.toml``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..records import anything, boolean, integer, list_of, number, optional, table, text, validate
from .base import Problem
from .custom import custom_problem
from .registry import make_problem

__all__ = ["load_problem", "problem_from_config", "is_problem_file"]

_TOP = {"name", "plugins", "preset", "operator", "data", "noise", "methods", "data_range", "check_adjoint"}
_DATA = {"truths", "measurements", "size", "splits"}
_SCHEMA = table(name=optional(text()), plugins=optional(list_of(text())), preset=optional(table()),
                operator=optional(table()), noise=optional(anything()), methods=optional(table()),
                data_range=optional(number(0)), check_adjoint=optional(boolean()),
                data=optional(table(truths=optional(text()), measurements=optional(text()), size=optional(integer(1)),
                                    splits=optional(list_of(number(0))))))


def is_problem_file(name: str) -> bool:
    """Whether a command-line problem argument names a file rather than a preset."""
    return name.endswith(".toml") or os.path.lexists(name)


def load_problem(path: str | Path, **overrides: Any) -> Problem:
    """The problem a TOML file describes (a problem file, or a run's ``config.toml``), with
    ``overrides`` of a preset's parameters.

    Raises
    ------
    InputError
        Unreadable file, unknown keys, an operator factory that cannot be imported, or data
        that do not fit the operator.
    """
    from ..records import read_toml

    path = Path(path)
    spec = read_toml(path, fix="correct the problem file", what="problem file")
    if "problem" in spec:  # a run's config.toml
        if not isinstance(spec["problem"], dict):
            raise InputError(f"{path}: field 'problem' is not a table: give [problem] with problem = NAME")
        return problem_from_config(spec["problem"], **overrides)
    return _from_spec(spec, path.resolve().parent, label=str(path), **overrides)


def problem_from_config(config: dict, **overrides: Any) -> Problem:
    """The problem of a run's ``[problem]`` table: a preset (``problem = NAME`` and its
    parameters) or a described problem (``definition = {...}``)."""
    config = dict(config)
    if "definition" in config:
        return _from_spec(config["definition"], Path("."), **overrides)
    name = config.pop("problem", None)
    if not isinstance(name, str):
        raise InputError("the [problem] table names no problem (problem = NAME)")
    return make_problem(name, **{**config, **overrides})


def _from_spec(spec: dict, base: Path, label: str = "problem file", **overrides: Any) -> Problem:
    unknown = sorted(set(spec) - _TOP)
    if unknown:
        raise InputError(f"{label}: unknown key {unknown[0]!r}: valid are {', '.join(sorted(_TOP))}")
    validate(spec, _SCHEMA, label, "correct the problem file")
    if isinstance(spec.get("methods"), dict):
        for name, params in spec["methods"].items():
            validate(params, table(), label, "give [methods.NAME] tables of parameters", f"methods.{name}")
    for module in spec.get("plugins", []):
        _import(module, "plugin")
    if "preset" in spec:
        preset = dict(spec["preset"])
        name = preset.pop("name", None)
        if not isinstance(name, str):
            raise InputError(f"{label}: [preset] needs name = PRESET (see 'inverselab list')")
        return make_problem(name, **{**preset, **overrides})
    if overrides:
        raise InputError(f"--set applies to presets; change {', '.join(overrides)} in the problem file instead")
    if "operator" not in spec:
        raise InputError(f"{label}: give [preset] (a built-in problem) or [operator] and [data] (your own)")
    resolved = _resolve_paths(spec, base)
    operator_spec = dict(resolved["operator"])
    factory = operator_spec.pop("factory", None)
    if not isinstance(factory, str):
        raise InputError(f"{label}: [operator] needs factory = 'module:function' (or an inverselab.operators class)")
    domain_shape = operator_spec.pop("domain_shape", None)
    range_shape = operator_spec.pop("range_shape", None)
    make = _import(factory, "operator factory")
    try:
        operator = make(**operator_spec)
    except TypeError as exc:
        raise InputError(f"operator factory {factory}: {exc}") from None
    data = dict(resolved.get("data", {}))
    unknown = sorted(set(data) - _DATA)
    if unknown:
        raise InputError(f"{label}: unknown key {unknown[0]!r} in [data]: valid are {', '.join(sorted(_DATA))}")
    noise = resolved.get("noise", 0.0)
    return custom_problem(operator, truths=data.get("truths"), measurements=data.get("measurements"), noise=noise,
                          name=str(resolved.get("name", "custom")),
                          domain_shape=tuple(domain_shape) if domain_shape else None,
                          range_shape=tuple(range_shape) if range_shape else None,
                          methods=resolved.get("methods"), data_range=resolved.get("data_range"), size=data.get("size"),
                          splits=tuple(data.get("splits", (0.8, 0.1, 0.1))),
                          check_adjoint=bool(resolved.get("check_adjoint", True)),
                          config={"problem": str(resolved.get("name", "custom")), "definition": resolved})


def _resolve_paths(spec: dict, base: Path) -> dict:
    """The description with data paths made absolute (so that it works from any folder)."""
    out = dict(spec)
    data = dict(spec.get("data", {}))
    for key in ("truths", "measurements"):
        value = data.get(key)
        if isinstance(value, str):
            file, sep, inner = value.partition(":") if (".h5:" in value or ".hdf5:" in value) else (value, "", "")
            absolute = str((base / file).resolve()) if not Path(file).is_absolute() else file
            data[key] = absolute + sep + inner
    if data:
        out["data"] = data
    return out


def _import(target: str, what: str) -> Any:
    """``module:attribute``, a module, or (for operator factories) an ``inverselab.operators`` name."""
    module_name, sep, attribute = target.partition(":")
    if not sep and what == "operator factory":
        module_name, attribute = "inverselab.operators", target
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"{what} {target!r}: cannot import {module_name} ({exc}); is it on PYTHONPATH?") from None
    except Exception as exc:  # the user's module raised while importing
        raise InputError(f"{what} {target!r}: importing {module_name} failed ({type(exc).__name__}: {exc})") from None
    if not attribute:
        return module
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise InputError(f"{what} {target!r}: {module_name} has no {attribute!r}") from None
