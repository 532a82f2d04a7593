"""What validating a notebook found: each visible test's result, read from the executed notebook.

`cnnkit.student.validate` runs the notebook; this module reads the cells afterwards, as nbgrader
would score them, and formats the per-exercise table students see.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOT_WRITTEN = "not written yet: replace `raise NotImplementedError()` with your code"


@dataclass(frozen=True)
class TestResult:
    """One test cell: its nbgrader id, what its docstring says it checks, points and outcome."""

    grade_id: str
    checks: str
    points: float
    passed: bool
    reason: str = ""
    earned: float | None = None  # None: all the points when passed, none when failed
    cell: int = 0  # its position in the notebook, 1-based as JupyterLab counts (0: unknown)


@dataclass
class ValidationReport:
    """The results of the visible tests of one notebook."""

    notebook: Path
    results: list[TestResult]
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    unanswered: list[str] = field(default_factory=list)  # written answers still blank
    written_points: float = 0.0  # points of the written answers, graded by the instructor

    @property
    def earned(self) -> float:
        return sum(earned_points(result) for result in self.results)

    @property
    def possible(self) -> float:
        return sum(result.points for result in self.results)

    def table(self) -> str:
        """Return the per-exercise table, then the total and any error outside the tests."""
        width = max([len(result.grade_id) for result in self.results] + [4])
        lines = [f"{'test':<{width}}  {'points':>6}  {'cell':>4}  result"]
        for result in self.results:
            prefix = (f"{result.grade_id:<{width}}  {_points(earned_points(result)):>3}/"
                      f"{_points(result.points):<2}  {result.cell or '?':>4}  ")
            if result.passed:
                lines.append(prefix + "passed")
                continue
            reason = _reason_lines(f"FAILED  {result.reason}", len(prefix) + 8)
            lines.append(prefix + reason[0])
            lines += reason[1:]
            if result.checks:
                lines.append(f"{'':<{width}}                ({result.checks})")
        lines.append(f"visible tests: {_points(self.earned)} of {_points(self.possible)} points "
                     f"in {self.seconds:.0f} s; the graders run more (hidden) cases.")
        if self.written_points:
            lines.append(f"written answers: {_points(self.written_points)} more points, graded by "
                         "your instructor" + (f"; not written yet: {', '.join(self.unanswered)}"
                                              if self.unanswered else "; all answered") + ".")
        if self.problems:
            lines.append(f"{len(self.problems)} other cell(s) raised an error, first: {self.problems[0]}")
        return "\n".join(lines)


def _points(value: float) -> str:
    return f"{value:g}"


def earned_points(result: TestResult) -> float:
    """Points a test earned: nbgrader's partial credit where it gave some, else all or nothing."""
    if result.earned is not None:
        return result.earned
    return result.points if result.passed else 0.0


def partial_credit(cell: Any) -> float | None:
    """nbgrader's partial credit: a test cell whose value is a number earns that many points."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "execute_result":
            try:
                return float(output.get("data", {}).get("text/plain", ""))
            except ValueError:
                return None
    return None


def first_line(text: str, limit: int = 160) -> str:
    """The first non-blank line of ``text``, cut to ``limit`` characters."""
    line = next((line.strip() for line in text.strip().splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _whole(text: str) -> str:
    """A message on one line, never cut: a check's hint is often at its end."""
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _reason_lines(reason: str, indent: int, width: int = 100) -> list[str]:
    """A failure's reason, wrapped; its hint (after "Hint:") starts a line of its own."""
    message, _, hint = reason.partition(" Hint: ")
    lines = textwrap.wrap(message, width, subsequent_indent=" " * indent, break_long_words=False,
                          break_on_hyphens=False)
    if hint:
        lines += textwrap.wrap("hint: " + hint, width, initial_indent=" " * indent,
                               subsequent_indent=" " * (indent + 6), break_long_words=False,
                               break_on_hyphens=False)
    return lines


def cell_name(cell: Any, index: int) -> str:
    """How a student finds a cell: JupyterLab's 1-based position and the nbgrader grade id, or the
    first line of its code."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell {index + 1} ({grade_id or first_line(cell.get('source', ''), 60)})"


def docstring(source: str) -> str:
    """The first line of a test cell's opening docstring: what it checks."""
    source = source.lstrip()
    for quote in ('"""', "'''"):
        if source.startswith(quote):
            return first_line(source[3:].split(quote)[0])
    return ""


def is_test(cell: Any) -> bool:
    """A visible test: a graded code cell that is not a solution."""
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and nbgrader.get("grade") and not nbgrader.get("solution")


def is_written_answer(cell: Any) -> bool:
    """A manually graded answer: a markdown cell that is both a solution and graded."""
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "markdown" and nbgrader.get("grade") and nbgrader.get("solution")


def failure(cell: Any) -> str:
    """Why a test cell failed ('' when it passed), as nbgrader decides: an error or stderr output."""
    if cell.get("execution_count") is None and cell.get("source", "").strip():
        return "not run (the kernel stopped before it, or validation was cut short)"
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            name, message = output.get("ename", "Error"), _whole(output.get("evalue", ""))
            if name == "NotImplementedError" and not message:
                return NOT_WRITTEN
            return f"{name}: {message}"
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return f"wrote to stderr (nbgrader fails such cells): {_whole(output.get('text', ''))}"
    return ""


def read_results(document: Any, notebook: Path, seconds: float,
                 stopped: str = "") -> ValidationReport:
    """Read the visible tests' results, the other errors and the written answers of ``document``.

    Args:
        document: the executed nbformat notebook.
        notebook: its path; seconds: how long the run took.
        stopped: why the run stopped early ("" when it ran to the end).
    """
    results, problems = [], [stopped] if stopped else []
    for index, cell in enumerate(document.cells):
        if cell.cell_type != "code":
            continue
        why = failure(cell)
        if is_test(cell):
            results.append(TestResult(cell.metadata.nbgrader.get("grade_id", "?"),
                                      docstring(cell.source),
                                      float(cell.metadata.nbgrader.get("points", 0)), not why,
                                      why, None if why else partial_credit(cell), index + 1))
        elif why and "stderr" not in why and "not run" not in why:
            problems.append(f"{cell_name(cell, index)}: {why}")
    written = [cell for cell in document.cells if is_written_answer(cell)]
    unanswered = [cell.metadata.nbgrader.get("grade_id", "?") for cell in written
                  if not cell.source.strip() or "YOUR ANSWER HERE" in cell.source]
    return ValidationReport(notebook, results, problems, seconds, unanswered,
                            sum(float(cell.metadata.nbgrader.get("points", 0)) for cell in written))
