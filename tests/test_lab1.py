"""Lab 1 with the real nbgrader CLI: the release is in sync, the solution runs in the smoke profile,
and a round trip grades as it should."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cnnkit.course import audit_release, stale_labs
from cnnkit.course.nbgrader_cli import run_nbgrader
from tests.labcode import assert_round_trip, lab_points, make_course, smoke_run

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab1-convolution"
NOTEBOOK = f"{LAB}.ipynb"
MAX_POINTS = 33.0  # 27 autograded + 6 for four written answers


def nbgrader(course: Path, *args: str) -> None:
    """Run the nbgrader CLI in ``course``; fail the test with its output if it fails."""
    result = run_nbgrader(course, *args, timeout=600)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}"


@pytest.mark.slow
def test_released_lab_is_what_nbgrader_generates_from_the_solution():
    """Is labs/ exactly nbgrader's output for solutions/? (Else: run ./kit labs and commit.)"""
    assert stale_labs(ROOT) == [], "labs/ is out of date: run ./kit labs and commit the result"


def test_released_lab_holds_no_solution_hidden_test_or_output():
    """Does the student version hold no solution code, no hidden tests and no outputs?"""
    assert audit_release(ROOT) == []
    text = (ROOT / "labs" / LAB / NOTEBOOK).read_text()
    for solution_code in ("check_conv2d_backward", "np.einsum", "sliding_window_view(padded",
                          "np.add.at", "argmax(axis=-1)", "(above - below)", "np.ndindex",
                          "np.finfo(np.float64).tiny", "learning_rate * grad_kernel",
                          "predicted_chain_size = 400", "predicted_pool_nonzeros = 27",
                          "**Model answer.**"):
        assert solution_code not in text, f"the released lab contains {solution_code!r}"


def test_points_are_27_autograded_and_6_written():
    """Do the graded cells add up to the points the lab's introduction announces?"""
    assert lab_points(LAB) == (27.0, 6.0) and sum(lab_points(LAB)) == MAX_POINTS
    intro = (ROOT / "solutions" / LAB / NOTEBOOK).read_text()
    assert "**Points:** 33: 27 graded automatically, 6 for four written answers" in intro


@pytest.mark.slow
def test_solution_runs_in_the_smoke_profile(tmp_path):
    """Does the solution run top to bottom in the smoke profile, printing the measured
    gradient-check errors below 1e-7 and a learned kernel close to the Sobel kernel? (Its wall time
    is recorded against a two-minute budget: tests/timings.py.)"""
    import nbformat

    folder = smoke_run(LAB, tmp_path)
    printed = "".join(output.get("text", "") for cell in nbformat.read(folder / NOTEBOOK, 4).cells
                      for output in cell.get("outputs", []))
    assert printed.count("(below 1e-7)") == 4 and "ABOVE" not in printed
    assert "learn_kernel: learned the kernel to within" in printed


@pytest.mark.slow
def test_round_trip_solution_gets_full_marks_and_blank_release_gets_zero(tmp_path):
    """Through the real CLI: the solution gets 27/33 and waits for its 4 written answers, the
    unchanged release 0/33; once the answers are graded the solution has 33/33."""
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
    db_url = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(db_url) as gradebook:
        assert gradebook.find_submission(LAB, "bob").max_score == MAX_POINTS
        failed_for_bob = [grade.name for grade in gradebook.find_submission_notebook(
            NOTEBOOK[:-6], LAB, "bob").grades if grade.auto_score]
        assert failed_for_bob == []
    for student in ("alice", "bob"):
        assert (course / "autograded" / student / LAB / NOTEBOOK).is_file()
    assert_round_trip(db_url, LAB, "alice", "bob")
