"""`cnnkit.course.safe_html`: what a student writes cannot run script where an instructor reads it."""

from __future__ import annotations

from html.parser import HTMLParser

import nbformat

from cnnkit.course.safe_html import SanitizeMarkdown, autograde_preprocessors, safe_markdown

ATTACKS = ['<img src="x" onerror="alert(1)">', '<img src="javascript:alert(6)">',
           '<img src="data:image/svg+xml,<svg onload=alert(7)>">', "<script>alert(2)</script>",
           '<iframe src="https://example.org"></iframe>', '<a href="javascript:alert(3)">x</a>',
           "[click](javascript:alert(4))", '<div onmouseover="alert(5)">hover</div>']


class _Elements(HTMLParser):
    """The tags and attributes a browser would build from some HTML."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def test_scripts_and_handlers_are_shown_as_text_or_dropped():
    """Parsed as a browser would: no script or iframe element, no on* handler, no javascript:
    link or image source is left; the answer's text is still there for the instructor to read."""
    for attack in ATTACKS:
        html = safe_markdown(f"My answer.\n\n{attack}\n")
        elements = _Elements(html).found
        assert not [tag for tag, _ in elements if tag in ("script", "iframe")], html
        assert not [name for _, attrs in elements for name in attrs if name.startswith("on")], html
        assert not [attrs for _, attrs in elements
                    if (attrs.get("href") or attrs.get("src") or "").strip().lower()
                    .startswith(("javascript", "data"))], html
        assert "My answer." in html


def test_an_ordinary_answer_keeps_its_formatting_and_maths():
    html = safe_markdown("**Pooling** keeps the *largest* value:\n\n- a < b\n- $\\max_{i} x_i$\n\n"
                         "> quoted\n\n[paper](https://arxiv.org/abs/1512.03385) "
                         "![badge](https://colab.research.google.com/assets/colab-badge.svg)")
    for kept in ("<strong>Pooling</strong>", "<em>largest</em>", "<li>a &lt; b</li>",
                 "$\\max_{i} x_i$", "<blockquote>", 'href="https://arxiv.org/abs/1512.03385"',
                 'src="https://colab.research.google.com/assets/colab-badge.svg"'):
        assert kept in html, (kept, html)


def test_every_markdown_cell_is_cleaned_even_one_that_claims_to_be_locked_and_after_scoring():
    """A cell the student added with forged `"locked": true` metadata is cleaned like any other;
    the lab's own text keeps its words and formatting; code cells are left alone."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("Locked *instructions*", metadata={"nbgrader": {"locked": True}}),
        nbformat.v4.new_markdown_cell("<script>x()</script>", metadata={"nbgrader": {"locked": False}}),
        nbformat.v4.new_markdown_cell("<img src=x onerror=y()>",  # added, with forged metadata
                                      metadata={"nbgrader": {"locked": True, "grade_id": "mine"}}),
        nbformat.v4.new_code_cell("print('<b>code stays</b>')")]
    cleaned, _ = SanitizeMarkdown().preprocess(notebook, {})
    assert "<em>instructions</em>" in cleaned.cells[0].source
    assert "<script>" not in cleaned.cells[1].source and "&lt;script&gt;" in cleaned.cells[1].source
    assert "onerror" not in cleaned.cells[2].source.replace("&lt;", "")
    assert cleaned.cells[3].source == "print('<b>code stays</b>')"
    steps = [step.__name__ for step in autograde_preprocessors()]
    assert steps.index("SanitizeMarkdown") > steps.index("SaveAutoGrades")
