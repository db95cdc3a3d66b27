"""API reference pages written from the package's ``__all__`` lists.

Every public module (no component starting with an underscore) gets one page. Each object is
documented in full once, at its *canonical* name: the shortest public path that exports it
(``inverselab.operators.Blur`` rather than ``inverselab.operators.imaging.Blur``). Every other
module that lists the object in its ``__all__`` shows it in a summary table that links there.
Modules without ``__all__`` get their docstring and nothing else.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

PACKAGE = "inverselab"
SKIPPED = {"inverselab.__main__"}


@dataclass
class ModuleEntry:
    """One public module: its names, and which of them it documents in full."""

    name: str
    module: ModuleType
    exports: list[str] = field(default_factory=list)
    documented: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)


def public_modules(package: str = PACKAGE) -> list[ModuleType]:
    """The package and every submodule whose dotted name has no private component."""
    root = importlib.import_module(package)
    modules = [root]
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        parts = info.name.split(".")[1:]
        if info.name in SKIPPED or any(p.startswith("_") for p in parts):
            continue
        modules.append(importlib.import_module(info.name))
    return sorted(modules, key=lambda m: m.__name__)


def _key(obj, name: str) -> tuple[int, str]:
    # by identity and name: equal constants under different names stay apart
    return id(obj), name


def canonical_names(modules: list[ModuleType]) -> dict[tuple[int, str], str]:
    """Map each exported object (by identity and name) to the dotted name it is documented under."""
    candidates: dict[tuple[int, str], list[tuple[int, int, str]]] = {}
    for module in modules:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.ismodule(obj):
                continue
            home = getattr(obj, "__module__", None) == module.__name__
            rank = (module.__name__.count("."), 0 if home else 1, f"{module.__name__}.{name}")
            candidates.setdefault(_key(obj, name), []).append(rank)
    return {key: min(ranks)[2] for key, ranks in candidates.items()}


def collect(package: str = PACKAGE) -> tuple[list[ModuleEntry], dict[tuple[int, str], str]]:
    """The public modules with their exports, and the canonical name of every object."""
    modules = public_modules(package)
    canonical = canonical_names(modules)
    names = [m.__name__ for m in modules]
    entries = []
    for module in modules:
        entry = ModuleEntry(module.__name__, module)
        if module.__name__ != package and hasattr(module, "__path__"):
            prefix = module.__name__ + "."
            entry.children = [n for n in names if n.startswith(prefix) and "." not in n[len(prefix):]]
        for name in getattr(module, "__all__", ()):
            entry.exports.append(name)
            obj = getattr(module, name)
            if not inspect.ismodule(obj) and canonical[_key(obj, name)] == f"{module.__name__}.{name}":
                entry.documented.append(name)
        entries.append(entry)
    return entries, canonical


_BARS = re.compile(r"(?<![\\|`\w])\|(\w+)\|(?![_\w])")


def escape_bars(text: str) -> str:
    """``|x|`` in prose is an absolute value, not a substitution reference."""
    return _BARS.sub(r"\\|\1\\|", text)


def own_doc(obj) -> str:
    """The object's docstring, or "" where it only has its type's (a dict, a number)."""
    doc = getattr(obj, "__doc__", None)
    plain_value = not inspect.ismodule(obj) and not inspect.isclass(obj) and not callable(obj)
    if plain_value and doc == type(obj).__doc__:
        return ""
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def summary(obj) -> str:
    """The first paragraph of the docstring on one line (markup stays balanced there)."""
    text = " ".join(own_doc(obj).split("\n\n")[0].split())
    return text if ":math:" in text else escape_bars(text)


def _directive(obj) -> str:
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return "autoexception"
        return "autoclass"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj) or inspect.ismethod(obj):
        return "autofunction"
    if callable(obj) and hasattr(obj, "__wrapped__"):
        return "autofunction"
    return "autodata"


def page_for(entry: ModuleEntry, canonical: dict[tuple[int, str], str]) -> str:
    """The reStructuredText of one module's page."""
    title = f"``{entry.name}``"
    lines = [f".. _api-{entry.name}:", "", title, "=" * len(title), ""]
    lines += [f".. automodule:: {entry.name}", "   :no-members:"]
    if entry.name in canonical.values():
        lines.append("   :no-index:")  # an exported object has the same dotted name
    lines += ["", f".. currentmodule:: {entry.name}", ""]
    submodules = [n for n in entry.exports if inspect.ismodule(getattr(entry.module, n))]
    objects = [n for n in entry.exports if n not in submodules]
    listed = sorted({getattr(entry.module, n).__name__ for n in submodules} | set(entry.children))
    if listed:
        lines += ["Submodules", "----------", ""]
        for target in listed:
            text = summary(importlib.import_module(target))
            lines.append(f"- :ref:`{target} <api-{target}>`" + (f" -- {text}" if text else ""))
        lines.append("")
    if objects:
        lines += ["Summary", "-------", "", ".. list-table::", "   :class: api-summary", "   :widths: 30 70", ""]
        for name in objects:
            obj = getattr(entry.module, name)
            target = canonical[_key(obj, name)]
            lines += [f"   * - :py:obj:`{name} <{target}>`", f"     - {summary(obj) or '--'}"]
        lines.append("")
    children = [c for c in entry.children]
    if children:
        lines += [".. toctree::", "   :hidden:", ""] + [f"   {c}" for c in children] + [""]
    if entry.documented:
        lines += ["Reference", "---------", ""]
        for name in entry.documented:
            obj = getattr(entry.module, name)
            directive = _directive(obj)
            lines.append(f".. {directive}:: {name}")
            if directive in ("autoclass", "autoexception"):
                lines += ["   :members:", "   :show-inheritance:"]
            elif directive == "autodata":
                lines.append("   :no-value:")
            lines.append("")
    return "\n".join(lines) + "\n"


def write_pages(out: Path, package: str = PACKAGE) -> list[str]:
    """Write one page per public module into ``out`` and return the module names.

    Files are rewritten only when their text changes, so Sphinx's incremental builds stay
    incremental.
    """
    entries, canonical = collect(package)
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for entry in entries:
        path = out / f"{entry.name}.rst"
        text = page_for(entry, canonical)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        names.append(entry.name)
    stale = {p.stem for p in out.glob("*.rst")} - set(names)
    for name in stale:
        (out / f"{name}.rst").unlink()
    top = [n for n in names if n.count(".") == 1]
    toc = ".. toctree::\n   :maxdepth: 1\n\n" + "".join(f"   generated/{n}\n" for n in [package, *top])
    index = out / "toctree.inc"
    if not index.exists() or index.read_text() != toc:
        index.write_text(toc)
    return names


def alias_map(package: str = PACKAGE) -> dict[str, str]:
    """Every dotted path an object is reachable by (its ``__module__`` or any ``__all__``) to
    its canonical name, for resolving cross-references written against another path."""
    entries, canonical = collect(package)
    aliases: dict[str, str] = {}
    for entry in entries:
        for name in entry.exports:
            obj = getattr(entry.module, name)
            if inspect.ismodule(obj):
                continue
            target = canonical[_key(obj, name)]
            aliases[f"{entry.name}.{name}"] = target
            home = getattr(obj, "__module__", None)
            qualname = getattr(obj, "__qualname__", None)
            if home and qualname:
                aliases.setdefault(f"{home}.{qualname}", target)
    return {k: v for k, v in aliases.items() if k != v}
