"""cnnkit.student_ids: one rule for student ids, the same for submit and collect."""

from __future__ import annotations

import pytest

from cnnkit.course.collect import DEFAULT_PATTERN, collect
from cnnkit.student_ids import RULE, is_student_id


@pytest.mark.parametrize("student", ["alice", "a.smith", "s-1234", "0042", "Jo-Ann.2"])
def test_ordinary_ids_follow_the_rule(student):
    """Letters, digits, '.' and '-': are ordinary ids accepted?"""
    assert is_student_id(student)


@pytest.mark.parametrize("student", ["", "alice_smith", ".", "..", ".hidden", "-x", "a b", "a/b",
                                     "Ünal", "alice\n"])
def test_ids_the_grader_could_not_split_or_that_name_a_folder_are_refused(student):
    """'_' (the file-name separator), a leading '.' or '-', spaces, '/', non-ASCII: refused?"""
    assert not is_student_id(student)


def test_collect_and_its_default_pattern_apply_the_same_rule(tmp_path):
    """A folder 'bob_smith' or '.x', a file '..._lab1.ipynb': is each left unmatched, with the rule?"""
    import re

    inbox = tmp_path / "inbox"
    for folder in ("alice", "bob_smith", "-x"):
        (inbox / folder).mkdir(parents=True)
        (inbox / folder / "lab1-convolution.ipynb").write_text("{}")
    (inbox / "carol_lab1-convolution.ipynb").write_text("{}")
    report = collect(tmp_path / "course", "lab1-convolution", inbox)
    assert sorted(report.collected) == ["alice", "carol"]
    assert any("'bob_smith'" in line and RULE in line for line in report.unmatched)
    assert any("'-x'" in line for line in report.unmatched)
    assert re.match(DEFAULT_PATTERN, "..._lab1.ipynb") is None
    assert not (tmp_path / "course" / "submitted" / "bob_smith").exists()
