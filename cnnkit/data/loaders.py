"""Loaders that return a registered data set as NumPy arrays, channels last."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from cnnkit.data.errors import DataFormatError, DataNotFoundError
from cnnkit.data.formats import (
    CIFAR_TEST_BATCH,
    CIFAR_TRAIN_BATCHES,
    gunzip_if_needed,
    parse_cifar_batch,
    parse_idx,
    read_cifar_archive,
    read_keras_npz,
)
from cnnkit.data.registry import DatasetSpec, get_spec
from cnnkit.data.store import Located, check_content, fetch, find, is_offline, missing_message


class Split(NamedTuple):
    """One split of a data set.

    Attributes:
        images: `uint8` array of shape `(N, height, width, channels)`, values 0..255.
        labels: `int64` array of shape `(N,)`, class indices.
    """

    images: np.ndarray
    labels: np.ndarray


def _content(located: Located, name: str, verify: bool) -> bytes:
    path = located.paths[name]
    file = next(file for file in located.form.files if file.name == name)
    raw = path.read_bytes()
    if verify:
        return check_content(raw, file, located.form.kind, str(path))
    return gunzip_if_needed(raw, str(path)) if located.form.kind == "idx" else raw


def _read_form(located: Located, verify: bool) -> tuple[tuple, tuple]:
    """Parse the (verified) bytes of a located form into train and test arrays."""
    kind, names = located.form.kind, [file.name for file in located.form.files]
    label = {name: str(located.paths[name]) for name in names}
    if kind == "idx":
        arrays = [parse_idx(_content(located, name, verify), label[name]) for name in names]
        return (arrays[0], arrays[1]), (arrays[2], arrays[3])
    if kind == "keras_npz":
        return read_keras_npz(_content(located, names[0], verify), label[names[0]])
    if kind == "cifar_archive":
        batches = read_cifar_archive(_content(located, names[0], verify), label[names[0]])
        parsed = {name: parse_cifar_batch(content, f"{label[names[0]]}: {name}")
                  for name, content in batches.items()}
    else:  # cifar_batches: no published digest, every batch is checked structurally
        parsed = {name: parse_cifar_batch(located.paths[name].read_bytes(), label[name])
                  for name in names}
    train = [parsed[name] for name in CIFAR_TRAIN_BATCHES]
    return (
        (np.concatenate([images for images, _ in train]), np.concatenate([labels for _, labels in train])),
        parsed[CIFAR_TEST_BATCH],
    )


def _as_split(spec: DatasetSpec, images: np.ndarray, labels: np.ndarray, source: str) -> Split:
    if images.ndim == 3:
        images = images[..., np.newaxis]
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if images.dtype != np.uint8 or images.shape[1:] != spec.image_shape:
        raise DataFormatError(
            f"{source}: wrong image array for {spec.name}. Received {images.dtype} of shape "
            f"{images.shape}; expected uint8 of shape (N, {', '.join(map(str, spec.image_shape))})."
        )
    if len(labels) != len(images):
        raise DataFormatError(
            f"{source}: {len(labels)} labels for {len(images)} images; expected one label per image."
        )
    if labels.size and not 0 <= labels.min() <= labels.max() < len(spec.class_names):
        raise DataFormatError(
            f"{source}: labels range over [{labels.min()}, {labels.max()}]; expected "
            f"0..{len(spec.class_names) - 1}."
        )
    return Split(np.ascontiguousarray(images), labels)


def load_dataset(name: str, path: str | os.PathLike | None = None,
                 verify: bool = True) -> tuple[Split, Split]:
    """Load a registered data set as `(train, test)` splits.

    Args:
        name: ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"``.
        path: a folder holding the original files (or one file such as ``mnist.npz``); by
            default the cache is searched, then Keras' cache, then the data set is downloaded
            unless ``CNNKIT_OFFLINE=1``.
        verify: check each file's sha256 against the registry. Pass False only for your own
            files in the original format (e.g. a small test copy).

    Returns:
        `(train, test)`, each a `Split(images, labels)`; unpack like Keras:
        ``(x_train, y_train), (x_test, y_test) = load_dataset("mnist")``.

    Raises:
        DataNotFoundError: no copy found and none could be downloaded; says where to put it.
        ChecksumError, DataFormatError: a file is corrupt, truncated or not the original.
    """
    spec = get_spec(name)
    if any(form.kind == "image_archive" for form in spec.forms):
        raise ValueError(
            f"{spec.name} is a folder of photos of different sizes, not fixed-size arrays. "
            f"Fix: use cnnkit.data.load_{spec.name}(image_size=(160, 160)), which resizes them.")
    located = find(spec, path)
    if located is None:
        if path is not None:
            raise DataNotFoundError(missing_message(spec, path))
        if is_offline():
            raise DataNotFoundError("CNNKIT_OFFLINE=1: not downloading.\n" + missing_message(spec))
        located = fetch(spec)
    source = str(Path(next(iter(located.paths.values()))).parent)
    (x_train, y_train), (x_test, y_test) = _read_form(located, verify)
    return _as_split(spec, x_train, y_train, source), _as_split(spec, x_test, y_test, source)


def load_mnist(path: str | os.PathLike | None = None, verify: bool = True) -> tuple[Split, Split]:
    """Load MNIST: `uint8` images `(60000, 28, 28, 1)` / `(10000, 28, 28, 1)`, labels 0..9.

    See `load_dataset` for the arguments and the look-up order.
    """
    return load_dataset("mnist", path, verify)


def load_fashion_mnist(path: str | os.PathLike | None = None,
                       verify: bool = True) -> tuple[Split, Split]:
    """Load Fashion-MNIST: `uint8` images `(60000, 28, 28, 1)` / `(10000, 28, 28, 1)`."""
    return load_dataset("fashion_mnist", path, verify)


def load_cifar10(path: str | os.PathLike | None = None, verify: bool = True) -> tuple[Split, Split]:
    """Load CIFAR-10: `uint8` images `(50000, 32, 32, 3)` / `(10000, 32, 32, 3)`, labels 0..9."""
    return load_dataset("cifar10", path, verify)


def select_classes(split: Split, classes: tuple[int, ...]) -> Split:
    """Keep the images of ``classes`` from ``split``, labelled 0..len(classes)-1 in that order.

    E.g. Fashion-MNIST's classes 5-9 (Sandal ... Ankle boot) become labels 0-4.
    """
    keep = np.isin(split.labels, classes)
    relabel = np.full(int(split.labels.max()) + 1, -1, dtype=np.int64)
    relabel[list(classes)] = np.arange(len(classes))
    return Split(split.images[keep], relabel[split.labels[keep]])


def class_names(name: str) -> tuple[str, ...]:
    """Return the class names of a registered data set, indexed by label."""
    return get_spec(name).class_names
