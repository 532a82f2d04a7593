"""Checks for graded cells: run a student's code against an independent oracle and explain.

The oracles are other people's code (TensorFlow, Keras, NumPy, SciPy), never an answer written
here. Every check raises `AssertionError` naming the call, the expected and received values and a
hint; on success it prints one line and returns None (nbgrader would read a returned number as
partial credit).

- `cnnkit.checks.convolution`: Lab 1 (output size, padding, conv2d, pooling, speed, NumPy only).
"""

from cnnkit.checks._common import assert_arrays_match
from cnnkit.checks.convolution import *  # noqa: F403 - the labs call checks.check_conv2d etc.
