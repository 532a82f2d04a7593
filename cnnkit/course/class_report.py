"""A one-page report on how a class did in a lab: which idea did the class miss?

``cnnkit course report LAB`` reads the gradebook (scores per test) and the autograded notebooks
(the failure messages, with their hints) and writes one HTML page: the score distribution, each
graded test's pass rate as a bar chart, and the most frequent failure reasons per test.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class TestSummary:
    """How the class did on one graded test cell.

    Attributes:
        name: the cell's grade_id; max_score: its points.
        passed, attempts: students with full points, and students graded.
        reasons: failure message (first line) -> how many students got it.
    """

    name: str
    max_score: float
    passed: int = 0
    attempts: int = 0
    reasons: Counter = field(default_factory=Counter)

    @property
    def pass_rate(self) -> float:
        return self.passed / self.attempts if self.attempts else 0.0


def collect_failures(autograded: Path, lab: str) -> dict[str, Counter]:
    """Failure messages per graded cell, from every student's autograded notebook of ``lab``."""
    reasons: dict[str, Counter] = {}
    for path in sorted(autograded.glob(f"*/{lab}/*.ipynb")):
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 - an unreadable autograded copy is not a failure reason
            continue
        for cell in notebook.cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            for output in cell.get("outputs", []):
                if grade_id and output.get("output_type") == "error":
                    reasons.setdefault(grade_id, Counter())[_reason(output)] += 1
    return reasons


def _reason(error: dict) -> str:
    """'Name: first line of the message', or, for a bare assert, the line that failed."""
    message = (str(error.get("evalue", "")).strip().splitlines() or [""])[0]
    if not message:
        lines = [ANSI.sub("", line) for frame in error.get("traceback", [])
                 for line in str(frame).splitlines()]
        failing = [line.split("---->", 1)[1].strip() for line in lines if "---->" in line]
        message = f"at `{failing[-1].split(' ', 1)[-1].strip()}`" if failing else "(no message)"
    return f"{error.get('ename')}: {message[:300]}"


def summarise(db_url: str, root: Path, lab: str) -> tuple[list[float], float, list[TestSummary]]:
    """Scores of every graded student, the lab's maximum, and a summary per graded test."""
    from cnnkit.course.gradebook import open_gradebook

    failures = collect_failures(root / "autograded", lab)
    with open_gradebook(db_url) as gradebook:
        assignment = gradebook.find_assignment(lab)
        tests = {cell.name: TestSummary(cell.name, float(cell.max_score))
                 for notebook in assignment.notebooks for cell in notebook.grade_cells
                 if cell.cell_type == "code"}
        scores = []
        for submission in assignment.submissions:
            scores.append(float(submission.score))
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    test = tests.get(grade.name)
                    if test is not None:
                        test.attempts += 1
                        test.passed += float(grade.score) >= test.max_score
        maximum = float(assignment.max_score)
    for name, test in tests.items():
        test.reasons = failures.get(name, Counter())
    return scores, maximum, sorted(tests.values(), key=lambda test: test.pass_rate)


def _png(figure) -> str:  # noqa: ANN001 - a Matplotlib figure
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _charts(scores: list[float], maximum: float, tests: list[TestSummary]) -> tuple[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    distribution = Figure(figsize=(6, 3))
    axes = distribution.subplots()
    axes.hist(scores, bins=min(20, max(1, int(maximum) + 1)), range=(0, maximum or 1),
              color="#4878a8")
    axes.set(xlabel="score", ylabel="students", title="Score distribution")
    rates = Figure(figsize=(6, 0.35 * len(tests) + 1))
    axes = rates.subplots()
    axes.barh([test.name for test in tests], [100 * test.pass_rate for test in tests],
              color="#6a9f58")
    axes.set(xlabel="students with full points (%)", xlim=(0, 100), title="Pass rate per test")
    return _png(distribution), _png(rates)


def write_report(db_url: str, root: Path, lab: str, output: Path, top: int = 3) -> Path:
    """Write the class report of ``lab`` to ``output`` (HTML, charts inline); return it."""
    scores, maximum, tests = summarise(db_url, root, lab)
    if not scores:
        raise ValueError(f"Received lab {lab!r} with no graded submission in the gradebook. "
                         f"Expected at least one. Fix: run `cnnkit course grade {lab}` first.")
    distribution, rates = _charts(scores, maximum, tests)
    mean = sum(scores) / len(scores)
    rows = []
    for test in tests:
        reasons = "".join(f"<li>{count} × <code>{html.escape(reason)}</code></li>"
                          for reason, count in test.reasons.most_common(top))
        rows.append(f"<tr><td>{html.escape(test.name)}</td><td>{test.max_score:g}</td>"
                    f"<td>{test.pass_rate:.0%} ({test.passed}/{test.attempts})</td>"
                    f"<td><ul>{reasons or '<li>-</li>'}</ul></td></tr>")
    full_marks = sum(score >= maximum for score in scores)
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>{html.escape(lab)}: class report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:auto}}td{{vertical-align:top;padding:4px}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f4f4f4}}code{{white-space:pre-wrap}}</style>
</head><body><h1>{html.escape(lab)}: class report</h1>
<p>{len(scores)} graded submissions; mean {mean:.1f} / {maximum:g}; full marks: {full_marks}.</p>
<img alt="score distribution" src="data:image/png;base64,{distribution}">
<img alt="pass rate per test" src="data:image/png;base64,{rates}">
<h2>Tests, hardest first, with the most frequent failures</h2>
<table><tr><th>test</th><th>points</th><th>full points</th>
<th>most frequent failure messages (with their hints)</th></tr>
{''.join(rows)}</table></body></html>
"""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page)
    return output
