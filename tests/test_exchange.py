"""The JupyterHub path through nbgrader's exchange, end to end, with `cnnkit course grade` in it.

release_assignment (from labs/) → a student's fetch_assignment and submit → collect → `cnnkit
course grade` and `feedback` → release_feedback → the student's fetch_feedback. The student is
the user running the tests (nbgrader's exchange names students by their login).
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.labcode import lab_points

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab1-convolution"
NOTEBOOK = f"{LAB}.ipynb"


def _run(folder: Path, *command: str) -> subprocess.CompletedProcess:
    from cnnkit.course.nbgrader_cli import nbgrader_env

    completed = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600,
                               env=nbgrader_env())
    assert completed.returncode == 0, f"{' '.join(command)}:\n{completed.stdout}{completed.stderr}"
    return completed


@pytest.mark.slow
def test_release_fetch_submit_collect_grade_and_feedback_through_the_exchange(tmp_path):
    """Does a submission that went through nbgrader's exchange come back graded (every autograded
    point, its written answers waiting for the instructor)?"""
    exchange, course, student = tmp_path / "exchange", tmp_path / "course", tmp_path / "student"
    exchange.mkdir(mode=0o777)
    exchange.chmod(0o777)
    student.mkdir()
    shutil.copytree(ROOT / "solutions" / LAB, course / "solutions" / LAB)
    shutil.copytree(ROOT / "labs" / LAB, course / "labs" / LAB)
    config = (ROOT / "nbgrader_config.py").read_text() + f"\nc.Exchange.root = {str(exchange)!r}\n"
    (course / "nbgrader_config.py").write_text(config)
    nbgrader = [sys.executable, "-m", "nbgrader"]
    as_student = ["--course=cnnkit", f"--Exchange.root={exchange}"]

    _run(course, *nbgrader, "db", "assignment", "add", LAB)
    _run(course, *nbgrader, "release_assignment", LAB)
    _run(student, *nbgrader, "fetch_assignment", LAB, *as_student)
    fetched = student / LAB / NOTEBOOK
    assert "NotImplementedError" in fetched.read_text()  # the release, as students get it
    shutil.copy(ROOT / "solutions" / LAB / NOTEBOOK, fetched)  # the student's finished work
    _run(student, *nbgrader, "submit", LAB, *as_student)
    _run(course, *nbgrader, "collect", LAB)
    me = getpass.getuser()
    assert (course / "submitted" / me / LAB / NOTEBOOK).is_file()

    cnnkit = [sys.executable, "-m", "cnnkit", "course", "--course", str(course)]
    graded = _run(course, *cnnkit, "grade", LAB)
    automatic, written = lab_points(LAB)
    assert f"{me:<16} {automatic:>7.2f} {automatic + written:>6.1f}" in graded.stdout, graded.stdout
    _run(course, *cnnkit, "feedback", LAB)
    _run(course, *nbgrader, "release_feedback", LAB)
    _run(student, *nbgrader, "fetch_feedback", LAB, *as_student)
    pages = list((student / LAB / "feedback").glob(f"*/{LAB}.html"))
    assert len(pages) == 1 and f"{automatic} / {automatic + written}" in pages[0].read_text()
