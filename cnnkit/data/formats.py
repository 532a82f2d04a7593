"""Readers for the original on-disk formats: IDX (raw or .gz), Keras' mnist.npz, CIFAR-10 batches.

Each reader validates structure and raises `DataFormatError` naming the file and the problem.
Checksums are the cache's concern (`cnnkit.data.store`), not the readers'.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import math
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from cnnkit.data.errors import DataFormatError

# IDX type codes (third byte of the magic number) and the NumPy dtypes they hold, big-endian.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(raw: bytes) -> bool:
    """Whether ``raw`` starts with gzip's magic bytes."""
    return raw.startswith(_GZIP_MAGIC)


def gunzip_if_needed(raw: bytes, source: str = "<bytes>") -> bytes:
    """Return ``raw`` gunzipped when it is a gzip stream (checked by its magic bytes)."""
    if not is_gzip(raw):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as error:
        raise DataFormatError(
            f"{source}: corrupt or truncated gzip file ({error}). "
            "Delete it and import or download it again."
        ) from None


def read_bytes(path: Path) -> bytes:
    """Return the content of ``path``, gunzipped when it is a gzip stream."""
    return gunzip_if_needed(Path(path).read_bytes(), source=str(path))


def sha256_of(content: bytes) -> str:
    """Return the hex sha256 of ``content``."""
    return hashlib.sha256(content).hexdigest()


def parse_idx(content: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an IDX file (the MNIST format) into an array.

    Args:
        content: the whole file, already gunzipped.
        source: the file's name, used in error messages.

    Returns:
        An array of the file's shape, e.g. `uint8` of shape `(60000, 28, 28)` for MNIST images.

    Raises:
        DataFormatError: wrong magic number, unknown type code, or truncated or overlong data.
    """
    if len(content) < 4:
        raise DataFormatError(f"{source}: {len(content)} bytes is too short for an IDX file.")
    zeros, type_code, num_dims = content[:2], content[2], content[3]
    if zeros != b"\x00\x00" or type_code not in _IDX_DTYPES or not 1 <= num_dims <= 4:
        raise DataFormatError(
            f"{source}: not an IDX file. Received magic bytes {content[:4].hex(' ')}; expected "
            "00 00 08 01 (labels) or 00 00 08 03 (images). Check that the file is one of the "
            "original MNIST-format files and was not renamed."
        )
    header_size = 4 + 4 * num_dims
    if len(content) < header_size:
        raise DataFormatError(f"{source}: truncated IDX header ({len(content)} bytes).")
    shape = tuple(int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(num_dims))
    dtype = _IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: a forged header cannot overflow
    found = len(content) - header_size
    if found != expected:
        problem = "truncated" if found < expected else "has trailing bytes"
        raise DataFormatError(
            f"{source}: {problem}. The header promises shape {shape} ({expected:,} bytes of "
            f"data); the file holds {found:,}. Delete it and import or download it again."
        )
    array = np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file, raw or gzipped; see `parse_idx`."""
    return parse_idx(read_bytes(path), source=str(path))


def read_keras_npz(source: Path | bytes, name: str | None = None
                   ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Read Keras' ``mnist.npz`` (a path, or its bytes): `((x_train, y_train), (x_test, y_test))`."""
    keys = ("x_train", "y_train", "x_test", "y_test")
    path = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    try:
        with np.load(io.BytesIO(source) if isinstance(source, bytes) else source,
                     allow_pickle=False) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise DataFormatError(
                    f"{path}: not a Keras dataset archive. Missing arrays {missing}; found "
                    f"{archive.files}; expected {list(keys)}."
                )
            x_train, y_train, x_test, y_test = (archive[key] for key in keys)
    except (OSError, ValueError, zlib.error, EOFError) as error:
        if isinstance(error, DataFormatError):
            raise
        raise DataFormatError(
            f"{path}: not a readable .npz archive ({error}). Delete it and download it again."
        ) from None
    return (x_train, y_train), (x_test, y_test)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickle CIFAR batches without running arbitrary code: only NumPy arrays are rebuilt."""

    _allowed = {
        "_reconstruct": np.array(0).__reduce__()[0],  # numpy.core vs numpy._core, either version
        "ndarray": np.ndarray,
        "dtype": np.dtype,
    }

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("numpy") and name in self._allowed:
            return self._allowed[name]
        if (module, name) == ("_codecs", "encode"):  # how Python 3 pickles bytes at protocol 2
            return codecs.encode
        raise DataFormatError(
            f"refusing to unpickle {module}.{name}: a CIFAR-10 batch holds only NumPy arrays, "
            "lists and strings. This file is not an original CIFAR-10 batch."
        )


def parse_cifar_batch(content: bytes, source: str = "<bytes>") -> tuple[np.ndarray, np.ndarray]:
    """Parse one CIFAR-10 python batch (``data_batch_1`` ... ``test_batch``).

    Returns:
        `(images, labels)`: `uint8` images of shape `(N, 32, 32, 3)` (channels last) and `int64`
        labels of shape `(N,)`.

    Raises:
        DataFormatError: not a pickle, unexpected keys, wrong shapes or label values.
    """
    try:
        batch = _NumpyOnlyUnpickler(io.BytesIO(content), encoding="bytes").load()
    except DataFormatError as error:
        raise DataFormatError(f"{source}: {error}") from None
    except Exception as error:  # noqa: BLE001 - any unpickling failure means "not a batch"
        raise DataFormatError(
            f"{source}: not a CIFAR-10 python batch ({type(error).__name__}: {error}). "
            "Expected a file from cifar-10-python.tar.gz."
        ) from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DataFormatError(
            f"{source}: not a CIFAR-10 batch. Received {found}; expected a dict with b'data' "
            "and b'labels'."
        )
    data = np.asarray(batch[b"data"])
    try:
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (TypeError, ValueError) as error:
        raise DataFormatError(f"{source}: labels are not integers ({error}).") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataFormatError(
            f"{source}: wrong image array. Received {data.dtype} of shape {data.shape}; "
            "expected uint8 of shape (N, 3072)."
        )
    if labels.shape != (data.shape[0],) or labels.size and not 0 <= labels.min() <= labels.max() <= 9:
        raise DataFormatError(
            f"{source}: labels do not match the images. Received {labels.size} labels in "
            f"[{labels.min(initial=0)}, {labels.max(initial=0)}] for {data.shape[0]} images; "
            "expected one label in 0..9 per image."
        )
    # Each row holds the red, green and blue 32x32 planes in turn.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"


def read_cifar_archive(source: Path | bytes, name: str | None = None) -> dict[str, bytes]:
    """Return the batches inside ``cifar-10-python.tar.gz`` (a path, or its bytes) by name."""
    wanted = set(CIFAR_TRAIN_BATCHES) | {CIFAR_TEST_BATCH}
    found: dict[str, bytes] = {}
    path = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    opened = {"fileobj": io.BytesIO(source)} if isinstance(source, bytes) else {"name": source}
    try:
        with tarfile.open(mode="r:*", **opened) as archive:
            for member in archive:
                name = Path(member.name).name
                if member.isfile() and name in wanted:
                    found[name] = archive.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise DataFormatError(
            f"{path}: corrupt or truncated archive ({error}). Delete it and download it again."
        ) from None
    missing = sorted(wanted - set(found))
    if missing:
        raise DataFormatError(f"{path}: the archive lacks {missing}; expected all CIFAR-10 batches.")
    return found
