"""Students' Markdown, made safe to show to an instructor (an nbgrader autograde preprocessor).

Formgrader and the feedback pages render the autograded notebook as HTML inside the instructor's
logged-in Jupyter. `c.HTMLExporter.sanitize_html = True` cleans outputs there, but Formgrader's
own template renders Markdown cells unsanitised, so a written answer holding
``<img src=x onerror=...>`` would run script with the instructor's rights. After nbgrader has
scored the notebook, this step replaces each Markdown cell by its rendering, cleaned with
bleach: tags and attributes outside a short safe list are shown as text, and links other than
http(s) and mailto lose their target; text, emphasis, lists, code, tables, images, links and
maths stay.
"""

from __future__ import annotations

import bleach
from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

# What Markdown renders to, minus anything that runs something or frames a page (script, style,
# iframe, object, form, event handlers). Images stay (the notebooks' Colab badge is one), with
# an http(s) or relative source only.
SAFE_TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "b", "i", "del",
             "sub", "sup", "code", "pre", "blockquote", "ul", "ol", "li", "a", "span", "div",
             "table", "thead", "tbody", "tr", "th", "td", "img"}
SAFE_ATTRIBUTES = {"a": ["href", "title"], "img": ["src", "alt"], "*": ["class"]}
SAFE_PROTOCOLS = {"http", "https", "mailto"}


def safe_markdown(source: str) -> str:
    """Markdown ``source`` rendered to HTML and cleaned: what Formgrader may show as it is."""
    return bleach.clean(markdown2html_mistune(source), tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES,
                        protocols=SAFE_PROTOCOLS)


class SanitizeMarkdown(NbGraderPreprocessor):
    """Replace every Markdown cell by its cleaned rendering (after grading).

    Locked cells too: a student can write ``"locked": true`` into the metadata of a cell they
    added, and nbgrader restores only the cells the lab itself has.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict,
                   ) -> tuple[NotebookNode, ResourcesDict]:
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = safe_markdown(cell.source)
        return nb, resources


def autograde_preprocessors() -> list[type]:
    """nbgrader's autograde steps, with the output size limit, then `SanitizeMarkdown` last."""
    from cnnkit.course.output_limit import with_output_size_limit

    return [*with_output_size_limit(), SanitizeMarkdown]
