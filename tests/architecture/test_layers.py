"""The package's layers: imports only go down, no module imports another in a cycle, and every
top-level module belongs to a layer (the import-linter contracts in pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest

importlinter = pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[2]


def _lint(config: Path) -> int:
    from importlinter.cli import lint_imports

    return lint_imports(config_filename=str(config), no_cache=True)


def test_import_contracts_are_kept():
    assert _lint(ROOT / "pyproject.toml") == 0


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The contract is not vacuous: a copy of the package in which problems import methods fails."""
    import shutil
    import sys

    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "inverselab", copy / "inverselab")
    base = copy / "inverselab" / "problems" / "base.py"
    base.write_text(base.read_text() + "\n\ndef _upward():\n    from ..methods import make_method  # noqa: F401\n")
    config = tmp_path / "pyproject.toml"
    config.write_text((ROOT / "pyproject.toml").read_text())
    sys.path.insert(0, str(copy))
    saved = {k: v for k, v in sys.modules.items() if k == "inverselab" or k.startswith("inverselab.")}
    for k in saved:
        del sys.modules[k]
    try:
        assert _lint(config) == 1
    finally:
        sys.path.remove(str(copy))
        for k in [k for k in sys.modules if k == "inverselab" or k.startswith("inverselab.")]:
            del sys.modules[k]
        sys.modules.update(saved)
