"""`cnnkit submit LAB`: pack a lab notebook and the weights its training cells saved into one archive.

The archive is named and laid out so that the instructor's `cnnkit course collect` accepts it as
it is, alone or among other students' archives: `STUDENT_LAB.zip` holding `STUDENT_LAB.ipynb` and
`STUDENT_NAME.weights.h5` for every weights file the lab expects (listed in the notebook's
metadata, `cnnkit.submit`).
"""

from __future__ import annotations

import os
import re
import sys
import zipfile
from pathlib import Path

from cnnkit.files import atomic_path
from cnnkit.student_ids import RULE, is_student_id

__all__ = ["SubmissionError", "expected_files", "find_notebook", "submit", "unfinished_work"]


class SubmissionError(ValueError):
    """The submission cannot be packed; the message says what is missing and how to fix it."""


def find_notebook(lab: str | os.PathLike, start: str | os.PathLike = ".") -> Path:
    """Return the notebook of `lab`: a path to it, its folder, or its name (e.g. "lab2-mnist").

    A name is looked for as `LAB.ipynb`, `LAB/LAB.ipynb` and `labs/LAB/LAB.ipynb` from `start`.
    """
    start, lab = Path(start), Path(lab)
    if lab.suffix == ".ipynb":
        candidates = [lab if lab.is_absolute() else start / lab]
    elif (start / lab).is_dir():
        candidates = [start / lab / f"{lab.name}.ipynb"]
    else:
        candidates = [start / f"{lab.name}.ipynb", start / lab.name / f"{lab.name}.ipynb",
                      start / "labs" / lab.name / f"{lab.name}.ipynb"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    if "google.colab" in sys.modules and lab.suffix != ".ipynb":
        from cnnkit.student.colab_notebook import save_colab_notebook

        try:
            return save_colab_notebook(start / f"{lab.name}.ipynb")
        except ValueError as error:
            raise SubmissionError(f"cnnkit submit: {error}") from error
    raise SubmissionError(f"cnnkit submit: no notebook for {str(lab)!r}; looked for "
                          f"{', '.join(str(path) for path in candidates)}. Fix: run the command in "
                          "the lab's folder, or pass the notebook's path.")


def expected_files(notebook: Path) -> list[str]:
    """Return the weights files the lab's training cells save (`fit_or_load`), from its metadata."""
    import nbformat

    try:
        document = nbformat.read(notebook, as_version=4)
    except Exception as error:  # any parse error means the same to the student
        raise SubmissionError(f"cnnkit submit: {notebook.name} is not a readable notebook ({error}). "
                              "Fix: open it in Jupyter and save it again.") from error
    return list(document.metadata.get("cnnkit", {}).get("submit", []))


def unfinished_work(notebook: Path) -> list[str]:
    """What the saved notebook still lacks, by cell: exercises that raise NotImplementedError,
    predictions left as None, blank written answers, and test cells that failed when last run.
    (Submitting warns about these; it does not refuse.)"""
    import nbformat

    from cnnkit.student.results import cell_name

    found = []
    for index, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        source = cell.get("source", "")
        if not nbgrader.get("solution") and not nbgrader.get("grade"):
            continue
        if cell.cell_type == "markdown":
            if nbgrader.get("solution") and (not source.strip() or "YOUR ANSWER HERE" in source):
                found.append(f"{cell_name(cell, index)}: written answer not written yet")
        elif nbgrader.get("solution") and "raise NotImplementedError" in source:
            found.append(f"{cell_name(cell, index)}: not written yet")
        elif nbgrader.get("solution") and re.match(r"\s*predicted_\w+\s*=\s*None\b", source):
            found.append(f"{cell_name(cell, index)}: prediction not written yet")
        elif nbgrader.get("grade"):
            errors = [output.get("ename", "Error") for output in cell.get("outputs", [])
                      if output.get("output_type") == "error"]
            if errors:
                found.append(f"{cell_name(cell, index)}: failed ({errors[0]}) when you last ran it")
    return found


def _missing_message(notebook: Path, missing: list[str]) -> str:
    lines = [(f"cnnkit submit: {len(missing)} weights file(s) that grading needs are missing "
              f"beside {notebook.name}:")]
    for name in missing:
        smoke = notebook.parent / name.replace(".weights.h5", ".smoke.weights.h5")
        note = (f" ({smoke.name} is there, but it comes from the quick 'smoke' profile)"
                if smoke.is_file() else "")
        lines.append(f"  {name}{note}")
    lines.append("Fix: run the notebook's training cells in the 'full' profile (the default; "
                 "fit_or_load saves each file when it finishes), then submit again.")
    return "\n".join(lines)


def submit(lab: str | os.PathLike, student: str | None = None,
           output: str | os.PathLike | None = None) -> Path:
    """Write `STUDENT_LAB.zip` with the notebook and its weights; return the archive's path.

    Args:
        lab: the lab's notebook, folder or name (see `find_notebook`).
        student: your student id, as your instructor knows it; by default `JUPYTERHUB_USER`.
        output: the archive's folder; by default the notebook's folder.

    Raises:
        SubmissionError: no notebook, no or a malformed student id, or missing weights.
    """
    notebook = find_notebook(lab)
    student = student or os.environ.get("JUPYTERHUB_USER")
    if not student:
        raise SubmissionError("cnnkit submit: no student id. Fix: pass --student YOUR_ID (the id "
                              "your instructor uses for you).")
    if not is_student_id(student):
        raise SubmissionError(f"cnnkit submit: received student id {student!r}; expected "
                              f"{RULE}. Fix: pass --student with such an id.")
    weights = expected_files(notebook)
    missing = [name for name in weights if not (notebook.parent / name).is_file()]
    if missing:
        raise SubmissionError(_missing_message(notebook, missing))
    lab_name = notebook.stem
    archive = Path(output or notebook.parent) / f"{student}_{lab_name}.zip"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(archive) as partial, \
            zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.write(notebook, f"{student}_{notebook.name}")
        for name in weights:
            bundle.write(notebook.parent / name, f"{student}_{name}")
            history = notebook.parent / name.replace(".weights.h5", ".history.json")
            if history.is_file():
                bundle.write(history, f"{student}_{history.name}")
    return archive
