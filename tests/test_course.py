"""`cnnkit course`: release audit, and grading that no submission can break (real nbgrader CLI).

One course with a correct submission among many broken ones is graded once, with two workers;
each test then checks one student's outcome. Lab 1's conv_params cell is the usual victim: the
part is worth 1 point, so "everything else correct" scores 17 / 18.
"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cnnkit.course import audit_release, export_grades, grade_lab
from cnnkit.course.grading import GradeLimits, sandbox_available
from labcode import make_course

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab1-convolution"
NOTEBOOK = f"{LAB}.ipynb"
SOLUTION = json.loads((ROOT / "solutions" / LAB / NOTEBOOK).read_text())
RELEASE = json.loads((ROOT / "labs" / LAB / NOTEBOOK).read_text())


def edited(notebook: dict, grade_id: str, source: str | None) -> dict:
    """A copy of ``notebook`` whose cell ``grade_id`` has new source (None: the cell is deleted)."""
    result = copy.deepcopy(notebook)
    cells = result["cells"]
    index = next(i for i, cell in enumerate(cells)
                 if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    if source is None:
        del cells[index]
    else:
        cells[index]["source"] = source
    return result


def _dump(notebook: dict) -> bytes:
    return json.dumps(notebook).encode()


def _v3(notebook: dict) -> bytes:
    return nbformat.writes(nbformat.convert(nbformat.reads(json.dumps(notebook), as_version=4), 3)).encode()


def submissions(course: Path) -> dict[str, dict[str, bytes]]:
    """Each student's files, keyed by file name."""
    wrong_params = "def conv_params(f, c_in, k):\n    return f * f * c_in * k\n"
    snoop = f"""
import os, pathlib, cnnkit
targets = [pathlib.Path(cnnkit.__file__).resolve().parents[1] / "solutions",
           pathlib.Path({str(course)!r}) / "solutions", pathlib.Path({str(course)!r}) / "gradebook.db",
           pathlib.Path("../../../gradebook.db")]
seen = []
for target in targets:
    try:
        seen.append((str(target), "READ", os.listdir(target) if target.is_dir() else len(target.read_bytes())))
    except OSError as error:
        seen.append((str(target), "blocked", type(error).__name__))
    try:
        with open(target / "planted.txt" if target.is_dir() else target, "ab") as handle:
            handle.write(b"planted by a submission")
        seen.append((str(target), "WROTE"))
    except OSError as error:
        seen.append((str(target), "write blocked", type(error).__name__))
print("SNOOP", seen)
def conv_params(f, c_in, k):
    return f * f * c_in * k + k
"""
    params = "def conv_params(f, c_in, k):\n    return f * f * c_in * k + k\n"
    return {
        "good": {NOTEBOOK: _dump(SOLUTION)},
        "blank": {NOTEBOOK: _dump(RELEASE)},
        "truncated": {NOTEBOOK: _dump(SOLUTION)[:5000]},
        "garbage": {NOTEBOOK: b"\x00\x01 this is not a notebook"},
        "loop": {NOTEBOOK: _dump(edited(SOLUTION, "conv_params", "while True:\n    pass\n"))},
        "sleeper": {NOTEBOOK: _dump(edited(SOLUTION, "conv_params", "import time\ntime.sleep(10**6)\n"))},
        "exits": {NOTEBOOK: _dump(edited(SOLUTION, "conv_params", "import os\nos._exit(1)\n"))},
        "hog": {NOTEBOOK: _dump(edited(SOLUTION, "conv_params", "hog = np.ones(2**31)\n" + params))},
        "deleted_test": {NOTEBOOK: _dump(edited(SOLUTION, "test_conv_params", None))},
        "edited_test": {NOTEBOOK: _dump(edited(edited(SOLUTION, "conv_params", wrong_params),
                                               "test_conv_params", "pass\n"))},
        "syntax": {NOTEBOOK: _dump(edited(SOLUTION, "conv_params", "def conv_params(:\n"))},
        "renamed": {"my lab 1.ipynb": _dump(SOLUTION)},
        "missing": {"notes.txt": b"I forgot the notebook"},
        "old_format": {NOTEBOOK: _v3(SOLUTION)},
        "chatty": {NOTEBOOK: _dump(edited(SOLUTION, "conv_params",
                                          "print('spam\\n' * 200000)\n" + params))},
        "tamper": {NOTEBOOK: _dump(edited(SOLUTION, "conv_params",
                                          "checks.check_conv_params = lambda *a, **k: None\n"
                                          "import numpy.testing\n"
                                          "numpy.testing.assert_array_equal = lambda *a, **k: None\n"
                                          + wrong_params))},
        "snoop": {NOTEBOOK: _dump(edited(SOLUTION, "conv_params", snoop))},
    }


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course with every submission above, graded once with two workers."""
    from nbgrader.api import Gradebook

    from cnnkit.course.nbgrader_cli import put_tools_on_path

    put_tools_on_path()
    course = make_course(tmp_path_factory.mktemp("course"), LAB)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_student("absent")  # enrolled, submitted nothing
    for student, files in submissions(course).items():
        folder = course / "submitted" / student / LAB
        folder.mkdir(parents=True)
        for name, content in files.items():
            (folder / name).write_bytes(content)
    before = {"solutions": _fingerprint(course / "solutions"),
              "repository solutions": _fingerprint(ROOT / "solutions")}
    limits = GradeLimits(cell_timeout=20, notebook_timeout=240, memory_gb=4)
    results = {result.student: result for result in grade_lab(course, LAB, jobs=2, limits=limits)}
    after = {"solutions": _fingerprint(course / "solutions"),
             "repository solutions": _fingerprint(ROOT / "solutions")}
    return course, results, before, after


def _autograded_text(course: Path, student: str) -> str:
    return (course / "autograded" / student / LAB / NOTEBOOK).read_text()


@pytest.mark.slow
def test_every_student_has_a_row_and_the_correct_one_full_marks(graded):
    """With two workers and many broken submissions: a row for everyone, the good one 18/18?"""
    from nbgrader.api import Gradebook

    course, results, _, _ = graded
    assert results["good"].score == 18.0 and results["good"].problems == []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        rows = {s.student.id: s.score for s in gradebook.find_assignment(LAB).submissions}
    assert set(rows) == set(results) and "absent" in rows
    assert {student: rows[student] for student in results} == {
        student: result.score for student, result in results.items()}


@pytest.mark.slow
@pytest.mark.parametrize("student, score, problem", [
    ("blank", 0.0, None),
    ("absent", 0.0, "no submission folder"),
    ("truncated", 0.0, "not a readable notebook"),
    ("garbage", 0.0, "not a readable notebook"),
    ("missing", 0.0, f"{NOTEBOOK} is missing"),
    ("loop", 17.0, "cell conv_params ran past the time limit"),
    ("sleeper", 17.0, "cell conv_params ran past the time limit"),
    ("hog", 17.0, "cell conv_params ran out of memory"),
    ("syntax", 17.0, None),
    ("deleted_test", 18.0, None),
    ("edited_test", 17.0, None),
    ("renamed", 18.0, "notebook renamed to my lab 1.ipynb: graded as lab1-convolution.ipynb"),
    ("old_format", 18.0, None),
    ("chatty", 18.0, None),
])
def test_bad_submission_costs_only_its_own_points_with_a_reason(graded, student, score, problem):
    """Does each broken submission get its score and, where grading itself hit trouble, a reason?"""
    _, results, _, _ = graded
    result = results[student]
    assert result.score == score, result
    if problem:
        assert any(problem in text for text in result.problems), result.problems
    else:
        assert result.problems == []


@pytest.mark.slow
def test_a_dying_kernel_scores_zero_with_the_reason(graded):
    """Does os._exit in a cell give 0 with a reason, not an aborted batch?"""
    _, results, _, _ = graded
    assert results["exits"].score == 0.0
    assert any("kernel" in text or "no grades were saved" in text for text in results["exits"].problems)


@pytest.mark.slow
def test_gigantic_output_is_truncated(graded):
    """Is a 200,000-line print cut down in the autograded notebook?"""
    course, _, _, _ = graded
    assert len(_autograded_text(course, "chatty")) < 2_000_000


@pytest.mark.slow
def test_tampering_with_the_checks_is_caught_and_reported(graded):
    """Does replacing checks and numpy.testing still fail the wrong answer, and get reported?"""
    _, results, _, _ = graded
    assert results["tamper"].score == 17.0
    assert any("touches checking code" in text and "checks.check_conv_params" in text
               for text in results["tamper"].problems)


@pytest.mark.slow
def test_a_snooping_submission_reads_and_changes_nothing_of_the_course(graded):
    """Can a submission read or write solutions/ or the course gradebook? It must change nothing.

    Its own worker's gradebook copy stays reachable (nbgrader needs it); that is reported.
    """
    course, results, before, after = graded
    assert before == after, "solutions/ changed during grading"
    assert b"planted" not in (course / "gradebook.db").read_bytes()
    assert not list(course.rglob("planted.txt")) and not list(ROOT.rglob("planted.txt"))
    assert results["snoop"].score == 18.0
    assert any("grading files" in text and "gradebook.db" in text for text in results["snoop"].problems)
    if not sandbox_available():
        pytest.skip("reading is blocked only inside the sandbox (Linux, root); writing was checked")
    printed = _autograded_text(course, "snoop")
    course_targets = [str(ROOT / "solutions"), str(course / "solutions"), str(course / "gradebook.db")]
    for target in course_targets:
        assert f"('{target}', 'blocked'" in printed and f"('{target}', 'write blocked'" in printed


def test_release_audit_finds_leaks(tmp_path):
    """Does the audit name a released notebook with solution code, hidden tests or outputs?"""
    leaky = copy.deepcopy(SOLUTION)
    leaky["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi"}]
    (tmp_path / "labs" / LAB).mkdir(parents=True)
    (tmp_path / "labs" / LAB / NOTEBOOK).write_text(json.dumps(leaky))
    problems = audit_release(tmp_path)
    assert any("BEGIN SOLUTION" in p for p in problems) and any("BEGIN HIDDEN TESTS" in p for p in problems)
    assert any("1 cell(s) have outputs" in p for p in problems)
    assert audit_release(ROOT) == []


@pytest.mark.slow
def test_export_writes_one_row_per_student(graded, tmp_path):
    """Does export write a CSV row for every student, including those who submitted nothing?"""
    course, results, _, _ = graded
    rows = export_grades(f"sqlite:///{course / 'gradebook.db'}", tmp_path / "grades.csv")
    lines = (tmp_path / "grades.csv").read_text().splitlines()
    assert lines[0] == "student,lab,score,max_score" and rows == len(results)
    assert f"good,{LAB},18,18" in lines and f"absent,{LAB},0,18" in lines


@pytest.mark.slow
def test_cli_exit_status_tells_student_problems_from_a_broken_grader(tmp_path):
    """Exit 1 when a submission had problems, 2 when the grader itself cannot run."""
    course = make_course(tmp_path / "course", LAB)
    (course / "submitted" / "garbage" / LAB).mkdir(parents=True)
    (course / "submitted" / "garbage" / LAB / NOTEBOOK).write_text("{")
    command = [sys.executable, "-m", "cnnkit", "course", "--course", str(course), "grade", LAB]
    student_problem = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert student_problem.returncode == 1, student_problem.stdout + student_problem.stderr
    assert "garbage" in student_problem.stdout and "1 with problems" in student_problem.stdout
    broken = subprocess.run(command[:-1] + ["no-such-lab"], capture_output=True, text=True, timeout=300)
    assert broken.returncode == 2 and "the grader failed" in broken.stderr


@pytest.mark.slow
def test_feedback_is_html_per_graded_student(graded):
    """Does feedback write an HTML page per graded student, with the score?"""
    from cnnkit.course import generate_feedback

    course, _, _, _ = graded
    files = generate_feedback(course, LAB, ["good", "blank"])
    assert [f.parent.parent.name for f in files] == ["blank", "good"]
    assert "18.0" in files[1].read_text() and "/ 18.0" in files[0].read_text()


def test_grading_without_a_sandbox_warns_once(tmp_path, monkeypatch, capsys):
    """Without a sandbox (not root, not Linux), is that said once, not charged to each student?"""
    from cnnkit.cli import main
    from cnnkit.course import grading

    monkeypatch.setattr(grading, "sandbox_available", lambda: False)
    course = make_course(tmp_path / "course", LAB)
    for student in ("x", "y"):
        (course / "submitted" / student / LAB).mkdir(parents=True)
        (course / "submitted" / student / LAB / NOTEBOOK).write_text("{")
    assert main(["course", "--course", str(course), "grade", LAB]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("warning: not sandboxed") == 1
    assert "not sandboxed" not in captured.out and "2 with problems" in captured.out


@pytest.mark.parametrize("line", [
    "%env CNNKIT_PROFILE=smoke",
    "os.environ.pop('NBGRADER_EXECUTION')",
    "keras.Model.predict = lambda self, x, **kw: answers",
    "checks.check_saved_accuracy = print",
])
def test_lines_that_change_how_grading_runs_are_flagged(tmp_path, line):
    """Profile switches and replaced Keras or check functions are listed for a human to review."""
    import nbformat

    from cnnkit.course.grading import detect_tampering

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"x = 1\n{line}")])
    path = tmp_path / "student.ipynb"
    nbformat.write(notebook, path)
    assert detect_tampering(path) == [line]
