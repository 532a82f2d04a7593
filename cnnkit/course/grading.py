"""Grade one lab for many students in parallel, each in a private workspace, under limits.

Each student is graded by ``nbgrader autograde`` in a throw-away workspace holding only a copy of a
template gradebook and that student's files; nothing of the course (solutions, the real
gradebook, other students) is inside it. Workers run in parallel; their results are merged into
the course gradebook one at a time by this process, so the sqlite file is never written
concurrently. A submission that breaks anything costs only its own points, with a reason.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from cnnkit.course.merge import merge_submission, record_empty_submission
from cnnkit.course.nbgrader_cli import put_tools_on_path, run_nbgrader

# TensorFlow and Keras lines that must not turn a passing test cell into a failing one.
IGNORE_STDERR = (r"(?s).*(absl::InitializeLog|oneDNN custom operations|cuda drivers|cuInit|"
                 r"cpu_feature_guard|rebuild TensorFlow|UserWarning|DeprecationWarning).*")


@dataclass
class GradeLimits:
    """Limits on one student's grading run.

    Attributes:
        cell_timeout: seconds a cell may run before it is interrupted (nbgrader's Execute.timeout).
        notebook_timeout: seconds the whole grading of one student may take; then it is killed.
        memory_gb: address-space limit of the grading process and its kernel (RLIMIT_AS).
        sandbox: on Linux as root, grade in private network and mount namespaces (see
            `sandbox_prefix`). Elsewhere grading runs without it, and the report says so.
    """

    cell_timeout: int = 60
    notebook_timeout: int = 600
    memory_gb: float = 4.0
    sandbox: bool = True


@dataclass
class GradeResult:
    """The outcome for one student.

    Attributes:
        score, max_score: points (0 when the submission could not be graded).
        failed_cells: graded cells that raised an error (wrong or missing answers).
        problems: what went wrong with the submission itself, in words (unreadable notebook,
            timeout, dead kernel, renamed file ...).
    """

    student: str
    score: float = 0.0
    max_score: float = 0.0
    failed_cells: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


SANDBOX_TOOLS = ("unshare", "setpriv", "ip", "findmnt", "mount")
SANDBOX_NOTE = ("not sandboxed (needs Linux, root, and unshare, setpriv, findmnt, ip): student "
                "code ran with the grader's rights and network")


def sandbox_available() -> bool:
    """Whether grading can run in private namespaces without capabilities (Linux, as root)."""
    return (hasattr(os, "geteuid") and os.geteuid() == 0
            and all(shutil.which(tool) for tool in SANDBOX_TOOLS))


def _hidden_paths(root: Path, also: list[Path]) -> tuple[list[Path], list[Path]]:
    """Folders and files student code must not see: the course's, and other workspaces."""
    repository = Path(__file__).resolve().parents[2]
    folders = [root / name for name in ("solutions", "source", "submitted", "autograded", "feedback")]
    folders += [repository / "solutions", *also]
    files = [root / "gradebook.db", root / "gradebook.db-journal"]
    return ([folder for folder in dict.fromkeys(folders) if folder.is_dir()],
            [file for file in files if file.is_file()])


def sandbox_prefix(root: Path, workspace: Path, hide: list[Path]) -> tuple[str, ...]:
    """A command prefix that grades inside private network and mount namespaces.

    Inside: loopback only; the course's solutions/, submitted/, autograded/, gradebook and the
    folders in ``hide`` covered by empty mode-000 mounts; every other mount read-only except
    ``workspace``; then all capabilities dropped, so the process (still uid 0) can neither
    unmount nor bypass file permissions.
    """
    folders, files = _hidden_paths(root, hide)
    quoted = shlex.quote(str(workspace))
    steps = ["ip link set lo up", "mount --make-rprivate /"]
    steps += [f"mount -t tmpfs -o size=1m,mode=000 cnnkit-hidden {shlex.quote(str(folder))}"
              for folder in folders]
    # Files are covered by an empty, mode-000 file: neither readable nor writable without caps.
    cover = workspace.parent / "cover"
    steps += [f"mount --bind {shlex.quote(str(cover))} {shlex.quote(str(file))}" for file in files]
    steps.append(f"mount --bind {quoted} {quoted}")
    steps.append("for target in $(findmnt -rn -o TARGET | grep -v -E '^/(proc|sys|dev)(/|$)'); do "
                 f"[ \"$target\" = {quoted} ] || mount -o remount,bind,ro \"$target\" 2>/dev/null; "
                 "done; true")
    steps.append('exec setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all '
                 '--no-new-privs -- "$@"')
    return ("unshare", "--net", "--mount", "sh", "-c", " && ".join(steps), "sh")


def _limit_memory(memory_gb: float):  # noqa: ANN202 - a preexec function
    limit = int(memory_gb * (1 << 30))

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return apply


def _workspace_config(course_config: str, limits: GradeLimits) -> str:
    return course_config + f"""

# Added by cnnkit course grade for one isolated grading run.
c.Execute.timeout = {limits.cell_timeout}
c.Execute.interrupt_on_timeout = True
c.OverwriteCells.add_missing_cells = True
c.IgnorePattern.pattern = {IGNORE_STDERR!r}
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
"""


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


# Assignments to, or setattr on, the code that graded cells rely on; reads of grading files.
_TAMPERING = re.compile(
    r"^.*(?:\b(?:checks|cnnkit|testing|builtins|keras|tf|assert_\w+)\b[\w.]*\.\w+\s*=(?!=)"
    r"|setattr\(\s*(?:checks|cnnkit|np|numpy|builtins|keras|tf)\b|sys\.modules\["
    r"|CNNKIT_PROFILE|NBGRADER_EXECUTION|/proc/self"
    r"|gradebook|sqlite3|solutions/|autograded/|submitted/).*$", re.MULTILINE)


def detect_tampering(notebook_path: Path) -> list[str]:
    """Return lines of the student's own cells that look like tampering (a reported suspicion).

    Graded cells restored by nbgrader still run, but a student cell that replaces, say,
    ``checks.check_conv2d`` or ``numpy.testing.assert_allclose`` could make them pass, and one
    that opens the gradebook could read the lab's test sources; such lines are listed in the
    grading report for a human to look at.
    """
    found = []
    for cell in nbformat.read(notebook_path, as_version=4).cells:
        if cell.cell_type != "code" or cell.get("metadata", {}).get("nbgrader", {}).get("locked"):
            continue
        found += [match.group(0).strip() for match in _TAMPERING.finditer(cell.source)]
    return found


def grade_student(root: Path, lab: str, student: str, template_db: Path, notebooks: list[str],
                  scratch: Path, limits: GradeLimits) -> tuple[GradeResult, Path | None]:
    """Grade one student in a private workspace; return the result and the workspace gradebook."""
    from nbgrader.api import Gradebook

    start = time.perf_counter()
    result = GradeResult(student)
    workspace = scratch / f"student-{student}"  # created, empty, before any worker started
    (workspace / "nbgrader_config.py").write_text(
        _workspace_config((root / "nbgrader_config.py").read_text(), limits))
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
        result.problems += [f"touches checking code or grading files, please review: {line[:120]}"
                            for line in detect_tampering(notebook)]
    args = ["autograde", lab, "--student", student, "--force", "--log-level=ERROR"]
    prefix: tuple[str, ...] = ()
    (workspace / "tmp").mkdir()
    home = {"HOME": str(workspace), "TMPDIR": str(workspace / "tmp"),
            "MPLCONFIGDIR": str(workspace / ".matplotlib")}
    if limits.sandbox and sandbox_available():
        siblings = [path for path in scratch.iterdir() if path.is_dir() and path != workspace]
        prefix = sandbox_prefix(root, workspace, siblings)
    try:
        completed = run_nbgrader(workspace, *args, timeout=limits.notebook_timeout,
                                 preexec=_limit_memory(limits.memory_gb), prefix=prefix,
                                 extra_env=home)
        if completed.returncode:
            last = [line for line in completed.stdout.splitlines() if line.strip()][-1:] or ["?"]
            result.problems.append(f"autograde failed (the kernel may have died): {last[0][:200]}")
    except subprocess.TimeoutExpired:
        result.problems.append(f"grading took longer than {limits.notebook_timeout} s and was stopped")
    autograded = workspace / "autograded" / student / lab
    if autograded.is_dir():
        result.failed_cells, cell_problems = _inspect_autograded(autograded)
        result.problems += cell_problems
    result.seconds = time.perf_counter() - start
    return result, workspace if autograded.is_dir() else None


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
        limits: time and memory limits; see `GradeLimits`.
        db_url: the course gradebook (default: sqlite root/gradebook.db; PostgreSQL URLs work).

    Returns:
        One `GradeResult` per student, sorted by student.
    """
    from nbgrader.api import Gradebook

    put_tools_on_path()
    root = Path(root).resolve()
    limits = limits or GradeLimits()
    db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(db_url) as gradebook:
        known = [student.id for student in gradebook.students]
    students = sorted(set(students or (known + submitted_students(root, lab))))
    merge_lock = threading.Lock()
    results: list[GradeResult] = []
    with tempfile.TemporaryDirectory(prefix="cnnkit-grade-") as scratch_name:
        scratch = Path(scratch_name)
        template_db, notebooks = make_template(root, lab, scratch)
        for student in students:  # all now, so that each sandbox can hide the others
            (scratch / f"student-{student}").mkdir()
        (scratch / "cover").touch(mode=0o000)
        with Gradebook(db_url) as gradebook:
            gradebook.update_or_create_assignment(lab)

        def work(student: str) -> GradeResult:
            result, workspace = grade_student(root, lab, student, template_db, notebooks, scratch, limits)
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
