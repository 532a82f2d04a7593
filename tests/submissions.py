"""Lab 1 submissions made from the solution and the release, for the grading tests and bench/."""

from __future__ import annotations

import copy
import json
from pathlib import Path

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


def dump_notebook(notebook: dict) -> bytes:
    """The bytes a student hands in for ``notebook`` (its JSON, as a file holds it)."""
    return json.dumps(notebook).encode()
