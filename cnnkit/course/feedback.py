"""Feedback for students: nbgrader renders each graded notebook as HTML; no student code runs."""

from __future__ import annotations

from pathlib import Path

from cnnkit.course.gradebook import gradebook_url
from cnnkit.course.nbgrader_cli import run_nbgrader


def generate_feedback(root: Path, lab: str, students: list[str] | None = None,
                      db_url: str | None = None) -> list[Path]:
    """Write HTML feedback per graded student (nbgrader generate_feedback); return the files.

    No student code runs: nbgrader renders the autograded notebooks. ``db_url`` names the
    gradebook (default: the course's, as `cnnkit.course.gradebook.gradebook_url` finds it).
    """
    url = gradebook_url(Path(root), db_url)
    for only in [[f"--student={student}"] for student in students or []] or [[]]:
        # nbgrader takes one --student per run
        result = run_nbgrader(Path(root), "generate_feedback", lab, "--force", "--log-level=ERROR",
                              f"--CourseDirectory.db_url={url}", *only)
        if result.returncode:
            raise RuntimeError(f"nbgrader generate_feedback failed:\n{result.stdout}")
    return sorted((Path(root) / "feedback").glob(f"*/{lab}/*.html"))
