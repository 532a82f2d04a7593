"""`cnnkit check`: run a lab's visible tests in a fresh kernel and say, per exercise, what passed.

It is nbgrader's "Validate" for students on Colab or without the extension. The notebook is run
as the grader runs it (`NBGRADER_EXECUTION=validate`, so the `grade` profile: nothing trains and
the weights beside the notebook are loaded); the notebook file itself is not changed.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CheckReport", "TestResult", "check", "check_notebook", "current_notebook"]

INSIDE_CHECK = "CNNKIT_CHECKING"  # set in the checking kernel, so a `check()` cell there is skipped
COLAB_COPY = ".cnnkit-check.ipynb"  # where the notebook open in Colab is written for the check


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
class CheckReport:
    """The results of the visible tests of one notebook."""

    notebook: Path
    results: list[TestResult]
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    unanswered: list[str] = field(default_factory=list)  # written answers still blank
    written_points: float = 0.0  # points of the written answers, graded by the instructor

    @property
    def earned(self) -> float:
        return sum(_earned(result) for result in self.results)

    @property
    def possible(self) -> float:
        return sum(result.points for result in self.results)

    def table(self) -> str:
        """Return the per-exercise table, then the total and any error outside the tests."""
        width = max([len(result.grade_id) for result in self.results] + [4])
        lines = [f"{'test':<{width}}  {'points':>6}  {'cell':>4}  result"]
        for result in self.results:
            prefix = (f"{result.grade_id:<{width}}  {_points(_earned(result)):>3}/"
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


def _earned(result: TestResult) -> float:
    if result.earned is not None:
        return result.earned
    return result.points if result.passed else 0.0


def _partial(cell: Any) -> float | None:
    """nbgrader's partial credit: a test cell whose value is a number earns that many points."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "execute_result":
            try:
                return float(output.get("data", {}).get("text/plain", ""))
            except ValueError:
                return None
    return None


def _first_line(text: str, limit: int = 160) -> str:
    line = next((line.strip() for line in text.strip().splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _whole(text: str) -> str:
    """A message on one line, never cut: a check's hint is often at its end."""
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _reason_lines(reason: str, indent: int, width: int = 100) -> list[str]:
    """A failure's reason, wrapped; its hint (after "Hint:") starts a line of its own."""
    import textwrap

    message, _, hint = reason.partition(" Hint: ")
    lines = textwrap.wrap(message, width, subsequent_indent=" " * indent, break_long_words=False,
                          break_on_hyphens=False)
    if hint:
        lines += textwrap.wrap("hint: " + hint, width, initial_indent=" " * indent,
                               subsequent_indent=" " * (indent + 6), break_long_words=False,
                               break_on_hyphens=False)
    return lines


NOT_WRITTEN = "not written yet: replace `raise NotImplementedError()` with your code"


def cell_name(cell: Any, index: int) -> str:
    """How a student finds a cell: JupyterLab's 1-based position and the nbgrader grade id, or the
    first line of its code."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell {index + 1} ({grade_id or _first_line(cell.get('source', ''), 60)})"


def _docstring(source: str) -> str:
    """The first line of a test cell's opening docstring: what it checks."""
    source = source.lstrip()
    for quote in ('"""', "'''"):
        if source.startswith(quote):
            return _first_line(source[3:].split(quote)[0])
    return ""


def _is_test(cell: Any) -> bool:
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and nbgrader.get("grade") and not nbgrader.get("solution")


def _is_written_answer(cell: Any) -> bool:
    """A manually graded answer: a markdown cell that is both a solution and graded."""
    nbgrader = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "markdown" and nbgrader.get("grade") and nbgrader.get("solution")


def _failure(cell: Any) -> str:
    """Why a test cell failed ('' when it passed), as nbgrader decides: an error or stderr output."""
    if cell.get("execution_count") is None and cell.get("source", "").strip():
        return "not run (the kernel stopped before it, or the check was cut short)"
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            name, message = output.get("ename", "Error"), _whole(output.get("evalue", ""))
            if name == "NotImplementedError" and not message:
                return NOT_WRITTEN
            return f"{name}: {message}"
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return f"wrote to stderr (nbgrader fails such cells): {_whole(output.get('text', ''))}"
    return ""


def check_notebook(notebook: str | os.PathLike, cell_timeout: int = 300) -> CheckReport:
    """Run `notebook` in a fresh kernel, as the grader does, and return its visible test results.

    Args:
        notebook: path of a lab notebook (`.ipynb`), with the weights its training cells saved
            beside it.
        cell_timeout: seconds one cell may run before it is interrupted.

    Raises:
        ValueError: when the notebook does not exist, is not readable or has no test cells.
    """
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from cnnkit.kernel import run_notebook

    path = Path(notebook).resolve()
    if not path.is_file():
        raise ValueError(f"cnnkit check: no notebook at {path}. Expected the path of your lab "
                                "notebook, e.g. labs/lab1-convolution/lab1-convolution.ipynb.")
    try:
        document = nbformat.read(path, as_version=4)
    except Exception as error:  # any parse error means the same to the student
        raise ValueError(f"cnnkit check: {path.name} is not a readable notebook ({error}). Fix: "
                         "open it in Jupyter and save it again, or restore it from a backup.") from error
    if os.environ.get(INSIDE_CHECK) or os.environ.get("NBGRADER_EXECUTION"):
        raise ValueError("cnnkit check: refused inside a check or while nbgrader runs the notebook "
                         "(it would start itself again). Fix: run it from a terminal or another cell.")
    tests = [cell for cell in document.cells if _is_test(cell)]
    if not tests:
        raise ValueError(f"cnnkit check: {path.name} has no nbgrader test cells. Expected a lab "
                         "notebook from labs/ (its test cells carry nbgrader metadata).")
    start = time.perf_counter()
    stopped = ""
    try:  # the kernel inherits these: nbgrader's validate mode, and "this is a check"
        run_notebook(document, path.parent, timeout=cell_timeout, interrupt_on_timeout=True,
                     values={"NBGRADER_EXECUTION": "validate", INSIDE_CHECK: "1"})
    except (CellTimeoutError, DeadKernelError) as error:
        stopped = f"the check stopped early: {_first_line(str(error))}"
    results, problems = [], [stopped] if stopped else []
    for index, cell in enumerate(document.cells):
        if cell.cell_type != "code":
            continue
        failure = _failure(cell)
        if _is_test(cell):
            results.append(TestResult(cell.metadata.nbgrader.get("grade_id", "?"),
                                      _docstring(cell.source),
                                      float(cell.metadata.nbgrader.get("points", 0)), not failure,
                                      failure, None if failure else _partial(cell), index + 1))
        elif failure and "stderr" not in failure and "not run" not in failure:
            problems.append(f"{cell_name(cell, index)}: {failure}")
    written = [cell for cell in document.cells if _is_written_answer(cell)]
    unanswered = [cell.metadata.nbgrader.get("grade_id", "?") for cell in written
                  if not cell.source.strip() or "YOUR ANSWER HERE" in cell.source]
    return CheckReport(path, results, problems, time.perf_counter() - start, unanswered,
                       sum(float(cell.metadata.nbgrader.get("points", 0)) for cell in written))


def current_notebook() -> Path:
    """Return the path of the notebook this kernel runs, as saved on disk.

    Jupyter tells the kernel its notebook (`JPY_SESSION_NAME`, `__session__`); on Colab the
    notebook lives in Drive, so it is fetched from the page and written beside the working folder.

    Raises:
        ValueError: outside a notebook, or when Jupyter does not say which notebook it is.
    """
    for candidate in (os.environ.get("JPY_SESSION_NAME"), _ipython_session()):
        if candidate and candidate.endswith(".ipynb") and Path(candidate).is_file():
            return Path(candidate)
    if "google.colab" in sys.modules:
        from cnnkit.student.colab_notebook import save_colab_notebook

        return save_colab_notebook(Path.cwd() / COLAB_COPY)
    raise ValueError("cnnkit.check(): cannot tell which notebook this is. Fix: pass its path, "
                     "e.g. cnnkit.check('lab1-convolution.ipynb').")


def _ipython_session() -> str | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else shell.user_ns.get("__session__")


def check(notebook: str | os.PathLike | None = None) -> CheckReport | None:
    """Run this notebook's visible tests in a fresh kernel and print the per-exercise table.

    Save the notebook first (Ctrl+S / File → Save): the saved file is what runs. Inside the
    checking kernel itself a `check()` cell does nothing, so it cannot start itself again.

    Args:
        notebook: the notebook's path; by default the notebook this kernel runs.

    Returns:
        The `CheckReport`, or None inside a check.
    """
    if os.environ.get(INSIDE_CHECK) or os.environ.get("NBGRADER_EXECUTION"):
        print("cnnkit.check(): skipped while the notebook is being checked or graded.")
        return None
    path = Path(notebook) if notebook is not None else current_notebook()
    print(f"checking {path.name} in a fresh kernel (the saved version; training cells load the "
          "weights beside it) ...", flush=True)
    try:
        report = check_notebook(path)
    finally:
        if path.name == COLAB_COPY:  # the copy fetched from Colab's page
            path.unlink(missing_ok=True)
    print(report.table())
    return report
