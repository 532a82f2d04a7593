"""Checks on how a student's code runs rather than what it returns: its speed and its imports.

Lab 1 grades a vectorised convolution by its speed-up over the student's own loops, and asks for
NumPy only where calling a library would test the library instead of the student.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import numpy as np

from cnnkit.checks.common import assert_arrays_match, call_explained

__all__ = ["check_numpy_only", "check_speedup", "time_call"]


def time_call(function: Callable, *args, repeats: int = 3, **kwargs) -> float:
    """Return the best wall time, in seconds, of ``repeats`` calls of ``function``."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best


def check_speedup(slow: Callable, fast: Callable, args: tuple, kwargs: dict | None = None,
                  at_least: float = 50.0, repeats: int = 3,
                  expected: np.ndarray | None = None) -> float:
    """Assert ``fast`` is at least ``at_least`` times faster than ``slow`` on the same call.

    Both are timed in this one run (best of ``repeats`` for ``fast``), so the ratio does not
    depend on the machine's speed. With ``expected``, both results must first equal it: speed of
    a wrong answer earns nothing. Returns the measured ratio.
    """
    kwargs = kwargs or {}
    if expected is not None:
        for label, function in (("slow", slow), ("fast", fast)):
            name = getattr(function, "__name__", label)
            call = f"{name}(speed-test case)"
            assert_arrays_match(call_explained(function, call, *args, **kwargs), expected, call,
                                hint="the speed test only counts a correct result.",
                                atol=1e-5, rtol=1e-5)
    slow_seconds = time_call(slow, *args, repeats=1, **kwargs)
    fast_seconds = time_call(fast, *args, repeats=repeats, **kwargs)
    ratio = slow_seconds / max(fast_seconds, 1e-9)
    if ratio < at_least:
        raise AssertionError(
            f"speed-up: expected the fast version at least {at_least:g}x faster, measured "
            f"{ratio:.1f}x ({slow_seconds * 1e3:.1f} ms vs {fast_seconds * 1e3:.2f} ms). Hint: "
            "no Python loop over output positions; build all windows at once "
            "(numpy.lib.stride_tricks.sliding_window_view) and contract them with the kernels in "
            "one numpy.tensordot or matrix product.")
    return ratio


_FORBIDDEN = ("tensorflow", "keras", "scipy", "torch", "jax", "cnnkit")


def _references(function: Callable, seen: set) -> Iterator[tuple[str, object]]:
    """Yield (name, object) for every global or closure variable a function (and nested code) uses.

    Functions defined in the notebook itself are followed, so a helper cannot hide a call.
    """
    code = getattr(function, "__code__", None)
    if code is None or code in seen:
        return
    seen.add(code)
    stack, names = [code], set()
    while stack:
        current = stack.pop()
        names.update(current.co_names)
        stack += [const for const in current.co_consts if hasattr(const, "co_names")]
    namespace = getattr(function, "__globals__", {})
    found = [(name, namespace[name]) for name in sorted(names) if name in namespace]
    cells = zip(code.co_freevars, getattr(function, "__closure__", None) or ())
    found += [(name, cell.cell_contents) for name, cell in cells if _filled(cell)]
    for name, value in found:
        yield name, value
        if callable(value) and getattr(value, "__module__", None) == function.__module__:
            yield from _references(value, seen)


def _filled(cell) -> bool:  # noqa: ANN001 - a closure cell
    try:
        cell.cell_contents  # noqa: B018 - raises ValueError while empty
    except ValueError:
        return False
    return True


def check_numpy_only(*functions: Callable) -> None:
    """Assert the functions use no TensorFlow, Keras, SciPy, PyTorch, JAX or cnnkit code.

    The labs that say "NumPy only" grade your own implementation; calling a library's
    convolution (or the checks' oracle) would only test the library.
    """
    for function in functions:
        for name, value in _references(function, set()):
            module = getattr(value, "__name__", "") if isinstance(value, type(np)) else \
                getattr(value, "__module__", "") or ""
            if module.split(".")[0] in _FORBIDDEN:
                raise AssertionError(
                    f"{function.__name__} uses {name!r} from {module}: this part is NumPy only. "
                    "Hint: write the computation with NumPy arrays and operations.")
    print(f"{', '.join(f.__name__ for f in functions)}: NumPy only.")
