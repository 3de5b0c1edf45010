"""Render the documentation's mathematics as MathML while the HTML is built.

Sphinx's default renderer, MathJax, is JavaScript fetched from a CDN by the
reader's browser: offline (air-gapped clusters, a laptop on a train) every formula
shows as raw LaTeX. MathML is rendered by the browser itself (all current
browsers implement MathML Core), so the pages need nothing at reading time. The
conversion is docutils' own LaTeX-to-MathML translator, already installed with
Sphinx; a formula it cannot translate is a build warning (an error under ``-W``),
never a silently raw formula.
"""

from __future__ import annotations

import re

from docutils import nodes
from docutils.utils.math import MathError
from docutils.utils.math.latex2mathml import tex2mathml
from sphinx.locale import _
from sphinx.util import logging
from sphinx.util.math import get_node_equation_number

logger = logging.getLogger(__name__)

# LaTeX that MathJax reads and docutils' translator does not (docutils 0.22), put in
# the forms docutils knows: ``\dots``, ``\tfrac12``-style unbraced fractions, and
# bare ``\big``-sized delimiters, which docutils only knows as opening (``\bigl``)
# or closing (``\bigr``) ones.
_SPELLINGS = (
    (re.compile(r"\\dots(?![a-zA-Z])"), r"\\ldots"),
    (re.compile(r"\\([dt]?frac)\s*(\w)\s*(\w)"), r"\\\1{\2}{\3}"),
)
_SIZED = re.compile(r"\\(big|Big|bigg|Bigg)(?![a-zA-Z])\s*"
                    r"(\\langle|\\rangle|\\lvert|\\rvert|\\lVert|\\rVert|\\[{}|]|[()\[\]|.])")
_OPENS = {"(", "[", "\\{", "\\langle", "\\lvert", "\\lVert"}
_CLOSES = {")", "]", "\\}", "\\rangle", "\\rvert", "\\rVert"}


def _docutils_spelling(latex):
    for pattern, replacement in _SPELLINGS:
        latex = pattern.sub(replacement, latex)
    # A symmetric delimiter (| or \|) opens at its first use and closes at the next.
    open_symmetric = set()

    def side(match):
        size, delimiter = match.groups()
        if delimiter in _OPENS:
            return f"\\{size}l{delimiter}"
        if delimiter in _CLOSES:
            return f"\\{size}r{delimiter}"
        if delimiter in open_symmetric:
            open_symmetric.discard(delimiter)
            return f"\\{size}r{delimiter}"
        open_symmetric.add(delimiter)
        return f"\\{size}l{delimiter}"

    return _SIZED.sub(side, latex)


#: Browsers size MathML from the surrounding text; a touch larger reads better
#: beside the theme's body font, and wide displays scroll instead of overflowing.
CSS = """\
math { font-size: 1.05em; }
div.math { overflow-x: auto; overflow-y: hidden; }
div.math > span.eqno { float: right; }
"""


def _convert(self, node, latex, as_block):
    try:
        return tex2mathml(_docutils_spelling(latex), as_block=as_block)
    except MathError as error:
        logger.warning("cannot render this formula as MathML (%s): %s", error, latex,
                       location=node, type="math", subtype="mathml")
        return self.encode(latex)


def visit_inline(self, node):
    self.body.append(self.starttag(node, "span", "", CLASS="math notranslate"))
    self.body.append(_convert(self, node, node.astext(), as_block=False))
    self.body.append("</span>")
    raise nodes.SkipNode


def visit_block(self, node):
    self.body.append(self.starttag(node, "div", CLASS="math notranslate"))
    if node["number"]:
        number = get_node_equation_number(self, node)
        self.body.append(f'<span class="eqno">({number})')
        self.add_permalink_ref(node, _("Link to this equation"))
        self.body.append("</span>")
    # Sphinx separates several equations of one directive by blank lines; each is
    # its own display, like MathJax's aligned rendering of the same source.
    for part in (p for p in node.astext().split("\n\n") if p.strip()):
        self.body.append(_convert(self, node, part, as_block=True))
    self.body.append("</div>\n")
    raise nodes.SkipNode


def _add_css(app):
    app.add_css_file("mathml_math.css")


def _write_css(app, exception):
    if exception is None and app.builder.format == "html":
        import os

        static = os.path.join(app.builder.outdir, "_static")
        os.makedirs(static, exist_ok=True)
        with open(os.path.join(static, "mathml_math.css"), "w", encoding="utf-8") as f:
            f.write(CSS)


def setup(app):
    app.add_html_math_renderer("mathml", inline_renderers=(visit_inline, None),
                               block_renderers=(visit_block, None))
    app.connect("builder-inited", _add_css)
    app.connect("build-finished", _write_css)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
