"""A small `tf.data` helper: arrays in, shuffled, batched and prefetched batches out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def make_dataset(images: np.ndarray, labels: np.ndarray | None = None, *, batch_size: int = 32,
                 shuffle: bool = False, seed: int | None = None, map_fn: Callable | None = None,
                 cache: bool = False, drop_remainder: bool = False) -> Any:  # a tf.data.Dataset
    """Build a `tf.data.Dataset` of `(images, labels)` batches.

    Steps, in order: slice → cache (optional) → shuffle (optional, the whole set, reshuffled
    each epoch) → batch → ``map_fn`` on each *batch* (optional, in parallel) → prefetch.

    Args:
        images: array of shape `(N, height, width, channels)`.
        labels: array of shape `(N,)`, or None for an images-only data set.
        batch_size: examples per batch.
        shuffle: shuffle before batching; use for training only.
        seed: shuffle seed, for a reproducible order.
        map_fn: a function applied to each batch, e.g. ``lambda x, y: (x / 255, y)``.
        cache: keep the sliced examples in memory after the first pass.
        drop_remainder: drop a last, smaller batch.

    Returns:
        A `tf.data.Dataset` yielding batches of shape `(batch_size, height, width, channels)`.
    """
    import tensorflow as tf

    if labels is not None and len(images) != len(labels):
        raise ValueError(
            f"images and labels differ in length: received {len(images)} images and "
            f"{len(labels)} labels; expected one label per image."
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; received {batch_size}.")
    dataset = tf.data.Dataset.from_tensor_slices(images if labels is None else (images, labels))
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if map_fn is not None:
        dataset = dataset.map(map_fn, num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=seed is not None or not shuffle)
    return dataset.prefetch(tf.data.AUTOTUNE)
