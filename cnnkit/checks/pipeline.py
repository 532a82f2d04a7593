"""Checks of training machinery: a `tf.data` input pipeline with augmentation, and an LR schedule.

The pipeline is fed *marked* images: every pixel of image ``i`` is ``i + 1`` plus a multiple of
65, so any output, however flipped, shifted or shuffled, can be traced back to its source and
compared with every flip and shift of it. No reference pipeline is written here.

The pipeline is checked in four parts, one concern each, so that partial work earns partial
credit and one bug fails one part: `check_pipeline_batches` (structure, dtypes, batch sizes),
`check_pipeline_evaluation` (scaling, order, labels), `check_pipeline_augmentation` (flips and
shifts per image, seeded) and `check_pipeline_shuffling` (every image once per epoch, with its
label, reshuffled, seeded). Only the first looks at a last, smaller batch; the others use a
multiple of the batch size, and the training parts undo any consistent scaling first, so a bug
in batching or scaling does not fail them too. `check_pipeline` runs all four.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from cnnkit.checks.common import call_explained

__all__ = ["check_pipeline", "check_pipeline_augmentation", "check_pipeline_batches",
           "check_pipeline_evaluation", "check_pipeline_shuffling", "check_schedule"]

_MARK = 65
_COUNT = 48  # images for the parts that do not look at batching: 3 full batches of 16
_BATCH = 16


def marked_images(count: int, seed: int = 0, shape: tuple[int, int, int] = (32, 32, 3),
                  num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``count`` uint8 images whose pixels all encode their index, and random labels."""
    if count >= _MARK:
        raise ValueError(f"at most {_MARK - 1} marked images; received {count}.")
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 3, size=(count, *shape))
    images = (np.arange(1, count + 1)[:, None, None, None] + _MARK * texture).astype(np.uint8)
    return images, rng.integers(0, num_classes, size=count)


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


def _call_text(images: np.ndarray, training: bool, batch_size: int, **kwargs) -> str:
    options = "".join(f", {key}={value}" for key, value in kwargs.items())
    return (f"make_pipeline(images {images.shape}, labels, training={training}, "
            f"batch_size={batch_size}{options})")


def _dataset(make_pipeline: Callable, call: str, images: np.ndarray, labels: np.ndarray,
             **kwargs: Any) -> Any:  # a tf.data.Dataset
    import tensorflow as tf

    dataset = call_explained(make_pipeline, call, images.copy(), labels.copy(), **kwargs)
    if not isinstance(dataset, tf.data.Dataset):
        raise AssertionError(f"{call}: expected a tf.data.Dataset, received "
                             f"{type(dataset).__name__}. Hint: return the dataset.")
    return dataset


def _pairs(dataset, call: str) -> list[tuple[np.ndarray, np.ndarray]]:  # noqa: ANN001
    """One pass over ``dataset`` as a list of (images, targets) batches."""
    batches = call_explained(lambda: list(dataset.as_numpy_iterator()), f"iterating {call}")
    for number, batch in enumerate(batches):
        if not isinstance(batch, tuple) or len(batch) != 2:
            raise AssertionError(f"{call}: batch {number} is not a pair (images, targets); "
                                 f"received {type(batch).__name__}. Hint: map each example to "
                                 "(image, target) and batch those.")
    return batches


def _classes(targets: np.ndarray) -> np.ndarray:
    """Class indices from targets, one-hot or not (the batches part checks their form)."""
    targets = np.asarray(targets)
    return targets.argmax(axis=-1) if targets.ndim == 2 else targets.reshape(-1).astype(int)


def _epoch(make_pipeline: Callable, images: np.ndarray, labels: np.ndarray, dataset: Any = None,
           **kwargs) -> tuple[str, np.ndarray, np.ndarray]:
    """One epoch as (call text, images float64 (N, H, W, C), class indices (N,))."""
    call = _call_text(images, **kwargs)
    if dataset is None:
        dataset = _dataset(make_pipeline, call, images, labels, **kwargs)
    batches = _pairs(dataset, call)
    if not batches:
        raise AssertionError(f"{call}: the dataset is empty; expected {len(images)} examples.")
    x = np.concatenate([np.asarray(images_, dtype=np.float64).reshape(-1, *images.shape[1:])
                        for images_, _ in batches])
    y = np.concatenate([_classes(targets) for _, targets in batches])
    return call, x, y


def _rescaled(x: np.ndarray, images: np.ndarray, call: str) -> np.ndarray:
    """``x`` rescaled so its brightest value is the sources' brightest / 255.

    The training parts check augmentation and shuffling, not scaling (the evaluation part and the
    batches part do), so a pipeline that scales consistently wrong is traced all the same.
    """
    if not np.isfinite(x).all() or x.max() <= 0:
        raise AssertionError(f"{call}: the images hold no positive values (largest "
                             f"{x.max():.3g}); expected the input images scaled to [0, 1].")
    return x * (images.max() / 255 / x.max())


def _sources(x: np.ndarray, call: str) -> list[int]:
    sources = [_source_of(image) for image in x]
    if None in sources:
        raise AssertionError(f"{call}: example {sources.index(None)} is all zeros; expected "
                             "every output to be one of the input images (flipped or shifted "
                             "at most).")
    return sources


def _augmentations(x: np.ndarray, images: np.ndarray, sources: list[int],
                   pad: int) -> list[tuple[bool, int, int] | None]:
    """For each example, (flipped, dy, dx) of the variant of its source it equals, or None."""
    return [next(((flipped, dy, dx) for flipped, dy, dx, variant in _variants(images[source], pad)
                  if np.allclose(image, variant, atol=1e-5)), None)
            for image, source in zip(x, sources)]


def check_pipeline_batches(make_pipeline: Callable, count: int = 50,
                           batch_size: int = _BATCH) -> None:
    """Check the form of the batches of ``make_pipeline``, in evaluation and in training.

    Expected, in both modes: pairs (images, targets); images `float32` of shape
    `(batch, 32, 32, 3)` with values in [0, 1]; targets one-hot `float32` of shape `(batch, 10)`;
    batches of ``batch_size`` and a smaller last one (``count`` is not a multiple of it).
    """
    images, labels = marked_images(count)
    for training in (False, True):
        options = {"seed": 0} if training else {}
        call = _call_text(images, training, batch_size, **options)
        dataset = _dataset(make_pipeline, call, images, labels, training=training,
                           batch_size=batch_size, **options)
        batches = _pairs(dataset, call)
        for number, (x, y) in enumerate(batches):
            if x.dtype != np.float32 or x.shape[1:] != images.shape[1:]:
                raise AssertionError(
                    f"{call}: batch {number} images are {x.dtype} {x.shape}; expected float32 "
                    f"(batch, {', '.join(map(str, images.shape[1:]))}). Hint: "
                    "tf.cast(image, tf.float32) / 255 in a map before .batch().")
            if y.dtype != np.float32 or y.ndim != 2 or y.shape != (len(x), 10):
                raise AssertionError(
                    f"{call}: batch {number} targets are {y.dtype} {y.shape}; expected one-hot "
                    f"float32 ({len(x)}, 10). Hint: tf.one_hot(label, 10, dtype=tf.float32).")
            if not (np.isin(y, (0.0, 1.0)).all() and np.allclose(y.sum(axis=1), 1)):
                raise AssertionError(
                    f"{call}: batch {number} targets are not one-hot (row 0: {y[0].tolist()}); "
                    "expected a single 1 per row. Hint: label smoothing belongs to the loss "
                    "(Part E), not to the pipeline.")
            if x.min() < 0 or x.max() > 1:
                raise AssertionError(
                    f"{call}: batch {number} values range over [{x.min():.3g}, {x.max():.3g}]; "
                    "expected [0, 1]. Hint: divide by 255 once, in both modes.")
        sizes = [len(x) for x, _ in batches]
        expected = [batch_size] * (count // batch_size) + (
            [count % batch_size] if count % batch_size else [])
        if sizes != expected:
            raise AssertionError(f"{call}: batch sizes {sizes}; expected {expected} (every "
                                 "example once per epoch, in batches of batch_size). Hint: "
                                 ".batch(batch_size) without drop_remainder, and no .repeat().")
    print(f"make_pipeline batches: float32 images {images.shape[1:]} in [0, 1], one-hot float32 "
          f"targets, batch sizes {expected}, in evaluation and training.")


def check_pipeline_evaluation(make_pipeline: Callable, count: int = _COUNT,
                              batch_size: int = _BATCH) -> None:
    """Check evaluation (``training=False``): images / 255 in their order, with their labels.

    Expected: the images exactly ``images / 255`` in their original order, each with its own
    label, and the same on every pass (nothing random).
    """
    images, labels = marked_images(count)
    call, x, y = _epoch(make_pipeline, images, labels, training=False, batch_size=batch_size)
    if x.shape != images.shape:
        raise AssertionError(f"{call}: {len(x)} examples in one pass; expected all {count}, "
                             "once each.")
    if not np.allclose(x, images / 255, atol=1e-6):
        sources = [_source_of(image) for image in x]
        if None not in sources and x.max() > 0.5 and sources != list(range(count)):
            raise AssertionError(f"{call}: the images come in the order {sources[:8]}...; "
                                 f"expected {list(range(8))}... Hint: no shuffle at evaluation.")
        raise AssertionError(f"{call}: the images differ from images / 255 (received values in "
                             f"[{x.min():.3g}, {x.max():.3g}]). Hint: at evaluation nothing "
                             "random (no flip, no crop), and scale with "
                             "tf.cast(image, tf.float32) / 255 only.")
    if not np.array_equal(y, labels):
        wrong = int(np.flatnonzero(y != labels)[0])
        raise AssertionError(f"{call}: example {wrong} carries class {y[wrong]}; expected its "
                             f"label {labels[wrong]}. Hint: tf.one_hot(label, 10) in the same "
                             "map as the image.")
    again = _epoch(make_pipeline, images, labels, training=False, batch_size=batch_size)[1]
    if not np.array_equal(x, again):
        raise AssertionError(f"{call}: two passes differ; expected the same images every time. "
                             "Hint: evaluation must not be random.")
    print(f"make_pipeline evaluation: {count} images scaled exactly, in their order, with their "
          "labels, the same on every pass.")


def check_pipeline_augmentation(make_pipeline: Callable, count: int = _COUNT,
                                batch_size: int = _BATCH, pad: int = 4) -> None:
    """Check augmentation in training: a random flip and shift per image, seeded, switchable.

    Expected: every training example is its own source image flipped horizontally or not and
    shifted by at most ``pad`` pixels with zeros shifted in; about half flipped, most shifted,
    chosen per image (varied within each batch); ``augment=False`` leaves the images as they are;
    the same ``seed`` gives the same augmentation, another seed another. Order and labels are
    the shuffling part's concern, scaling the evaluation part's.
    """
    images, labels = marked_images(count)
    call, x, _ = _epoch(make_pipeline, images, labels, training=True, batch_size=batch_size,
                        seed=3)
    x = _rescaled(x, images, call)
    sources = _sources(x, call)
    found = _augmentations(x, images, sources, pad)
    if None in found:
        position = found.index(None)
        raise AssertionError(
            f"{call}: example {position} (image {sources[position]}) is not a horizontal flip "
            f"and/or a shift of at most {pad} pixels of its source. Hint: pad {pad} pixels of "
            "zeros on each side (tf.pad), then crop back to the original size.")
    flips = sum(flipped for flipped, _, _ in found)
    shifts = sum((dy, dx) != (0, 0) for _, dy, dx in found)
    if not 0.2 * count <= flips <= 0.8 * count or shifts < 0.3 * count:
        raise AssertionError(f"{call}: {flips} of {count} images flipped and {shifts} shifted; "
                             "expected about half flipped and most shifted (random per image).")
    batches = [found[start:start + batch_size] for start in range(0, count, batch_size)]
    if any(len({flipped for flipped, _, _ in batch}) < 2 or len(set(batch)) < 3
           for batch in batches if len(batch) == batch_size):
        raise AssertionError(f"{call}: within a batch all images got the same flip or shift; "
                             "expected a random choice per image. Hint: augment in a map "
                             "before .batch().")

    plain_call, plain, _ = _epoch(make_pipeline, images, labels, training=True,
                                  batch_size=batch_size, seed=3, augment=False)
    plain = _rescaled(plain, images, plain_call)
    plain_sources = _sources(plain, plain_call)
    if not np.allclose(plain, images[plain_sources] / 255, atol=1e-5):
        raise AssertionError(f"{plain_call}: the images are flipped or shifted; expected them "
                             "unchanged (scaled only). Hint: `if training and augment:` around "
                             "the augmentation map.")

    def by_source(found_: list, sources_: list[int]) -> dict:
        return dict(zip(sources_, found_))

    again_call, again, _ = _epoch(make_pipeline, images, labels, training=True,
                                  batch_size=batch_size, seed=3)
    again = _rescaled(again, images, again_call)
    again_found = _augmentations(again, images, _sources(again, again_call), pad)
    again_sources = _sources(again, again_call)
    same_per_position = again_found == found
    same_per_source = by_source(again_found, again_sources) == by_source(found, sources)
    if not (same_per_position or same_per_source):
        raise AssertionError(f"{again_call}, built twice: the two give different flips and "
                             "shifts; expected the same seed to give the same augmentation. "
                             "Hint: tf.image.stateless_random_flip_left_right and "
                             "stateless_random_crop with a seed made of `seed` and the "
                             "example's position (tf.data.Dataset.counter()).")
    other_call, other, _ = _epoch(make_pipeline, images, labels, training=True,
                                  batch_size=batch_size, seed=4)
    other = _rescaled(other, images, other_call)
    other_sources = _sources(other, other_call)
    other_found = _augmentations(other, images, other_sources, pad)
    if other_found == found or by_source(other_found, other_sources) == by_source(found, sources):
        raise AssertionError(f"{other_call}: the same flips and shifts as with seed=3; expected "
                             "the seed to drive the augmentation. Hint: put `seed` into the "
                             "stateless ops' seed, e.g. tf.stack([seed, position]).")
    print(f"make_pipeline augmentation: {flips} of {count} images flipped and {shifts} shifted, "
          "chosen per image; augment=False turns it off; the seed reproduces it.")


def check_pipeline_shuffling(make_pipeline: Callable, count: int = _COUNT,
                             batch_size: int = _BATCH) -> None:
    """Check shuffling in training: every image once per epoch, with its label, well mixed.

    Expected: each image exactly once per epoch, with its own label; not in the original order,
    mixed across the whole set (a buffer as large as the data); a second pass over the same
    dataset in another order; the same ``seed`` the same order, another seed another.
    Flips and shifts do not matter here.
    """
    images, labels = marked_images(count)
    options = {"training": True, "batch_size": batch_size, "seed": 3}
    call = _call_text(images, **options)
    training = _dataset(make_pipeline, call, images, labels, **options)
    _, x, y = _epoch(make_pipeline, images, labels, dataset=training, **options)
    sources = _sources(_rescaled(x, images, call), call)
    if sorted(sources) != list(range(count)):
        repeated = sorted(source for source, seen in Counter(sources).items() if seen > 1)
        raise AssertionError(f"{call}: an epoch held {len(sources)} examples, images {repeated} "
                             f"more than once; expected each of the {count} images exactly once. "
                             "Hint: shuffle the whole set once per epoch, no .repeat().")
    for position, source in enumerate(sources):
        if y[position] != labels[source]:
            raise AssertionError(f"{call}: example {position} is image {source} but carries "
                                 f"class {y[position]}, not its label {labels[source]}. Hint: "
                                 "shuffle (image, label) pairs together, in one dataset.")
    if sources == list(range(count)):
        raise AssertionError(f"{call}: the images come in their original order; expected a "
                             "shuffled order. Hint: .shuffle(len(images), seed=seed) in "
                             "training.")
    if max(sources[:batch_size]) < count // 2:
        raise AssertionError(f"{call}: the first batch holds only images from the first half "
                             f"({sorted(sources[:batch_size])}); expected images from the whole "
                             "set. Hint: shuffle with a buffer as large as the data set.")

    def order(dataset=None, seed: int = 3) -> list[int]:  # noqa: ANN001
        text, images_, _ = _epoch(make_pipeline, images, labels, dataset=dataset,
                                  **{**options, "seed": seed})
        return _sources(_rescaled(images_, images, text), text)

    if order(training) == sources:
        raise AssertionError(f"{call}: a second pass over the same dataset comes in the same "
                             "order; expected a new order every epoch. Hint: cache before "
                             "shuffling, and keep reshuffle_each_iteration=True.")
    if order() != sources:
        raise AssertionError(f"{call}: a second pipeline with the same seed gave another order; "
                             "expected the same. Hint: .shuffle(..., seed=seed).")
    if order(seed=4) == sources:
        raise AssertionError(f"{_call_text(images, **{**options, 'seed': 4})}: the same order as "
                             "seed=3; expected the seed to drive the shuffle.")
    print(f"make_pipeline shuffling: each of {count} images once per epoch with its label, "
          "reshuffled every epoch, the seed reproduces the order.")


def check_pipeline(make_pipeline: Callable) -> None:
    """Check ``make_pipeline(images, labels, training, batch_size, seed, augment)`` in full.

    Runs the four parts: batches, evaluation, augmentation, shuffling.
    """
    check_pipeline_batches(make_pipeline)
    check_pipeline_evaluation(make_pipeline)
    check_pipeline_augmentation(make_pipeline)
    check_pipeline_shuffling(make_pipeline)


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
