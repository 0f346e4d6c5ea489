"""Sphinx configuration of the anomvae documentation (``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))
# One torch thread: importing the package for autodoc should not fight the build.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import anomvae  # noqa: E402

project = "anomvae"
author = "the anomvae authors"
copyright = "the anomvae authors"  # no year: the build stays byte-stable
version = release = anomvae.__version__

# The public modules whose ``__all__`` the API reference lists, in this order.
# A new public module is one line here; its names follow its ``__all__``.
anomvae_api_modules = [
    "anomvae",
    "anomvae.calibration",
    "anomvae.thresholds",
    "anomvae.model_selection",
    "anomvae.scoring",
    "anomvae.losses",
    "anomvae.models",
    "anomvae.preprocessing",
    "anomvae.schema",
    "anomvae.persistence",
    "anomvae.decisions",
    "anomvae.monitoring",
    "anomvae.jobs",
    "anomvae.runtime",
    "anomvae.batch",
    "anomvae.io",
    "anomvae.distributed",
    "anomvae.onnx",
    "anomvae.pyod",
    "anomvae.plotting",
    "anomvae.datasets",
    "anomvae.exceptions",
]

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_nb",  # Markdown pages (MyST) and notebooks; includes myst_parser
    "anomvae_docs",  # generated API pages, notebooks and benchmark pages
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "_generated", "_screenshots", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# Warnings are errors (``-W`` in the Makefile) and every cross-reference must
# resolve. Names that belong to other projects are not linked (no intersphinx:
# the build runs offline), so they are listed here instead of failing the build.
nitpicky = True
_OTHER_PROJECTS = (
    "numpy|np|pandas|pd|torch|sklearn|scipy|pyarrow|pa|matplotlib|dask|distributed"
    "|pyod|onnx|onnxruntime|typer|rich|safetensors"
)
_STDLIB = (
    r"typing|collections\.abc|pathlib|os|io|concurrent\.futures|dataclasses|enum|abc"
)
nitpick_ignore_regex = [
    (r"py:.*", rf"({_OTHER_PROJECTS})(\..*)?"),
    (r"py:.*", rf"({_STDLIB})\..*"),
]

# -- MyST / myst-nb -----------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 4  # ``[text](page.md#a-heading)`` links resolve
nb_execution_mode = "off"  # notebooks are rendered from their committed outputs
nb_merge_streams = True

# -- autodoc / numpydoc -------------------------------------------------------
autosummary_generate = False  # anomvae_docs writes the pages from __all__
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_inherit_docstrings = True
toc_object_entries_show_parents = "hide"  # "On this page": fit(), not VAEDetector.fit()
numpydoc_show_class_members = False  # autodoc ``:members:`` lists them
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# -- HTML ---------------------------------------------------------------------
# Math as MathML, converted at build time by docutils (anomvae_docs): no MathJax
# from a CDN, so formulas render offline too.
html_math_renderer = "mathml"

html_theme = "pydata_sphinx_theme"
html_title = f"anomvae {release}"
html_static_path = ["_static"]
html_css_files = ["anomvae.css"]
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}

# Docstring bugs in anomvae/ that this build corrects until the source is fixed:
# (documented name, old text, new text), applied before numpydoc reads the
# docstring. Fix the docstring in anomvae/, then delete its entry: an entry whose
# old text no longer occurs fails a full build.
anomvae_docstring_patches: list[tuple[str, str, str]] = []
