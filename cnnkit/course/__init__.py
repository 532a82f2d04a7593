"""The instructor's workflow around nbgrader: release, audit, grade in parallel, export.

Names are imported on first use, so the `cnnkit` command (and `cnnkit.course.collect`) works where
nbgrader is not installed, as on Colab, which installs cnnkit without its dependencies.
"""

from importlib import import_module
from typing import Any

# Imported now: nbgrader-free, and `collect` must name the function, not its module.
from cnnkit.course.collect import CollectReport, collect

_HOMES = {"GradeResult": "grading", "audit_release": "release", "build_labs": "release",
          "check_in_sync": "release", "export_grades": "reports", "generate_feedback": "feedback",
          "grade_lab": "batch", "stale_labs": "release", "summary_table": "reports"}

__all__ = ["CollectReport", "GradeResult", "audit_release", "build_labs", "collect", "export_grades",
           "generate_feedback", "grade_lab", "stale_labs", "summary_table"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'cnnkit.course' has no attribute {name!r}")
    return getattr(import_module(f"cnnkit.course.{_HOMES[name]}"), name)
