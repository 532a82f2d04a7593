"""Every lab: its graded cells carry the lab's points and say what they check; no outputs committed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnkit.course.release import lab_names

ROOT = Path(__file__).resolve().parents[1]
MAX_POINTS = {"lab1-convolution": 18, "lab2-mnist": 20, "lab3-cifar10": 20, "lab4-transfer": 20}


def _cells(lab: str, folder: str = "solutions") -> list[dict]:
    return json.loads((ROOT / folder / lab / f"{lab}.ipynb").read_text())["cells"]


def test_every_lab_has_its_points_listed_here():
    """A new lab must be added to MAX_POINTS (and so to these checks)."""
    assert lab_names(ROOT) == sorted(MAX_POINTS)


@pytest.mark.parametrize("lab", sorted(MAX_POINTS))
def test_every_graded_cell_has_points_and_a_docstring(lab):
    """The test cells add up to the lab's points, and each opens with a docstring saying what it checks."""
    graded = [cell for cell in _cells(lab) if cell.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert sum(cell["metadata"]["nbgrader"]["points"] for cell in graded) == MAX_POINTS[lab]
    for cell in graded:
        assert "".join(cell["source"]).startswith('"""'), cell["metadata"]["nbgrader"]["grade_id"]


@pytest.mark.parametrize("folder", ["solutions", "labs"])
@pytest.mark.parametrize("lab", sorted(MAX_POINTS))
def test_notebooks_are_committed_without_outputs(lab, folder):
    """No cell of a committed notebook holds an output or an execution count."""
    dirty = [index for index, cell in enumerate(_cells(lab, folder))
             if cell.get("outputs") or cell.get("execution_count")]
    assert dirty == [], f"{folder}/{lab}: cells {dirty} have outputs; clear them before committing"
