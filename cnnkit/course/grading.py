"""Grade one lab for many students in parallel, each in a private workspace, under limits.

Each student is graded by ``nbgrader autograde`` (trusted, outside any sandbox) in a throw-away
workspace holding a copy of a template gradebook and that student's files. The student's code
runs only in the kernel, which nbgrader starts inside the bubblewrap sandbox of
`cnnkit.course.sandbox`: it sees a copy of the student's own files and nothing else, so neither
the workspace's gradebook, nor the notebook nbgrader scores, nor another student, nor the grader
is within its reach. Workers run in parallel; their results are merged into the course gradebook
one at a time by this process, after every process of the sandbox is dead. A submission that
breaks anything costs only its own points, with a reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from cnnkit.course.limits import GradeLimits
from cnnkit.course.merge import merge_submission, record_empty_submission
from cnnkit.course.nbgrader_cli import put_tools_on_path, run_nbgrader
from cnnkit.course.sandbox import (
    DATA_MOUNT,
    KERAS_MOUNT,
    KernelSettings,
    RunFolderGuard,
    SandboxUnavailable,
    install_kernel,
    kernel_environment,
    leftover_processes,
    make_cgroups,
    nbgrader_kernel_config,
    python_paths,
    remove_cgroups,
    sandbox_support,
)

# TensorFlow and Keras lines that must not turn a passing test cell into a failing one.
IGNORE_STDERR = (r"(?s).*(absl::InitializeLog|oneDNN custom operations|cuda drivers|cuInit|"
                 r"cpu_feature_guard|rebuild TensorFlow|UserWarning|DeprecationWarning).*")


@dataclass
class GradeResult:
    """The outcome for one student.

    Attributes:
        score, max_score: points (0 when the submission could not be graded).
        failed_cells: graded cells that raised an error (wrong or missing answers).
        problems: what went wrong with the submission itself, in words (unreadable notebook,
            timeout, dead kernel, renamed file ...).
        isolated: the student's code ran in the sandbox.
    """

    student: str
    score: float = 0.0
    max_score: float = 0.0
    failed_cells: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    isolated: bool = False


def _limit_memory(memory_gb: float):  # noqa: ANN202 - a preexec function
    limit = int(memory_gb * (1 << 30))

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def _workspace_config(course_config: str, limits: GradeLimits, run_folder: Path | None) -> str:
    """The course's nbgrader configuration plus the limits (and, with ``run_folder``, the sandbox)."""
    return course_config + f"""

# Added by cnnkit course grade for one grading run.
c.Execute.timeout = {limits.cell_timeout}
c.Execute.interrupt_on_timeout = True
c.OverwriteCells.add_missing_cells = True
c.IgnorePattern.pattern = {IGNORE_STDERR!r}
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
from cnnkit.course.output_limit import with_output_size_limit
c.Autograde.autograde_preprocessors = with_output_size_limit()
""" + (nbgrader_kernel_config(run_folder) if run_folder else "")


def make_template(root: Path, lab: str, scratch: Path) -> tuple[Path, list[str]]:
    """Create a gradebook holding only the lab (from its source), outside the course.

    Returns:
        The template gradebook's path and the lab's notebook names (without .ipynb).
    """
    template = scratch / "template"
    shutil.copytree(root / "solutions" / lab, template / "solutions" / lab)
    shutil.copy(root / "nbgrader_config.py", template / "nbgrader_config.py")
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
    r"^.*(?:\b(?:checks|cnnkit|testing|builtins|keras|tf|assert_\w+)\b[\w.]*\.\w+\s*=(?!=)"
    r"|setattr\(\s*(?:checks|cnnkit|np|numpy|builtins|keras|tf)\b|sys\.modules\["
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


def _given_sources(root: Path, lab: str) -> frozenset[str]:
    """The source of every cell of the lab's own notebooks (solutions/LAB/*.ipynb)."""
    return frozenset(cell.source for path in (root / "solutions" / lab).glob("*.ipynb")
                     for cell in nbformat.read(path, as_version=4).cells)


def _sandbox_kernel(workspace: Path, base: KernelSettings, limits: GradeLimits,
                    ) -> tuple[dict[str, str], list[Path]]:
    """Give a workspace its sandboxed kernel; return nbgrader's extra environment and the cgroup."""
    kernel = workspace / "kernel"
    (kernel / "run").mkdir(parents=True)
    (kernel / "state").mkdir()
    cgroups = make_cgroups(limits.max_processes, limits.cpus)
    settings = replace(base, run_folder=str(kernel / "run"), state_folder=str(kernel / "state"),
                       cgroups=[str(folder) for folder in cgroups])
    return install_kernel(workspace, settings), cgroups


def _end_sandbox(workspace: Path, cgroups: list[Path]) -> list[str]:
    """Make sure no process of the student's sandbox lives on; say so if one had to be killed."""
    survivors = leftover_processes(workspace / "kernel" / "state")
    survivors = max(survivors, remove_cgroups(cgroups))
    return ([f"{survivors} sandbox process(es) outlived the kernel and were killed before the "
             "results were read"] if survivors else [])


def grade_student(root: Path, lab: str, student: str, template_db: Path, notebooks: list[str],
                  scratch: Path, limits: GradeLimits,
                  sandbox: KernelSettings | None = None) -> tuple[GradeResult, Path | None]:
    """Grade one student in a private workspace; return the result and the workspace gradebook.

    With ``sandbox`` (the settings every student's kernel shares), the kernel runs in bubblewrap;
    without it, the student's code runs as the grader, and the result says it was not isolated.
    """
    from nbgrader.api import Gradebook

    start = time.perf_counter()
    result = GradeResult(student, isolated=sandbox is not None)
    workspace = scratch / f"student-{student}"
    workspace.mkdir()
    run_folder = workspace / "kernel" / "run" if sandbox is not None else None
    (workspace / "nbgrader_config.py").write_text(
        _workspace_config((root / "nbgrader_config.py").read_text(), limits, run_folder))
    shutil.copy(template_db, workspace / "gradebook.db")
    with Gradebook(f"sqlite:///{workspace / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_student(student)
    result.problems += stage_submission(root / "submitted" / student / lab,
                                        workspace / "submitted" / student / lab, notebooks)
    staged = sorted((workspace / "submitted" / student / lab).glob("*.ipynb"))
    if not staged:
        result.seconds = time.perf_counter() - start
        return result, None
    for notebook in staged:
        result.problems += [f"touches checking code, grading files or other processes, please "
                            f"review: {line[:120]}"
                            for line in detect_tampering(notebook, _given_sources(root, lab))]
    args = ["autograde", lab, "--student", student, "--force", "--log-level=ERROR"]
    (workspace / "tmp").mkdir()
    env = {"HOME": str(workspace), "TMPDIR": str(workspace / "tmp"),
           "MPLCONFIGDIR": str(workspace / ".matplotlib")}
    cgroups: list[Path] = []
    if sandbox is not None:
        kernel_env, cgroups = _sandbox_kernel(workspace, sandbox, limits)
        env.update(kernel_env)
    guard = (RunFolderGuard(workspace / "kernel" / "run", workspace / "kernel" / "state")
             if sandbox is not None else contextlib.nullcontext())
    try:
        with guard:
            completed = run_nbgrader(workspace, *args, timeout=limits.notebook_timeout,
                                     preexec=_limit_memory(limits.memory_gb), extra_env=env)
        if completed.returncode:
            last = [line for line in completed.stdout.splitlines() if line.strip()][-1:] or ["?"]
            result.problems.append(f"autograde failed (the kernel may have died): {last[0][:200]}")
    except subprocess.TimeoutExpired:
        result.problems.append(f"grading took longer than {limits.notebook_timeout} s and was stopped")
    finally:
        if sandbox is not None:
            result.problems += [guard.tripped] if guard.tripped else []
            result.problems += _end_sandbox(workspace, cgroups)
    autograded = workspace / "autograded" / student / lab
    if autograded.is_dir():
        result.failed_cells, cell_problems = _inspect_autograded(autograded)
        result.problems += cell_problems
    result.seconds = time.perf_counter() - start
    return result, workspace if autograded.is_dir() else None


def _readable_folder(path: Path) -> Path | None:
    try:
        return path if path.is_dir() and os.access(path, os.R_OK | os.X_OK) else None
    except OSError:  # e.g. a folder inside another user's home
        return None


def shared_kernel_settings(root: Path, limits: GradeLimits) -> KernelSettings:
    """What every student's sandboxed kernel sees: Python, cnnkit, the data caches; the limits."""
    from cnnkit.data.store import data_dir, keras_datasets_dir

    repository = Path(__file__).resolve().parents[2]
    data, keras = _readable_folder(data_dir()), _readable_folder(keras_datasets_dir())
    mounts = {str(data): DATA_MOUNT} if data else {}
    if keras:
        mounts[str(keras)] = f"{KERAS_MOUNT}/datasets"
    return KernelSettings(
        run_folder="", state_folder="", read_only=python_paths([root, repository, Path(tempfile.gettempdir())]),
        mounts=mounts, env=kernel_environment(data, keras),
        memory_bytes=int(limits.memory_gb * (1 << 30)), cpu_seconds=limits.cpu_seconds,
        max_processes=limits.max_processes, disk_bytes=limits.disk_mb << 20,
        open_files=limits.open_files)


def submitted_students(root: Path, lab: str) -> list[str]:
    """Students with a folder for this lab under submitted/."""
    return sorted(path.parent.name for path in (root / "submitted").glob(f"*/{lab}") if path.is_dir())


def grade_lab(root: Path, lab: str, students: list[str] | None = None, jobs: int = 1,
              limits: GradeLimits | None = None, db_url: str | None = None) -> list[GradeResult]:
    """Autograde ``lab`` for ``students`` (default: every student of the gradebook or submitted/).

    Args:
        root: the course folder (holding nbgrader_config.py, solutions/, submitted/).
        lab: the lab's folder name, e.g. "lab1-convolution".
        students: whom to grade; None grades all.
        jobs: parallel grading workers.
        limits: time, memory, process and disk limits, and the sandbox; see `GradeLimits`.
        db_url: the course gradebook (default: sqlite root/gradebook.db; PostgreSQL URLs work).

    Returns:
        One `GradeResult` per student, sorted by student.

    Raises:
        SandboxUnavailable: ``limits.sandbox`` is on and this machine cannot isolate student
            code (the message says what is missing and how to fix it). Nothing was graded.
    """
    from nbgrader.api import Gradebook

    put_tools_on_path()
    root = Path(root).resolve()
    limits = limits or GradeLimits()
    if limits.cpus <= 0:
        limits = replace(limits, cpus=max(1.0, (os.cpu_count() or 1) / max(1, jobs)))
    support = sandbox_support()
    if limits.sandbox and not support.available:
        raise SandboxUnavailable(support)
    sandbox = shared_kernel_settings(root, limits) if limits.sandbox else None
    db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(db_url) as gradebook:
        known = [student.id for student in gradebook.students]
    students = sorted(set(students or (known + submitted_students(root, lab))))
    merge_lock = threading.Lock()
    results: list[GradeResult] = []
    with tempfile.TemporaryDirectory(prefix="cnnkit-grade-") as scratch_name:
        scratch = Path(scratch_name)
        template_db, notebooks = make_template(root, lab, scratch)
        with Gradebook(db_url) as gradebook:
            gradebook.update_or_create_assignment(lab)

        def work(student: str) -> GradeResult:
            result, workspace = grade_student(root, lab, student, template_db, notebooks, scratch,
                                              limits, sandbox)
            with merge_lock:
                if workspace is None:
                    result.max_score = record_empty_submission(db_url, template_db, lab, student)
                else:
                    try:
                        result.score, result.max_score = merge_submission(
                            db_url, workspace / "gradebook.db", lab, student)
                    except Exception as error:  # noqa: BLE001 - e.g. the kernel died mid-run
                        result.problems.append(f"no grades were saved ({type(error).__name__}); "
                                               "scored 0")
                        result.score = 0.0
                        result.max_score = record_empty_submission(db_url, template_db, lab, student)
                    target = root / "autograded" / student / lab
                    shutil.rmtree(target, ignore_errors=True)
                    shutil.copytree(workspace / "autograded" / student / lab, target)
                shutil.rmtree(scratch / f"student-{student}", ignore_errors=True)
            return result

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = list(pool.map(work, students))
    return sorted(results, key=lambda result: result.student)
