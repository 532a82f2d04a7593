"""Writing files so that no reader ever sees half of one: write beside the file, then rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it onto ``destination`` on success.

    The temporary name ends with ``destination``'s own name (``.partial-XXXX-NAME``), so writers
    that check a suffix (Keras' ``save_weights`` wants ``.weights.h5``) accept it. If the block
    raises, or is interrupted, the temporary file is removed and ``destination`` is untouched:
    either the old file or the complete new one is there, never a partial one.

    Example:
        >>> with atomic_path("model.weights.h5") as partial:   # doctest: +SKIP
        ...     model.save_weights(partial)
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".partial-", suffix=f"-{destination.name}",
                                         dir=destination.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; a shared cache needs more
        os.replace(temporary, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def write_text_atomically(destination: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``destination`` through `atomic_path`."""
    with atomic_path(destination) as partial:
        partial.write_text(text, encoding="utf-8")
