"""`cnnkit.checks.predictions`: a prediction shown beside the measurement, and graded when determined."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnkit import checks


def test_a_prediction_within_the_tolerance_passes_and_says_so(capsys):
    checks.check_prediction(2.2, math.log(10), "the initial loss", tolerance=0.15)
    assert "your prediction 2.2 is right (true value 2.30259)" in capsys.readouterr().out


def test_a_numpy_integer_counts_as_a_number(capsys):
    checks.check_prediction(np.int64(26), 26, "the output width")
    assert "is right" in capsys.readouterr().out


@pytest.mark.parametrize("predicted, message", [
    (None, "your prediction is not written yet: replace None"),
    ("13", "expected a number, received str '13'"),
    (True, "expected a number, received bool"),
    (float("nan"), "expected a finite number"),
    (14, "you predicted 14, the true value is 13. Hint: count the positions"),
])
def test_a_missing_or_wrong_prediction_fails_with_what_to_do(predicted, message):
    with pytest.raises(AssertionError, match="the output width") as failure:
        checks.check_prediction(predicted, 13, "the output width", hint="count the positions")
    assert message in str(failure.value)


def test_the_tolerance_is_in_the_quantitys_units():
    checks.check_prediction(0.9, 1.0, "the accuracy", tolerance=0.1)
    with pytest.raises(AssertionError, match=r"within 0.05"):
        checks.check_prediction(0.9, 1.0, "the accuracy", tolerance=0.05)


@pytest.mark.parametrize("predicted, shown", [
    (12, "you predicted 12 %, the experiment measured 10.5 % (off by +1.5 %)"),
    (None, "measured 10.5 %. (No prediction made"),
    ("many", "expected a number, received str"),
])
def test_compare_prediction_prints_both_numbers_and_never_raises(capsys, predicted, shown):
    checks.compare_prediction(predicted, 10.5, "the error", unit=" %")
    assert shown in capsys.readouterr().out
