"""Lab 1 with the real nbgrader CLI: the release is in sync, and a round trip grades as it should."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cnnkit.course import audit_release, check_in_sync
from cnnkit.course.nbgrader_cli import run_nbgrader
from labcode import make_course

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab1-convolution"
NOTEBOOK = f"{LAB}.ipynb"
MAX_POINTS = 18.0


def nbgrader(course: Path, *args: str) -> None:
    """Run the nbgrader CLI in ``course``; fail the test with its output if it fails."""
    result = run_nbgrader(course, *args, timeout=600)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}"


@pytest.mark.slow
def test_released_lab_is_what_nbgrader_generates_from_the_solution():
    """Is labs/ exactly nbgrader's output for solutions/? (Else: run ./kit labs and commit.)"""
    assert check_in_sync(ROOT) == [], "labs/ is out of date: run ./kit labs and commit the result"


def test_released_lab_holds_no_solution_hidden_test_or_output():
    """Does the student version hold no solution code, no hidden tests and no outputs?"""
    assert audit_release(ROOT) == []
    text = (ROOT / "labs" / LAB / NOTEBOOK).read_text()
    for solution_code in ("check_conv2d_backward", "np.einsum", "sliding_window_view(padded"):
        assert solution_code not in text, f"the released lab contains {solution_code!r}"


@pytest.mark.slow
def test_round_trip_solution_gets_full_marks_and_blank_release_gets_zero(tmp_path):
    """Through the real CLI: solution -> 18/18, unchanged release -> 0/18, both in the gradebook."""
    from nbgrader.api import Gradebook

    course = make_course(tmp_path / "course", LAB)
    nbgrader(course, "generate_assignment", LAB)
    for student in ("alice", "bob"):
        nbgrader(course, "db", "student", "add", student)
    submissions = {"alice": course / "solutions" / LAB / NOTEBOOK, "bob": course / "labs" / LAB / NOTEBOOK}
    for student, notebook in submissions.items():
        target = course / "submitted" / student / LAB
        target.mkdir(parents=True)
        shutil.copy(notebook, target / NOTEBOOK)
    nbgrader(course, "autograde", LAB)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        alice = gradebook.find_submission(LAB, "alice")
        bob = gradebook.find_submission(LAB, "bob")
        assert (alice.score, alice.max_score) == (MAX_POINTS, MAX_POINTS)
        assert (bob.score, bob.max_score) == (0.0, MAX_POINTS)
        failed_for_bob = [grade.name for grade in gradebook.find_submission_notebook(
            NOTEBOOK[:-6], LAB, "bob").grades if grade.auto_score]
        assert failed_for_bob == []
    for student in ("alice", "bob"):
        assert (course / "autograded" / student / LAB / NOTEBOOK).is_file()
