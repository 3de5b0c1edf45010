"""Sphinx configuration of the rkhsmtl documentation.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Only extensions shipped with Sphinx itself and numpydoc are used; nothing is fetched
from the network at build time (no intersphinx).
"""

import os
import sys

# The package is normally installed (``pip install -e ".[docs]"``); fall back to the
# source tree so that the docs also build from a plain clone.
sys.path.insert(0, os.path.abspath(".."))

import rkhsmtl  # noqa: E402

# -- Project information -----------------------------------------------------
project = "rkhsmtl"
author = "The rkhsmtl developers"
copyright = "The rkhsmtl developers"
version = rkhsmtl.__version__
release = rkhsmtl.__version__

# -- General configuration ---------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
language = "en"

# autosummary writes one page per documented object into docs/generated/
# (git-ignored; recreated at every build).
autosummary_generate = True
autosummary_imported_members = False

autodoc_typehints = "none"
autodoc_member_order = "bysource"

# numpydoc renders Parameters / Attributes / Returns sections; the member tables
# of classes come from our autosummary template instead.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False

# -- HTML output ---------------------------------------------------------------
html_theme = "alabaster"
html_title = f"rkhsmtl {release}"
html_theme_options = {
    "description": "Multi-task kernel learning, scikit-learn compatible",
    "fixed_sidebar": True,
}


# -- Members inherited from scikit-learn -----------------------------------------
# Estimators and task structures inherit get_params / set_params and the
# metadata-routing methods (set_fit_request, ...) from scikit-learn. Their
# docstrings refer to labels and glossary terms of scikit-learn's own
# documentation, which cannot be resolved here (no intersphinx), so only members
# defined in rkhsmtl are documented; scikit-learn documents the others.
def _skip_foreign_members(app, what, name, obj, skip, options):
    if what != "class":
        return None
    module = getattr(obj, "__module__", None)
    if module is None:
        fget = getattr(obj, "fget", None)  # properties
        module = getattr(fget, "__module__", None)
    if module is not None and not module.startswith("rkhsmtl"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
