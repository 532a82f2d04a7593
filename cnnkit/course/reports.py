"""What grading tells people: a summary table, and a CSV of every grade."""

from __future__ import annotations

import csv
from pathlib import Path

from cnnkit.course.grading import GradeResult


def summary_table(results: list[GradeResult]) -> str:
    """Format one line per student: score, maximum, failed graded cells, seconds, whether the
    student's code ran in the sandbox, and problems."""
    lines = [f"{'student':<16} {'score':>7} {'max':>6} {'failed':>6} {'time':>6}  "
             f"{'isolation':<12}  problems",
             f"{'-' * 16} {'-' * 7} {'-' * 6} {'-' * 6} {'-' * 6}  {'-' * 12}  {'-' * 8}"]
    for result in results:
        problems = "; ".join(result.problems) or "-"
        isolation = "-" if result.absent else "sandbox" if result.isolated else "NOT ISOLATED"
        lines.append(f"{result.student:<16} {result.score:>7.2f} {result.max_score:>6.1f} "
                     f"{result.failed_cells:>6} {result.seconds:>5.0f}s  {isolation:<12}  {problems}")
    return "\n".join(lines)


def _waiting(submission) -> int:  # noqa: ANN001 - nbgrader's SubmittedAssignment
    """How many of a submission's graded cells wait for an instructor."""
    return sum(1 for notebook in submission.notebooks
               for grade in notebook.grades if grade.needs_manual_grade)


def answers_to_grade(db_url: str, lab: str) -> dict[str, int]:
    """The written answers of ``lab`` that wait for an instructor, per student (only those > 0)."""
    from cnnkit.course.gradebook import open_gradebook

    waiting = {}
    with open_gradebook(db_url) as gradebook:
        for submission in gradebook.find_assignment(lab).submissions:
            count = _waiting(submission)
            if count:
                waiting[submission.student.id] = count
    return waiting


def export_grades(db_url: str, path: Path) -> int:
    """Write every student's score in every lab to a CSV file; return the number of rows.

    Columns: student, lab, score, max_score, needs_grading. A student with no submission gets a 0
    row. ``score`` counts the written answers an instructor has graded in Formgrader (their manual
    score) and not yet those still waiting; ``needs_grading`` says how many are waiting, so a row
    with a number there is not final.
    """
    from cnnkit.course.gradebook import open_gradebook

    rows = []
    with open_gradebook(db_url) as gradebook:
        for assignment in gradebook.assignments:
            for student in gradebook.students:
                try:
                    submission = gradebook.find_submission(assignment.name, student.id)
                except Exception:  # noqa: BLE001 - nbgrader's MissingEntry: no submission
                    score, waiting = 0.0, 0
                else:
                    score, waiting = submission.score, _waiting(submission)
                rows.append((student.id, assignment.name, f"{score:g}",
                             f"{assignment.max_score:g}", str(waiting)))
    with open(path, "w", newline="") as output:
        writer = csv.writer(output)
        writer.writerow(["student", "lab", "score", "max_score", "needs_grading"])
        writer.writerows(sorted(rows))
    return len(rows)
