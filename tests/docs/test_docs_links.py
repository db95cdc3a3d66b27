"""Internal links of the documentation resolve; nothing here touches the network.

The sources are checked always: toctree entries, ``:doc:`` and ``:ref:`` targets, images and
includes of the ``.rst`` pages, and the relative links of README.md. When a built site newer
than the sources exists, every relative ``href`` and ``src`` of every HTML page must name an
existing file, and every ``#fragment`` an ``id`` in it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from docs_helpers import DOCS, HTML, ROOT, fresh_build

GENERATED = {"auto_examples/index"} | {f"auto_examples/{p.stem}" for p in (DOCS / "examples").glob("plot_*.py")}
DOC = re.compile(r":doc:`(?:[^`<]*<)?([^`>]+)>?`")
REF = re.compile(r":ref:`(?:[^`<]*<)?([^`>]+)>?`")
LABEL = re.compile(r"^\.\. _([^:]+):$", re.MULTILINE)
IMAGE = re.compile(r"^\s*\.\. (?:image|figure|include):: (\S+)$", re.MULTILINE)
TOCTREE = re.compile(r"^\.\. toctree::\n((?:(?:   .*)?\n)+)", re.MULTILINE)


def sources() -> dict[str, Path]:
    """Document name to file, for the hand-written pages and the API pages as generated."""
    outputs = {"_build", "auto_examples", "generated", "examples", "sg_execution_times.rst"}
    return {str(p.relative_to(DOCS).with_suffix("")): p for p in [*DOCS.rglob("*.rst"), *DOCS.rglob("*.md")]
            if not outputs & set(p.relative_to(DOCS).parts)}


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> dict[str, Path]:
    import api_pages

    out = tmp_path_factory.mktemp("generated")
    api_pages.write_pages(out)
    pages = {f"api/generated/{p.stem}": p for p in out.glob("*.rst")}
    return pages | {"api/generated/toctree.inc": out / "toctree.inc"}


def exists(name: str, known: set[str]) -> bool:
    return name in known or name in GENERATED


def resolve(docname: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    base = Path(docname).parent
    parts = []
    for part in (base / target).as_posix().split("/"):
        if part == "..":
            if not parts:
                return ""  # above the documentation root: not a document
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def test_toctrees_doc_links_and_refs_resolve(api):
    pages = sources() | {k: v for k, v in api.items() if v.suffix == ".rst"}
    known = set(pages)
    labels = {m for p in pages.values() for m in LABEL.findall(p.read_text())}
    labels |= {f"sphx_glr_auto_examples_{p.name}" for p in (DOCS / "examples").glob("plot_*.py")}
    broken = []
    for name, path in pages.items():
        text = path.read_text()
        for block in TOCTREE.findall(text):
            for entry in block.splitlines():
                entry = entry.strip()
                if entry and not entry.startswith(":") and not exists(resolve(name, entry), known):
                    broken.append(f"{name}: toctree entry {entry}")
        for target in DOC.findall(text):
            if not exists(resolve(name, target), known):
                broken.append(f"{name}: :doc:`{target}`")
        for target in REF.findall(text):
            if target not in labels:
                broken.append(f"{name}: :ref:`{target}`")
    assert not broken, f"broken links: {broken}"


def test_images_and_includes_exist(api):
    broken = []
    for name, path in sources().items():
        for target in IMAGE.findall(path.read_text()):
            if not ((path.parent / target).exists() or resolve(name, target) in api):
                broken.append(f"{name}: {target}")
    assert not broken, f"missing images or includes: {broken}"


def test_readme_links_resolve():
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)]+)\)", text) + re.findall(r"^\[[^\]]+\]: (\S+)$", text, flags=re.MULTILINE)
    broken = [t for t in targets if not t.startswith(("http://", "https://", "#"))
              and not (ROOT / t.split("#")[0]).exists()]
    assert targets and not broken, f"README links to missing files: {broken}"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("href", "src") and value:
                self.links.append(value)
            elif key in ("id", "name") and value:
                self.ids.add(value)


@pytest.mark.skipif(not fresh_build(), reason="no built site newer than the sources (make docs)")
def test_built_pages_link_only_to_what_exists():
    parsed: dict[Path, _Links] = {}

    def parse(path: Path) -> _Links:
        if path not in parsed:
            parser = _Links()
            parser.feed(path.read_text(errors="replace"))
            parsed[path] = parser
        return parsed[path]

    broken = []
    for page in HTML.rglob("*.html"):
        if "_static" in page.parts or "_sources" in page.parts:
            continue
        for link in parse(page).links:
            url = urlsplit(link)
            if url.scheme or url.netloc or link.startswith(("mailto:", "javascript:", "data:")):
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if not target.exists():
                broken.append(f"{page.relative_to(HTML)} -> {link}")
            elif url.fragment and target.suffix == ".html" and unquote(url.fragment) not in parse(target).ids:
                broken.append(f"{page.relative_to(HTML)} -> {link} (no such anchor)")
    assert not broken, f"{len(broken)} broken links, e.g. {broken[:20]}"
