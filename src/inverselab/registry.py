"""One registry type for problems, methods, models and losses, and the plugins that extend them.

An :class:`Entry` is a named object (a preset builder, a method, a network builder, a loss
class) with a one-line description and its typed :class:`Parameter` s. A :class:`Registry`
looks entries up by name, validates and converts their parameters (strings from the command
line included), and lists them for ``inverselab list`` and the command line's ``--help``.

Plugins add entries without editing the package:

- a distribution declares an entry point in the group ``inverselab.plugins`` whose value is a
  module (``mypkg.inverse``) or a function without arguments (``mypkg.inverse:register``);
- user code names modules in the ``INVERSELAB_PLUGINS`` environment variable (comma
  separated), imported the first time any registry is used.

Either way the module registers with the public decorators (``inverselab.problems.register``,
``inverselab.methods.register``, ``inverselab.models.register``,
``inverselab.training.register_loss``). A plugin that fails to import is reported in one
warning line on stderr and skipped; asking for a name it would have provided names it.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError

__all__ = ["Entry", "Parameter", "Registry", "check_values", "parameters_of", "load_plugins", "PLUGIN_GROUP", "PLUGIN_ENV"]

PLUGIN_GROUP = "inverselab.plugins"
PLUGIN_ENV = "INVERSELAB_PLUGINS"

_TRUE = ("true", "yes", "on", "1")
_LARGEST = 3.4e38  # float32's range: larger values overflow in any computation here
LARGEST_INT = 2**31 - 1  # sizes, counts and steps
LARGEST_SEED = 2**63 - 1
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True)
class Parameter:
    """A typed parameter of a registry entry.

    Attributes
    ----------
    name : str
        Keyword name.
    type : type or None
        ``bool``, ``int``, ``float`` or ``str`` are checked and converted; ``None`` (any other
        annotation: sequences, tensors, callables) passes values through unchecked.
    default : object
        Default value (``inspect.Parameter.empty`` when required).
    help : str
        One line: what it is, with units.
    optional : bool
        Whether ``None`` is a valid value.
    low, high : float, optional
        Inclusive valid range of a number.
    choices : tuple of str, optional
        Valid values of a string.
    """

    name: str
    type: type | None = None
    default: Any = None
    help: str = ""
    optional: bool = False
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None

    def __hash__(self) -> int:  # defaults may be unhashable (dicts, lists)
        return hash((self.name, self.type, self.help))

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    def describe(self) -> str:
        """``name: type = default`` and the help, for listings."""
        kind = self.type.__name__ if self.type is not None else "value"
        if self.optional:
            kind += " or none"
        default = "required" if self.required else f"= {self.default!r}"
        text = f"{self.name}: {kind} {default}"
        if self.choices:
            text += f" (one of {', '.join(self.choices)})"
        elif self.low is not None or self.high is not None:
            text += f" (in [{self.low if self.low is not None else '-inf'}, {self.high if self.high is not None else 'inf'}])"
        return f"{text}; {self.help}" if self.help else text

    def coerce(self, value: Any, owner: str) -> Any:
        """``value`` (a Python value, or a string from the command line) checked and converted.

        Raises
        ------
        InputError
            One line naming ``owner``, the parameter and what is valid.
        """
        where = f"{owner}: {self.name}"
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null")):
            if self.optional:
                return None
            raise InputError(f"{where} cannot be none: give a {self.type.__name__ if self.type else 'value'}")
        if self.type is None:
            return value
        if self.type is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise InputError(f"{where} must be true or false, got {value!r}")
        if self.type in (int, float):
            return self._number(value, where)
        if self.type is str:
            if isinstance(value, (dict, list, tuple)):
                raise InputError(f"{where} must be a string, got {value!r}")
            text = str(value)
            if self.choices and text not in self.choices:
                raise InputError(f"{where}={text!r} is not valid: choose one of {', '.join(self.choices)}")
            return text
        return value

    def _number(self, value: Any, where: str) -> int | float:
        kind = "an integer" if self.type is int else "a number"
        if isinstance(value, bool):
            raise InputError(f"{where} must be {kind}, got {value!r}")
        if isinstance(value, str):
            text = value.strip()
            try:
                number = int(text) if self.type is int else float(text)
            except ValueError:
                try:
                    number = float(text)
                except ValueError:
                    raise InputError(f"{where}={value!r} is not {kind}") from None
        elif isinstance(value, (int, float)) or hasattr(value, "__float__") and not hasattr(value, "__len__"):
            number = value
        else:
            raise InputError(f"{where} must be {kind}, got {value!r}")
        if isinstance(number, float) or not isinstance(number, int):
            number = float(number)
            if not math.isfinite(number):
                raise InputError(f"{where} must be finite, got {value!r}")
            if self.type is int:
                if not number.is_integer():
                    raise InputError(f"{where} must be {kind}, got {value!r}")
                number = int(number)
        largest = (LARGEST_SEED if "seed" in self.name else LARGEST_INT) if self.type is int else _LARGEST
        if abs(number) > largest:
            raise InputError(f"{where}={value!r} is too large (at most {largest:.3g} in magnitude)")
        if self.type is float:
            number = float(number)
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            low = self.low if self.low is not None else "-inf"
            high = self.high if self.high is not None else "inf"
            raise InputError(f"{where}={number!r} is out of range: valid are [{low}, {high}]")
        return number


_SIMPLE = {"bool": bool, "int": int, "float": float, "str": str}


def _annotation_type(annotation: Any, default: Any) -> tuple[type | None, bool]:
    """(checked type or None, whether None is allowed) from an annotation (string or type)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    if annotation is inspect.Parameter.empty:
        text = ""
    parts = [p.strip() for p in text.replace("Optional[", "").rstrip("]").split("|")] if text else []
    optional = default is None or "None" in parts
    known = [p for p in parts if p != "None"]
    if len(known) == 1 and known[0] in _SIMPLE:
        return _SIMPLE[known[0]], optional
    if known == ["float", "int"] or known == ["int", "float"]:
        return float, optional
    if not known and default is not None and default is not inspect.Parameter.empty:
        kind = type(default)
        if kind in (bool, int, float, str):
            return kind, optional
    return None, True


def _docstring_help(fn: Any) -> dict[str, str]:
    """First line of each parameter's description in a numpy-style docstring."""
    doc = inspect.getdoc(fn) or ""
    match = re.search(r"^Parameters\n-+\n(.*?)(?:\n\n[A-Z][a-z]+\n-+\n|\Z)", doc, flags=re.S | re.M)
    if not match:
        return {}
    texts: dict[str, list[str]] = {}
    current: list[str] = []
    for line in match.group(1).splitlines():
        if line and not line.startswith(" "):
            current = [n.strip() for n in line.split(":")[0].split(",")]
            continue
        for name in current:
            texts.setdefault(name, []).append(line.strip())
    helps: dict[str, str] = {}
    for name, lines in texts.items():
        text = " ".join(t for t in lines if t)
        sentence = re.split(r"(?<=[a-z0-9)])\. ", text, maxsplit=1)[0].rstrip(".")
        helps[name] = sentence
    return helps


#: Valid ranges of parameters by their conventional names, where no other range is declared.
CONVENTIONAL_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    **dict.fromkeys(("iters", "levels", "steps", "chains", "thin", "width", "depth", "samples", "batch_size",
                     "iters_per_band", "restarts", "members"), (1, None)),
    **dict.fromkeys(("lam", "tol", "noise", "sigma", "balance", "damp", "threshold", "burn_in", "seed",
                     "weight_decay", "clip", "l1", "l2", "ssim", "lr"), (0, None)),
    "dropout": (0, 1),
}


def parameters_of(fn: Callable, skip: tuple[str, ...] = (), bounds: dict[str, tuple] | None = None,
                  follow: tuple[Callable, ...] = ()) -> tuple[Parameter, ...]:
    """The keyword parameters of ``fn`` (a function or a class) as :class:`Parameter` s.

    Types come from annotations or defaults, help lines from the numpy-style docstring (of the
    function, or of the class for a class). Positional-only and ``*args``/``**kwargs``
    parameters are left out, as are the names in ``skip`` (those the caller supplies).

    Parameters
    ----------
    fn : callable
        Function or class.
    skip : tuple of str
        Names the registry entry fills itself (e.g. the problem's operator).
    bounds : dict, optional
        ``name -> (low, high)`` valid ranges (``None`` for an open end).
    follow : tuple of callables
        Further callables whose parameters are added when ``fn`` passes ``**kwargs`` on to them.
    """
    target = fn.__init__ if inspect.isclass(fn) else fn
    factories = {f.name: f.default_factory for f in dataclasses.fields(fn)
                 if f.default_factory is not dataclasses.MISSING} if dataclasses.is_dataclass(fn) else {}
    helps = {**_docstring_help(fn), **(_docstring_help(target) if target is not fn else {})}
    out: list[Parameter] = []
    seen = set(skip)
    passes_on = False
    for name, p in inspect.signature(target).parameters.items():
        if name in ("self", "cls") or p.kind is p.POSITIONAL_ONLY or p.kind is p.VAR_POSITIONAL:
            continue
        if p.kind is p.VAR_KEYWORD:
            passes_on = True
            continue
        if name in seen:
            continue
        seen.add(name)
        default = factories[name]() if name in factories else p.default
        kind, optional = _annotation_type(p.annotation, default)
        conventional = CONVENTIONAL_BOUNDS.get(name, (None, None)) if kind in (int, float) else (None, None)
        if conventional[0] == 1 and kind is not int:  # counts are whole numbers; a float "width" is not one
            conventional = (None, None)
        low, high = (bounds or {}).get(name, conventional)
        out.append(Parameter(name, kind, default, helps.get(name, ""), optional, low, high))
    if passes_on:
        for other in follow:
            out += [q for q in parameters_of(other, tuple(seen), bounds) if q.name not in seen]
            seen.update(q.name for q in out)
    return tuple(out)


@dataclass(frozen=True)
class Entry:
    """A registered object.

    Attributes
    ----------
    name : str
        Registry key (what users type).
    obj : object
        What is registered: a builder, a class or a function.
    description : str
        One line.
    parameters : tuple of Parameter
        Its keyword parameters.
    extras : dict
        Registry-specific fields (a problem's kind, a model's default loss, ...).
    module : str
        Module that registered it (a plugin's name for third-party entries).
    """

    name: str
    obj: Any
    description: str
    parameters: tuple[Parameter, ...] = ()
    extras: dict = field(default_factory=dict)
    module: str = ""

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def defaults(self) -> dict[str, Any]:
        """Parameter defaults by name (required ones left out)."""
        return {p.name: p.default for p in self.parameters if not p.required}


class Registry:
    """Named entries of one kind ("problem", "method", "model", "loss").

    Parameters
    ----------
    kind : str
        What the entries are, for messages.
    discover : callable, optional
        Imports the package's own modules that register entries; run once, on first use.
    noun : str
        What its entries' parameters are called in messages ("parameter", "option").
    """

    def __init__(self, kind: str, discover: Callable[[], None] | None = None, noun: str = "parameter") -> None:
        self.kind = kind
        self.noun = noun
        self._entries: dict[str, Entry] = {}
        self._discover = discover
        self._loaded = discover is None

    # -- adding ---------------------------------------------------------------------------
    def add(self, name: str, obj: Any, description: str, parameters: tuple[Parameter, ...] = (),
            **extras: Any) -> Entry:
        """Add an entry; a name taken by another object is refused."""
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
            raise InputError(f"{self.kind} name must be letters, digits, '-', '_' or '.', got {name!r}")
        module = getattr(obj, "__module__", "") or ""
        old = self._entries.get(name)
        if old is not None and (old.module, getattr(old.obj, "__qualname__", None)) != (
                module, getattr(obj, "__qualname__", None)):
            raise InputError(f"{self.kind} {name!r} is already registered by {old.module}: choose another name")
        entry = Entry(name, obj, description, tuple(parameters), dict(extras), module)
        self._entries[name] = entry
        return entry

    def register(self, name: str, description: str, parameters: tuple[Parameter, ...] | None = None,
                 **extras: Any) -> Callable[[Any], Any]:
        """Decorator form of :meth:`add`; parameters default to the object's signature."""

        def wrap(obj: Any) -> Any:
            self.add(name, obj, description, parameters if parameters is not None else parameters_of(obj), **extras)
            return obj

        return wrap

    # -- looking up -----------------------------------------------------------------------
    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            self._discover()
        load_plugins()

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        self._load()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        self._load()
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def get(self, name: str) -> Entry:
        """The entry called ``name``; InputError (one line, the valid names) if there is none."""
        self._load()
        if name in self._entries:
            return self._entries[name]
        import difflib

        close = difflib.get_close_matches(str(name), list(self._entries), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        failed = "".join(f"; plugin {p!r} failed to load ({why})" for p, why in _FAILED.items())
        raise InputError(f"unknown {self.kind} {name!r}: {hint}valid are {', '.join(sorted(self._entries))}{failed}")

    def options(self, name: str, values: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
        """``values`` checked against entry ``name``'s parameters and converted to their types.

        Raises
        ------
        InputError
            An unknown name, or a value of the wrong type or out of range.
        """
        return check_values(self.get(name).parameters, values, owner or f"{self.kind} {name!r}", self.noun)


def check_values(parameters: tuple[Parameter, ...], values: dict[str, Any], owner: str,
                 noun: str = "parameter") -> dict[str, Any]:
    """``values`` checked against ``parameters`` and converted to their types.

    Raises
    ------
    InputError
        One line: ``owner`` has no such ``noun`` (and the valid names), or a value is invalid.
    """
    by_name = {p.name: p for p in parameters}
    out = {}
    for key, value in values.items():
        if key not in by_name:
            valid = ", ".join(by_name) or "none"
            raise InputError(f"{owner} has no {noun} {key!r}: valid are {valid}")
        out[key] = by_name[key].coerce(value, owner)
    return out


# -- plugins ------------------------------------------------------------------------------------
_FAILED: dict[str, str] = {}
_PLUGINS_LOADED: list[bool] = []


def _plugin_sources() -> list[tuple[str, Callable[[], Any]]]:
    from importlib.metadata import entry_points

    sources: list[tuple[str, Callable[[], Any]]] = [(ep.name, ep.load) for ep in entry_points(group=PLUGIN_GROUP)]
    for name in filter(None, (n.strip() for n in os.environ.get(PLUGIN_ENV, "").split(","))):
        sources.append((name, lambda name=name: importlib.import_module(name)))
    return sources


def load_plugins() -> dict[str, str]:
    """Import the plugins (entry points of group ``inverselab.plugins`` and the modules named
    in ``INVERSELAB_PLUGINS``) once; returns the failed ones, name -> reason."""
    if _PLUGINS_LOADED:
        return dict(_FAILED)
    _PLUGINS_LOADED.append(True)
    for name, load in _plugin_sources():
        try:
            obj = load()
            if callable(obj) and not inspect.ismodule(obj):
                obj()
        except Exception as exc:  # a broken plugin must not break the other commands
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
            _FAILED[name] = reason
            print(f"inverselab: warning: plugin {name!r} failed to load ({reason}); its entries are unavailable",
                  file=sys.stderr)
    return dict(_FAILED)
