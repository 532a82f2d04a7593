"""One course gradebook, many graders: sqlite and a real PostgreSQL (tests/postgres.py).

Two `cnnkit course grade` processes, on two course folders holding disjoint halves of the class,
start at the same instant against one gradebook, as two machines would; the gradebook URL comes
from `--db` or from nbgrader's own `c.CourseDirectory.db_url`, for grade, feedback and export.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cnnkit.course.gradebook import configured_url, gradebook_url
from tests.labcode import lab_points, make_course, written_answers
from tests.postgres import find_bindir, running_server

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab1-convolution"
NOTEBOOK = f"{LAB}.ipynb"
SOLUTION = (ROOT / "solutions" / LAB / NOTEBOOK).read_bytes()
RELEASE = (ROOT / "labs" / LAB / NOTEBOOK).read_bytes()
# machine -> student -> notebook bytes; every student's expected score
HALVES = {"a": {"s01": SOLUTION, "s02": b"{", "s03": RELEASE},
          "b": {"s04": SOLUTION, "s05": b"not json"}}
AUTO, WRITTEN = lab_points(LAB)  # a copy of the solution earns AUTO until its answers are graded
EXPECTED = {"s01": AUTO, "s02": 0.0, "s03": 0.0, "s04": AUTO, "s05": 0.0}


@pytest.fixture(scope="module")
def postgres():
    bindir = find_bindir()
    if bindir is None:
        message = "PostgreSQL is not installed (./kit test installs Debian's postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield from running_server(bindir)


@pytest.fixture(params=["sqlite", "postgresql"])
def gradebook(request, tmp_path):
    """An empty course gradebook of each kind (its URL)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared' / 'gradebook.db'}"
    return request.getfixturevalue("postgres").new_database()


def _machine(tmp_path: Path, name: str, config_url: str | None = None) -> Path:
    course = make_course(tmp_path / name, LAB)
    for student, notebook in HALVES[name].items():
        (course / "submitted" / student / LAB).mkdir(parents=True)
        (course / "submitted" / student / LAB / NOTEBOOK).write_bytes(notebook)
    if config_url:
        with open(course / "nbgrader_config.py", "a") as config:
            config.write(f"\nc.CourseDirectory.db_url = {config_url!r}\n")
    return course


def _cnnkit(course: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnkit", "course", "--course", str(course), *args],
                          capture_output=True, text=True, timeout=600)


def _scores(url: str) -> dict[str, float]:
    from cnnkit.course.gradebook import open_gradebook

    with open_gradebook(url) as gradebook:
        return {submission.student.id: float(submission.score)
                for submission in gradebook.find_assignment(LAB).submissions}


@pytest.mark.slow
def test_two_graders_started_together_grade_both_halves_with_nothing_lost(gradebook, tmp_path):
    """Two machines, one empty gradebook, the same instant: no error, every grade there."""
    machines = [_machine(tmp_path, "a"), _machine(tmp_path, "b")]
    start, runs = threading.Barrier(2), {}

    def grade(course: Path) -> None:
        start.wait()
        runs[course.name] = _cnnkit(course, "grade", LAB, "--db", gradebook)

    threads = [threading.Thread(target=grade, args=(course,)) for course in machines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, run in runs.items():
        assert run.returncode == 1, f"machine {name}: {run.stdout[-2000:]}{run.stderr[-2000:]}"
        assert "the grader failed" not in run.stderr
    assert _scores(gradebook) == EXPECTED
    export = _cnnkit(machines[0], "export", str(tmp_path / "grades.csv"), "--db", gradebook)
    assert export.returncode == 0, export.stderr
    with open(tmp_path / "grades.csv") as handle:
        rows = {row["student"]: float(row["score"]) for row in csv.DictReader(handle)}
    assert rows == EXPECTED


@pytest.mark.slow
def test_the_gradebook_named_in_nbgrader_config_serves_grade_feedback_and_export(postgres,
                                                                                 tmp_path):
    """With c.CourseDirectory.db_url = postgresql://... and no --db: grade, feedback, export."""
    url = postgres.new_database()
    course = _machine(tmp_path, "b", config_url=url)
    assert configured_url(course) == url and gradebook_url(course) == url
    assert _cnnkit(course, "grade", LAB).returncode == 1
    assert not (course / "gradebook.db").exists(), "an sqlite gradebook appeared beside the config"
    assert _scores(url) == {"s04": AUTO, "s05": 0.0}
    feedback = _cnnkit(course, "feedback", LAB)
    assert feedback.returncode == 0, feedback.stdout + feedback.stderr
    assert f"{AUTO}" in (course / "feedback" / "s04" / LAB / f"{LAB}.html").read_text()
    assert _cnnkit(course, "export", str(tmp_path / "grades.csv")).returncode == 0
    assert (tmp_path / "grades.csv").read_text().splitlines()[1:] == [
        f"s04,{LAB},{AUTO:g},{AUTO + WRITTEN:g},{written_answers(LAB)}", f"s05,{LAB},0,{AUTO + WRITTEN:g},0"]


def test_db_may_follow_the_action_and_overrides_the_config(tmp_path):
    """Is `course grade LAB --db URL` the same as `course --db URL grade LAB`?"""
    from cnnkit.cli import build_parser

    parser = build_parser()
    after = parser.parse_args(["course", "export", "out.csv", "--db", "sqlite:///x.db"])
    before = parser.parse_args(["course", "--db", "sqlite:///x.db", "export", "out.csv"])
    assert after.db_here == "sqlite:///x.db" and before.db == "sqlite:///x.db"
    course = make_course(tmp_path / "c", LAB)
    with open(course / "nbgrader_config.py", "a") as config:
        config.write("\nc.CourseDirectory.db_url = 'sqlite:////configured.db'\n")
    assert gradebook_url(course) == "sqlite:////configured.db"
    assert gradebook_url(course, "sqlite:////given.db") == "sqlite:////given.db"
    assert json.dumps(gradebook_url(make_course(tmp_path / "d", LAB))).endswith('d/gradebook.db"')
