"""`cnnkit validate`: run a lab's visible tests in a fresh kernel and say, per exercise, what passed.

It is nbgrader's "Validate" button for students on Colab or without the extension. The notebook
is run as the grader runs it (`NBGRADER_EXECUTION=validate`, so the `grade` profile: nothing
trains and the weights beside the notebook are loaded); the notebook file itself is not changed.
`cnnkit check` and `cnnkit.check()` are the old names, kept until the next release.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from cnnkit.student.results import ValidationReport, first_line, is_test, read_results

__all__ = ["ValidationReport", "current_notebook", "validate", "validate_notebook"]

INSIDE_VALIDATION = "CNNKIT_VALIDATING"  # set in the validating kernel: a `validate()` cell there is skipped
COLAB_COPY = ".cnnkit-validate.ipynb"  # where the notebook open in Colab is written to be validated


def _open_lab_notebook(path: Path) -> Any:
    """Read the notebook at ``path``; refuse what cannot be validated, saying how to fix it."""
    import nbformat

    if not path.is_file():
        raise ValueError(f"cnnkit validate: no notebook at {path}. Expected the path of your lab "
                         "notebook, e.g. labs/lab1-convolution/lab1-convolution.ipynb.")
    try:
        document = nbformat.read(path, as_version=4)
    except Exception as error:  # any parse error means the same to the student
        raise ValueError(f"cnnkit validate: {path.name} is not a readable notebook ({error}). Fix: "
                         "open it in Jupyter and save it again, or restore it from a backup.") from error
    if _inside_a_run():
        raise ValueError("cnnkit validate: refused while the notebook is being validated or graded "
                         "(it would start itself again). Fix: run it from a terminal or another cell.")
    if not any(is_test(cell) for cell in document.cells):
        raise ValueError(f"cnnkit validate: {path.name} has no nbgrader test cells. Expected a lab "
                         "notebook from labs/ (its test cells carry nbgrader metadata).")
    return document


def _inside_a_run() -> bool:
    return bool(os.environ.get(INSIDE_VALIDATION) or os.environ.get("NBGRADER_EXECUTION"))


def validate_notebook(notebook: str | os.PathLike, cell_timeout: int = 300) -> ValidationReport:
    """Run ``notebook`` in a fresh kernel, as the grader does, and return its visible test results.

    Args:
        notebook: path of a lab notebook (`.ipynb`), with the weights its training cells saved
            beside it.
        cell_timeout: seconds one cell may run before it is interrupted.

    Raises:
        ValueError: when the notebook does not exist, is not readable or has no test cells.
    """
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from cnnkit.kernel import run_notebook

    path = Path(notebook).resolve()
    document = _open_lab_notebook(path)
    start = time.perf_counter()
    stopped = ""
    try:  # the kernel inherits these: nbgrader's validate mode, and "this is a validation run"
        run_notebook(document, path.parent, timeout=cell_timeout, interrupt_on_timeout=True,
                     values={"NBGRADER_EXECUTION": "validate", INSIDE_VALIDATION: "1"})
    except (CellTimeoutError, DeadKernelError) as error:
        stopped = f"validation stopped early: {first_line(str(error))}"
    return read_results(document, path, time.perf_counter() - start, stopped)


def current_notebook() -> Path:
    """Return the path of the notebook this kernel runs, as saved on disk.

    Jupyter tells the kernel its notebook (`JPY_SESSION_NAME`, `__session__`); on Colab the
    notebook lives in Drive, so it is fetched from the page and written beside the working folder.

    Raises:
        ValueError: outside a notebook, or when Jupyter does not say which notebook it is.
    """
    for candidate in (os.environ.get("JPY_SESSION_NAME"), _ipython_session()):
        if candidate and candidate.endswith(".ipynb") and Path(candidate).is_file():
            return Path(candidate)
    if "google.colab" in sys.modules:
        from cnnkit.student.colab_notebook import save_colab_notebook

        return save_colab_notebook(Path.cwd() / COLAB_COPY)
    raise ValueError("cnnkit.validate(): cannot tell which notebook this is. Fix: pass its path, "
                     "e.g. cnnkit.validate('lab1-convolution.ipynb').")


def _ipython_session() -> str | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else shell.user_ns.get("__session__")


def validate(notebook: str | os.PathLike | None = None) -> ValidationReport | None:
    """Run this notebook's visible tests in a fresh kernel and print the per-exercise table.

    Save the notebook first (Ctrl+S / File → Save): the saved file is what runs. Inside the
    validating kernel itself a `validate()` cell does nothing, so it cannot start itself again.

    Args:
        notebook: the notebook's path; by default the notebook this kernel runs.

    Returns:
        The `ValidationReport`, or None inside a validation or grading run.
    """
    if _inside_a_run():
        print("cnnkit.validate(): skipped while the notebook is being validated or graded.")
        return None
    path = Path(notebook) if notebook is not None else current_notebook()
    print(f"validating {path.name} in a fresh kernel (the saved version; training cells load the "
          "weights beside it) ...", flush=True)
    try:
        report = validate_notebook(path)
    finally:
        if path.name == COLAB_COPY:  # the copy fetched from Colab's page
            path.unlink(missing_ok=True)
    print(report.table())
    return report

