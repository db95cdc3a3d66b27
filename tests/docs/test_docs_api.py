"""Every name in every public module's ``__all__`` is in the API reference.

The reference pages are written from the package by ``docs/_ext/api_pages.py`` when the site
is built. These tests write them into a temporary folder (fast, no Sphinx run) and read them
back: each public module has a page, each name of its ``__all__`` is on it, and each name is
documented in full (an ``auto*`` directive, which renders its docstring) on exactly one page.
When a built site newer than the sources exists, its inventory must hold every one of those
documented names too.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest
from docs_helpers import HTML, fresh_build

import inverselab

AUTO = re.compile(r"^\.\. auto(?:class|function|data|exception):: (\S+)$", re.MULTILINE)
ROW = re.compile(r":py:obj:`(\S+) <(\S+)>`")
CURRENT = re.compile(r"^\.\. currentmodule:: (\S+)$", re.MULTILINE)


def public_modules() -> list:
    modules = [inverselab]
    for info in pkgutil.walk_packages(inverselab.__path__, "inverselab."):
        if info.name == "inverselab.__main__" or any(p.startswith("_") for p in info.name.split(".")[1:]):
            continue
        modules.append(importlib.import_module(info.name))
    return modules


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, str]:
    import api_pages

    out = tmp_path_factory.mktemp("api")
    api_pages.write_pages(out)
    return {p.stem: p.read_text() for p in out.glob("*.rst")}


def documented(pages: dict[str, str]) -> list[str]:
    """Dotted names documented in full (with their docstrings), over all pages."""
    names = []
    for text in pages.values():
        module = CURRENT.search(text).group(1)
        names += [f"{module}.{name}" for name in AUTO.findall(text)]
    return names


def test_every_public_module_has_a_page(pages):
    missing = [m.__name__ for m in public_modules() if m.__name__ not in pages]
    assert not missing, f"modules without an API page: {missing}"


def test_every_name_in_all_is_on_its_module_page(pages):
    missing = []
    for module in public_modules():
        text = pages.get(module.__name__, "")
        listed = set(AUTO.findall(text)) | {name for name, _ in ROW.findall(text)}
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if hasattr(value, "__path__") or type(value).__name__ == "module":
                if f"<api-{value.__name__}>" not in text:
                    missing.append(f"{module.__name__}.{name}")
            elif name not in listed:
                missing.append(f"{module.__name__}.{name}")
    assert not missing, f"names of __all__ missing from the API reference: {missing}"


def test_every_listed_name_links_to_a_full_entry(pages):
    full = set(documented(pages))
    dangling = sorted({target for text in pages.values() for _, target in ROW.findall(text)} - full)
    assert not dangling, f"summary rows pointing to no documented object: {dangling}"


def test_each_object_is_documented_once(pages):
    names = documented(pages)
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not twice, f"documented on more than one page: {twice}"


@pytest.mark.skipif(not fresh_build(), reason="no built site newer than the sources (make docs)")
def test_the_built_reference_holds_every_documented_name(pages):
    from sphinx.util.inventory import InventoryFile

    with open(HTML / "objects.inv", "rb") as fh:
        inventory = InventoryFile.load(fh, "", lambda base, uri: uri)
    built = {name for kind, entries in inventory.items() if kind.startswith("py:") for name in entries}
    missing = sorted(set(documented(pages)) - built)
    assert not missing, f"names missing from the built API reference: {missing}"
