"""Shared paths of the documentation tests; the docs' own extensions are importable."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HTML = DOCS / "_build" / "html"
sys.path.insert(0, str(DOCS / "_ext"))


def fresh_build() -> bool:
    """A built site that is newer than every source it was built from (package and docs)."""
    stamp = HTML / "objects.inv"
    if not stamp.exists():
        return False
    built = stamp.stat().st_mtime
    outputs = {"_build", "generated", "auto_examples"}
    sources = [*(ROOT / "src" / "inverselab").rglob("*.py"), *DOCS.glob("**/*.rst"), *DOCS.glob("examples/*.py")]
    kept = [p for p in sources if not outputs & set(p.relative_to(ROOT).parts) and p.name != "sg_execution_times.rst"]
    return all(p.stat().st_mtime <= built for p in kept)
