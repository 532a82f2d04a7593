"""Checks of Lab 1's backward passes: conv and max-pool gradients, gradient checks, learned kernels.

The oracles are `tf.GradientTape` (through `tf.nn.conv2d` and `tf.nn.max_pool2d`, on the CPU),
closed-form derivatives of a few NumPy functions, and relative errors worked out by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnkit.checks.common import assert_arrays_match, call_explained, passed

__all__ = [
    "check_conv2d_backward", "check_learned_kernel", "check_max_pool2d_backward",
    "check_numerical_gradient", "check_relative_error",
]

TIE_RULE = ("when several elements of a window tie for the maximum, TensorFlow sends the gradient "
            "to the first of them in row-major order (top to bottom, then left to right), which is "
            "what np.argmax returns on the flattened window")


# --- convolution ---------------------------------------------------------------------------------

def check_conv2d_backward(conv2d_backward: Callable, seed: int = 0) -> None:
    """Compare ``conv2d_backward(x, w, b, grad_out, stride, padding)`` with `tf.GradientTape`.

    The function returns `(grad_x, grad_w, grad_b)`, shaped like x, w and b.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    settings = [(5, 5, 1, 3, 1, 1, "valid"), (6, 7, 3, 3, 2, 1, "valid"),
                (7, 7, 2, 3, 2, 2, 1), (6, 6, 2, 2, 3, 1, "same"), (5, 4, 2, 1, 2, 1, 0),
                (8, 8, 2, 3, 2, 2, "same")]
    for height, width, c_in, f, k, stride, padding in settings:
        x = rng.normal(size=(height, width, c_in))
        w, b = rng.normal(size=(f, f, c_in, k)), rng.normal(size=k)
        x_t, w_t, b_t = (tf.Variable(v, dtype=tf.float64) for v in (x, w, b))
        with tf.GradientTape() as tape:
            pad = (padding.upper() if isinstance(padding, str)
                   else [[0, 0], [padding] * 2, [padding] * 2, [0, 0]])
            out = tf.nn.conv2d(x_t[tf.newaxis], w_t, strides=stride, padding=pad)[0] + b_t
            grad_out = rng.normal(size=out.shape)
            loss = tf.reduce_sum(out * grad_out)
        expected = tape.gradient(loss, [x_t, w_t, b_t])
        call = (f"conv2d_backward(x {x.shape}, w {w.shape}, b {b.shape}, "
                f"grad_out {grad_out.shape}, stride={stride}, padding={padding!r})")
        got = call_explained(conv2d_backward, call, x.copy(), w.copy(), b.copy(),
                             grad_out.copy(), stride=stride, padding=padding)
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise AssertionError(f"{call}: expected a tuple (grad_x, grad_w, grad_b), got "
                                 f"{type(got).__name__}.")
        for label, got_part, expected_part, hint in zip(
                ("grad_x", "grad_w", "grad_b"), got, expected,
                ("each input pixel collects grad_out * w from every window it took part in.",
                 "grad_w[a, b, c, k] sums x[i*s + a, j*s + b, c] * grad_out[i, j, k] over i, j.",
                 "grad_b[k] is the sum of grad_out[..., k].")):
            assert_arrays_match(got_part, expected_part.numpy(), f"{call} -> {label}", hint=hint,
                                atol=1e-8, rtol=1e-8)
    passed("conv2d_backward", len(settings), "tf.GradientTape")


# --- max pooling -------------------------------------------------------------------------------

def _max_pool_gradient(x: np.ndarray, grad_out: np.ndarray, size: int, stride: int) -> np.ndarray:
    """`d sum(max_pool2d(x) * grad_out) / dx` from `tf.GradientTape`, on the CPU: shaped like x."""
    import tensorflow as tf

    with tf.device("/CPU:0"):  # the tie rule below is the CPU kernel's
        x_t = tf.Variable(x[np.newaxis], dtype=tf.float64)
        with tf.GradientTape() as tape:
            pooled = tf.nn.max_pool2d(x_t, ksize=size, strides=stride, padding="VALID")
            loss = tf.reduce_sum(pooled * grad_out[np.newaxis])
        return tape.gradient(loss, x_t).numpy()[0]


def _max_pool_hint(got: np.ndarray, expected: np.ndarray, size: int, stride: int,
                   ties: bool) -> str:
    """Name the likely mistake from where the wrong gradient lands."""
    got_nonzero, expected_nonzero = np.count_nonzero(got), np.count_nonzero(expected)
    if ties:
        return (f"this input has ties: {TIE_RULE}. Each window sends its whole grad_out value to "
                "exactly one element.")
    if got_nonzero > expected_nonzero:
        return (f"{got_nonzero} elements received gradient, but only {expected_nonzero} are the "
                "maximum of a window: the other elements of a window did not change the output, so "
                "their gradient is 0. Send grad_out[i, j, c] only to the window's arg-max.")
    if got_nonzero == expected_nonzero and not np.allclose(got.sum(), 0) and np.isclose(
            got.sum(), expected.sum()) and stride >= size:
        return ("the right amount of gradient lands on the wrong elements: send it to the position "
                "of each window's maximum (np.argmax of the window), not to a fixed position such "
                "as the window's first element; remember the window's offset "
                "(i * stride, j * stride).")
    if stride < size:
        return ("windows overlap here (stride < size): an element that is the maximum of several "
                "windows collects the sum of their gradients (use +=, or np.add.at, not =).")
    return ("grad_x[r, s, c] is the sum of grad_out[i, j, c] over the windows (i, j) whose maximum "
            "sits at (r, s).")


def check_max_pool2d_backward(max_pool2d_backward: Callable, seed: int = 0) -> None:
    """Compare ``max_pool2d_backward(x, grad_out, size, stride)`` with `tf.GradientTape`.

    Random normal inputs (no ties) with and without overlapping windows and with a dropped border,
    then two inputs of small integers, full of ties, where TensorFlow's rule decides: the first
    maximum of a window in row-major order receives its gradient.
    """
    rng = np.random.default_rng(seed)
    cases = [((4, 4, 1), 2, 2, False), ((6, 5, 3), 2, 2, False), ((7, 7, 2), 3, 2, False),
             ((5, 5, 1), 2, 1, False), ((9, 8, 2), 3, 3, False), ((6, 6, 2), 3, 1, False),
             ((4, 6, 1), 2, 2, True), ((6, 6, 2), 3, 1, True)]
    for shape, size, stride, ties in cases:
        x = rng.integers(0, 3, size=shape).astype(np.float64) if ties else rng.normal(size=shape)
        out_shape = ((shape[0] - size) // stride + 1, (shape[1] - size) // stride + 1, shape[2])
        grad_out = rng.normal(size=out_shape)
        expected = _max_pool_gradient(x, grad_out, size, stride)
        call = (f"max_pool2d_backward(x {shape}{' with ties' if ties else ''}, "
                f"grad_out {out_shape}, size={size}, stride={stride})")
        got = call_explained(max_pool2d_backward, call, x.copy(), grad_out.copy(), size=size,
                             stride=stride)
        try:
            assert_arrays_match(got, expected, call, atol=1e-10, rtol=1e-10)
        except AssertionError as error:
            hint = ""
            if np.shape(got) == expected.shape:
                hint = " Hint: " + _max_pool_hint(np.asarray(got, np.float64), expected, size,
                                                  stride, ties)
            elif len(np.shape(got)) == 3:
                hint = " Hint: grad_x has the shape of x, not of grad_out."
            raise AssertionError(f"{error}{hint}") from None
    passed("max_pool2d_backward", len(cases), "tf.GradientTape of tf.nn.max_pool2d (ties included)")


# --- gradient checking -------------------------------------------------------------------------

def _known_functions(rng: np.random.Generator) -> list[tuple[str, Callable, Callable, np.ndarray]]:
    """(name, f, its exact gradient, a point x): smooth functions whose derivatives are textbook."""
    weights = rng.normal(size=(3, 4))

    def softmax(x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max())
        return e / e.sum()

    return [
        ("sum(x ** 3)", lambda x: float(np.sum(x ** 3)), lambda x: 3 * x ** 2, rng.normal(size=5)),
        ("sum(sin(x) * weights)", lambda x: float(np.sum(np.sin(x) * weights)),
         lambda x: np.cos(x) * weights, rng.normal(size=(3, 4))),
        ("log(sum(exp(x)))", lambda x: float(np.log(np.sum(np.exp(x)))), softmax,
         rng.normal(size=(2, 3, 2))),
    ]


def _gradient_hint(got: np.ndarray, expected: np.ndarray) -> str:
    if np.allclose(got, -expected, rtol=1e-4, atol=1e-6):
        return ("the sign is wrong: (f(x + h) - f(x - h)) / (2h), the point above minus the one "
                "below.")
    for factor, advice in ((2.0, "divide by 2h, the distance between x - h and x + h"),
                           (0.5, "divide by 2h, not by 4h")):
        if np.allclose(got, factor * expected, rtol=1e-4, atol=1e-6):
            return f"your result is {factor:g} times the gradient: {advice}."
    error = np.max(np.abs(got - expected)) / max(np.max(np.abs(got) + np.abs(expected)), 1e-300)
    if 1e-8 < error < 1e-2:
        return (f"a relative error of {error:.1e} is of the order of h = 1e-5: the error of "
                "forward differences (f(x + h) - f(x)) / h, which shrinks like h. Centred "
                "differences (f(x + h) - f(x - h)) / (2h) shrink like h ** 2.")
    return ("change one element at a time: grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2h), where "
            "e_i is 1 at position i and 0 elsewhere; put the element back before the next one.")


def check_numerical_gradient(numerical_gradient: Callable, seed: int = 0,
                             threshold: float = 1e-7) -> None:
    """Compare ``numerical_gradient(f, x)`` with the exact gradient of three smooth functions.

    Centred differences with the default h = 1e-5 agree to a relative error near 1e-10; forward
    differences only to about 1e-5, so ``threshold`` (1e-7) separates the two. The function must
    also leave ``x`` as it found it.
    """
    rng = np.random.default_rng(seed)
    functions = _known_functions(rng)
    for name, function, exact, x in functions:
        call = f"numerical_gradient(f = {name}, x of shape {x.shape})"
        original = x.copy()
        got = call_explained(numerical_gradient, call, function, x)
        if not np.array_equal(x, original):
            raise AssertionError(f"{call} changed x (at {int(np.sum(x != original))} positions). "
                                 "Hint: put each element back after you nudge it, or work on a "
                                 "copy.")
        expected = exact(original)
        try:
            got = np.asarray(got, np.float64)
        except (TypeError, ValueError):
            got = None
        if got is None or got.shape != expected.shape:
            assert_arrays_match(got, expected, call,
                                hint="one partial derivative per element of x.")
        error = np.max(np.abs(got - expected)) / max(np.max(np.abs(got) + np.abs(expected)), 1e-300)
        if not error <= threshold:  # also catches nan
            first = (0,) * expected.ndim
            raise AssertionError(
                f"{call}: relative error {error:.1e} from the exact gradient; expected below "
                f"{threshold:g} (first element: expected {expected[first]:.6g}, got "
                f"{got[first]:.6g}). "
                f"Hint: {_gradient_hint(got, expected)}")
    passed("numerical_gradient", len(functions), "exact derivatives (relative error < 1e-7)")


# (a, b, the relative error worked out by hand, what the case is about)
RELATIVE_ERROR_CASES = [
    ([1.0, 2.0], [1.0, 2.1], 0.1 / 4.1, "max |a - b| = 0.1, max (|a| + |b|) = 4.1"),
    ([[3.0, 0.0], [0.0, 0.0]], [[3.0, 0.0], [0.0, 1.0]], 1 / 6,
     "one scale for the whole array: max (|a| + |b|) = 6, not 1 at the differing element"),
    ([1e-3], [-1e-3], 1.0, "opposite signs: |a - b| = |a| + |b|, the largest possible error"),
    ([0.0, 0.0], [0.0, 0.0], 0.0, "two zero arrays are equal: 0, not nan"),
    ([2.0, -4.0, 1e-9], [2.0, -4.0, 2e-9], 1e-9 / 8.0,
     "tiny values beside large ones: max |a - b| = 1e-9, max (|a| + |b|) = 8"),
]


def check_relative_error(relative_error: Callable) -> None:
    """Compare ``relative_error(a, b)`` = max |a - b| / max(max (|a| + |b|), tiny) with values
    worked out by hand."""
    for a, b, expected, about in RELATIVE_ERROR_CASES:
        call = f"relative_error({a}, {b})"
        got = call_explained(relative_error, call, np.array(a), np.array(b))
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise AssertionError(f"{call}: expected one number, got {type(got).__name__} "
                                 f"{got!r}.") from None
        if not np.isclose(value, expected, rtol=1e-9, atol=1e-300):
            raise AssertionError(f"{call}: expected {expected:.6g}, got {value:.6g}. Hint: "
                                 f"{about}; relative_error = max |a - b| / "
                                 "max(max (|a| + |b|), tiny).")
    passed("relative_error", len(RELATIVE_ERROR_CASES), "values worked out by hand")


# --- learning a kernel -------------------------------------------------------------------------

def _start_hint(got: float, expected: float, image: np.ndarray, start: np.ndarray,
                target: np.ndarray) -> str:
    """Say why the first recorded loss is not the starting kernel's loss."""
    from cnnkit.checks.convolution import conv2d_oracle

    flipped = 0.5 * np.mean((conv2d_oracle(image, start[::-1, ::-1], np.zeros(1)) - target) ** 2)
    if np.isclose(got, expected * target.size, rtol=1e-6):
        return ("your loss is the sum over the output pixels; use the mean, "
                "0.5 * mean((conv2d(image, kernel) - target) ** 2).")
    if np.isclose(got, 2 * expected, rtol=1e-6):
        return "your loss lacks the factor 0.5: 0.5 * mean((conv2d(image, kernel) - target) ** 2)."
    if np.isclose(got, flipped, rtol=1e-6):
        return ("your forward pass flips the kernel (a true convolution); the layer computes "
                "cross-correlation: conv2d_fast must not flip it.")
    return ("start from np.random.default_rng(seed).normal(scale=0.1, size=(3, 3, 1, 1)), record "
            "the loss 0.5 * mean((conv2d(image, kernel) - target) ** 2) before each update.")


def check_learned_kernel(learn_kernel: Callable, image: np.ndarray, true_kernel: np.ndarray, *,
                         steps: int = 300, learning_rate: float = 2.0, seed: int = 0,
                         tolerance: float = 0.05) -> None:
    """Run ``learn_kernel(image, target, steps, learning_rate, seed)`` and compare its kernel.

    ``target`` is `tf.nn.conv2d(image, true_kernel)` ('valid', no bias). The function must return
    ``(kernel (3, 3, 1, 1), losses (steps,))``, where ``losses[0]`` is the loss
    ``0.5 * mean((conv2d(image, kernel) - target) ** 2)`` of its starting kernel
    ``np.random.default_rng(seed).normal(scale=0.1, size=(3, 3, 1, 1))``, and the learned kernel
    must lie within ``tolerance`` of ``true_kernel`` at every tap.

    Args:
        image: float array of shape (H, W, 1), e.g. MNIST digits scaled to [0, 1].
        true_kernel: float array of shape (3, 3) or (3, 3, 1, 1).
    """
    from cnnkit.checks.convolution import conv2d_oracle

    true_kernel = np.asarray(true_kernel, np.float64).reshape(3, 3, 1, 1)
    target = conv2d_oracle(image, true_kernel, np.zeros(1))
    call = (f"learn_kernel(image {image.shape}, target {target.shape}, steps={steps}, "
            f"learning_rate={learning_rate:g}, seed={seed})")
    got = call_explained(learn_kernel, call, image.copy(), target.copy(), steps=steps,
                         learning_rate=learning_rate, seed=seed)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise AssertionError(f"{call}: expected a tuple (kernel, losses), got "
                             f"{type(got).__name__}.")
    kernel, losses = np.asarray(got[0], np.float64), np.asarray(got[1], np.float64)
    if kernel.size != 9:
        raise AssertionError(f"{call}: expected a kernel of shape (3, 3, 1, 1), got "
                             f"{kernel.shape}.")
    if losses.shape != (steps,):
        raise AssertionError(f"{call}: expected {steps} losses (one per step, before its update), "
                             f"got an array of shape {losses.shape}.")
    start = np.random.default_rng(seed).normal(scale=0.1, size=(3, 3, 1, 1))
    start_loss = 0.5 * np.mean((conv2d_oracle(image, start, np.zeros(1)) - target) ** 2)
    if not np.isclose(losses[0], start_loss, rtol=1e-6):
        raise AssertionError(f"{call}: losses[0] should be the loss of the starting kernel, "
                             f"{start_loss:.6g}; got {losses[0]:.6g}. Hint: "
                             f"{_start_hint(losses[0], start_loss, image, start, target)}")
    kernel = kernel.reshape(3, 3)
    difference = np.max(np.abs(kernel - true_kernel[:, :, 0, 0]))
    if difference > tolerance:
        if not np.all(np.isfinite(losses)) or losses[-1] > losses[0]:
            hint = ("the loss grew: step against the gradient (kernel -= learning_rate * grad_w), "
                    "and use the mean loss, whose gradient is grad_out = (output - target) / size.")
        elif np.allclose(kernel, true_kernel[::-1, ::-1, 0, 0], atol=tolerance):
            hint = ("you learned the flipped kernel: the forward pass must not flip it "
                    "(cross-correlation).")
        elif np.isclose(losses[-1], losses[0]):
            hint = ("the loss did not move: update the kernel each step with conv2d_backward's "
                    "grad_w.")
        else:
            hint = ("the loss fell but not far enough: grad_out must be (output - target) / size, "
                    "the derivative of 0.5 * mean(...), so that the learning rate means the same "
                    "for everyone.")
        raise AssertionError(
            f"{call}: the learned kernel differs from the true one by up to {difference:.3g} "
            f"(expected at most {tolerance:g}); loss {losses[0]:.3g} -> {losses[-1]:.3g}.\n"
            f"learned:\n{np.array2string(kernel, precision=3)}\ntrue:\n"
            f"{np.array2string(true_kernel[:, :, 0, 0], precision=3)}\nHint: {hint}")
    print(f"learn_kernel: learned the kernel to within {difference:.3g} of the true one "
          f"(tolerance {tolerance:g}) in {steps} steps; loss {losses[0]:.3g} -> {losses[-1]:.3g}.")
