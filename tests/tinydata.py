"""Write small files in the exact on-disk formats of the real data sets, for the tests."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file: magic 00 00 08 <ndim>, big-endian sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def tiny_images(count: int, height: int = 28, width: int = 28, seed: int = 0) -> np.ndarray:
    """`uint8` images of shape `(count, height, width)` whose first pixel is the image index."""
    images = np.random.default_rng(seed).integers(0, 256, (count, height, width), dtype=np.uint8)
    images[:, 0, 0] = np.arange(count) % 256
    return images


def write_idx_set(folder: Path, train: int = 12, test: int = 6, gz: bool = False) -> dict:
    """Write the four MNIST-format IDX files; return the arrays written, keyed by file name."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        IDX_NAMES[0]: tiny_images(train, seed=1),
        IDX_NAMES[1]: (np.arange(train) % 10).astype(np.uint8),
        IDX_NAMES[2]: tiny_images(test, seed=2),
        IDX_NAMES[3]: (np.arange(test)[::-1] % 10).astype(np.uint8),
    }
    for name, array in arrays.items():
        content = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(content))
        else:
            (folder / name).write_bytes(content)
    return arrays


def write_keras_npz(path: Path, train: int = 12, test: int = 6) -> None:
    """Write an ``mnist.npz`` laid out as Keras' (x_train, y_train, x_test, y_test)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, x_train=tiny_images(train, seed=3), y_train=np.arange(train) % 10,
                        x_test=tiny_images(test, seed=4), y_test=np.arange(test) % 10)


def cifar_batch_bytes(count: int, seed: int, label_offset: int = 0) -> tuple[bytes, np.ndarray]:
    """Pickle one CIFAR-10 batch as the original does (bytes keys, uint8 rows of R, G, B planes).

    Returns the pickle and the images it holds, channels last `(count, 32, 32, 3)`.
    """
    images = np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    labels = (np.arange(count) + label_offset) % 10
    return pickle_cifar_batch(images, labels), images


def write_cifar_archive(path: Path, per_batch: int = 4) -> dict[str, np.ndarray]:
    """Write ``cifar-10-python.tar.gz`` with the real layout; return images per batch name."""
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    images = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for number, name in enumerate(names):
            content, images[name] = cifar_batch_bytes(per_batch, seed=number, label_offset=number)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return images


def pickle_cifar_batch(images: np.ndarray, labels: np.ndarray) -> bytes:
    """Pickle `(N, 32, 32, 3)` uint8 images and their labels as one original CIFAR-10 batch."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    batch = {b"batch_label": b"synthetic batch", b"labels": [int(label) for label in labels],
             b"data": rows, b"filenames": [f"img_{i}.png".encode() for i in range(len(images))]}
    return pickle.dumps(batch, protocol=2)


def write_learnable_cifar(folder: Path, per_batch: int = 512, test: int = 2048) -> Path:
    """Write extracted CIFAR-10 batches (``data_batch_1..5``, ``test_batch``) into ``folder``.

    The images are synthetic but learnable: each class has its own colour and a bright square
    in its own corner region, under noise, so a small network trained for one short epoch gets
    most test images right. Returns ``folder``.
    """
    rng = np.random.default_rng(0)
    palette = rng.integers(40, 216, size=(10, 3))

    def images_of(labels: np.ndarray) -> np.ndarray:
        images = palette[labels][:, None, None, :] + rng.normal(0, 25, (len(labels), 32, 32, 3))
        for index, label in enumerate(labels):
            row, column = divmod(int(label), 4)
            images[index, 2 + 9 * row:9 + 9 * row, 2 + 7 * column:9 + 7 * column] = 255
        return np.clip(images, 0, 255).astype(np.uint8)

    folder.mkdir(parents=True, exist_ok=True)
    for name, count in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)),
                        ("test_batch", test)]:
        labels = rng.integers(0, 10, size=count)
        (folder / name).write_bytes(pickle_cifar_batch(images_of(labels), labels))
    return folder


def write_photo_folder(folder: Path, classes: tuple[str, ...], per_class: int = 4,
                       seed: int = 0) -> dict[str, list[Path]]:
    """Write JPEGs of varying sizes into ``folder/<class>/``, the flower photos' layout.

    Each class has its own dominant colour, so a model can tell them apart.

    Returns:
        The paths written, per class.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    written: dict[str, list[Path]] = {}
    for index, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        written[name] = []
        for number in range(per_class):
            height, width = rng.integers(40, 90, size=2)
            image = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
            image[..., index % 3] += np.uint8(120 + 30 * (index // 3))
            path = folder / name / f"{number:04d}_{name}.jpg"
            path.write_bytes(tf.io.encode_jpeg(image).numpy())
            written[name].append(path)
    return written


def write_photo_archive(path: Path, top: str, classes: tuple[str, ...], per_class: int = 2) -> None:
    """A .tgz holding ``top/<class>/*.jpg`` (and a LICENSE.txt), like flower_photos.tgz."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / top
        write_photo_folder(root, classes, per_class)
        (root / "LICENSE.txt").write_text("photos for tests\n")
        with tarfile.open(path, "w:gz") as bundle:
            bundle.add(root, arcname=top)
