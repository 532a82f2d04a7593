"""Checks of Lab 1 (convolution by hand): output size, padding, conv2d, pooling, speed, NumPy only.

The oracles are `tf.nn.conv2d`, `tf.nn.max_pool2d`, `numpy.pad` and `keras.layers.Conv2D`; the
backward passes are checked in `cnnkit.checks.backward`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnkit.checks.common import assert_arrays_match, call_explained, passed

__all__ = [
    "check_conv2d", "check_conv2d_rejects_bad_arguments",
    "check_conv_output_size", "check_conv_params", "check_pad2d",
    "check_pool2d", "check_raises_value_error", "conv2d_cases", "conv2d_oracle",
    "output_size_cases",
]

PADDINGS = ("valid", "same", "full")


# --- output size -------------------------------------------------------------------------------

def _oracle_output_size(n: int, f: int, padding: str | int, stride: int, dilation: int) -> int | None:
    """Output size as TensorFlow computes it; None where the kit's rule says it does not fit.

    A dilated kernel covers ``dilation * (f - 1) + 1`` pixels, so an undilated zero kernel of
    that size gives the same shape (and avoids TensorFlow's refusal of stride and dilation > 1).
    """
    import tensorflow as tf

    effective = dilation * (f - 1) + 1
    if padding == "same":
        size, tf_padding = n, "SAME"
    else:
        pad = {"valid": 0, "full": effective - 1}.get(padding, padding)
        span = n + 2 * pad - effective
        if span < 0 or span % stride:
            return None
        size, tf_padding = n + 2 * pad, "VALID"
    out = tf.nn.conv2d(tf.zeros((1, size, 1, 1)), tf.zeros((effective, 1, 1, 1)),
                       strides=(stride, 1), padding=tf_padding)
    return int(out.shape[1])


def output_size_cases(seed: int = 0, count: int = 30) -> Iterator[tuple[int, int, object, int, int]]:
    """Yield `(n, f, padding, stride, dilation)` cases: fixed ones first, then seeded random."""
    yield from [(7, 3, "valid", 1, 1), (7, 3, "valid", 2, 1), (7, 3, "valid", 3, 1), (32, 5, "valid", 1, 1),
                (28, 5, "same", 1, 1), (28, 4, "same", 1, 1), (7, 3, "same", 2, 1),
                (5, 3, "full", 1, 1), (10, 3, "valid", 1, 2), (224, 7, 3, 2, 1), (227, 11, 0, 4, 1)]
    rng = np.random.default_rng(seed)
    for _ in range(count):
        f = int(rng.integers(1, 8))
        padding = [*PADDINGS, int(rng.integers(0, 4))][int(rng.integers(0, 4))]
        yield (int(rng.integers(f, 40)), f, padding, int(rng.integers(1, 4)), int(rng.integers(1, 3)))


def check_conv_output_size(conv_output_size: Callable, seed: int = 0, count: int = 30) -> None:
    """Compare ``conv_output_size(n, f, stride=, padding=, dilation=)`` with TensorFlow's shapes.

    Where the filter does not fit (e.g. 7, 3, stride 3), a `ValueError` is expected.

    """
    checked = 0
    for n, f, padding, stride, dilation in output_size_cases(seed, count):
        call = f"conv_output_size({n}, {f}, stride={stride}, padding={padding!r}, dilation={dilation})"
        expected = _oracle_output_size(n, f, padding, stride, dilation)
        if expected is None:
            check_raises_value_error(conv_output_size, call, n, f, stride=stride, padding=padding,
                                     dilation=dilation)
        else:
            got = call_explained(conv_output_size, call, n, f, stride=stride, padding=padding,
                                 dilation=dilation)
            if got != expected:
                hint = {"same": "'same' keeps ceil(n / stride) positions, whatever the kernel.",
                        "full": "'full' pads dilation * (f - 1) on each side."}.get(
                    padding, "(n + 2p - effective_f) / stride + 1, with effective_f = "
                             "dilation * (f - 1) + 1.")
                raise AssertionError(f"{call}: expected {expected}, got {got}. Hint: {hint}")
        checked += 1
    passed("conv_output_size", checked, "TensorFlow's output shapes")


def check_raises_value_error(function: Callable, call_text: str, *args,
                             reason: str = "the filter does not fit",
                             hint: str = "check that (n + 2p - effective_f) is divisible by stride, "
                                         "with effective_f = dilation * (f - 1) + 1.",
                             **kwargs) -> None:
    """Assert that ``function(*args, **kwargs)`` raises a ValueError with a message."""
    try:
        result = function(*args, **kwargs)
    except ValueError as error:
        if not str(error).strip():
            raise AssertionError(f"{call_text} raised ValueError without a message; say what "
                                 "was received and what was expected.") from None
        return
    except Exception as error:  # noqa: BLE001
        raise AssertionError(f"{call_text}: expected ValueError ({reason}), got "
                             f"{type(error).__name__}: {error}") from None
    shown = (f"an array of shape {np.shape(result)}" if isinstance(result, np.ndarray)
             else repr(result))
    raise AssertionError(f"{call_text}: {reason}, so a ValueError was expected; got {shown}. "
                         f"Hint: {hint}")


# --- padding ------------------------------------------------------------------------------------

def check_pad2d(pad2d: Callable, seed: int = 0) -> None:
    """Compare ``pad2d(x, padding)`` with `numpy.pad` for ints and (top, bottom, left, right)."""
    rng = np.random.default_rng(seed)
    cases = [(rng.normal(size=(4, 5, 3)), 1), (rng.normal(size=(3, 3, 1)), 0),
             (rng.normal(size=(2, 6, 2)), 2), (rng.normal(size=(5, 4, 1)), (0, 1, 0, 1)),
             (rng.normal(size=(3, 3, 4)), (1, 2, 3, 0))]
    for x, padding in cases:
        top, bottom, left, right = (padding,) * 4 if isinstance(padding, int) else padding
        expected = np.pad(x, ((top, bottom), (left, right), (0, 0)))
        call = f"pad2d(x of shape {x.shape}, {padding!r})"
        got = call_explained(pad2d, call, x.copy(), padding)
        assert_arrays_match(got, expected, call, hint="pad only the two spatial axes, with zeros; "
                            "the channel axis keeps its size.")
    passed("pad2d", len(cases), "numpy.pad")


# --- convolution ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvCase:
    """One convolution: x `(H, W, C_in)`, w `(F, F, C_in, K)`, b `(K,)` and the settings."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    stride: int = 1
    padding: object = "valid"
    dilation: int = 1

    def text(self, name: str = "conv2d") -> str:
        return (f"{name}(x {self.x.shape}, w {self.w.shape}, b {self.b.shape}, stride={self.stride}, "
                f"padding={self.padding!r}, dilation={self.dilation})")


def conv2d_oracle(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1,
                  padding: str | int = "valid",
                  dilation: int = 1) -> np.ndarray:
    """Return `tf.nn.conv2d(x, w) + b` for one channels-last image, in float64: `(H', W', K)`.

    Dilation is applied by inserting zeros between the kernel's taps, which TensorFlow accepts
    with any stride (its own ``dilations`` refuses stride > 1).
    """
    import tensorflow as tf

    effective = dilation * (w.shape[0] - 1) + 1
    dilated = np.zeros((effective, effective, *w.shape[2:]))
    dilated[::dilation, ::dilation] = w
    if padding in ("valid", "same"):
        tf_padding = padding.upper()
    else:
        pad = effective - 1 if padding == "full" else int(padding)
        tf_padding = [[0, 0], [pad, pad], [pad, pad], [0, 0]]
    out = tf.nn.conv2d(tf.constant(x[np.newaxis], tf.float64), tf.constant(dilated, tf.float64),
                       strides=stride, padding=tf_padding)
    return out.numpy()[0] + b


def conv2d_cases(seed: int = 0, count: int = 12) -> Iterator[ConvCase]:
    """Yield convolution cases: one per property worth testing, then seeded random ones.

    Fixed: several channel and filter counts, 1x1 kernels, kernel = input size, stride > 1 with
    padding, dilation 2, non-square inputs, 'same' with even kernels, 'full'.
    """
    rng = np.random.default_rng(seed)

    def case(h: int, w_: int, c: int, f: int, k: int, **settings: Any) -> ConvCase:
        return ConvCase(rng.normal(size=(h, w_, c)), rng.normal(size=(f, f, c, k)),
                        rng.normal(size=k), **settings)

    yield case(6, 6, 1, 3, 1)
    yield case(7, 5, 3, 3, 4)                       # non-square, several channels and filters
    yield case(5, 5, 2, 1, 3)                       # 1x1 kernel
    yield case(4, 4, 3, 4, 2)                       # kernel = input size
    yield case(9, 9, 2, 3, 2, stride=2, padding=1)  # stride > 1 with padding
    yield case(10, 8, 1, 3, 2, dilation=2)          # dilation 2
    yield case(6, 7, 2, 2, 2, padding="same")       # even kernel: TF pads more at the bottom/right
    yield case(5, 6, 1, 4, 1, padding="same")
    yield case(7, 7, 2, 3, 2, stride=2, padding="same")
    yield case(8, 8, 1, 3, 2, stride=2, padding="same")  # 'same' + stride: pads only bottom/right
    yield case(4, 5, 1, 3, 1, padding="full")
    yield case(5, 5, 2, 2, 1, padding="full", dilation=2)  # 'full' pads dilation * (f - 1)
    yield case(9, 9, 1, 3, 2, stride=2, padding=2, dilation=2)  # stride and dilation together
    for _ in range(count):
        f, stride, dilation = int(rng.integers(1, 5)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
        padding = ["valid", "same", "full", int(rng.integers(0, 3))][int(rng.integers(0, 4))]
        size = dilation * (f - 1) + 1 + int(rng.integers(0, 6))
        candidate = case(size + stride * int(rng.integers(0, 3)), size, int(rng.integers(1, 5)), f,
                         int(rng.integers(1, 5)), stride=stride, padding=padding, dilation=dilation)
        if candidate.padding == "same" or _fits(candidate):
            yield candidate


def _fits(case: ConvCase) -> bool:
    effective = case.dilation * (case.w.shape[0] - 1) + 1
    pad = {"valid": 0, "full": effective - 1}.get(case.padding, case.padding)
    return all((n + 2 * pad - effective) >= 0 and (n + 2 * pad - effective) % case.stride == 0
               for n in case.x.shape[:2])


def _conv_hint(got: Any, case: ConvCase, expected: np.ndarray) -> str:
    """Name a typical mistake when the wrong answer matches it."""
    if np.shape(got) != expected.shape and case.padding not in ("full", "same"):
        return "output size per axis: (n + 2p - effective_f) / stride + 1."
    if np.asarray(got).dtype.kind in "iub":
        return "your result has an integer dtype; compute in float (e.g. np.zeros(..., dtype=float))."
    got = np.asarray(got, dtype=np.float64)
    flipped = conv2d_oracle(case.x, case.w[::-1, ::-1], case.b, case.stride, case.padding, case.dilation)
    if got.shape == flipped.shape and np.allclose(got, flipped, atol=1e-6):
        return ("your result is a true convolution (flipped kernel); deep-learning layers compute "
                "cross-correlation: do not flip the kernel.")
    no_bias = conv2d_oracle(case.x, case.w, 0 * case.b, case.stride, case.padding, case.dilation)
    if got.shape == no_bias.shape and np.allclose(got, no_bias, atol=1e-6):
        return "the bias b[k] is missing: add it to every position of output channel k."
    if case.padding == "full":
        return "'full' pads dilation * (f - 1) pixels on each side."
    if case.padding == "same" and (case.w.shape[0] % 2 == 0 or case.stride > 1):
        return ("'same' pads max((out - 1) * stride + effective_f - n, 0) in total; when that is odd, "
                "TensorFlow puts the extra row and column at the bottom and right.")
    if case.dilation > 1:
        return "with dilation d, kernel taps are d pixels apart: x[i*s + a*d, j*s + b*d]."
    return "out[i, j, k] = sum over a, b, c of x[i*s + a, j*s + b, c] * w[a, b, c, k] + b[k]."


def check_conv2d(conv2d: Callable, seed: int = 0, count: int = 12, name: str = "conv2d") -> None:
    """Compare ``conv2d(x, w, b, stride, padding, dilation)`` with `tf.nn.conv2d` on many cases.

    """
    checked = 0
    for case in conv2d_cases(seed, count):
        expected = conv2d_oracle(case.x, case.w, case.b, case.stride, case.padding, case.dilation)
        call = case.text(name)
        got = call_explained(conv2d, call, case.x.copy(), case.w.copy(), case.b.copy(),
                             stride=case.stride, padding=case.padding, dilation=case.dilation)
        try:
            assert_arrays_match(got, expected, call, atol=1e-5, rtol=1e-5)
        except AssertionError as error:
            raise AssertionError(f"{error} Hint: {_conv_hint(got, case, expected)}") from None
        checked += 1
    passed(name, checked, "tf.nn.conv2d")


def check_conv2d_rejects_bad_arguments(conv2d: Callable, name: str = "conv2d") -> None:
    """Check that ``conv2d`` refuses mismatched channels, a wrong bias and a non-fitting stride."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 7, 3))
    cases = [
        ("x has 3 channels but w expects 2", "compare x.shape[2] with w.shape[2].",
         x, rng.normal(size=(3, 3, 2, 4)), np.zeros(4), {}),
        ("b has 3 biases for 4 filters", "compare b.shape with (w.shape[3],).",
         x, rng.normal(size=(3, 3, 3, 4)), np.zeros(3), {}),
        ("stride 3 does not fit a 7x7 input with a 3x3 kernel", "let conv_output_size decide.",
         x, rng.normal(size=(3, 3, 3, 1)), np.zeros(1), {"stride": 3}),
        ("'wide' is not a padding", "accept 'valid', 'same', 'full' or an int >= 0.",
         x, rng.normal(size=(3, 3, 3, 1)), np.zeros(1), {"padding": "wide"}),
    ]
    for reason, hint, x_case, w_case, b_case, settings in cases:
        call = (f"{name}(x {x_case.shape}, w {w_case.shape}, b {b_case.shape}"
                f"{''.join(f', {k}={v!r}' for k, v in settings.items())})")
        check_raises_value_error(conv2d, call, x_case, w_case, b_case, reason=reason, hint=hint,
                                 **settings)
    print(f"{name}: refuses all {len(cases)} invalid calls with a ValueError.")


# --- pooling --------------------------------------------------------------------------------------

def check_pool2d(pool2d: Callable, mode: str = "max", seed: int = 0) -> None:
    """Compare ``pool2d(x, size, stride)`` with `tf.nn.max_pool2d` / `avg_pool2d` ('valid').

    Pooling keeps floor((W - size) / stride) + 1 positions per axis, like Keras' default.
    """
    import tensorflow as tf

    oracle = {"max": tf.nn.max_pool2d, "avg": tf.nn.avg_pool2d}[mode]
    rng = np.random.default_rng(seed)
    cases = [((4, 4, 1), 2, 2), ((6, 5, 3), 2, 2), ((7, 7, 2), 3, 2), ((5, 5, 1), 2, 1),
             ((11, 11, 4), 2, 2), ((8, 6, 2), 3, 3)]
    name = f"{mode}_pool2d"
    for shape, size, stride in cases:
        x = rng.normal(size=shape)
        expected = oracle(tf.constant(x[np.newaxis]), ksize=size, strides=stride,
                          padding="VALID").numpy()[0]
        call = f"{name}(x {shape}, size={size}, stride={stride})"
        got = call_explained(pool2d, call, x.copy(), size=size, stride=stride)
        assert_arrays_match(got, expected, call, hint=f"each output is the {mode} of a size x size "
                            "window, per channel; windows start every stride pixels and must fit "
                            "entirely (floor).")
    passed(name, len(cases), f"tf.nn.{name}")


# --- parameters --------------------------------------------------------------------------------

def check_conv_params(conv_params: Callable) -> None:
    """Compare ``conv_params(f, c_in, k)`` with Keras' `Conv2D(k, f).count_params()`."""
    import keras

    cases = [(5, 3, 5), (3, 16, 32), (11, 3, 96), (1, 64, 32), (3, 3, 64), (7, 1, 1)]
    for f, c_in, k in cases:
        layer = keras.layers.Conv2D(k, f)
        layer.build((None, 32, 32, c_in))
        expected = layer.count_params()
        got = call_explained(conv_params, f"conv_params({f}, {c_in}, {k})", f, c_in, k)
        if got != expected:
            raise AssertionError(
                f"conv_params({f}, {c_in}, {k}): expected {expected:,}, got {got!r}. Hint: "
                "(f * f * c_in) weights per filter, k filters, plus one bias per filter.")
    passed("conv_params", len(cases), "keras.layers.Conv2D.count_params()")
