"""Grade one student's submission in a private workspace, under limits, its kernel sandboxed.

Each student is graded by ``nbgrader autograde`` (trusted, outside any sandbox) in a throw-away
workspace holding a copy of a template gradebook and that student's files. The student's code
runs only in the kernel, which nbgrader starts inside the bubblewrap sandbox of
`cnnkit.course.sandbox`: it sees a copy of the student's own files and nothing else, so neither
the workspace's gradebook, nor the notebook nbgrader scores, nor another student, nor the grader
is within its reach, and every process of the sandbox is dead before the results are read. A
submission that breaks anything costs only its own points, with a reason. `cnnkit.course.batch`
grades a whole class with this, on Dask workers.
"""

from __future__ import annotations

import contextlib
import json
import re
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from cnnkit.course.limits import GradeLimits
from cnnkit.course.nbgrader_cli import run_nbgrader
from cnnkit.course.sandbox import KernelSettings, RunFolderGuard, nbgrader_kernel_config
from cnnkit.course.sandbox_workspace import end_sandbox, sandbox_kernel
from cnnkit.quiet import GRADING_IGNORE_STDERR


@dataclass
class GradeResult:
    """The outcome for one student.

    Attributes:
        score, max_score: points (0 when the submission could not be graded).
        failed_cells: graded cells that raised an error (wrong or missing answers).
        problems: what went wrong with the submission itself, in words (unreadable notebook,
            timeout, dead kernel, renamed file ...).
        isolated: the student's code ran in the sandbox.
        absent: the student has no submission folder here, so was not graded; ``score`` is the
            grade the gradebook already held (kept as it was), 0 if none.
    """

    student: str
    score: float = 0.0
    max_score: float = 0.0
    failed_cells: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    isolated: bool = False
    absent: bool = False


def _limit_memory(memory_gb: float):  # noqa: ANN202 - a preexec function
    limit = int(memory_gb * (1 << 30))

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def _private_folders(folder: Path) -> str:
    """Configuration lines that keep nbgrader in ``folder``, whatever the course config says
    (its own gradebook, never the course's, which may be a PostgreSQL URL)."""
    return f"""
# Added by cnnkit course grade: this run works only in its own folder.
c.CourseDirectory.root = {str(folder)!r}
c.CourseDirectory.db_url = {f"sqlite:///{folder / 'gradebook.db'}"!r}
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
"""


def _workspace_config(course_config: str, limits: GradeLimits, workspace: Path,
                      run_folder: Path | None) -> str:
    """The course's nbgrader configuration plus the limits (and, with ``run_folder``, the sandbox)."""
    return course_config + _private_folders(workspace) + f"""
c.Execute.timeout = {limits.cell_timeout}
c.Execute.interrupt_on_timeout = True
c.OverwriteCells.add_missing_cells = True
c.IgnorePattern.pattern = {GRADING_IGNORE_STDERR!r}
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
from cnnkit.course.safe_html import autograde_preprocessors
c.Autograde.autograde_preprocessors = autograde_preprocessors()
""" + (nbgrader_kernel_config(run_folder) if run_folder else "")


def make_template(root: Path, lab: str, scratch: Path) -> tuple[Path, list[str]]:
    """Create a gradebook holding only the lab (from its source), outside the course.

    Returns:
        The template gradebook's path and the lab's notebook names (without .ipynb).
    """
    template = scratch / "template"
    shutil.copytree(root / "solutions" / lab, template / "solutions" / lab)
    (template / "nbgrader_config.py").write_text(
        (root / "nbgrader_config.py").read_text() + _private_folders(template))
    result = run_nbgrader(template, "generate_assignment", lab, "--force", "--log-level=ERROR")
    if result.returncode:
        raise RuntimeError(f"cannot prepare the gradebook for {lab}:\n{result.stdout}")
    notebooks = sorted(path.stem for path in (root / "solutions" / lab).glob("*.ipynb"))
    return template / "gradebook.db", notebooks


def _readable_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str | None]:
    try:
        return nbformat.read(path, as_version=4), None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return None, f"{path.name} is not valid JSON (truncated or not a notebook): {error}"
    except Exception as error:  # noqa: BLE001 - nbformat raises many kinds for bad notebooks
        return None, f"{path.name} is not a readable notebook: {type(error).__name__}: {error}"


def stage_submission(submitted: Path, target: Path, notebooks: list[str]) -> list[str]:
    """Copy a student's files into the workspace; return problems, normalising what it can.

    A notebook under another name is graded if it is the only one; an old nbformat version is
    converted to version 4.
    """
    problems = []
    target.mkdir(parents=True)
    if not submitted.is_dir():
        return ["no submission folder"]
    for item in submitted.iterdir():
        if item.is_file() and not item.is_symlink() and item.suffix != ".ipynb":
            shutil.copy(item, target / item.name)
    found = sorted(p for p in submitted.glob("*.ipynb") if p.is_file() and not p.is_symlink())
    for name in notebooks:
        source = submitted / f"{name}.ipynb"
        if not source.is_file():
            others = [p for p in found if p.stem not in notebooks]
            if len(others) == 1 and len(notebooks) == 1:
                source = others[0]
                problems.append(f"notebook renamed to {source.name}: graded as {name}.ipynb")
            else:
                problems.append(f"{name}.ipynb is missing")
                continue
        notebook, problem = _readable_notebook(source)
        if problem:
            problems.append(problem)
            continue
        nbformat.write(notebook, target / f"{name}.ipynb")
    return problems


def _inspect_autograded(autograded: Path) -> tuple[int, list[str]]:
    """Count the graded cells that failed, and list grading problems (timeouts, dead kernels).

    A failing test cell is an ordinary outcome (it shows in the score); a cell that timed out or
    a kernel that died is a problem worth reporting.
    """
    failed, problems = 0, []
    for path in sorted(autograded.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if not errors:
                continue
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
                failed += 1
            text = " ".join(f"{o.get('ename')} {o.get('evalue', '')}" for o in errors)
            if "CellTimeoutError" in text or "timed out" in text:
                problems.append(f"cell {grade_id or '(ungraded)'} ran past the time limit")
            elif "DeadKernelError" in text or "Kernel died" in text:
                problems.append(f"the kernel died in cell {grade_id or '(ungraded)'}")
            elif "MemoryError" in text:
                problems.append(f"cell {grade_id or '(ungraded)'} ran out of memory")
    return failed, problems


# Assignments to, or setattr on, the code that graded cells rely on; reads of grading files;
# reaching for other processes or the machine (what the sandbox stops, reported all the same).
_TAMPERING = re.compile(
    r"^.*(?:\b(?:checks|cnnkit|transfer|testing|builtins|keras|tf|assert_\w+)\b[\w.]*\.\w+"
    r"\s*=(?!=)"
    r"|setattr\(\s*(?:checks|cnnkit|transfer|np|numpy|builtins|keras|tf)\b|sys\.modules\["
    # The labs' set-up cells import cnnkit; a student's own import of it can rebind its
    # functions under another name (import cnnkit.checks as c; c.check_... = ...).
    r"|^\s*(?:from|import)\s+cnnkit\b|\b__import__\b|\bimportlib\b"
    r"|CNNKIT_PROFILE|NBGRADER_EXECUTION|/proc/"
    r"|gradebook|sqlite3|solutions/|autograded/|submitted/"
    r"|\bos\.(?:kill|killpg|fork|forkpty|setsid|setpgrp)\b|\bsignal\.SIG|\bsubprocess\b"
    r"|\bPopen\b|\bmultiprocessing\b|\bctypes\b|\bsetrlimit\b|\bsocket\b).*$", re.MULTILINE)


def detect_tampering(notebook_path: Path, given: frozenset[str] = frozenset()) -> list[str]:
    """Return lines of the student's own cells that look like tampering (a reported suspicion).

    Graded cells restored by nbgrader still run, but a student cell that replaces, say,
    ``checks.check_conv2d`` or ``numpy.testing.assert_allclose`` could make them pass, and one
    that signals other processes or opens the gradebook tries what the sandbox stops; such lines
    are listed in the grading report for a human to look at. Cells whose source is one of
    ``given`` (the lab's own cells, e.g. its Colab set-up cell) are not the student's.
    """
    found = []
    for cell in nbformat.read(notebook_path, as_version=4).cells:
        if (cell.cell_type != "code" or cell.get("metadata", {}).get("nbgrader", {}).get("locked")
                or cell.source in given):
            continue
        found += [match.group(0).strip() for match in _TAMPERING.finditer(cell.source)]
    return found


def given_sources(root: Path, lab: str) -> frozenset[str]:
    """The source of every cell of the lab's own notebooks (solutions/LAB/*.ipynb)."""
    return frozenset(cell.source for path in (root / "solutions" / lab).glob("*.ipynb")
                     for cell in nbformat.read(path, as_version=4).cells)


def grade_student(submitted: Path, course_config: str, given: frozenset[str], lab: str,
                  student: str, template_db: Path, notebooks: list[str], scratch: Path,
                  limits: GradeLimits,
                  sandbox: KernelSettings | None = None) -> tuple[GradeResult, Path | None]:
    """Grade one student in a private workspace; return the result and the workspace.

    Args:
        submitted: the student's files for the lab (a folder).
        course_config: the text of the course's nbgrader_config.py.
        given: the source of every cell of the lab's own notebooks (not flagged as tampering).
        lab, student: whom and what to grade.
        template_db: a gradebook holding only the lab (see `make_template`).
        notebooks: the lab's notebook names (without .ipynb).
        scratch: a private folder for the workspace.
        limits: see `GradeLimits`.
        sandbox: the settings every student's kernel shares: with them the kernel runs in
            bubblewrap; without them the student's code runs as the grader, and the result says
            it was not isolated.

    Returns:
        The result and the workspace (holding ``gradebook.db`` and ``autograded/``), or None
        when there was nothing nbgrader could grade.
    """
    from nbgrader.api import Gradebook

    start = time.perf_counter()
    result = GradeResult(student, isolated=sandbox is not None)
    workspace = scratch / f"student-{student}"
    workspace.mkdir()
    run_folder = workspace / "kernel" / "run" if sandbox is not None else None
    (workspace / "nbgrader_config.py").write_text(
        _workspace_config(course_config, limits, workspace, run_folder))
    shutil.copy(template_db, workspace / "gradebook.db")
    with Gradebook(f"sqlite:///{workspace / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_student(student)
    result.problems += stage_submission(submitted, workspace / "submitted" / student / lab,
                                        notebooks)
    staged = sorted((workspace / "submitted" / student / lab).glob("*.ipynb"))
    if not staged:
        result.seconds = time.perf_counter() - start
        return result, None
    for notebook in staged:
        result.problems += [f"touches checking code, grading files or other processes, please "
                            f"review: {line[:120]}" for line in detect_tampering(notebook, given)]
    problems, autograded = _autograde(workspace, lab, student, limits, sandbox)
    result.problems += problems
    if autograded.is_dir():
        result.failed_cells, cell_problems = _inspect_autograded(autograded)
        result.problems += cell_problems
    result.seconds = time.perf_counter() - start
    return result, workspace if autograded.is_dir() else None


def _autograde(workspace: Path, lab: str, student: str, limits: GradeLimits,
               sandbox: KernelSettings | None) -> tuple[list[str], Path]:
    """Run ``nbgrader autograde`` in the workspace (its kernel in the sandbox); return problems."""
    problems = []
    args = ["autograde", lab, "--student", student, "--force", "--log-level=ERROR"]
    (workspace / "tmp").mkdir()
    env = {"HOME": str(workspace), "TMPDIR": str(workspace / "tmp"),
           "MPLCONFIGDIR": str(workspace / ".matplotlib")}
    cgroups: list[Path] = []
    if sandbox is not None:
        kernel_env, cgroups = sandbox_kernel(workspace, sandbox, limits)
        env.update(kernel_env)
    guard = (RunFolderGuard(workspace / "kernel" / "run", workspace / "kernel" / "state")
             if sandbox is not None else contextlib.nullcontext())
    try:
        with guard:
            completed = run_nbgrader(workspace, *args, timeout=limits.notebook_timeout,
                                     preexec=_limit_memory(limits.memory_gb), extra_env=env)
        if completed.returncode:
            last = [line for line in completed.stdout.splitlines() if line.strip()][-1:] or ["?"]
            problems.append(f"autograde failed (the kernel may have died): {last[0][:200]}")
    except subprocess.TimeoutExpired:
        problems.append(f"grading took longer than {limits.notebook_timeout} s and was stopped")
    finally:
        if sandbox is not None:
            problems += [guard.tripped] if guard.tripped else []
            problems += end_sandbox(workspace, cgroups)
    return problems, workspace / "autograded" / student / lab
