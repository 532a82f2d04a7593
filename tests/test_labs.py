"""Every lab: its graded cells carry the lab's points and say what they check; no outputs committed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnkit.course.release import lab_names

ROOT = Path(__file__).resolve().parents[1]
MAX_POINTS = {  # autograded + written answers
    "lab1-convolution": 33,
    "lab2-mnist": 29,
    "lab3-cifar10": 27,
    "lab4-transfer": 25,
}
MIN_PREDICTIONS = 3  # predict, then measure: at least this many times in every lab


def _cells(lab: str, folder: str = "solutions") -> list[dict]:
    return json.loads((ROOT / folder / lab / f"{lab}.ipynb").read_text())["cells"]


def test_every_lab_has_its_points_listed_here():
    """A new lab must be added to MAX_POINTS (and so to these checks)."""
    assert lab_names(ROOT) == sorted(MAX_POINTS)


@pytest.mark.parametrize("lab", sorted(MAX_POINTS))
def test_every_graded_cell_has_points_and_a_docstring(lab):
    """The graded cells add up to the lab's points; each test cell opens with a docstring saying
    what it checks, and each written answer's solution holds a model answer and a rubric."""
    graded = [cell for cell in _cells(lab) if cell.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert sum(cell["metadata"]["nbgrader"]["points"] for cell in graded) == MAX_POINTS[lab]
    for cell in graded:
        grade_id, source = cell["metadata"]["nbgrader"]["grade_id"], "".join(cell["source"])
        if cell["cell_type"] == "code":
            assert source.startswith('"""'), grade_id
        else:
            assert cell["metadata"]["nbgrader"]["solution"], \
                f"{grade_id}: a written answer must be a solution cell"
            assert grade_id.startswith("explain_"), f"{grade_id}: name written answers explain_TOPIC"
            assert "**Model answer.**" in source and "**Rubric" in source, grade_id


def _grade_id(cell: dict) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


@pytest.mark.parametrize("lab", sorted(MAX_POINTS))
def test_every_lab_asks_for_predictions_before_the_experiments_that_measure_them(lab):
    """Each `predict_TOPIC` cell is a solution cell that the student's copy opens as
    `predicted_TOPIC = None`, and a later code cell (the experiment) uses `predicted_TOPIC`;
    each prediction is followed by a written answer that explains the gap."""
    cells = _cells(lab)
    released = {_grade_id(cell): "".join(cell["source"]) for cell in _cells(lab, "labs")}
    predictions = [(index, _grade_id(cell)) for index, cell in enumerate(cells)
                   if _grade_id(cell).startswith("predict_")]
    assert len(predictions) >= MIN_PREDICTIONS, f"{lab}: {len(predictions)} predictions"
    written = [index for index, cell in enumerate(cells)
               if cell["cell_type"] == "markdown" and _grade_id(cell).startswith("explain_")]
    for index, grade_id in predictions:
        name = "predicted_" + grade_id.removeprefix("predict_")
        assert cells[index]["metadata"]["nbgrader"]["solution"], grade_id
        assert released[grade_id].lstrip().startswith(f"{name} = None"), released[grade_id]
        assert any(name in "".join(cell["source"]) for cell in cells[index + 1:]
                   if cell["cell_type"] == "code"), f"{grade_id}: no later cell measures {name}"
        assert any(answer > index for answer in written), f"{grade_id}: no written answer after it"


@pytest.mark.parametrize("folder", ["solutions", "labs"])
@pytest.mark.parametrize("lab", sorted(MAX_POINTS))
def test_notebooks_are_committed_without_outputs(lab, folder):
    """No cell of a committed notebook holds an output or an execution count."""
    dirty = [index for index, cell in enumerate(_cells(lab, folder))
             if cell.get("outputs") or cell.get("execution_count")]
    assert dirty == [], f"{folder}/{lab}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("lab", sorted(MAX_POINTS))
def test_every_visible_test_says_what_it_expected_and_what_to_try(lab):
    """The visible part of each test cell fails through a check (which explains itself) or an
    `assert` with a message: never a bare `assert` or numpy.testing's "Arrays are not equal"."""
    import ast

    for cell in _cells(lab, "labs"):
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code" or not nbgrader.get("grade") or nbgrader.get("solution"):
            continue
        source = "".join(cell["source"])
        assert "np.testing" not in source, f"{nbgrader['grade_id']}: use checks.assert_arrays_match"
        bare = [node.lineno for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Assert) and node.msg is None]
        assert bare == [], f"{nbgrader['grade_id']}: assert without a message on lines {bare}"
