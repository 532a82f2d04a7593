"""Predict, then measure: show a student's prediction beside the measured value, and grade it.

A lab asks for a prediction *before* an experiment (``predicted_... = None`` in the student's
copy), runs the experiment, then calls `compare_prediction` to print both numbers. Where the
quantity is determined (an output size, a parameter count, a loss at initialisation), a graded
cell calls `check_prediction` with a tolerance; where it is not (an accuracy, a ranking), the
prediction is only shown, and a manually graded answer cell asks the student to explain the gap.
"""

from __future__ import annotations

import math
from numbers import Real

__all__ = ["check_prediction", "compare_prediction"]

NOT_MADE = ("your prediction is not written yet: replace None with it in the cell that asks for "
            "it, before you run the experiment")


def _as_number(predicted: object, what: str) -> float:
    if predicted is None:
        raise AssertionError(f"{what}: {NOT_MADE}.")
    if isinstance(predicted, bool) or not isinstance(predicted, Real):
        raise AssertionError(f"{what}: expected a number, received {type(predicted).__name__} "
                             f"{predicted!r}. Write a plain number such as 12 or 0.85.")
    value = float(predicted)
    if not math.isfinite(value):
        raise AssertionError(f"{what}: expected a finite number, received {value}.")
    return value


def compare_prediction(predicted: object, measured: float, what: str, unit: str = "") -> None:
    """Print the student's prediction of ``what`` beside the measured value (never raises).

    Args:
        predicted: the student's number, or None when it is not made yet.
        measured: what the experiment computed.
        what: the quantity, e.g. "the output width".
        unit: appended to both numbers, e.g. " %" or " parameters".
    """
    if predicted is None:
        print(f"{what}: measured {measured:g}{unit}. (No prediction made: make one before you "
              "look, then run this cell again.)")
        return
    try:
        value = _as_number(predicted, what)
    except AssertionError as problem:
        print(problem)
        return
    print(f"{what}: you predicted {value:g}{unit}, the experiment measured {measured:g}{unit} "
          f"(off by {value - measured:+g}{unit}).")


def check_prediction(predicted: object, expected: float, what: str, *,
                     tolerance: float = 0.0, hint: str = "") -> None:
    """Grade a prediction of a determined quantity: ``|predicted - expected| <= tolerance``.

    Args:
        predicted: the student's number.
        expected: the true value, computed by the graded cell (not read from the student's run).
        what: the quantity, e.g. "the output width of conv1".
        tolerance: the largest accepted difference, in the quantity's own units.
        hint: what to reason about when the prediction is off.

    Raises:
        AssertionError: naming the prediction, the true value and the hint.
    """
    value = _as_number(predicted, what)
    if abs(value - expected) > tolerance:
        within = f" (within {tolerance:g})" if tolerance else ""
        raise AssertionError(f"{what}: you predicted {value:g}, the true value is {expected:g}"
                             f"{within}.{' Hint: ' + hint if hint else ''}")
    print(f"{what}: your prediction {value:g} is right (true value {expected:g}).")
