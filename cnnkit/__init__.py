"""cnnkit: the helper package of a Keras 3 / TensorFlow course on convolutional neural networks."""

from __future__ import annotations

import os
from typing import Any

from cnnkit.quiet import quiet_tensorflow

quiet_tensorflow()
__version__ = "0.1.0"


def validate(notebook: str | os.PathLike | None = None) -> Any:
    """Run this notebook's visible tests in a fresh kernel and print a table per exercise.

    Save the notebook first. Returns a `cnnkit.student.ValidationReport` (None while the
    notebook is itself being validated or graded). See `cnnkit.student.validate.validate`.
    """
    from cnnkit.student.validate import validate as run_validation

    return run_validation(notebook)


def check(notebook: str | os.PathLike | None = None) -> Any:
    """The old name of `validate` (until the next release)."""
    from cnnkit.renames import warn_renamed

    warn_renamed("cnnkit.check()", "cnnkit.validate()")
    return validate(notebook)
