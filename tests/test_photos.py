"""The flower photos: registered archive, verified import, extraction once, folders in its layout."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit.cli import main
from cnnkit.data import (
    ChecksumError,
    DataFormatError,
    DataNotFoundError,
    load_dataset,
    load_flowers,
    load_image_folder,
)
from cnnkit.data.photos import flowers_folder
from tests.tinydata import write_photo_archive, write_photo_folder

CLASSES = ("daisy", "dandelion", "roses", "sunflowers", "tulips")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    return tmp_path / "cache"


def test_a_folder_in_the_layout_loads_resized_and_split(tmp_path):
    written = write_photo_folder(tmp_path / "photos", CLASSES, per_class=10)
    train, validation, names = load_image_folder(tmp_path / "photos", image_size=(32, 48),
                                                 validation_split=0.2, seed=1)
    assert names == CLASSES
    assert train.images.shape == (40, 32, 48, 3) and validation.images.shape == (10, 32, 48, 3)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert sorted(np.concatenate([train.labels, validation.labels]).tolist()) == sorted(
        [label for label in range(5) for _ in written[CLASSES[label]]])
    # Each class was written with its own dominant colour channel: the labels follow the folders.
    dominant = train.images.reshape(len(train.images), -1, 3).mean(axis=1).argmax(axis=1)
    np.testing.assert_array_equal(dominant, train.labels % 3)


def test_the_same_seed_gives_the_same_split(tmp_path):
    write_photo_folder(tmp_path / "photos", CLASSES[:2], per_class=10)
    first = load_image_folder(tmp_path / "photos", (16, 16), seed=3)
    again = load_image_folder(tmp_path / "photos", (16, 16), seed=3)
    np.testing.assert_array_equal(first[1].images, again[1].images)


def test_a_folder_without_class_folders_is_refused(tmp_path):
    (tmp_path / "empty" / "daisy").mkdir(parents=True)
    with pytest.raises(DataFormatError, match="expected at least two"):
        load_image_folder(tmp_path / "empty")


def test_missing_flowers_offline_say_where_to_put_the_archive(cache):
    with pytest.raises(DataNotFoundError) as error:
        flowers_folder()
    message = str(error.value)
    assert "CNNKIT_OFFLINE=1" in message and "flower_photos.tgz" in message
    assert str(cache / "flowers") in message


def test_an_archive_that_is_not_the_original_is_refused_and_kept(cache):
    archive = cache / "flowers" / "flower_photos.tgz"
    archive.parent.mkdir(parents=True)
    write_photo_archive(archive, "flower_photos", CLASSES)
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        flowers_folder()
    assert archive.is_file() and not (cache / "flowers" / "flower_photos").exists()


def test_an_archive_in_the_layout_is_extracted_once_without_verification(cache):
    archive = cache / "flowers" / "flower_photos.tgz"
    archive.parent.mkdir(parents=True)
    write_photo_archive(archive, "flower_photos", CLASSES, per_class=4)
    folder = flowers_folder(verify=False)
    assert folder == cache / "flowers" / "flower_photos"
    archive.unlink()  # from now on the extracted copy is found first
    train, validation, names = load_flowers(image_size=(24, 24))
    assert names == CLASSES and len(train.labels) + len(validation.labels) == 20
    assert not list((cache / "flowers").glob(".extracting-*"))


def test_keras_cache_layout_is_found(cache, tmp_path):
    write_photo_folder(tmp_path / "keras" / "datasets" / "flower_photos" / "flower_photos",
                       CLASSES, per_class=2)
    assert flowers_folder() == tmp_path / "keras" / "datasets" / "flower_photos" / "flower_photos"


def test_import_refuses_a_wrong_archive_and_writes_nothing(cache, tmp_path, capsys):
    archive = tmp_path / "flower_photos.tgz"
    write_photo_archive(archive, "flower_photos", CLASSES)
    assert main(["data", "import", "flowers", str(archive)]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert not (cache / "flowers" / "flower_photos.tgz").exists()


def test_load_dataset_points_to_load_flowers():
    with pytest.raises(ValueError, match=r"load_flowers\(image_size"):
        load_dataset("flowers")
