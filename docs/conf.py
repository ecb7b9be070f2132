"""Sphinx configuration: build with ``sphinx-build -W --keep-going -n -b html docs build/docs`` (offline)."""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]  # the checkout's package, then the local extension

project = "lightning_robattr"
author = "lightning_robattr contributors"
copyright = "lightning_robattr contributors, MIT licence"
from lightning_robattr import __version__ as release  # noqa: E402

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # Google-style "Args:", "Returns:", "Example:" sections
    "myst_parser",  # the pages are Markdown
    "public_api",  # cross-references through the public import paths; every __all__ name documented
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
nitpicky = True  # every cross-reference must resolve (also without -n)

myst_heading_anchors = 3  # [text](page.md#a-heading) links, checked at build time

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"  # keyword-only hyperparameters read better as a list than in one long signature
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False  # Lightning's hook docstrings are not this project's API
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# third-party types: no inventories are fetched (the build is offline), so their names stay plain text
nitpick_ignore_regex = [
    (r"py:.*", r"(torch|torchvision|pytorch_lightning|lightning|lightning_fabric|torchmetrics|numpy|np|jsonargparse|PIL|tqdm)(\..*)?"),
    (r"py:.*", r"(collections\.abc|pathlib|contextlib|abc)\..*"),
]

html_theme = "furo"
html_title = f"lightning_robattr {release}"
html_static_path = ["_static"]
html_css_files = ["wide_tables.css"]
