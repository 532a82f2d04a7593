"""The checks of Lab 1's backward passes: each passes the solution and fails typical mistakes, with
a message that says what was expected and what to try."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnnkit import checks
from tests.labcode import solution_namespace
from tests.timings import record_timing

LAB1 = solution_namespace("lab1-convolution", (
    "setup", "conv_output_size", "pad2d", "conv2d_fast", "pooling", "conv2d_backward",
    "max_pool2d_backward", "numerical_gradient", "learn_kernel"))


def sparse_image(seed: int = 0, height: int = 40, width: int = 60) -> np.ndarray:
    """A (height, width, 1) image of scattered ones on zeros (10 %): no MNIST needed, and unlike a
    smooth image it excites every 3x3 pattern, so 300 steps recover any kernel."""
    return (np.random.default_rng(seed).random((height, width, 1)) < 0.1).astype(np.float64)


# --- conv2d_backward -----------------------------------------------------------------------------

def test_conv_backward_passes_solution_and_catches_a_missing_bias_gradient():
    """Does the conv backward check pass the solution and name grad_b when it is wrong?"""
    checks.check_conv2d_backward(LAB1.conv2d_backward)

    def no_bias_grad(*args, **kwargs):
        grad_x, grad_w, grad_b = LAB1.conv2d_backward(*args, **kwargs)
        return grad_x, grad_w, 0 * grad_b

    with pytest.raises(AssertionError, match=r"-> grad_b: .* Hint: grad_b\[k\] is the sum"):
        checks.check_conv2d_backward(no_bias_grad)


# --- max_pool2d_backward -------------------------------------------------------------------------

def _windows(x, size, stride):
    """Yield (row, col, channel, window) for every pooling window of a (H, W, C) array."""
    stride = stride or size
    for i in range((x.shape[0] - size) // stride + 1):
        for j in range((x.shape[1] - size) // stride + 1):
            for c in range(x.shape[2]):
                rows = slice(i * stride, i * stride + size)
                yield i, j, c, (rows, slice(j * stride, j * stride + size), c)


def to_every_element(x, grad_out, size=2, stride=None):
    """Wrong: every element of a window gets the window's gradient."""
    grad = np.zeros_like(x)
    for i, j, c, window in _windows(x, size, stride):
        grad[window] += grad_out[i, j, c]
    return grad


def to_first_element(x, grad_out, size=2, stride=None):
    """Wrong: the window's top-left element gets the gradient, whatever the maximum."""
    grad = np.zeros_like(x)
    for i, j, c, (rows, cols, channel) in _windows(x, size, stride):
        grad[rows.start, cols.start, channel] += grad_out[i, j, c]
    return grad


def overwrites(x, grad_out, size=2, stride=None):
    """Wrong: = instead of +=, so overlapping windows lose gradient."""
    grad = np.zeros_like(x)
    for i, j, c, (rows, cols, channel) in _windows(x, size, stride):
        a, b = np.unravel_index(np.argmax(x[rows, cols, channel]), (size, size))
        grad[rows.start + a, cols.start + b, channel] = grad_out[i, j, c]
    return grad


def last_maximum(x, grad_out, size=2, stride=None):
    """Wrong only on ties: the last maximum in row-major order takes the gradient."""
    grad = np.zeros_like(x)
    for i, j, c, (rows, cols, channel) in _windows(x, size, stride):
        flat = x[rows, cols, channel].ravel()
        a, b = np.unravel_index(flat.size - 1 - np.argmax(flat[::-1]), (size, size))
        grad[rows.start + a, cols.start + b, channel] += grad_out[i, j, c]
    return grad


def test_max_pool_backward_passes_the_solution(capsys):
    """Does the solution agree with tf.GradientTape on all cases, ties included?"""
    checks.check_max_pool2d_backward(LAB1.max_pool2d_backward, seed=3)
    assert capsys.readouterr().out == ("max_pool2d_backward: all 8 cases agree with "
                                       "tf.GradientTape of tf.nn.max_pool2d (ties included).\n")


@pytest.mark.parametrize(("wrong", "message"), [
    (to_every_element, r"x \(4, 4, 1\).*expected 0, got .*Hint: 16 elements received gradient, "
                       r"but only 4 are the maximum of a window: .* Send grad_out\[i, j, c\] only "
                       r"to the window's arg-max\."),
    (to_first_element, r"x \(4, 4, 1\).*Hint: the right amount of gradient lands on the wrong "
                       r"elements: send it to the position of each window's maximum"),
    (overwrites, r"x \(7, 7, 2\), grad_out \(3, 3, 2\), size=3, stride=2\).*Hint: windows overlap "
                 r"here \(stride < size\): .* collects the sum of their gradients \(use \+=, or "
                 r"np\.add\.at, not =\)\."),
    (last_maximum, r"x \(4, 6, 1\) with ties.*Hint: this input has ties: when several elements "
                   r"of a window tie for the maximum, TensorFlow sends the gradient to the first "
                   r"of them in row-major order"),
    (lambda x, grad_out, size=2, stride=None: grad_out,
     r"expected shape \(4, 4, 1\), got \(2, 2, 1\)\. Hint: grad_x has the shape of x"),
])
def test_max_pool_backward_catches_typical_mistakes(wrong, message):
    """Are gradient-to-every-element, to-the-first-element, overwriting on overlaps, the wrong tie
    rule and a grad_out-shaped result each caught, with the hint that fits?"""
    with pytest.raises(AssertionError, match=message):
        checks.check_max_pool2d_backward(wrong)


def test_tensorflow_sends_a_tied_gradient_to_the_first_maximum():
    """Is the tie rule stated in the lab (and checked with ties by the test above) really
    TensorFlow's on the CPU?"""
    import tensorflow as tf

    x = np.array([[1, 1, 0, 2], [1, 0, 2, 2], [3, 3, 1, 1], [3, 3, 1, 1]], float)[..., None]
    expected = np.array([[1, 0, 0, 1], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]], float)
    with tf.device("/CPU:0"):
        images = tf.Variable(x[np.newaxis], dtype=tf.float64)
        with tf.GradientTape() as tape:
            pooled = tf.nn.max_pool2d(images, ksize=2, strides=2, padding="VALID")
        gradient = tape.gradient(pooled, images).numpy()[0]
    np.testing.assert_array_equal(gradient[..., 0], expected)
    np.testing.assert_array_equal(LAB1.max_pool2d_backward(x, np.ones((2, 2, 1)))[..., 0], expected)


# --- numerical_gradient and relative_error -------------------------------------------------------

def _nudged(f, x, position, step):
    moved = np.array(x, dtype=np.float64)
    moved[position] += step
    return f(moved)


def forward_differences(f, x, h=1e-5):
    """Wrong: (f(x + h) - f(x)) / h, an error of order h."""
    slopes = [(_nudged(f, x, i, h) - f(x)) / h for i in np.ndindex(x.shape)]
    return np.array(slopes).reshape(x.shape)


def wrong_sign(f, x, h=1e-5):
    return -LAB1.numerical_gradient(f, x, h)


def divides_by_h(f, x, h=1e-5):
    return 2 * LAB1.numerical_gradient(f, x, h)


def leaves_x_nudged(f, x, h=1e-5):
    """Wrong: nudges x in place and never puts it back."""
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        x[index] += h
        above = f(x)
        x[index] -= 2 * h
        gradient[index] = (above - f(x)) / (2 * h)
    return gradient


def test_numerical_gradient_passes_the_solution(capsys):
    """Does the solution's numerical gradient agree with three exact gradients to 1e-7?"""
    checks.check_numerical_gradient(LAB1.numerical_gradient, seed=4)
    assert "numerical_gradient: all 3 cases agree" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "message"), [
    (forward_differences, r"relative error \d\.\de-0[5-7] from the exact gradient; expected below "
                          r"1e-07 \(first element: .*\)\. Hint: .* forward differences "
                          r"\(f\(x \+ h\) - f\(x\)\) / h, which shrinks like h\. Centred"),
    (wrong_sign, r"Hint: the sign is wrong: \(f\(x \+ h\) - f\(x - h\)\) / \(2h\)"),
    (divides_by_h, r"Hint: your result is 2 times the gradient: divide by 2h"),
    (leaves_x_nudged, r"changed x \(at 5 positions\)\. Hint: put each element back"),
])
def test_numerical_gradient_catches_typical_mistakes(wrong, message):
    """Are forward differences, a wrong sign, a missing 2 and a nudged x each caught, with a
    hint?"""
    with pytest.raises(AssertionError, match=message):
        checks.check_numerical_gradient(wrong)


def test_relative_error_passes_the_solution_and_catches_typical_mistakes():
    """Does the solution pass, and are an element-wise ratio, a nan for zeros and max |a| as the
    scale caught, each naming the case?"""
    relative_error = LAB1.relative_error
    checks.check_relative_error(relative_error)

    def element_wise(a, b):
        return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-300)))

    def no_tiny(a, b):
        with np.errstate(invalid="ignore"):
            return float(np.max(np.abs(a - b)) / np.max(np.abs(a) + np.abs(b)))

    def scale_of_a(a, b):
        return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300))

    with pytest.raises(AssertionError, match=r"expected 0\.166667, got 1\. Hint: one scale for "
                                             r"the whole array"):
        checks.check_relative_error(element_wise)
    with pytest.raises(AssertionError, match=r"expected 0, got nan\. Hint: two zero arrays are "
                                             r"equal"):
        checks.check_relative_error(no_tiny)
    with pytest.raises(AssertionError, match=r"relative_error\(\[1\.0, 2\.0\], \[1\.0, 2\.1\]\): "
                                             r"expected 0\.0243902, got 0\.05\."):
        checks.check_relative_error(scale_of_a)


# --- learning a kernel ---------------------------------------------------------------------------

SOBEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], float)


def test_learned_kernel_passes_the_solution_quickly(capsys):
    """Does the solution recover the Sobel kernel to within 0.05? (Its time is recorded against a
    5 s budget: tests/timings.py.)"""
    import time

    checks.conv2d_oracle(np.ones((3, 3, 1)), np.ones((3, 3, 1, 1)), np.zeros(1))  # TF imported
    start = time.perf_counter()
    checks.check_learned_kernel(LAB1.learn_kernel, sparse_image(), SOBEL.T, seed=1)
    record_timing(time.perf_counter() - start, budget_seconds=5)
    assert re.match(r"learn_kernel: learned the kernel to within \S+ of the true one \(tolerance "
                    r"0\.05\) in 300 steps", capsys.readouterr().out)


def _variant(sign=-1.0, scale_of_loss="mean", flip=False):
    """learn_kernel with one thing changed: the step's sign, a sum loss, or a flipped forward."""
    def learn_kernel(image, target, steps=300, learning_rate=2.0, seed=0):
        kernel = np.random.default_rng(seed).normal(scale=0.1, size=(3, 3, 1, 1))
        losses = np.zeros(steps)
        for step in range(steps):
            used = kernel[::-1, ::-1] if flip else kernel
            residual = LAB1.conv2d_fast(image, used, np.zeros(1)) - target
            size = residual.size if scale_of_loss == "mean" else 1
            losses[step] = 0.5 * np.sum(residual ** 2) / size
            _, grad, _ = LAB1.conv2d_backward(image, used, np.zeros(1), residual / size)
            kernel = kernel + sign * learning_rate * (grad[::-1, ::-1] if flip else grad)
        return kernel, losses
    return learn_kernel


@pytest.mark.parametrize(("wrong", "message"), [
    (_variant(sign=+1.0), r"(?s)differs from the true one by up to .*Hint: the loss grew: step "
                          r"against the gradient \(kernel -= learning_rate \* grad_w\)"),
    (_variant(scale_of_loss="sum"), r"losses\[0\] should be the loss of the starting kernel, "
                                    r".*Hint: your loss is the sum over the output pixels"),
    (_variant(flip=True), r"Hint: your forward pass flips the kernel \(a true convolution\)"),
    (_variant(sign=0.0), r"Hint: the loss did not move"),
])
def test_learned_kernel_catches_typical_mistakes(wrong, message):
    """Are a step up the gradient, a summed loss, a flipped forward pass and no update caught?"""
    with pytest.raises(AssertionError, match=message), np.errstate(over="ignore", invalid="ignore"):
        checks.check_learned_kernel(wrong, sparse_image(), SOBEL, steps=60)


def test_the_solutions_of_parts_g_to_i_pass_the_numpy_only_audit(capsys):
    """Do the new solution functions use NumPy only (learn_kernel through conv2d_fast and
    conv2d_backward too)?"""
    checks.check_numpy_only(LAB1.max_pool2d_backward, LAB1.numerical_gradient, LAB1.relative_error,
                            LAB1.learn_kernel)
    assert capsys.readouterr().out.endswith("NumPy only.\n")
