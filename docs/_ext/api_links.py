"""Resolve references written against a defining module to the canonical API name.

The reference documents ``inverselab.operators.imaging.Blur`` once, as
``inverselab.operators.Blur``; signatures, type hints and summary tables that name the defining
module are pointed at that entry instead of being left without a link.
"""

from __future__ import annotations

import api_pages
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx


def _resolve(app: Sphinx, env, node: pending_xref, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    canonical = app.env.inverselab_aliases.get(target)
    if canonical is None:
        return None
    domain = env.get_domain("py")
    node = node.deepcopy()
    node["reftarget"] = canonical
    return domain.resolve_xref(env, node.get("refdoc"), app.builder, node["reftype"], canonical,
                               node, contnode)


def _docstring(app: Sphinx, what: str, name: str, obj, options, lines: list[str]) -> None:
    """Drop a data object's inherited type docstring; keep ``|x|`` (an absolute value written
    in prose, outside math) literal instead of reading it as a substitution."""
    if what in ("data", "attribute") and not api_pages.own_doc(obj):
        lines.clear()
        return
    math_indent = None
    for i, line in enumerate(lines):
        indent = len(line) - len(line.lstrip())
        if math_indent is not None and (not line.strip() or indent > math_indent):
            continue
        math_indent = indent if line.lstrip().startswith(".. math::") else None
        if "|" in line and ":math:" not in line and math_indent is None:
            lines[i] = api_pages.escape_bars(line)


def _load(app: Sphinx, env, docnames) -> None:
    env.inverselab_aliases = api_pages.alias_map()


def setup(app: Sphinx) -> dict:
    app.connect("env-before-read-docs", _load)
    app.connect("missing-reference", _resolve)
    app.connect("autodoc-process-docstring", _docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
