"""The instructor's workflow around nbgrader: release, check, grade in parallel, export."""

from cnnkit.course.collect import CollectReport, collect, generate_feedback
from cnnkit.course.grading import GradeResult, grade_lab
from cnnkit.course.release import audit_release, build_labs, check_in_sync
from cnnkit.course.reports import export_grades, summary_table

__all__ = ["CollectReport", "GradeResult", "audit_release", "build_labs", "check_in_sync",
           "collect", "export_grades", "generate_feedback", "grade_lab", "summary_table"]
