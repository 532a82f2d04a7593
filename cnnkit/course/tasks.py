"""One student's grading as a self-contained task: what a Dask worker receives and sends back.

A task carries everything a worker needs (the student's files, the lab's template gradebook,
the course configuration), so workers need no shared file system; the result carries the
worker's gradebook and the autograded files back to the one process that merges them.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from cnnkit.course.grading import GradeResult, grade_student
from cnnkit.course.limits import GradeLimits
from cnnkit.course.sandbox import SandboxUnavailable, sandbox_support
from cnnkit.course.sandbox_workspace import shared_kernel_settings

MAX_FILE_BYTES = 2 << 30  # a submitted file larger than this is not sent (collect caps at 2 GiB)


@dataclass
class GradingTask:
    """Everything needed to grade one student's lab, anywhere.

    Attributes:
        lab, student: what and whom.
        files: the student's submitted folder, file name -> bytes (regular files only).
        template_db: bytes of a gradebook holding only the lab.
        notebooks: the lab's notebook names (without .ipynb).
        course_config: the text of the course's nbgrader_config.py.
        given: the source of every cell of the lab's own notebooks.
        limits: see `GradeLimits`.
        course_root: the course folder on the machine that made the task (never exposed to a
            sandbox there).
    """

    lab: str
    student: str
    files: dict[str, bytes]
    template_db: bytes
    notebooks: list[str]
    course_config: str
    given: frozenset[str]
    limits: GradeLimits
    course_root: str


@dataclass
class GradedWork:
    """What a worker sends back: the result, its gradebook (None: nothing was graded) and the
    autograded folder's files."""

    result: GradeResult
    gradebook: bytes | None
    autograded: dict[str, bytes]


def read_files(folder: Path) -> dict[str, bytes]:
    """The regular files directly in ``folder`` (no links, no sub-folders), by name."""
    if not folder.is_dir():
        return {}
    return {item.name: item.read_bytes() for item in sorted(folder.iterdir())
            if item.is_file() and not item.is_symlink() and item.stat().st_size <= MAX_FILE_BYTES}


def run_task(task: GradingTask) -> GradedWork:
    """Grade one student on this machine (a Dask worker, or a local process).

    Raises:
        SandboxUnavailable: the task asks for the sandbox and this machine cannot provide it.
    """
    sandbox = None
    if task.limits.sandbox:
        support = sandbox_support()
        if not support.available:
            raise SandboxUnavailable(support)
        sandbox = shared_kernel_settings(Path(task.course_root), task.limits)
    with tempfile.TemporaryDirectory(prefix="cnnkit-grade-") as scratch_name:
        scratch = Path(scratch_name)
        submitted = scratch / "submitted"
        submitted.mkdir()
        for name, content in task.files.items():
            (submitted / Path(name).name).write_bytes(content)
        template = scratch / "template.db"
        template.write_bytes(task.template_db)
        result, workspace = grade_student(submitted, task.course_config, task.given, task.lab,
                                          task.student, template, task.notebooks, scratch,
                                          task.limits, sandbox)
        if workspace is None:
            return GradedWork(result, None, {})
        autograded = workspace / "autograded" / task.student / task.lab
        return GradedWork(result, (workspace / "gradebook.db").read_bytes(),
                          read_files(autograded))
