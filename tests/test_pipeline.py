"""The tf.data helper: batching, shuffling with a seed, labels kept with their images."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit.data import make_dataset


@pytest.fixture
def numbered():
    images = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1) * np.ones((10, 2, 2, 1), np.float32)
    return images, np.arange(10)


def test_batches_have_the_requested_shape(numbered):
    """Are batches (batch_size, H, W, C), with a smaller last batch unless dropped?"""
    images, labels = numbered
    sizes = [x.shape[0] for x, _ in make_dataset(images, labels, batch_size=4)]
    assert sizes == [4, 4, 2]
    dropped = [x.shape for x, _ in make_dataset(images, labels, batch_size=4, drop_remainder=True)]
    assert dropped == [(4, 2, 2, 1), (4, 2, 2, 1)]


def test_shuffle_keeps_labels_with_images_and_is_seeded(numbered):
    """Does shuffling keep each label with its image, and repeat with the same seed?"""
    images, labels = numbered

    def order(seed):
        batches = list(make_dataset(images, labels, batch_size=10, shuffle=True, seed=seed))
        x, y = batches[0]
        np.testing.assert_array_equal(x.numpy()[:, 0, 0, 0], y.numpy())
        return list(y.numpy())

    assert sorted(order(1)) == list(range(10))
    assert order(1) == order(1)
    assert order(1) != list(range(10))


def test_map_fn_is_applied_per_batch(numbered):
    """Is map_fn applied to every batch?"""
    images, labels = numbered
    dataset = make_dataset(images, labels, batch_size=5, map_fn=lambda x, y: (x / 10.0, y + 100))
    x, y = next(iter(dataset))
    assert float(x.numpy().max()) == pytest.approx(0.4) and list(y.numpy()) == [100, 101, 102, 103, 104]


def test_mismatched_lengths_are_refused(numbered):
    """Are 10 images with 9 labels refused with both counts?"""
    images, labels = numbered
    with pytest.raises(ValueError, match="received 10 images and 9 labels"):
        make_dataset(images, labels[:9])
