"""Grade a whole class: one task per student on Dask workers, merged into the gradebook one by one.

``--jobs N`` runs the tasks on a local Dask cluster of N worker processes; ``--cluster ADDRESS``
sends them to the workers of an existing cluster (other machines). Either way this process
builds the tasks, and merges each result into the course gradebook as it arrives, one student
at a time, each in one transaction. A worker that dies mid-task loses nothing: the scheduler
runs its tasks again on another worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from cnnkit.course.gradebook import gradebook_url, open_gradebook
from cnnkit.course.grading import GradeResult, given_sources, make_template
from cnnkit.course.limits import GradeLimits
from cnnkit.course.merge import merge_submission, record_empty_submission
from cnnkit.course.nbgrader_cli import put_tools_on_path
from cnnkit.course.sandbox import SandboxUnavailable, sandbox_support
from cnnkit.course.tasks import GradedWork, GradingTask, read_files, run_task


def submitted_students(root: Path, lab: str) -> list[str]:
    """Students with a folder for this lab under submitted/."""
    return sorted(path.parent.name for path in (root / "submitted").glob(f"*/{lab}")
                  if path.is_dir())


@contextlib.contextmanager
def dask_client(cluster: str | None, jobs: int) -> Iterator[object]:
    """A Dask client: of the cluster at ``cluster`` (e.g. tcp://host:8786), or of a new local
    cluster of ``jobs`` single-threaded workers in this process.

    Local workers are threads, not processes: each task spends its time waiting on its own
    ``nbgrader`` process, and threads need no ``if __name__ == "__main__"`` guard in a script
    that calls `grade_lab` (Dask's worker processes would re-run such a script).
    """
    from distributed import Client, LocalCluster

    if cluster:
        with Client(cluster, timeout="30s") as client:
            yield client
        return
    with LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=False,
                      dashboard_address=None, silence_logs=logging.ERROR) as local, \
            Client(local) as client:
        yield client


def _absent_results(db_url: str, template_db: Path, lab: str, students: list[str],
                    record_missing: bool) -> list[GradeResult]:
    """Results for students with no submission folder here: their grades are never replaced.

    With ``record_missing``, a student who has no grade for the lab yet gets a 0 row.
    """
    from nbgrader.api import MissingEntry

    results = []
    for student in students:
        result = GradeResult(student, absent=True)
        with open_gradebook(db_url) as gradebook:
            try:
                submission = gradebook.find_submission(lab, student)
                result.score = float(submission.score)
                result.max_score = float(submission.max_score)
                result.problems.append("no submission here: not graded, its grade kept")
            except MissingEntry:
                submission = None
        if submission is None and record_missing:
            result.max_score = record_empty_submission(db_url, template_db, lab, student)
            result.problems.append("no submission folder: recorded 0 (--record-missing)")
        elif submission is None:
            result.problems.append("no submission here: not graded")
        results.append(result)
    return results


def _merge(root: Path, db_url: str, template_db: Path, lab: str, work: GradedWork) -> GradeResult:
    """Put one graded student into the gradebook and autograded/; return the final result."""
    result = work.result
    if work.gradebook is None:
        result.max_score = record_empty_submission(db_url, template_db, lab, result.student)
        return result
    with tempfile.TemporaryDirectory(prefix="cnnkit-merge-") as folder:
        worker_db = Path(folder) / "gradebook.db"
        worker_db.write_bytes(work.gradebook)
        try:
            result.score, result.max_score = merge_submission(db_url, worker_db, lab,
                                                              result.student)
        except Exception as error:  # noqa: BLE001 - e.g. the kernel died before grades were saved
            result.problems.append(f"no grades were saved ({type(error).__name__}); scored 0")
            result.score = 0.0
            result.max_score = record_empty_submission(db_url, template_db, lab, result.student)
    target = root / "autograded" / result.student / lab
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name, content in work.autograded.items():
        (target / Path(name).name).write_bytes(content)
    return result


def grade_lab(root: Path, lab: str, students: list[str] | None = None, jobs: int = 1,
              limits: GradeLimits | None = None, db_url: str | None = None,
              record_missing: bool = False, cluster: str | None = None) -> list[GradeResult]:
    """Autograde ``lab`` for ``students`` (default: every student of the gradebook or submitted/).

    Only students with a folder under ``submitted/`` here are graded: a student without one
    (graded on another machine, or not handed in yet) keeps whatever grade the gradebook holds.

    Args:
        root: the course folder (holding nbgrader_config.py, solutions/, submitted/).
        lab: the lab's folder name, e.g. "lab1-convolution".
        students: whom to grade; None grades all.
        jobs: worker processes of the local cluster (ignored with ``cluster``).
        limits: time, memory, process and disk limits, and the sandbox; see `GradeLimits`.
        db_url: the course gradebook (default: nbgrader_config.py's ``c.CourseDirectory.db_url``,
            else sqlite root/gradebook.db; PostgreSQL URLs work).
        record_missing: give a 0 to each such student who has no grade for the lab yet.
        cluster: the address of a Dask scheduler whose workers grade (e.g. tcp://host:8786).

    Returns:
        One `GradeResult` per student, sorted by student (``absent`` for those not graded).

    Raises:
        SandboxUnavailable: ``limits.sandbox`` is on and this machine (or a worker) cannot
            isolate student code; the message says what is missing and how to fix it. Nothing
            was graded here; students merged before a remote worker refused keep their grades.
    """
    put_tools_on_path()
    root = Path(root).resolve()
    limits = limits or GradeLimits()
    if limits.cpus <= 0:
        limits = replace(limits, cpus=max(1.0, (os.cpu_count() or 1) / max(1, jobs)))
    if limits.sandbox and not cluster and not sandbox_support().available:
        raise SandboxUnavailable(sandbox_support())
    db_url = gradebook_url(root, db_url)
    with open_gradebook(db_url) as gradebook:
        known = [student.id for student in gradebook.students]
    here = set(submitted_students(root, lab))
    wanted = sorted(set(students or (known + sorted(here))))
    with tempfile.TemporaryDirectory(prefix="cnnkit-grade-") as scratch:
        template_db, notebooks = make_template(root, lab, Path(scratch))
        with open_gradebook(db_url) as gradebook:
            gradebook.update_or_create_assignment(lab)
        common = {"lab": lab, "template_db": template_db.read_bytes(), "notebooks": notebooks,
                  "course_config": (root / "nbgrader_config.py").read_text(),
                  "given": given_sources(root, lab), "limits": limits, "course_root": str(root)}
        tasks = [GradingTask(student=student, files=read_files(root / "submitted" / student / lab),
                             **common) for student in wanted if student in here]
        results = _run(tasks, root, db_url, template_db, lab, cluster, jobs)
        results += _absent_results(db_url, template_db, lab,
                                   [student for student in wanted if student not in here],
                                   record_missing)
    return sorted(results, key=lambda result: result.student)


def _run(tasks: list[GradingTask], root: Path, db_url: str, template_db: Path, lab: str,
         cluster: str | None, jobs: int) -> list[GradeResult]:
    """Grade the tasks on Dask workers; merge each result as it arrives."""
    if not tasks:
        return []
    from distributed import as_completed

    results = []
    with dask_client(cluster, jobs) as client:
        run = uuid.uuid4().hex[:8]  # several graders may share one cluster
        futures = client.map(run_task, tasks, pure=False,
                             key=[f"grade-{lab}-{task.student}-{run}" for task in tasks])
        for future in as_completed(futures):
            results.append(_merge(root, db_url, template_db, lab, future.result()))
    return results
