"""Loaders: the real MNIST and Fashion-MNIST, and tiny files in every on-disk format."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit.data import (
    DataFormatError,
    class_names,
    load_cifar10,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
)
from cnnkit.data.formats import parse_cifar_batch
from tests.tinydata import (
    cifar_batch_bytes,
    idx_bytes,
    tiny_images,
    write_cifar_archive,
    write_idx_set,
    write_keras_npz,
)

# Published facts about the real files.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.real_data
def test_real_mnist(real_mnist):
    """Does the real MNIST load with its shapes, dtypes, first labels and class counts?"""
    (x_train, y_train), (x_test, y_test) = load_mnist(real_mnist)
    assert x_train.shape == (60000, 28, 28, 1) and x_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28, 1) and y_train.dtype == np.int64
    assert list(y_train[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(y_test[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert list(np.bincount(y_train)) == MNIST_TRAIN_COUNTS
    assert list(np.bincount(y_test)) == MNIST_TEST_COUNTS
    assert x_train.max() == 255 and x_train.min() == 0


@pytest.mark.real_data
def test_real_fashion_mnist(real_fashion_mnist):
    """Does the real Fashion-MNIST load, balanced: 6,000 / 1,000 images of each class?"""
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(real_fashion_mnist)
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)
    assert list(y_train[:10]) == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert list(np.bincount(y_train)) == [6000] * 10
    assert list(np.bincount(y_test)) == [1000] * 10
    assert class_names("fashion_mnist")[9] == "Ankle boot"


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_loads_channels_last(tmp_path, gz):
    """Do raw and gzipped IDX folders load as (N, 28, 28, 1) with labels kept in order?"""
    arrays = write_idx_set(tmp_path, train=12, test=6, gz=gz)
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path, verify=False)
    assert x_train.shape == (12, 28, 28, 1) and x_test.shape == (6, 28, 28, 1)
    np.testing.assert_array_equal(x_train[..., 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


def test_loaded_arrays_are_writable(tmp_path):
    """Can a student shuffle the arrays in place (as with Keras' loaders)?"""
    write_idx_set(tmp_path)
    (x_train, y_train), _ = load_mnist(tmp_path, verify=False)
    np.random.default_rng(0).shuffle(x_train)
    y_train[0] = 3
    assert x_train.flags.writeable and y_train[0] == 3


def test_keras_npz_loads_like_idx(tmp_path):
    """Does Keras' mnist.npz load through the same loader, given as a file?"""
    write_keras_npz(tmp_path / "mnist.npz", train=10, test=5)
    (x_train, y_train), (x_test, _) = load_mnist(tmp_path / "mnist.npz", verify=False)
    assert x_train.shape == (10, 28, 28, 1) and x_test.shape == (5, 28, 28, 1)
    assert y_train.dtype == np.int64


def test_cifar_archive_loads_fifty_thousand_layout(tmp_path):
    """Does a CIFAR-10 archive load the five training batches in order, then the test batch?"""
    images = write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", per_batch=4)
    (x_train, y_train), (x_test, y_test) = load_cifar10(tmp_path, verify=False)
    assert x_train.shape == (20, 32, 32, 3) and x_test.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(x_train[4:8], images["data_batch_2"])
    np.testing.assert_array_equal(x_test, images["test_batch"])
    assert list(y_train[:4]) == [0, 1, 2, 3] and list(y_test) == [5, 6, 7, 8]
    assert class_names("cifar10")[3] == "cat"


def test_cifar_extracted_batches_load_from_keras_cache(empty_cache, tmp_path):
    """Does an extracted cifar-10-batches-py folder in Keras' cache load (checked structurally)?"""
    folder = tmp_path / "keras_home" / "datasets" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for number, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        (folder / name).write_bytes(cifar_batch_bytes(2, seed=number)[0])
    (x_train, _), (x_test, _) = load_cifar10()
    assert x_train.shape == (10, 32, 32, 3) and x_test.shape == (2, 32, 32, 3)


def test_cifar_archive_is_checked_against_its_sha256(tmp_path):
    """Is a CIFAR archive that is not the published one refused when verifying?"""
    write_cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(DataFormatError, match="expected 6d958be0"):
        load_cifar10(tmp_path)


def test_wrong_image_shape_is_refused(tmp_path):
    """Are 27x28 images in an MNIST folder refused, naming the shape?"""
    write_idx_set(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(tiny_images(12, height=27)))
    with pytest.raises(DataFormatError, match=r"Received uint8 of shape \(12, 27, 28, 1\); "
                                              r"expected uint8 of shape \(N, 28, 28, 1\)"):
        load_mnist(tmp_path, verify=False)


def test_label_count_must_match_image_count(tmp_path):
    """Are 11 labels for 12 images refused?"""
    write_idx_set(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(11, np.uint8)))
    with pytest.raises(DataFormatError, match="11 labels for 12 images"):
        load_mnist(tmp_path, verify=False)


def test_truncated_file_in_a_folder_is_named(tmp_path):
    """Is a truncated file reported with its path when loading a folder?"""
    write_idx_set(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataFormatError, match=r"t10k-images-idx3-ubyte: truncated"):
        load_mnist(tmp_path, verify=False)


def test_unknown_data_set_lists_the_known_ones():
    """Does a typo in the data set's name list the registered ones?"""
    with pytest.raises(ValueError, match="Unknown data set 'minst'. Expected one of: mnist, "
                                         "fashion_mnist, cifar10"):
        load_dataset("minst")


def test_cifar_batch_parsing_keeps_labels_with_images():
    """Is image i still paired with label i after the channel reordering?"""
    content, images = cifar_batch_bytes(10, seed=5, label_offset=3)
    parsed, labels = parse_cifar_batch(content)
    for index in (0, 4, 9):
        np.testing.assert_array_equal(parsed[index], images[index])
        assert labels[index] == (index + 3) % 10
