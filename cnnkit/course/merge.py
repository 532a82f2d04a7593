"""Copy one student's autograde results from a worker's gradebook into the course gradebook.

Grades an instructor gave by hand (written answers, in Formgrader) are never overwritten by a
regrade; when the student handed in again since, they are flagged for review, as nbgrader's own
autograde does.

Each student's merge is one database transaction: nbgrader's Gradebook commits after nearly
every call, so those commits are turned into flushes until the student's rows are all written.
A crash half-way leaves the student's previous grades as they were.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

from nbgrader.api import Gradebook

from cnnkit.course.gradebook import open_gradebook


@contextlib.contextmanager
def one_transaction(gradebook: Gradebook) -> Iterator[None]:
    """Make everything ``gradebook`` writes inside the block one transaction (all or nothing)."""
    session = gradebook.db
    commit = session.commit
    session.commit = session.flush  # nbgrader's own commits become flushes within the block
    try:
        yield
    except BaseException:
        del session.commit
        session.rollback()
        raise
    del session.commit
    commit()


@contextlib.contextmanager
def _without_autoflush_warnings() -> Iterator[None]:
    """nbgrader's add_submission triggers harmless SQLAlchemy autoflush warnings; hide them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not in session.*")
        yield


def ensure_assignment(course: Gradebook, template: Gradebook, lab: str) -> None:
    """Give the course gradebook the lab's notebooks and cells, as the template has them."""
    course.update_or_create_assignment(lab)
    for notebook in template.find_assignment(lab).notebooks:
        course.update_or_create_notebook(notebook.name, lab)
        for cell in notebook.grade_cells:
            course.update_or_create_grade_cell(cell.name, notebook.name, lab,
                                               max_score=cell.max_score, cell_type=cell.cell_type)
        for cell in notebook.solution_cells:
            course.update_or_create_solution_cell(cell.name, notebook.name, lab)
        for cell in notebook.task_cells:
            course.update_or_create_task_cell(cell.name, notebook.name, lab,
                                              max_score=cell.max_score, cell_type=cell.cell_type)
        for cell in notebook.source_cells:
            course.update_or_create_source_cell(cell.name, notebook.name, lab, source=cell.source,
                                                cell_type=cell.cell_type, locked=cell.locked,
                                                checksum=cell.checksum)


def merge_submission(db_url: str, worker_db: Path, lab: str, student: str) -> tuple[float, float]:
    """Replace ``student``'s submission of ``lab`` in the course gradebook with the worker's.

    Returns:
        The merged (score, max_score).
    """
    with _without_autoflush_warnings():
        return _merge(db_url, worker_db, lab, student)


def _merge(db_url: str, worker_db: Path, lab: str, student: str) -> tuple[float, float]:
    with Gradebook(f"sqlite:///{worker_db}") as worker, open_gradebook(db_url) as course, \
            one_transaction(course):
        ensure_assignment(course, worker, lab)
        course.update_or_create_student(student)
        graded = worker.find_submission(lab, student)
        handed_in_again = _previous_timestamp(course, lab, student) != graded.timestamp
        submission = course.update_or_create_submission(lab, student, timestamp=graded.timestamp)
        for worker_notebook in graded.notebooks:
            for grade in worker_notebook.grades:
                target = course.find_grade(grade.name, worker_notebook.name, lab, student)
                target.auto_score = grade.auto_score
                target.extra_credit = grade.extra_credit
                if target.manual_score is None:
                    target.needs_manual_grade = grade.needs_manual_grade
                else:  # an instructor's grade is kept; a new hand-in flags it for review
                    target.needs_manual_grade = target.needs_manual_grade or handed_in_again
            for comment in worker_notebook.comments:
                target = course.find_comment(comment.name, worker_notebook.name, lab, student)
                target.auto_comment = comment.auto_comment
            course.find_submission_notebook(worker_notebook.name, lab, student).flagged = \
                worker_notebook.flagged
        course.db.flush()
        course.db.expire(submission)  # its score is a SQL sum: read it again, after the updates
        return float(submission.score), float(submission.max_score)


def _previous_timestamp(course: Gradebook, lab: str, student: str):  # noqa: ANN202 - datetime|None
    """When the course gradebook's copy of this submission was handed in (None: it has none)."""
    from nbgrader.api import MissingEntry

    try:
        return course.find_submission(lab, student).timestamp
    except MissingEntry:
        return None


def record_empty_submission(db_url: str, template_db: Path, lab: str, student: str) -> float:
    """Give a student whose submission could not be graded a row with zero points.

    nbgrader leaves such a student without any row; the kit keeps the gradebook complete.
    Returns the lab's maximum score.
    """
    with _without_autoflush_warnings():
        return _empty(db_url, template_db, lab, student)


def _empty(db_url: str, template_db: Path, lab: str, student: str) -> float:
    with Gradebook(f"sqlite:///{template_db}") as template, open_gradebook(db_url) as course, \
            one_transaction(course):
        ensure_assignment(course, template, lab)
        course.update_or_create_student(student)
        existing = [s for s in course.find_student(student).submissions if s.assignment.name == lab]
        if existing:
            course.remove_submission(lab, student)
        submission = course.add_submission(lab, student)
        for notebook in submission.notebooks:  # nothing handed in: nothing waits for a grader
            for grade in notebook.grades:
                grade.auto_score, grade.needs_manual_grade = 0.0, False
        return float(submission.max_score)
