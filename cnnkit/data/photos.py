"""Folders of photos, one sub-folder per class, such as the TensorFlow flower photos.

The flower photos come as one archive, ``flower_photos.tgz`` (registered with its sha256), that
holds ``flower_photos/<class>/<image>.jpg`` for five classes. The archive is found, imported or
downloaded like any registered file, verified, then extracted once into
``CNNKIT_DATA_DIR/flowers/flower_photos``. Any folder in the same layout can be read instead.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from cnnkit.data.errors import DataFormatError, DataNotFoundError
from cnnkit.data.loaders import Split
from cnnkit.data.registry import FLOWERS
from cnnkit.data.store import (
    check_content,
    data_dir,
    fetch,
    find,
    is_offline,
    keras_datasets_dir,
    missing_message,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
FLOWERS_FOLDER = "flower_photos"


def class_folders(folder: str | os.PathLike) -> list[str]:
    """Return the sorted names of the sub-folders of ``folder`` that hold at least one image."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        child.name for child in folder.iterdir()
        if child.is_dir() and any(path.suffix.lower() in IMAGE_SUFFIXES for path in child.iterdir())
    )


def _image_folder_in(folder: Path) -> Path | None:
    """``folder`` itself or ``folder/flower_photos`` (Keras' ``get_file(untar=True)`` layout)."""
    for candidate in (folder, folder / FLOWERS_FOLDER):
        if len(class_folders(candidate)) >= 2:
            return candidate
    return None


def _extract(archive: Path, destination: Path) -> Path:
    """Extract the verified archive into ``destination`` atomically; return the image folder."""
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination, prefix=".extracting-") as scratch:
        with tarfile.open(archive, "r:*") as bundle:
            bundle.extractall(scratch, filter="data")
        extracted = _image_folder_in(Path(scratch))
        if extracted is None:
            raise DataFormatError(
                f"{archive}: no {FLOWERS_FOLDER}/<class>/<image> folders inside; expected the "
                "original flower_photos.tgz.")
        target = destination / FLOWERS_FOLDER
        os.replace(extracted, target)
    return target


def flowers_folder(path: str | os.PathLike | None = None, verify: bool = True) -> Path:
    """Return a folder of flower photos, one sub-folder per class, extracting the archive if needed.

    Look-up order: ``path`` (a folder in that layout, or the archive), then an extracted copy in
    ``CNNKIT_DATA_DIR/flowers`` or Keras' cache, then the archive there (verified and extracted),
    then a download unless ``CNNKIT_OFFLINE=1``.

    Raises:
        DataNotFoundError: nothing found; the message says what to put where.
        ChecksumError: the archive is not the original.
    """
    if path is not None and (folder := _image_folder_in(Path(path).expanduser())) is not None:
        return folder
    if path is None:
        for folder in (data_dir() / FLOWERS.name, keras_datasets_dir()):
            if (found := _image_folder_in(folder / FLOWERS_FOLDER)) is not None:
                return found
    located = find(FLOWERS, path)
    if located is None:
        if path is not None:
            raise DataNotFoundError(
                f"{path} holds neither one sub-folder of images per class nor flower_photos.tgz.\n"
                + missing_message(FLOWERS, path))
        if is_offline():
            raise DataNotFoundError("CNNKIT_OFFLINE=1: not downloading.\n" + missing_message(FLOWERS))
        located = fetch(FLOWERS)
    archive = located.paths[FLOWERS.forms[0].files[0].name]
    if verify:
        check_content(archive.read_bytes(), FLOWERS.forms[0].files[0], "image_archive", str(archive))
    return _extract(archive, data_dir() / FLOWERS.name)


def load_image_folder(folder: str | os.PathLike, image_size: tuple[int, int] = (160, 160),
                      validation_split: float = 0.2, seed: int = 123
                      ) -> tuple[Split, Split, tuple[str, ...]]:
    """Read a folder with one sub-folder of images per class into train and validation arrays.

    Uses `keras.utils.image_dataset_from_directory`: images are resized (bilinear) to
    ``image_size`` and split by ``validation_split`` with ``seed``, as Keras' tutorials do.

    Returns:
        `(train, validation, class_names)`: two `Split`s of `uint8` images of shape
        `(N, height, width, 3)` with `int64` labels indexing ``class_names`` (sorted folder names).
    """
    import keras

    folder = Path(folder)
    names = class_folders(folder)
    if len(names) < 2:
        raise DataFormatError(
            f"{folder}: found {len(names)} class folder(s) with images; expected at least two "
            "sub-folders, one per class, each holding .jpg or .png files.")
    train, validation = keras.utils.image_dataset_from_directory(
        folder, labels="inferred", label_mode="int", class_names=names, image_size=image_size,
        batch_size=None, shuffle=True, seed=seed, validation_split=validation_split,
        subset="both", verbose=False)

    def as_split(dataset) -> Split:  # noqa: ANN001 - a tf.data.Dataset of (image, label)
        images, labels = [], []
        for image, label in dataset.as_numpy_iterator():
            images.append(np.clip(np.round(image), 0, 255).astype(np.uint8))
            labels.append(label)
        return Split(np.stack(images), np.asarray(labels, dtype=np.int64))

    return as_split(train), as_split(validation), tuple(names)


def load_flowers(path: str | os.PathLike | None = None, image_size: tuple[int, int] = (160, 160),
                 validation_split: float = 0.2, seed: int = 123, verify: bool = True
                 ) -> tuple[Split, Split, tuple[str, ...]]:
    """Load the TensorFlow flower photos (3,670 photos, 5 classes) as train / validation arrays.

    Args:
        path: a folder in the layout ``<class>/<image>.jpg`` or the archive; by default the
            cache is searched, then the archive downloaded (see `flowers_folder`).
        image_size: `(height, width)` every photo is resized to, in pixels.
        validation_split, seed: the fraction held out and the seed of the split.
        verify: check the archive's sha256 before extracting it.

    Returns:
        `(train, validation, class_names)` as in `load_image_folder`.
    """
    return load_image_folder(flowers_folder(path, verify), image_size, validation_split, seed)



def load_sample_photo() -> np.ndarray:
    """Return a real colour photo that ships with Matplotlib: Grace Hopper, `uint8` `(600, 512, 3)`.

    It needs no download, so the lecture notebooks can convolve a real photograph offline.
    """
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        return np.asarray(Image.open(file).convert("RGB"), dtype=np.uint8)
