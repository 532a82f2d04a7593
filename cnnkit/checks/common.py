"""Helpers shared by the checks: explained calls, array comparison, the one-line success report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def passed(name: str, cases: int, oracle: str) -> None:
    """Print the one-line success report of a check (and return None, never a number)."""
    print(f"{name}: all {cases} cases agree with {oracle}.")


def describe(array: np.ndarray) -> str:
    """An array's shape as text, e.g. "(2, 3)"."""
    return f"{tuple(array.shape)}"


def call_explained(function: Callable, call_text: str, *args: Any, **kwargs: Any) -> Any:
    """Call a student's function; turn any exception into an AssertionError naming the call."""
    try:
        return function(*args, **kwargs)
    except AssertionError:
        raise
    except Exception as error:  # noqa: BLE001 - a student's bug becomes an explained failure
        raise AssertionError(f"{call_text} raised {type(error).__name__}: {error}") from None


def assert_arrays_match(got: Any, expected: np.ndarray, call_text: str, hint: str = "",
                        atol: float = 1e-6, rtol: float = 1e-6) -> None:
    """Assert ``got`` has the shape and values of ``expected``; explain the first difference."""
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{call_text}: expected an array of shape {describe(expected)}, got "
                             f"{type(got).__name__}.") from None
    if got.shape != expected.shape:
        raise AssertionError(f"{call_text}: expected shape {describe(expected)}, got "
                             f"{describe(got)}.{' Hint: ' + hint if hint else ''}")
    wrong = ~np.isclose(got, expected, atol=atol, rtol=rtol)
    if wrong.any():
        first = tuple(int(i) for i in np.argwhere(wrong)[0])
        raise AssertionError(
            f"{call_text}: {int(wrong.sum())} of {wrong.size} values differ; first at index "
            f"{first}: expected {expected[first]:.6g}, got {got[first]:.6g}."
            f"{' Hint: ' + hint if hint else ''}")


def require_model(model: Any, name: str) -> None:
    """Assert ``model`` is a built ``keras.Model``; ``name`` says which call returned it."""
    import keras

    if not isinstance(model, keras.Model):
        raise AssertionError(
            f"{name}: expected a keras.Model, got {type(model).__name__}"
            f"{' (did the function forget to return the model?)' if model is None else ''}.")
    if not model.built:
        raise AssertionError(
            f"{name} is not built, so its layers have no shapes yet. Fix: start it with "
            "keras.Input(shape=(height, width, channels)).")
