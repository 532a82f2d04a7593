"""Readers of the original formats: IDX (raw, .gz), Keras .npz, CIFAR-10 python batches."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from cnnkit.data.errors import DataFormatError
from cnnkit.data.formats import (
    gunzip_if_needed,
    parse_cifar_batch,
    parse_idx,
    read_cifar_archive,
    read_idx,
    read_keras_npz,
)
from tests.tinydata import cifar_batch_bytes, idx_bytes, tiny_images, write_cifar_archive, write_keras_npz


def test_idx_round_trip_raw_and_gzip(tmp_path):
    """Does an IDX file read back as the array written, raw and gzipped alike?"""
    images = tiny_images(5)
    (tmp_path / "raw").write_bytes(idx_bytes(images))
    (tmp_path / "packed.gz").write_bytes(gzip.compress(idx_bytes(images)))
    for name in ("raw", "packed.gz"):
        array = read_idx(tmp_path / name)
        assert array.dtype == np.uint8 and array.shape == (5, 28, 28)
        np.testing.assert_array_equal(array, images)


def test_idx_labels_are_one_dimensional():
    """Does a labels file (magic 00 00 08 01) give a 1-D array?"""
    labels = np.array([5, 0, 4, 1, 9], dtype=np.uint8)
    np.testing.assert_array_equal(parse_idx(idx_bytes(labels)), labels)


def test_idx_wrong_magic_names_the_bytes():
    """Is a file that is not IDX refused with the magic bytes it has?"""
    with pytest.raises(DataFormatError, match=r"not an IDX file. Received magic bytes 89 50 4e 47"):
        parse_idx(b"\x89PNG\r\n\x1a\n" + bytes(100), source="digits.png")


def test_idx_truncated_says_how_much_is_missing():
    """Is a truncated IDX file refused, with the promised and found sizes?"""
    content = idx_bytes(tiny_images(3))[:-10]
    with pytest.raises(DataFormatError, match=r"truncated\. The header promises shape \(3, 28, 28\) "
                                              r"\(2,352 bytes of data\); the file holds 2,342"):
        parse_idx(content, source="train-images-idx3-ubyte")


def test_idx_trailing_bytes_are_refused():
    """Is an IDX file with more data than its header promises refused?"""
    with pytest.raises(DataFormatError, match="trailing bytes"):
        parse_idx(idx_bytes(np.arange(4, dtype=np.uint8)) + b"\x00")


def test_idx_header_with_huge_sizes_is_refused_not_overflowed():
    """Is a forged header promising 65536**4 bytes refused as truncated (no overflow, no crash)?"""
    header = bytes([0, 0, 8, 4]) + (65536).to_bytes(4, "big") * 4
    with pytest.raises(DataFormatError, match="truncated"):
        parse_idx(header, source="forged")


def test_truncated_gzip_is_refused():
    """Is a cut-off .gz named as corrupt or truncated?"""
    packed = gzip.compress(idx_bytes(tiny_images(20)))
    with pytest.raises(DataFormatError, match="corrupt or truncated gzip"):
        gunzip_if_needed(packed[: len(packed) // 2], source="x.gz")


def test_keras_npz_reads_the_four_arrays(tmp_path):
    """Does Keras' mnist.npz layout read back as ((x_train, y_train), (x_test, y_test))?"""
    write_keras_npz(tmp_path / "mnist.npz", train=7, test=3)
    (x_train, y_train), (x_test, y_test) = read_keras_npz(tmp_path / "mnist.npz")
    assert x_train.shape == (7, 28, 28) and y_train.shape == (7,)
    assert x_test.shape == (3, 28, 28) and y_test.shape == (3,)


def test_npz_without_the_keras_keys_is_refused(tmp_path):
    """Is an .npz missing x_train etc. refused, naming what it found?"""
    np.savez(tmp_path / "other.npz", images=np.zeros(3))
    with pytest.raises(DataFormatError, match=r"Missing arrays \['x_train'.*found \['images'\]"):
        read_keras_npz(tmp_path / "other.npz")


def test_npz_that_is_not_a_zip_is_refused(tmp_path):
    """Is garbage named .npz refused as unreadable?"""
    (tmp_path / "mnist.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DataFormatError, match="not a readable .npz"):
        read_keras_npz(tmp_path / "mnist.npz")


def test_cifar_batch_planes_become_channels_last():
    """Do a batch's R, G, B planes come back as (N, 32, 32, 3) with the right pixel values?"""
    content, images = cifar_batch_bytes(3, seed=0, label_offset=2)
    parsed_images, labels = parse_cifar_batch(content)
    assert parsed_images.shape == (3, 32, 32, 3) and parsed_images.dtype == np.uint8
    np.testing.assert_array_equal(parsed_images, images)
    np.testing.assert_array_equal(labels, [2, 3, 4])


def test_cifar_batch_with_foreign_objects_is_not_executed():
    """Is a pickle that would call a function refused before anything runs?"""
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(DataFormatError, match=r"refusing to unpickle __builtin__\.print"):
        parse_cifar_batch(pickle.dumps({b"data": Exploit()}, protocol=2), source="data_batch_1")


def test_cifar_batch_with_wrong_shape_is_refused():
    """Is a batch whose rows are not 3,072 bytes refused with the shape found?"""
    content = pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2)
    with pytest.raises(DataFormatError, match=r"Received uint8 of shape \(2, 100\); expected uint8 "
                                              r"of shape \(N, 3072\)"):
        parse_cifar_batch(content)


def test_cifar_batch_with_bad_labels_is_refused():
    """Is a batch whose labels do not match its images refused?"""
    content = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, protocol=2)
    with pytest.raises(DataFormatError, match="expected one label in 0..9 per image"):
        parse_cifar_batch(content)


def test_cifar_archive_lists_every_batch(tmp_path):
    """Does the archive reader find the five training batches and the test batch?"""
    write_cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    batches = read_cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    assert sorted(batches) == [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def test_truncated_cifar_archive_is_refused(tmp_path):
    """Is a cut-off archive named as corrupt or truncated?"""
    archive = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_archive(archive)
    archive.write_bytes(archive.read_bytes()[:300])
    with pytest.raises(DataFormatError, match="corrupt or truncated archive"):
        read_cifar_archive(archive)
