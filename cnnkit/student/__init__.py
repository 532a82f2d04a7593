"""What students run themselves: `check` (the visible tests, per exercise) and `submit` (one archive)."""

from cnnkit.student.check import CheckReport, check, check_notebook
from cnnkit.student.submit import SubmissionError, submit

__all__ = ["CheckReport", "SubmissionError", "check", "check_notebook", "submit"]
