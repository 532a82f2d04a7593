"""Release the labs: regenerate labs/ from solutions/ and refuse a release that leaks answers."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from cnnkit.course.nbgrader_cli import run_nbgrader

LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def apply_starter_code(release: Path) -> int:
    """Put starter code where the source cell asks for it; return how many cells changed.

    nbgrader replaces every solution with the same stub. An exercise such as "fix this broken
    model" needs the broken code in the student's copy instead: the solution cell then carries it
    in its metadata (``"cnnkit": {"starter": [lines]}``) and this step, run after
    ``generate_assignment``, makes it the cell's source in the release.
    """
    import nbformat

    notebook = nbformat.read(release, as_version=4)
    changed = 0
    for cell in notebook["cells"]:
        starter = cell.get("metadata", {}).pop("cnnkit", {}).get("starter")
        if starter is not None:
            cell["source"] = "".join(starter)
            changed += 1
    if changed:
        nbformat.write(notebook, release)
    return changed


def require_course(root: Path) -> Path:
    """Return ``root`` if it is a course folder (``nbgrader_config.py`` and ``solutions/``).

    Raises:
        ValueError: saying what is missing and how to point at the course.
    """
    missing = [name for name in ("nbgrader_config.py", "solutions") if not (root / name).exists()]
    if missing:
        raise ValueError(f"Received {root.resolve()} as the course folder, which has no "
                         f"{' and no '.join(missing)}. Expected the folder that holds "
                         "nbgrader_config.py, solutions/ and labs/. Fix: run the command there, or "
                         "pass --course PATH.")
    return root


def lab_names(root: Path) -> list[str]:
    """The labs of a course: the folders of ``root/solutions`` that hold a notebook."""
    require_course(root)
    return sorted(folder.name for folder in (root / "solutions").iterdir()
                  if folder.is_dir() and any(folder.glob("*.ipynb")))


def build_labs(root: Path, labs: list[str] | None = None) -> None:
    """Regenerate ``labs/LAB`` from ``solutions/LAB`` with nbgrader, then audit the result.

    Raises:
        RuntimeError: nbgrader failed, or the release leaks solutions, hidden tests or outputs.
    """
    for lab in labs or lab_names(root):
        result = run_nbgrader(root, "generate_assignment", lab, "--force", "--no-db")
        if result.returncode:
            raise RuntimeError(f"nbgrader generate_assignment {lab} failed:\n{result.stdout}")
        for release in (root / "labs" / lab).glob("*.ipynb"):
            apply_starter_code(release)
    problems = audit_release(root)
    if problems:
        raise RuntimeError("The release is not safe to publish:\n  " + "\n  ".join(problems))


def audit_release(root: Path) -> list[str]:
    """Return the problems of ``labs/``: solution code, hidden tests or outputs in a notebook."""
    problems = []
    for notebook in sorted((root / "labs").glob("*/*.ipynb")):
        text = notebook.read_text()
        problems += [f"{notebook}: contains '{marker}'" for marker in LEAK_MARKERS if marker in text]
        with_outputs = sum(1 for cell in json.loads(text)["cells"] if cell.get("outputs"))
        if with_outputs:
            problems.append(f"{notebook}: {with_outputs} cell(s) have outputs")
    return problems


def stale_labs(root: Path) -> list[str]:
    """Return the labs whose committed release differs from what nbgrader generates now."""
    require_course(root)
    stale = []
    with tempfile.TemporaryDirectory() as scratch:
        course = Path(scratch)
        shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")
        for lab in lab_names(root):
            shutil.copytree(root / "solutions" / lab, course / "solutions" / lab)
            result = run_nbgrader(course, "generate_assignment", lab, "--no-db")
            if result.returncode:
                raise RuntimeError(f"nbgrader generate_assignment {lab} failed:\n{result.stdout}")
            for generated in (course / "labs" / lab).glob("*.ipynb"):
                apply_starter_code(generated)
                committed = root / "labs" / lab / generated.name
                if not committed.is_file() or committed.read_text() != generated.read_text():
                    stale.append(lab)
                    break
    return stale


check_in_sync = stale_labs  # the old name, until the next release


def missing_data(lab: str) -> list[str]:
    """The data sets ``lab`` reads (its Colab cell's list) that are not in the cache here."""
    from cnnkit.course.colab import NOTEBOOK_NEEDS
    from cnnkit.data import find, get_spec

    needs = NOTEBOOK_NEEDS.get(lab)
    return [name for name in (needs.datasets if needs else ()) if find(get_spec(name)) is None]


def _first_error(notebook) -> str:  # noqa: ANN001 - an executed nbformat notebook
    """'cell N (grade_id): Name: first line of the message' for the first cell that failed."""
    for index, cell in enumerate(notebook.cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
                message = (str(output.get("evalue", "")).strip().splitlines() or [""])[0]
                label = f"cell {index}" + (f" ({grade_id})" if grade_id else "")
                return f"{label}: {output.get('ename')}: {message[:300]}"
    return "a cell failed"


def execute_solutions(root: Path, timeout: int = 300) -> tuple[list[str], list[str]]:
    """Run every solution notebook top to bottom in the ``smoke`` profile.

    A lab whose data sets are not in the cache is skipped (with the command that fetches them),
    not failed. Nothing is written: the executed copies are discarded.

    Returns:
        The failures (notebook, cell, error's first line) and the skipped labs (with the fix).
    """
    import nbformat
    from nbclient.exceptions import CellExecutionError

    from cnnkit.kernel import run_notebook

    failures, skipped = [], []
    for lab in lab_names(root):
        missing = missing_data(lab)
        if missing:
            fixes = " and ".join(f"`cnnkit data fetch {name}` (or `cnnkit data import {name} "
                                 "PATH`)" for name in missing)
            skipped.append(f"{lab}: skipped, it needs {', '.join(missing)}, which is not in "
                           f"the data cache. Fix: {fixes}")
            continue
        for path in sorted((root / "solutions" / lab).glob("*.ipynb")):
            notebook = nbformat.read(path, as_version=4)
            try:
                run_notebook(notebook, path.parent, timeout=timeout, stop_at_error=True,
                             values={"CNNKIT_PROFILE": "smoke"})
            except CellExecutionError:
                failures.append(f"{path}: {_first_error(notebook)}")
    return failures, skipped
