"""`cnnkit course`: release audit, and grading that no submission can break (real nbgrader CLI).

One course with correct submissions among many broken and hostile ones is graded with two
workers, once as the user running the tests and once as an ordinary user (created for it, when
the tests run as root); each test then checks one student's outcome in both runs. Lab 1's
conv_params cell is the usual place for the broken or hostile code: the part is worth 1 point,
so "everything else correct" scores every autograded point but one, and an attack that ends by
defining conv_params correctly scores them all when the sandbox has stopped it harmlessly. The
lab's written answers wait for an instructor (a copy of the solution "needs manual grading").
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
from cnnkit.course.grading import GradeLimits, GradeResult
from tests import ordinary_user
from tests.hostile import LINGER_MARKER, PLANTED, hostile_submissions
from tests.labcode import grade_written_answers, lab_points, make_course, written_answers
from tests.submissions import LAB, NOTEBOOK, RELEASE, SOLUTION, dump_notebook, edited

ROOT = Path(__file__).resolve().parents[1]
VICTIMS = ("victim1", "victim2", "victim3")  # correct copies graded beside the attackers
LIMITS = {"cell_timeout": 20, "notebook_timeout": 240, "memory_gb": 4}
MODES = ["as the test runner", "as an ordinary user"]
AUTO, WRITTEN = lab_points(LAB)  # autograded points; points of the written answers
MAX = AUTO + WRITTEN


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
        content = os.listdir(target) if target.is_dir() else len(target.read_bytes())
        seen.append((str(target), "READ", content))
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

    def with_conv_params(source: str) -> bytes:
        """The solution with its conv_params cell replaced by ``source``, as handed in."""
        return dump_notebook(edited(SOLUTION, "conv_params", source))

    return {
        "good": {NOTEBOOK: dump_notebook(SOLUTION)},
        "blank": {NOTEBOOK: dump_notebook(RELEASE)},
        "truncated": {NOTEBOOK: dump_notebook(SOLUTION)[:5000]},
        "garbage": {NOTEBOOK: b"\x00\x01 this is not a notebook"},
        "loop": {NOTEBOOK: with_conv_params("while True:\n    pass\n")},
        "sleeper": {NOTEBOOK: with_conv_params("import time\ntime.sleep(10**6)\n")},
        "exits": {NOTEBOOK: with_conv_params("import os\nos._exit(1)\n")},
        "hog": {NOTEBOOK: with_conv_params("hog = np.ones(2**31)\n" + params)},
        "deleted_test": {NOTEBOOK: dump_notebook(edited(SOLUTION, "test_conv_params", None))},
        "edited_test": {NOTEBOOK: dump_notebook(edited(edited(SOLUTION, "conv_params", wrong_params),
                                                       "test_conv_params", "pass\n"))},
        "syntax": {NOTEBOOK: with_conv_params("def conv_params(:\n")},
        "renamed": {"my lab 1.ipynb": dump_notebook(SOLUTION)},
        "missing": {"notes.txt": b"I forgot the notebook"},
        "old_format": {NOTEBOOK: _v3(SOLUTION)},
        "chatty": {NOTEBOOK: with_conv_params("print('spam\\n' * 200000)\n" + params)},
        "tamper": {NOTEBOOK: with_conv_params("checks.check_conv_params = lambda *a, **k: None\n"
                                              "import numpy.testing\n"
                                              "numpy.testing.assert_array_equal = lambda *a, **k: None\n"
                                              + wrong_params)},
        "snoop": {NOTEBOOK: with_conv_params(snoop)},
        **{student: {NOTEBOOK: dump_notebook(SOLUTION)} for student in VICTIMS},
        **{student: {NOTEBOOK: dump_notebook(notebook)}
           for student, notebook in hostile_submissions().items()},
    }


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _host_processes_with(marker: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in text and "pytest" not in text:
            found.append(text[:200])
    return found


@pytest.fixture(scope="module", params=MODES)
def graded(request, tmp_path_factory):
    """A course with every submission above, graded once with two workers, in each mode."""
    from nbgrader.api import Gradebook

    from cnnkit.course.nbgrader_cli import put_tools_on_path

    if request.param == MODES[1] and not ordinary_user.can_switch_user():
        pytest.skip("creating an ordinary user needs root (the tests already run as one)")
    if request.param == MODES[1] and not ordinary_user.user_can_read_the_project(
            ordinary_user.ensure_user_python()):
        pytest.skip(f"{ordinary_user.USER} cannot read this checkout (a parent folder is private):"
                    " clone it under a folder others can enter to grade as an ordinary user")
    put_tools_on_path()
    folder = (ordinary_user.user_folder() if request.param == MODES[1]
              else tmp_path_factory.mktemp("course"))
    course = make_course(folder / "course", LAB)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_student("absent")  # enrolled, submitted nothing
    for student, files in submissions(course).items():
        target = course / "submitted" / student / LAB
        target.mkdir(parents=True)
        for name, content in files.items():
            (target / name).write_bytes(content)
    before = {"solutions": _fingerprint(course / "solutions"),
              "repository solutions": _fingerprint(ROOT / "solutions")}
    if request.param == MODES[1]:
        results = {row["student"]: GradeResult(**row)
                   for row in ordinary_user.grade_as_user(course, LAB, LIMITS)}
    else:
        results = {result.student: result for result in grade_lab(
            course, LAB, jobs=2, limits=GradeLimits(**LIMITS), record_missing=True)}
    after = {"solutions": _fingerprint(course / "solutions"),
             "repository solutions": _fingerprint(ROOT / "solutions")}
    return course, results, before, after


def _autograded_text(course: Path, student: str) -> str:
    return (course / "autograded" / student / LAB / NOTEBOOK).read_text()


@pytest.mark.slow
def test_every_student_has_a_row_and_the_correct_one_full_marks(graded):
    """With two workers and many broken submissions: a row for everyone, the good one every
    autograded point?"""
    from nbgrader.api import Gradebook

    course, results, _, _ = graded
    assert results["good"].score == AUTO and results["good"].problems == []
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
    ("loop", AUTO - 1, "cell conv_params ran past the time limit"),
    ("sleeper", AUTO - 1, "cell conv_params ran past the time limit"),
    ("hog", AUTO - 1, "cell conv_params ran out of memory"),
    ("syntax", AUTO - 1, None),
    ("deleted_test", AUTO, None),
    ("edited_test", AUTO - 1, None),
    ("renamed", AUTO, "notebook renamed to my lab 1.ipynb: graded as lab1-convolution.ipynb"),
    ("old_format", AUTO, None),
    ("chatty", AUTO, None),
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
    assert results["tamper"].score == AUTO - 1
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
    assert results["snoop"].score == AUTO
    assert any("grading files" in text and "gradebook.db" in text for text in results["snoop"].problems)
    printed = _autograded_text(course, "snoop")
    course_targets = [str(ROOT / "solutions"), str(course / "solutions"), str(course / "gradebook.db")]
    for target in course_targets:  # none of them exists in the sandbox's world
        assert f"('{target}', 'blocked'" in printed
    # What it "wrote" landed, if anywhere, in its own throw-away /tmp (a checkout under /tmp has
    # its venv bound there): the host-side checks above show the course and repository unchanged.


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
    assert lines[0] == "student,lab,score,max_score,needs_grading" and rows == len(results)
    assert f"good,{LAB},{AUTO:g},{MAX:g},{written_answers(LAB)}" in lines
    assert f"absent,{LAB},0,{MAX:g},0" in lines


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
    assert f"{AUTO}" in files[1].read_text() and f"/ {MAX}" in files[0].read_text()


def _unavailable(monkeypatch) -> None:
    from cnnkit.course import batch
    from cnnkit.course.sandbox import SandboxSupport

    missing = SandboxSupport(False, "bubblewrap (bwrap) is not installed",
                             "install it: `sudo apt-get install bubblewrap`")
    monkeypatch.setattr(batch, "sandbox_support", lambda: missing)


def test_grading_refuses_without_a_sandbox_and_says_what_to_install(tmp_path, monkeypatch, capsys):
    """Where student code cannot be isolated, does grading refuse, say why and how to fix it?"""
    from cnnkit.cli import main

    _unavailable(monkeypatch)
    course = make_course(tmp_path / "course", LAB)
    (course / "submitted" / "x" / LAB).mkdir(parents=True)
    (course / "submitted" / "x" / LAB / NOTEBOOK).write_text("{")
    assert main(["course", "--course", str(course), "grade", LAB]) == 2
    message = capsys.readouterr().err
    assert "bubblewrap (bwrap) is not installed" in message and "apt-get install bubblewrap" in message
    assert "--no-sandbox" in message
    assert not (course / "gradebook.db").exists(), "nothing may be graded when grading refuses"


@pytest.mark.slow
def test_grading_with_no_sandbox_marks_every_row_not_isolated(tmp_path, monkeypatch, capsys):
    """With an explicit --no-sandbox, is every row of the report marked "not isolated"?"""
    from cnnkit.cli import main

    _unavailable(monkeypatch)
    course = make_course(tmp_path / "course", LAB)
    for student in ("x", "y"):
        (course / "submitted" / student / LAB).mkdir(parents=True)
        (course / "submitted" / student / LAB / NOTEBOOK).write_text("{")
    assert main(["course", "--course", str(course), "grade", LAB, "--no-sandbox"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("not isolated") == 1  # one warning before the table
    rows = [line for line in captured.out.splitlines() if line.startswith(("x ", "y "))]
    assert len(rows) == 2 and all("NOT ISOLATED" in row for row in rows)
    assert "2 with problems" in captured.out


# ---- hostile submissions (tests/hostile.py) -------------------------------------------------

ATTACKERS_STOPPED = ["killer", "grader_killer", "peeker", "escaper", "diskfiller", "filehog",
                     "flood"]
# The attacks that the report flags for review, with a word of the line it quotes.
FLAGGED = {"killer": "os.kill", "grader_killer": "/proc/", "peeker": "/proc/",
           "lingerer": "subprocess", "forkbomb": "subprocess"}


@pytest.mark.slow
@pytest.mark.parametrize("student", ATTACKERS_STOPPED)
def test_an_attack_that_was_stopped_costs_nothing_and_gains_nothing(graded, student):
    """Killing, peeking, escaping, filling the disk, hoarding files: graded in full like any
    correct answer, in the sandbox, with the attack's own output in its notebook."""
    _, results, _, _ = graded
    assert results[student].score == AUTO, results[student]
    assert results[student].isolated


@pytest.mark.slow
@pytest.mark.parametrize("student, word", sorted(FLAGGED.items()))
def test_the_report_flags_code_that_reaches_for_other_processes(graded, student, word):
    """Is an attack's line quoted in the report for the instructor to review?"""
    _, results, _, _ = graded
    assert any("please review" in problem and word in problem
               for problem in results[student].problems), results[student].problems


@pytest.mark.slow
def test_writing_into_the_folder_shared_with_the_grader_stops_the_sandbox(graded):
    """A submission that fills the socket folder (on the grader's disk) is stopped, says why."""
    _, results, _, _ = graded
    result = results["socketfiller"]
    assert any("folder it shares with the grader" in problem for problem in result.problems), result
    assert result.score < AUTO


@pytest.mark.slow
def test_the_sandboxed_kernel_knows_it_is_being_graded(graded):
    """Is the profile "grade" inside the sandbox, whatever the notebook sets (NBGRADER_EXECUTION
    must reach the kernel's start-up environment through the sandbox)?"""
    course, results, _, _ = graded
    assert "PROFILE UNDER GRADING grade True" in _autograded_text(course, "profile_switch")
    assert results["profile_switch"].score == AUTO


@pytest.mark.slow
def test_one_huge_line_of_output_is_cut(graded):
    """Is a 50 MB line cut in the autograded notebook (nbgrader's LimitOutput counts lines)?"""
    course, _, _, _ = graded
    text = _autograded_text(course, "flood")
    assert len(text) < 4 << 20 and "cut by the grader" in text


@pytest.mark.slow
def test_classmates_score_as_if_no_attacker_had_been_graded_beside_them(graded):
    """Do the correct submissions graded alongside killers and peekers keep every autograded
    point, with no problems?"""
    _, results, _, _ = graded
    for student in ("good", *VICTIMS):
        assert (results[student].score, results[student].problems) == (AUTO, []), results[student]


@pytest.mark.slow
def test_a_process_left_behind_dies_with_the_kernel_and_changes_no_grade(graded):
    """The blank release plus a background process that rewrites the gradebook: still 0,
    and no such process is alive once grading returns."""
    course, results, _, _ = graded
    assert results["lingerer"].score == 0.0
    assert _host_processes_with(LINGER_MARKER) == []
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert gradebook.find_submission(LAB, "lingerer").score == 0.0


@pytest.mark.slow
def test_limits_stop_a_fork_bomb_a_full_disk_and_open_files(graded):
    """Does each resource attack hit its limit (processes, disk of its folder, open files)?"""
    import re

    course, results, _, _ = graded
    limits = GradeLimits()
    bomb = re.search(r"FORK BOMB reached (\d+) processes", _autograded_text(course, "forkbomb"))
    assert bomb and int(bomb.group(1)) <= limits.max_processes + 8, bomb
    assert results["forkbomb"].isolated and results["forkbomb"].max_score == MAX
    disk = re.search(r"DISK FILLER stopped after (\d+) MB", _autograded_text(course, "diskfiller"))
    assert disk and int(disk.group(1)) <= limits.disk_mb, disk
    assert "DISK FILLER /tmp stopped" in _autograded_text(course, "diskfiller")
    files = re.search(r"FILE HOG stopped after (\d+) files", _autograded_text(course, "filehog"))
    assert files and int(files.group(1)) < limits.open_files, files


@pytest.mark.slow
def test_nothing_outside_a_students_folder_changed(graded):
    """No file planted by a submission exists anywhere outside the sandbox afterwards."""
    import site
    import sys

    course, _, _, _ = graded
    places = [course, ROOT, ROOT / "cnnkit", Path("/tmp"), Path.home(), Path(sys.prefix), Path("/"),
              Path("/etc"), Path("/root"), Path("/work"), *map(Path, site.getsitepackages()),
              Path(json.__file__).parent]
    planted = [str(place / PLANTED) for place in places if (place / PLANTED).exists()]
    planted += [str(path) for path in course.rglob(PLANTED)]
    assert planted == []
    escaper = _autograded_text(course, "escaper")
    assert "'blocked')" in escaper  # the read-only system said no


@pytest.mark.slow
def test_every_row_says_it_was_isolated(graded):
    """Was every student's code run in the sandbox (no silent fallback)?"""
    _, results, _, _ = graded
    assert all(result.isolated for result in results.values() if not result.absent)


@pytest.mark.parametrize("line", [
    "%env CNNKIT_PROFILE=smoke",
    "os.environ.pop('NBGRADER_EXECUTION')",
    "keras.Model.predict = lambda self, x, **kw: answers",
    "checks.check_saved_accuracy = print",
    "transfer.get_track = lambda name: None",
    "import cnnkit.checks as c; c.check_transfer_accuracy = print",
    "from cnnkit.checks import models",
    "__import__('cnnkit').checks.check_conv2d = print",
])
def test_lines_that_change_how_grading_runs_are_flagged(tmp_path, line):
    """Profile switches and replaced Keras or check functions are listed for a human to review."""
    import nbformat

    from cnnkit.course.grading import detect_tampering

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"x = 1\n{line}")])
    path = tmp_path / "student.ipynb"
    nbformat.write(notebook, path)
    assert detect_tampering(path) == [line]


# ---- no grade is ever lost ------------------------------------------------------------------

@pytest.mark.slow
def test_a_crash_half_way_through_a_merge_keeps_the_previous_grades(graded, tmp_path, monkeypatch):
    """If merging a student's new grades fails half-way, are the old ones all still there?"""
    import shutil

    from nbgrader.api import Gradebook

    from cnnkit.course import merge

    course, _, _, _ = graded
    gradebook_copy = tmp_path / "course.db"
    shutil.copy(course / "gradebook.db", gradebook_copy)
    url = f"sqlite:///{gradebook_copy}"
    with Gradebook(url) as gradebook:  # the "previous" grades: every cell of good at 0
        for grade in gradebook.find_submission(LAB, "good").notebooks[0].grades:
            grade.auto_score = 0.0
        gradebook.db.commit()
    calls = {"count": 0}
    real_find_grade = Gradebook.find_grade

    def failing_find_grade(self, *args, **kwargs):
        calls["count"] += 1
        if calls["count"] == 5:
            raise RuntimeError("the machine lost power")
        return real_find_grade(self, *args, **kwargs)

    monkeypatch.setattr(Gradebook, "find_grade", failing_find_grade)
    with pytest.raises(RuntimeError, match="lost power"):
        merge.merge_submission(url, course / "gradebook.db", LAB, "good")
    monkeypatch.setattr(Gradebook, "find_grade", real_find_grade)
    with Gradebook(url) as gradebook:
        assert gradebook.find_submission(LAB, "good").score == 0.0, "a half-merged student"
    assert merge.merge_submission(url, course / "gradebook.db", LAB, "good") == (AUTO, MAX)


@pytest.mark.slow
def test_a_regrade_keeps_the_written_answers_an_instructor_graded(graded, tmp_path):
    """An instructor grades good's written answers (half marks) in Formgrader, then grades the lab
    again: are the manual points kept, and flagged for review only once good hands in again?"""
    import datetime
    import shutil

    from nbgrader.api import Gradebook

    from cnnkit.course import merge

    assert written_answers(LAB) > 0, "Lab 1 has no written answers to grade by hand"
    course, _, _, _ = graded
    shutil.copy(course / "gradebook.db", tmp_path / "course.db")
    url = f"sqlite:///{tmp_path / 'course.db'}"
    assert grade_written_answers(url, LAB, "good", fraction=0.5) == written_answers(LAB)
    half = AUTO + WRITTEN / 2
    assert merge.merge_submission(url, course / "gradebook.db", LAB, "good") == (half, MAX)
    with Gradebook(url) as gradebook:
        assert not gradebook.find_submission(LAB, "good").needs_manual_grade
    handed_in_again = tmp_path / "worker.db"
    shutil.copy(course / "gradebook.db", handed_in_again)
    with Gradebook(f"sqlite:///{handed_in_again}") as worker:
        submission = worker.find_submission(LAB, "good")  # handed in an hour later
        submission.timestamp = (submission.timestamp or datetime.datetime(2026, 12, 1)) + \
            datetime.timedelta(hours=1)
        worker.db.commit()
    assert merge.merge_submission(url, handed_in_again, LAB, "good") == (half, MAX)
    with Gradebook(url) as gradebook:
        assert gradebook.find_submission(LAB, "good").needs_manual_grade


@pytest.mark.slow
def test_grading_where_a_student_has_no_folder_keeps_that_students_grade(tmp_path, capsys):
    """Machine A graded alice; machine C holds only bob and grades: is alice's grade kept?"""
    from nbgrader.api import Gradebook

    from cnnkit.cli import main

    machine_a = make_course(tmp_path / "a", LAB)
    machine_c = make_course(tmp_path / "c", LAB)
    (machine_a / "submitted" / "alice" / LAB).mkdir(parents=True)
    (machine_a / "submitted" / "alice" / LAB / NOTEBOOK).write_bytes(dump_notebook(SOLUTION))
    (machine_c / "submitted" / "bob" / LAB).mkdir(parents=True)
    (machine_c / "submitted" / "bob" / LAB / NOTEBOOK).write_text("{")
    url = f"sqlite:///{machine_a / 'gradebook.db'}"
    assert main(["course", "--course", str(machine_a), "--db", url, "grade", LAB]) == 0
    assert (f"{written_answers(LAB)} written answer(s) of 1 student(s) wait for you in Formgrader"
            in capsys.readouterr().out)
    with Gradebook(url) as gradebook:
        gradebook.update_or_create_student("carol")  # enrolled, never handed in
    assert main(["course", "--course", str(machine_c), "--db", url, "grade", LAB]) == 1
    report = capsys.readouterr().out
    assert "have no submission folder here and were not graded" in report and "alice" in report
    with Gradebook(url) as gradebook:
        assert gradebook.find_submission(LAB, "alice").score == AUTO
        assert gradebook.find_submission(LAB, "bob").score == 0.0
        assert "carol" not in [s.student.id for s in gradebook.find_assignment(LAB).submissions]
    assert main(["course", "--course", str(machine_c), "--db", url, "grade", LAB,
                 "--record-missing"]) == 1
    with Gradebook(url) as gradebook:
        assert gradebook.find_submission(LAB, "alice").score == AUTO
        assert gradebook.find_submission(LAB, "carol").score == 0.0


def test_course_audit_skips_a_lab_whose_data_is_missing_and_names_a_failing_cell(
        tmp_path, empty_cache):
    """Offline, without CIFAR-10: is Lab 3 skipped with the fix, and a broken lab's cell named?"""
    import shutil

    import nbformat

    from cnnkit.course.release import execute_solutions

    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(ROOT / "solutions" / "lab3-cifar10", tmp_path / "solutions" / "lab3-cifar10")
    broken = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('broken here\\nsecond line')")])
    (tmp_path / "solutions" / "lab9-broken").mkdir(parents=True)
    nbformat.write(broken, tmp_path / "solutions" / "lab9-broken" / "lab9-broken.ipynb")
    failures, skipped = execute_solutions(tmp_path)
    assert skipped == ["lab3-cifar10: skipped, it needs cifar10, which is not in the data cache. "
                       "Fix: `cnnkit data fetch cifar10` (or `cnnkit data import cifar10 PATH`)"]
    assert len(failures) == 1 and failures[0].endswith("lab9-broken.ipynb: cell 2: ValueError: "
                                                       "broken here")


@pytest.mark.slow
def test_the_class_report_shows_pass_rates_and_the_failures_with_their_hints(graded, tmp_path):
    """Does the report list every test with its pass rate, and the wrong answers' hints?"""
    from cnnkit.cli import main

    course, results, _, _ = graded
    output = tmp_path / "report.html"
    assert main(["course", "--course", str(course), "report", LAB, "--output", str(output)]) == 0
    page = output.read_text()
    assert page.count("data:image/png;base64,") == 2
    for test in ("test_conv_params", "test_pooling", "test_worked_example"):
        assert f"<td>{test}</td>" in page
    graded_count = sum(1 for result in results.values() if not result.absent)
    assert f"{graded_count} graded submissions" in page or f"{len(results)} graded submissions" in page
    assert "NotImplementedError" in page  # the blank release's reason, counted
    assert "conv_params(" in page  # the wrong conv_params' message names the call
