"""Sphinx configuration of the rkhsmtl documentation.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Only extensions shipped with Sphinx itself, numpydoc, sphinx-gallery and our own
``_ext/mathml_math.py`` are used; nothing is fetched from the network at build time
(no intersphinx), and nothing at reading time either: the mathematics is written
into the pages as MathML, which browsers render without JavaScript or a CDN.

The scripts in ``examples/`` are run by sphinx-gallery during the build, on their
small data (``RKHSMTL_EXAMPLE_SMALL=1``) so that the whole build takes a few minutes;
an example that raises fails the build.
"""

import os
import sys

# The examples run in small mode (set before anything imports them) and draw with
# the non-interactive Agg backend.
os.environ.setdefault("RKHSMTL_EXAMPLE_SMALL", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# Their problems are small: one BLAS thread is as fast, and it avoids the
# slow-down of spinning BLAS threads on a busy machine (set before NumPy loads).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# The package is normally installed (``pip install -e ".[docs]"``); fall back to the
# source tree so that the docs also build from a plain clone.
sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))

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
    "mathml_math",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

# Formulas become MathML at build time (see _ext/mathml_math.py), not MathJax.
html_math_renderer = "mathml"

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

# -- Gallery of examples (sphinx-gallery) ----------------------------------------
# examples/*.py become docs/auto_examples/ (git-ignored; recreated at every build):
# every script is executed (in small mode, see above), its printed output and its
# matplotlib figures are rendered below the code cell that produced them.
from sphinx_gallery.sorting import ExplicitOrder  # noqa: E402

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Execute every example, not only the plot_*.py ones.
    "filename_pattern": r"\.py$",
    # From the data and the fixed structures to the learned ones, then the
    # tasks themselves (relations, new tasks, auxiliary tasks), the School
    # protocol, the classifier, distribution matching, the linear models and the
    # batch runner;
    # an example not listed comes last.
    "within_subsection_order": ExplicitOrder([
        "plot_datasets.py",
        "plot_task_structures.py",
        "solvers_and_memory.py",
        "plot_learned_structure.py",
        "plot_task_relations.py",
        "plot_new_tasks.py",
        "plot_auxiliary_tasks.py",
        "school_protocol.py",
        "digits_related_tasks.py",
        "distribution_matching.py",
        "linear_models.py",
        "school_experiment.py",
        "*",
    ]),
    # A broken example fails the build (and CI), instead of a warning.
    "abort_on_example_error": True,
    "image_scrapers": ("matplotlib",),
    # The examples print what they want shown; the value of a cell's last
    # expression (an Axes, a Legend, ...) is not rendered.
    "capture_repr": (),
    "download_all_examples": False,
    "remove_config_comments": True,
    # No page of timings (sg_execution_times.rst); an example page states its
    # running time when it exceeds 5 s.
    "write_computation_times": False,
    "min_reported_time": 5,
}

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
