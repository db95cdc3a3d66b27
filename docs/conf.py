"""Sphinx configuration of the inverselab documentation (built by ``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Progress bars would fill the examples' output; tqdm reads this when it is first imported.
os.environ.setdefault("TQDM_DISABLE", "1")

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import api_pages

import inverselab

project = "inverselab"
author = "the inverselab developers"
copyright = "the inverselab developers, BSD-3-Clause"
release = version = inverselab.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax copied into the build: math renders without a network
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "api_links",
    "benchmark_tables",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples", "_intersphinx", "**/*.inc", "auto_examples/*.ipynb"]
templates_path = ["_templates"]
# MyST's heading-level notes (docs/mutation.md) are not errors.
suppress_warnings = ["myst.header"]

# -- API reference -----------------------------------------------------------------------------
api_pages.write_pages(DOCS / "api" / "generated")

autosummary_generate = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_inherit_docstrings = False
autodoc_default_options = {"exclude-members": "__init__, forward, extra_repr"}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", str(DOCS / "_intersphinx" / "python.inv")),
    "scipy": ("https://docs.scipy.org/doc/scipy", str(DOCS / "_intersphinx" / "scipy.inv")),
}
intersphinx_timeout = 1

# -- Gallery -----------------------------------------------------------------------------------
# INVERSELAB_DOCS_GALLERY=0 builds the pages without running the examples (a quick check of
# the text and the API reference); `make docs` runs them.
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "plot_gallery": "False" if os.environ.get("INVERSELAB_DOCS_GALLERY") == "0" else "True",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 0,
    "show_memory": False,
    "reference_url": {"inverselab": None},
    "matplotlib_animations": False,
    "capture_repr": (),
    "reset_modules": ("matplotlib", "gallery_setup.one_thread"),
}

# -- HTML --------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"inverselab {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 7,
}
html_sidebars = {"index": []}


# -- Optional pages ----------------------------------------------------------------------------
# The guide to mutation testing (docs/mutation.md) joins the contributor pages when it exists,
# so the site also builds in a checkout without it.
OPTIONAL_PAGES = {"development": ["mutation"]}


def _link_optional_pages(app, docname: str, source: list[str]) -> None:
    present = [p for p in OPTIONAL_PAGES.get(docname, ()) if (DOCS / f"{p}.md").exists()]
    if present:
        source[0] += "\n.. toctree::\n   :maxdepth: 1\n\n" + "".join(f"   {p}\n" for p in present)


def setup(app) -> None:
    app.connect("source-read", _link_optional_pages)
