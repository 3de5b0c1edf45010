"""The documentation's formulas are written as MathML at build time (offline pages)."""

import pathlib
import sys

import pytest

pytest.importorskip("sphinx")
DOCS = pathlib.Path(__file__).parents[1] / "docs"
sys.path.insert(0, str(DOCS / "_ext"))
mathml_math = pytest.importorskip("mathml_math")

from docutils.utils.math import MathError  # noqa: E402
from docutils.utils.math.latex2mathml import tex2mathml  # noqa: E402


@pytest.mark.parametrize("latex, spelled", [
    (r"w_1, \dots, w_T", r"w_1, \ldots, w_T"),
    (r"\tfrac12 \|x\|^2", r"\tfrac{1}{2} \|x\|^2"),
    (r"\log\big(1 + e^{-y}\big)", r"\log\bigl(1 + e^{-y}\bigr)"),
    (r"\Big\| x \Big\|", r"\Bigl\| x \Bigr\|"),
    (r"\bigl( x \bigr)", r"\bigl( x \bigr)"),
])
def test_mathjax_spellings_become_docutils_spellings(latex, spelled):
    assert mathml_math._docutils_spelling(latex) == spelled
    assert "<math" in tex2mathml(spelled)


def test_the_spellings_are_needed():
    # If docutils learns these commands the rewriting can go.
    for latex in (r"\dots", r"\big( x \big)"):
        with pytest.raises(MathError):
            tex2mathml(latex)


def test_docs_use_the_mathml_renderer_and_no_cdn():
    conf = (DOCS / "conf.py").read_text()
    assert 'html_math_renderer = "mathml"' in conf
    assert "sphinx.ext.mathjax" not in conf
