"""Load the solution functions of a lab from its source notebook, for tests of the checks."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

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
