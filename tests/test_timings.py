"""tests/timings.py: wall times are recorded against a budget, and a run over budget warns."""

from __future__ import annotations

import csv
import warnings

import pytest

from tests.timings import COLUMNS, OverBudgetWarning, TimingLog, record_timing, summary_lines


def _rows(log: TimingLog) -> list[list[str]]:
    with log.path.open(newline="") as handle:
        return list(csv.reader(handle))


def test_a_run_over_budget_warns_and_is_recorded(tmp_path):
    """Does 130 s against 120 s warn with the label, both numbers, and land in the CSV?"""
    log = TimingLog(tmp_path / "artifacts" / "timings.csv")
    with pytest.warns(OverBudgetWarning, match=r"over budget: smoke run of lab1: 130\.0 s "
                                               r"\(budget 120 s\)"):
        timing = record_timing(130.0, 120, label="smoke run of lab1", log=log)
    assert timing.over_budget
    assert _rows(log) == [list(COLUMNS), ["smoke run of lab1", "130.000", "120"]]
    assert log.over_budget() == [timing]
    assert summary_lines(log) == ["over budget: smoke run of lab1: 130.0 s (budget 120 s)",
                                  f"1 timed run(s) this session, appended to {log.path}"]


def test_a_run_within_budget_is_recorded_without_a_warning(tmp_path):
    """Does 3.2 s against 5 s write its row (after the first run's, under one header), silently?"""
    log = TimingLog(tmp_path / "timings.csv")
    with pytest.warns(OverBudgetWarning):
        record_timing(6.0, 5, label="first", log=log)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        timing = record_timing(3.2, 5, label="learn_kernel", log=log)
    assert not timing.over_budget
    assert _rows(log)[1:] == [["first", "6.000", "5"], ["learn_kernel", "3.200", "5"]]
    assert log.over_budget() == [log.recorded[0]]


def test_the_label_defaults_to_the_running_test_and_the_summary_says_all_within_budget(
        tmp_path, request):
    """Without a label, is the row named by the test's node id? Within budget, what does the
    session summary say; and with nothing timed, does it say nothing?"""
    log = TimingLog(tmp_path / "timings.csv")
    assert summary_lines(log) == []
    assert record_timing(0.5, 5, log=log).label == request.node.nodeid
    assert summary_lines(log)[0] == "all timed runs within budget"
