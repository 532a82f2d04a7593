"""What students run themselves: `validate` (the visible tests, per exercise) and `submit` (one archive)."""

from typing import Any

from cnnkit.renames import warn_renamed
from cnnkit.student.submit import SubmissionError, submit
from cnnkit.student.validate import ValidationReport, validate, validate_notebook

__all__ = ["SubmissionError", "ValidationReport", "submit", "validate", "validate_notebook"]


def check(notebook: Any = None) -> ValidationReport | None:
    """The old name of `validate` (until the next release)."""
    warn_renamed("cnnkit.student.check", "cnnkit.student.validate")
    return validate(notebook)


def check_notebook(notebook: Any, cell_timeout: int = 300) -> ValidationReport:
    """The old name of `validate_notebook` (until the next release)."""
    warn_renamed("check_notebook", "validate_notebook")
    return validate_notebook(notebook, cell_timeout)


CheckReport = ValidationReport  # the old name, until the next release
