"""Checks of evaluation code: confusion matrix, most confident mistakes, shifted images (Lab 2).

Oracles: `tf.math.confusion_matrix` and `scipy.ndimage.shift`. The mistakes are checked by their
defining properties (each returned example is wrong, confidences never increase, nothing left out
is more confident), so no reference answer is written here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnkit.checks.common import assert_arrays_match, call_explained, passed


def _call_keeping_inputs(function: Callable, call: str, *args):  # noqa: ANN202
    """Call ``function(*args)`` and assert it left its array arguments unchanged."""
    arrays = [arg for arg in args if isinstance(arg, np.ndarray)]
    before = [array.copy() for array in arrays]
    got = call_explained(function, call, *args)
    for array, original in zip(arrays, before):
        if not np.array_equal(array, original):
            raise AssertionError(f"{call} changed its input array in place. Fix: work on a new "
                                 "array (np.zeros_like, .copy()) and return it.")
    return got

__all__ = ["check_confusion_matrix", "check_most_confident_mistakes", "check_shift_images"]


def check_confusion_matrix(confusion_matrix: Callable, seed: int = 0) -> None:
    """Compare ``confusion_matrix(labels, predictions, num_classes)`` with TensorFlow's.

    Rows are true classes, columns predicted classes; cases include classes that never occur.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    cases = [(np.array([0, 1, 2, 2, 1]), np.array([0, 2, 2, 2, 1]), 3),
             (np.array([3, 3, 0]), np.array([0, 3, 3]), 5)]
    cases += [(rng.integers(0, 10, 200), rng.integers(0, 10, 200), 10) for _ in range(3)]
    for labels, predictions, num_classes in cases:
        call = (f"confusion_matrix(labels={labels.tolist()[:6]}..., "
                f"predictions={predictions.tolist()[:6]}..., num_classes={num_classes})")
        got = _call_keeping_inputs(confusion_matrix, call, labels, predictions, num_classes)
        expected = tf.math.confusion_matrix(labels, predictions, num_classes=num_classes).numpy()
        if not np.issubdtype(np.asarray(got).dtype, np.integer):
            raise AssertionError(f"{call}: expected an array of integer counts, got dtype "
                                 f"{np.asarray(got).dtype}. Hint: np.zeros(..., dtype=int).")
        assert_arrays_match(got, expected.astype(np.float64), call,
                            hint="entry [i, j] counts the images of true class i predicted as j.")
    passed("confusion_matrix", len(cases), "tf.math.confusion_matrix")


def check_most_confident_mistakes(most_confident_mistakes: Callable, seed: int = 0) -> None:
    """Check ``most_confident_mistakes(probabilities, labels, k)`` on random and edge cases.

    Expected: the indices of up to ``k`` misclassified examples (``argmax != label``), the most
    confident (highest top probability) first, and no left-out mistake more confident than the
    last one returned.
    """
    rng = np.random.default_rng(seed)
    cases = []
    for count, k in ((50, 5), (200, 12), (30, 40)):
        probabilities = rng.dirichlet(np.full(10, 0.3), size=count)
        cases.append((probabilities, rng.integers(0, 10, count), k))
    perfect = np.eye(10)[np.arange(20) % 10]
    cases.append((perfect, np.arange(20) % 10, 5))  # no mistakes at all
    for probabilities, labels, k in cases:
        call = f"most_confident_mistakes(probabilities {probabilities.shape}, labels, k={k})"
        got = np.asarray(_call_keeping_inputs(most_confident_mistakes, call, probabilities,
                                              labels, k))
        predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
        wrong = np.flatnonzero(predicted != labels)
        if got.ndim != 1 or len(got) != min(k, len(wrong)):
            raise AssertionError(f"{call}: expected a 1-D array of {min(k, len(wrong))} indices "
                                 f"({len(wrong)} mistakes, k={k}), got shape {got.shape}.")
        if not len(got):
            continue
        if not np.issubdtype(got.dtype, np.integer):
            raise AssertionError(f"{call}: expected integer indices, got dtype {got.dtype}.")
        if got.min() < 0 or got.max() >= len(labels):
            raise AssertionError(f"{call}: index {got.min() if got.min() < 0 else got.max()} is "
                                 f"outside 0..{len(labels) - 1}.")
        if len(np.unique(got)) != len(got):
            raise AssertionError(f"{call}: returned {got.tolist()}, with repeats; each mistake "
                                 "belongs in the list once.")
        right = [int(i) for i in got if predicted[i] == labels[i]]
        if right:
            raise AssertionError(f"{call}: index {right[0]} is not a mistake (predicted "
                                 f"{predicted[right[0]]}, label {labels[right[0]]}).")
        if np.any(np.diff(confidence[got]) > 0):
            raise AssertionError(f"{call}: expected the most confident mistake first; the "
                                 f"confidences returned are {np.round(confidence[got], 3)}.")
        left_out = np.setdiff1d(wrong, got)
        if len(left_out) and confidence[left_out].max() > confidence[got[-1]]:
            missed = int(left_out[confidence[left_out].argmax()])
            raise AssertionError(f"{call}: mistake {missed} (confidence "
                                 f"{confidence[missed]:.3f}) is more confident than the last "
                                 f"one returned ({confidence[got[-1]]:.3f}) but is left out.")
    passed("most_confident_mistakes", len(cases), "the definition")


def check_shift_images(shift_images: Callable, seed: int = 0) -> None:
    """Compare ``shift_images(images, dx, dy)`` with `scipy.ndimage.shift`.

    Expected: images `(N, H, W, C)` moved ``dx`` pixels right and ``dy`` down (negative: left,
    up), pixels shifted in are 0, shape and dtype kept.
    """
    from scipy.ndimage import shift as scipy_shift

    rng = np.random.default_rng(seed)
    dot = np.zeros((1, 5, 5, 1), dtype=np.uint8)
    dot[0, 2, 2, 0] = 255
    cases = [(dot, 1, 0), (dot, 0, 2), (dot, -2, -1), (dot, 5, 0)]
    images = rng.integers(0, 256, size=(3, 28, 28, 1), dtype=np.uint8)
    cases += [(images, dx, dy) for dx, dy in ((0, -27), (28, 0))]
    cases += [(images, int(dx), int(dy)) for dx, dy in rng.integers(-8, 9, size=(4, 2))]
    colour = rng.integers(0, 256, size=(2, 6, 9, 3), dtype=np.uint8)  # not square, 3 channels
    cases += [(colour, int(dx), int(dy))
              for dx, dy in ((2, -1), (-7, 3), *rng.integers(-9, 10, size=(2, 2)))]
    for batch, dx, dy in cases:
        call = f"shift_images(images {batch.shape}, dx={dx}, dy={dy})"
        got = _call_keeping_inputs(shift_images, call, batch, dx, dy)
        expected = scipy_shift(batch, (0, dy, dx, 0), order=0, mode="constant", cval=0)
        if getattr(got, "dtype", None) != batch.dtype:
            raise AssertionError(f"{call}: expected dtype {batch.dtype}, got "
                                 f"{getattr(got, 'dtype', type(got).__name__)}.")
        assert_arrays_match(got, expected.astype(np.float64), call,
                            hint="positive dx moves the content right, positive dy down; fill "
                                 "what is uncovered with 0 (no wrap-around as with np.roll).")
    passed("shift_images", len(cases), "scipy.ndimage.shift")
