"""The one rule for student ids: what `cnnkit submit` writes and `cnnkit course collect` reads.

Kept free of nbgrader and TensorFlow: both the student's and the instructor's side import it.
"""

from __future__ import annotations

import re

# Submissions are named "STUDENT_FILE" and split at the first '_', so an id has none; it may not
# start with '.' either, which keeps "." and ".." (and hidden folders) out of submitted/.
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9.\-]*"
STUDENT_ID = re.compile(ID_PATTERN)  # use with fullmatch: "$" would also accept a final "\n"
RULE = ("letters, digits, '.' and '-' only, starting with a letter or a digit (no '_', spaces or "
        "'/': the grader splits file names at the first '_')")


def is_student_id(text: str) -> bool:
    """Return whether ``text`` follows the student-id rule (`RULE`).

    Example:
        >>> is_student_id("alice.smith-2"), is_student_id("alice_smith"), is_student_id("..")
        (True, False, False)
    """
    return STUDENT_ID.fullmatch(text) is not None
