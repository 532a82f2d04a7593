"""Checks of training machinery: a `tf.data` input pipeline with augmentation, and an LR schedule.

The pipeline is fed *marked* images: every pixel of image ``i`` is ``i + 1`` plus a multiple of
65, so any output, however flipped, shifted or shuffled, can be traced back to its source and
compared with every flip and shift of it. No reference pipeline is written here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from cnnkit.checks._common import call_explained

__all__ = ["check_pipeline", "check_schedule"]

_MARK = 65


def marked_images(count: int, seed: int = 0, shape: tuple[int, int, int] = (32, 32, 3),
                  classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``count`` uint8 images whose pixels all encode their index, and random labels."""
    if count >= _MARK:
        raise ValueError(f"at most {_MARK - 1} marked images; received {count}.")
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 3, size=(count, *shape))
    images = (np.arange(1, count + 1)[:, None, None, None] + _MARK * texture).astype(np.uint8)
    return images, rng.integers(0, classes, size=count)


def _source_of(image: np.ndarray) -> int | None:
    """The index encoded in a (scaled) marked image; None if it holds no marked pixel."""
    values = np.rint(np.asarray(image, dtype=np.float64) * 255).astype(int)
    marks = values[values > 0] % _MARK
    return Counter(marks.tolist()).most_common(1)[0][0] - 1 if marks.size else None


def _variants(image: np.ndarray, pad: int) -> list[tuple[bool, int, int, np.ndarray]]:
    """Every horizontal flip x zero-padded shift of ``image`` as (flipped, dy, dx, array/255)."""
    height, width = image.shape[:2]
    found = []
    for flipped in (False, True):
        source = image[:, ::-1] if flipped else image
        padded = np.pad(source, ((pad, pad), (pad, pad), (0, 0))).astype(np.float64) / 255
        for dy in range(2 * pad + 1):
            for dx in range(2 * pad + 1):
                found.append((flipped, dy - pad, dx - pad, padded[dy:dy + height, dx:dx + width]))
    return found


def _dataset(make_pipeline: Callable, call: str, images: np.ndarray, labels: np.ndarray,
             **kwargs):  # noqa: ANN202 - a tf.data.Dataset
    import tensorflow as tf

    dataset = call_explained(make_pipeline, call, images.copy(), labels.copy(), **kwargs)
    if not isinstance(dataset, tf.data.Dataset):
        raise AssertionError(f"{call}: expected a tf.data.Dataset, got {type(dataset).__name__}.")
    return dataset


def _batches(make_pipeline: Callable, call: str, images: np.ndarray, labels: np.ndarray,
             dataset=None, **kwargs) -> tuple[list[np.ndarray], list[np.ndarray]]:  # noqa: ANN001
    """One pass over ``dataset`` (default: a new pipeline) as lists of image and target batches."""
    if dataset is None:
        dataset = _dataset(make_pipeline, call, images, labels, **kwargs)
    xs, ys = [], []
    for number, batch in enumerate(call_explained(lambda: list(dataset.as_numpy_iterator()),
                                                  f"iterating {call}")):
        if not isinstance(batch, tuple) or len(batch) != 2:
            raise AssertionError(f"{call}: batch {number} is not a pair (images, targets).")
        x, y = batch
        if x.dtype != np.float32 or x.shape[1:] != images.shape[1:]:
            raise AssertionError(f"{call}: batch {number} images are {x.dtype} {x.shape}; expected "
                                 f"float32 (batch, {', '.join(map(str, images.shape[1:]))}).")
        if y.dtype != np.float32 or y.ndim != 2 or len(y) != len(x):
            raise AssertionError(f"{call}: batch {number} targets are {y.dtype} {y.shape}; "
                                 f"expected one-hot float32 ({len(x)}, classes).")
        xs.append(x)
        ys.append(y)
    return xs, ys


def _check_batch_sizes(xs: list[np.ndarray], batch_size: int, total: int, call: str) -> None:
    sizes = [len(x) for x in xs]
    expected = [batch_size] * (total // batch_size) + ([total % batch_size] if total % batch_size
                                                       else [])
    if sizes != expected:
        raise AssertionError(f"{call}: batch sizes {sizes}; expected {expected} (every example "
                             "once per epoch, in batches of batch_size).")


def check_pipeline(make_pipeline: Callable, count: int = 50, batch_size: int = 16,
                   pad: int = 4) -> None:
    """Check ``make_pipeline(images, labels, training, batch_size, seed)`` on marked images.

    Evaluation: images scaled to [0, 1] in their order, one-hot targets of their own labels, the
    same on every pass. Training: each image exactly once per epoch, shuffled, each one a flip
    and/or a shift of at most ``pad`` pixels (zeros shifted in) of its own source, with its own
    label; flips and shifts both occur within a batch; a second pass over the same dataset is
    reshuffled and re-augmented; the same seed gives the same epoch, another seed another.
    """
    images, labels = marked_images(count)
    expected_targets = np.eye(10, dtype=np.float32)[labels]

    call = f"make_pipeline(images {images.shape}, labels, training=False, batch_size={batch_size})"
    first = _batches(make_pipeline, call, images, labels, training=False, batch_size=batch_size)
    _check_batch_sizes(first[0], batch_size, count, call)
    x, y = np.concatenate(first[0]), np.concatenate(first[1])
    if not np.allclose(x, images / 255, atol=1e-6):
        sources = [_source_of(image) for image in x]
        if None not in sources and x.max() > 0.5 and sources != list(range(count)):
            raise AssertionError(f"{call}: the images are not in their original order. Hint: "
                                 "no shuffle at evaluation.")
        raise AssertionError(f"{call}: the images differ from images / 255. Hint: at evaluation "
                             "nothing random (no flip, no crop), and scale with "
                             "tf.cast(image, tf.float32) / 255 only.")
    if not np.allclose(y, expected_targets):
        raise AssertionError(f"{call}: the targets are not the one-hot labels of their images. "
                             "Hint: tf.one_hot(label, 10) in the same map as the image.")
    again = np.concatenate(_batches(make_pipeline, call, images, labels, training=False,
                                    batch_size=batch_size)[0])
    if not np.array_equal(x, again):
        raise AssertionError(f"{call}: two passes differ; evaluation must not be random.")

    def epoch(seed: int, dataset=None) -> tuple[str, np.ndarray, np.ndarray]:  # noqa: ANN001
        text = (f"make_pipeline(images {images.shape}, labels, training=True, "
                f"batch_size={batch_size}, seed={seed})")
        xs, ys = _batches(make_pipeline, text, images, labels, dataset=dataset, training=True,
                          batch_size=batch_size, seed=seed)
        _check_batch_sizes(xs, batch_size, count, text)
        return text, np.concatenate(xs), np.concatenate(ys)

    training = _dataset(make_pipeline, "make_pipeline(..., training=True, seed=3)", images, labels,
                        training=True, batch_size=batch_size, seed=3)
    call, x, y = epoch(3, training)
    if x.min() < 0 or x.max() > 1:
        raise AssertionError(f"{call}: values range over [{x.min():.3g}, {x.max():.3g}]; "
                             "expected [0, 1].")
    sources = [_source_of(image) for image in x]
    if sorted(s for s in sources if s is not None) != list(range(count)) or None in sources:
        raise AssertionError(f"{call}: an epoch must hold every image exactly once; the sources "
                             f"found were {sources}.")
    if sources == list(range(count)):
        raise AssertionError(f"{call}: the images come in their original order. Hint: shuffle "
                             "the training set (with the seed).")
    if max(sources[:batch_size]) < count // 2:
        raise AssertionError(f"{call}: the first batch holds only images from the first half "
                             f"({sorted(sources[:batch_size])}). Hint: shuffle with a buffer as "
                             "large as the data set.")
    flips = shifts = 0
    per_batch: list[set] = [set() for _ in range(count // batch_size)]
    for position, (image, source) in enumerate(zip(x, sources)):
        if not np.allclose(y[position], expected_targets[source]):
            raise AssertionError(f"{call}: example {position} is image {source} but carries the "
                                 f"target {y[position].argmax()}, not its label {labels[source]}. "
                                 "Hint: shuffle and augment (image, label) pairs together.")
        match = next(((flipped, dy, dx)
                      for flipped, dy, dx, variant in _variants(images[source], pad)
                      if np.allclose(image, variant, atol=1e-6)), None)
        if match is None:
            raise AssertionError(
                f"{call}: example {position} (image {source}) is not a horizontal flip and/or a "
                f"shift of at most {pad} pixels of its source. Hint: pad {pad} pixels of zeros on "
                "each side, then crop back to the original size; scale to [0, 1] once.")
        flips += match[0]
        shifts += match[1:] != (0, 0)
        if position // batch_size < len(per_batch):
            per_batch[position // batch_size].add(match)
    if not 0.2 * count <= flips <= 0.8 * count or shifts < 0.3 * count:
        raise AssertionError(f"{call}: {flips} of {count} images flipped and {shifts} shifted; "
                             "expected about half flipped and most shifted (random per image).")
    if any(len({flipped for flipped, _, _ in batch}) < 2 or len(batch) < 3 for batch in per_batch):
        raise AssertionError(f"{call}: within a batch all images got the same flip or shift; "
                             "expected a random choice per image. Hint: augment in a map "
                             "before .batch().")
    if np.array_equal(x, epoch(3, training)[1]):
        raise AssertionError(f"{call}: a second pass over the same dataset repeats the first "
                             "exactly. Hint: cache before shuffling and augmenting, and let the "
                             "shuffle reshuffle each iteration, so every epoch differs.")
    if not np.array_equal(x, epoch(3)[1]):
        raise AssertionError(f"{call}: a second pipeline with the same seed gave another epoch. "
                             "Hint: seed the shuffle and use stateless random ops seeded from "
                             "`seed` and the example's position.")
    if np.array_equal(x, epoch(4)[1]):
        raise AssertionError(f"{call}: seed=4 gives the very same epoch as seed=3; the seed must "
                             "drive the shuffle and the augmentation.")
    print(f"make_pipeline: evaluation is exact and ordered; training shuffles {count} images, "
          f"flips {flips} and shifts {shifts}, labels kept; the seed reproduces it.")


def check_schedule(schedule: Callable, total_steps: int = 1000, peak: float = 1e-3,
                   warmup_fraction: float = 0.1) -> None:
    """Check ``schedule(step, total_steps, peak, warmup_fraction)``: warm-up, then a cosine to 0.

    Expected: ``peak / 10`` at step 0, rising linearly to ``peak`` at ``warmup_fraction`` of the
    steps, then ``peak * 0.5 * (1 + cos(pi * progress))`` down to 0 at ``total_steps``; it must
    accept a tensor of steps.
    """
    import tensorflow as tf

    steps = tf.range(total_steps + 1)
    call = f"schedule(tf.range({total_steps + 1}), total_steps={total_steps}, peak={peak:g})"
    rates = np.asarray(call_explained(schedule, call, steps, total_steps, peak, warmup_fraction),
                       dtype=np.float64).reshape(-1)
    in_graph = tf.function(lambda step: schedule(step, total_steps, peak, warmup_fraction))
    call_explained(in_graph, "schedule(step) inside tf.function, as Keras calls it (with "
                   "TensorFlow operations, not NumPy or math)", tf.constant(5, tf.int64))
    if rates.shape != (total_steps + 1,):
        raise AssertionError(f"{call}: expected {total_steps + 1} rates, got shape {rates.shape}.")
    warmup = int(total_steps * warmup_fraction)
    points = {0: peak / 10, warmup // 2: peak / 10 + 0.45 * peak, warmup: peak,
              warmup + (total_steps - warmup) // 4: peak * 0.5 * (1 + np.cos(np.pi / 4)),
              warmup + (total_steps - warmup) // 2: peak / 2, total_steps: 0.0}
    for step, expected in points.items():
        if not np.isclose(rates[step], expected, rtol=2e-2, atol=peak * 1e-3):
            raise AssertionError(
                f"{call}: at step {step} expected {expected:.4g}, got {rates[step]:.4g}. Hint: "
                f"linear from peak/10 to peak over the first {warmup_fraction:.0%} of the steps, "
                "then peak * 0.5 * (1 + cos(pi * progress)).")
    if np.any(np.diff(rates[:warmup + 1]) < -1e-12) or np.any(np.diff(rates[warmup:]) > 1e-12):
        raise AssertionError(f"{call}: expected a rise during the warm-up and a fall after it.")
    print(f"schedule: {peak / 10:g} -> {peak:g} at step {warmup} -> 0 at step {total_steps}, "
          "cosine-shaped.")
