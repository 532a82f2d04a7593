"""Load the solution functions of a lab from its source notebook, for tests of the checks."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from tests.timings import record_timing

ROOT = Path(__file__).resolve().parents[1]


def solution_namespace(lab: str, grade_ids: tuple[str, ...],
                       preset: dict | None = None) -> SimpleNamespace:
    """Execute the cells with these nbgrader grade_ids (in notebook order) and return their names.

    Args:
        lab: folder name under solutions/, e.g. "lab1-convolution".
        grade_ids: the cells to run, e.g. ("setup", "conv_output_size").
        preset: names to define before the cells run (e.g. data a skipped cell would load).
    """
    notebook = json.loads((ROOT / "solutions" / lab / f"{lab}.ipynb").read_text())
    namespace: dict = dict(preset or {})
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] == "code" and grade_id in grade_ids:
            exec(compile("".join(cell["source"]), f"{lab}:{grade_id}", "exec"), namespace)
    return SimpleNamespace(**namespace)


def make_course(folder: Path, lab: str) -> Path:
    """A course folder for nbgrader: the project's nbgrader_config.py and a copy of solutions/LAB."""
    import shutil

    shutil.copytree(ROOT / "solutions" / lab, folder / "solutions" / lab)
    shutil.copy(ROOT / "nbgrader_config.py", folder / "nbgrader_config.py")
    return folder


def collect_and_grade(course: Path, lab: str, inbox: Path,
                      students: tuple[str, ...]) -> tuple[object, dict[str, tuple[float, float]]]:
    """Run ``cnnkit course collect`` and ``grade --jobs 2`` in ``course`` as an instructor would.

    Returns:
        The grade run (a CompletedProcess: its stdout holds the summary table) and
        (score, max_score) per student, read from the course gradebook.
    """
    import subprocess
    import sys

    from nbgrader.api import Gradebook

    def cnnkit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cnnkit", "course", "--course", str(course),
                               *args], capture_output=True, text=True, timeout=900)

    collected = cnnkit("collect", lab, str(inbox))
    assert collected.returncode == 0, collected.stdout + collected.stderr
    graded = cnnkit("grade", lab, "--jobs", "2")
    assert graded.returncode in (0, 1), graded.stdout + graded.stderr
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {student: gradebook.find_submission(lab, student) for student in students}
        return graded, {student: (row.score, row.max_score) for student, row in scores.items()}


def smoke_run(lab: str, tmp_path: Path, budget_seconds: float = 120.0) -> Path:
    """Copy solutions/LAB into ``tmp_path``, run it in the smoke profile and return the copy.

    Asserts that no cell failed. The wall time is recorded against ``budget_seconds``
    (tests/timings.py): over budget warns, it does not fail.
    """
    import shutil

    folder = shutil.copytree(ROOT / "solutions" / lab, tmp_path / lab)
    seconds, errors = execute(folder / f"{lab}.ipynb", "smoke")
    record_timing(seconds, budget_seconds)
    assert errors == []
    return folder


def execute(notebook: Path, profile: str, timeout: int = 600) -> tuple[float, list[str]]:
    """Run ``notebook`` in place under ``profile``; return the seconds taken and the cell errors."""
    import time

    import nbformat

    from cnnkit.kernel import run_notebook

    document = nbformat.read(notebook, as_version=4)
    start = time.perf_counter()
    run_notebook(document, notebook.parent, timeout=timeout, values={"CNNKIT_PROFILE": profile})
    seconds = time.perf_counter() - start
    nbformat.write(document, notebook)
    errors = [f"{output['ename']}: {output['evalue']}"[:300] for cell in document.cells
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    return seconds, errors


def grade_cells(lab: str) -> list[dict]:
    """The nbgrader metadata of every graded cell of solutions/LAB, with its cell type."""
    notebook = json.loads((ROOT / "solutions" / lab / f"{lab}.ipynb").read_text())
    return [{**cell["metadata"]["nbgrader"], "cell_type": cell["cell_type"]}
            for cell in notebook["cells"] if cell.get("metadata", {}).get("nbgrader", {}).get("grade")]


def lab_points(lab: str) -> tuple[float, float]:
    """(autograded points, manually graded points) of a lab: code test cells vs written answers."""
    cells = grade_cells(lab)
    automatic = sum(cell["points"] for cell in cells if cell["cell_type"] == "code")
    manual = sum(cell["points"] for cell in cells if cell["cell_type"] == "markdown")
    return float(automatic), float(manual)


def written_answers(lab: str) -> int:
    """How many written answers (manually graded markdown cells) the lab has."""
    return sum(1 for cell in grade_cells(lab) if cell["cell_type"] == "markdown")


def grade_written_answers(db_url: str, lab: str, student: str, fraction: float = 1.0) -> int:
    """Do what an instructor does in Formgrader: give each written answer ``fraction`` of its points.

    Returns the number of answers graded.
    """
    from nbgrader.api import Gradebook

    graded = 0
    with Gradebook(db_url) as gradebook:
        for notebook in gradebook.find_submission(lab, student).notebooks:
            for grade in notebook.grades:
                if grade.cell.cell_type == "markdown":
                    grade.manual_score = fraction * grade.max_score
                    grade.needs_manual_grade = False
                    graded += 1
        gradebook.db.commit()
    return graded


def assert_round_trip(db_url: str, lab: str, solution_student: str, release_student: str) -> None:
    """The solution earns every autograded point and waits for its written answers to be graded;
    the unchanged release earns nothing and waits for nothing; once an instructor grades the
    written answers, the solution has full marks."""
    from nbgrader.api import Gradebook

    automatic, manual = lab_points(lab)
    with Gradebook(db_url) as gradebook:
        solution = gradebook.find_submission(lab, solution_student)
        blank = gradebook.find_submission(lab, release_student)
        assert (solution.score, solution.max_score) == (automatic, automatic + manual)
        assert solution.needs_manual_grade == (manual > 0)
        assert (blank.score, blank.needs_manual_grade) == (0.0, False)
    assert grade_written_answers(db_url, lab, solution_student) == written_answers(lab)
    with Gradebook(db_url) as gradebook:
        solution = gradebook.find_submission(lab, solution_student)
        assert (solution.score, solution.needs_manual_grade) == (automatic + manual, False)
