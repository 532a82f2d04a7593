"""The data cache: where files are looked for, how they are verified, imported and downloaded.

Look-up order for a data set: an explicit path, then ``CNNKIT_DATA_DIR`` (default: ``data/`` in a
source checkout, else ``~/.cache/cnnkit``), then Keras' own cache (``$KERAS_HOME/datasets``), then
a download into ``CNNKIT_DATA_DIR`` unless ``CNNKIT_OFFLINE=1``. Files are written to a temporary
name in the target folder and renamed only once complete and verified, so no partial file is
ever left in the cache; a file that fails verification is reported, never deleted.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tarfile
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cnnkit.data.errors import ChecksumError, DataFormatError, DataNotFoundError
from cnnkit.data.formats import gunzip_if_needed, is_gzip, parse_cifar_batch, sha256_of
from cnnkit.data.registry import DataFile, DataForm, DatasetSpec
from cnnkit.files import atomic_path

_CHUNK = 1 << 20
_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")


def data_dir() -> Path:
    """Return the kit's data cache folder (``CNNKIT_DATA_DIR`` or the default)."""
    configured = os.environ.get("CNNKIT_DATA_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "data").is_dir():
        return checkout / "data"
    return Path.home() / ".cache" / "cnnkit"


def keras_datasets_dir() -> Path:
    """Return the folder where Keras caches data sets (``$KERAS_HOME/datasets``)."""
    return Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets"


def is_offline() -> bool:
    """Return True when ``CNNKIT_OFFLINE`` asks the kit never to touch the network."""
    return os.environ.get("CNNKIT_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Located:
    """A complete form of a data set found on disk: ``paths`` maps file name to its path."""

    spec: DatasetSpec
    form: DataForm
    paths: dict[str, Path]
    origin: str  # "explicit path", "CNNKIT_DATA_DIR", "Keras cache" or "download"


def _candidates(folder: Path, file: DataFile) -> list[Path]:
    names = [file.name, f"{file.name}.gz", *file.aliases]
    return [folder / name for name in names]


def _find_in(folder: Path, spec: DatasetSpec) -> tuple[DataForm, dict[str, Path]] | None:
    for form in spec.forms:
        paths = {}
        for file in form.files:
            found = next((path for path in _candidates(folder, file) if path.is_file()), None)
            if found is None:
                break
            paths[file.name] = found
        else:
            return form, paths
    return None


def _search_folders(spec: DatasetSpec) -> list[tuple[str, Path]]:
    folders = [("CNNKIT_DATA_DIR", data_dir() / spec.name)]
    keras_root = keras_datasets_dir()
    folders += [("Keras cache", keras_root / sub if sub else keras_root) for sub in spec.keras_subdirs]
    return folders


def find(spec: DatasetSpec, path: str | os.PathLike | None = None) -> Located | None:
    """Return the first complete form of ``spec`` on disk, in look-up order; None if none.

    Args:
        spec: the registered data set.
        path: an explicit folder holding the files, or one file (e.g. ``mnist.npz``); when given,
            only it is searched.
    """
    if path is not None:
        explicit = Path(path).expanduser()
        if explicit.is_file():
            for form in spec.forms:
                if len(form.files) == 1 and explicit in _candidates(explicit.parent, form.files[0]):
                    return Located(spec, form, {form.files[0].name: explicit}, "explicit path")
            expected = ", ".join(f.name for form in spec.forms for f in form.files)
            raise ValueError(
                f"{explicit} is not a file of {spec.name}. Expected one of: {expected}, "
                "or a folder holding them."
            )
        if not explicit.is_dir():
            raise DataNotFoundError(f"No such file or folder: {explicit}.")
        found = _find_in(explicit, spec)
        return Located(spec, *found, "explicit path") if found else None
    for origin, folder in _search_folders(spec):
        found = _find_in(folder, spec) if folder.is_dir() else None
        if found:
            return Located(spec, *found, origin)
    return None


def missing_message(spec: DatasetSpec, path: str | os.PathLike | None = None) -> str:
    """Explain which files are missing and exactly where to put them."""
    target = Path(path).expanduser() if path is not None else data_dir() / spec.name
    lines = [f"{spec.title} ({spec.name}) was not found{' in ' + str(target) if path else ''}."]
    compression = " (raw or .gz)" if any(form.kind == "idx" for form in spec.forms) else ""
    lines.append(f"Put one complete set of these files into {target}/{compression}:")
    for number, form in enumerate(spec.forms, start=1):
        names = ", ".join(file.name for file in form.files)
        lines.append(f"  option {number} ({form.kind}): {names}")
    if path is None:
        lines.append(f"Searched: {', '.join(str(folder) for _, folder in _search_folders(spec))}.")
    lines.append(
        f"Or run `cnnkit data import {spec.name} PATH` with a folder or archive holding them, "
        f"or `cnnkit data fetch {spec.name}` on a machine with internet access."
    )
    return "\n".join(lines)


def check_content(raw: bytes, file: DataFile, form_kind: str, source: str) -> bytes:
    """Return the content of a file (gunzipped for IDX), checked against the registry.

    Args:
        raw: the file's bytes as stored.
        file: its registry entry.
        form_kind: the form it belongs to ("idx", "keras_npz", ...).
        source: where it came from, for messages.

    Raises:
        ChecksumError: the sha256 differs: another or a corrupted copy of the file.
        DataFormatError: not decodable, or (no published sha256) fails the structural check.
    """
    content = gunzip_if_needed(raw, source) if form_kind == "idx" else raw
    if file.sha256 is None:
        if form_kind == "cifar_batches":
            parse_cifar_batch(content, source=source)
        return content
    digest = sha256_of(content)
    if digest != file.sha256:
        raise ChecksumError(
            f"{source}: checksum mismatch. Received sha256 {digest}; expected {file.sha256} "
            f"({file.size:,} bytes{' after gunzip' if form_kind == 'idx' else ''}; this file has "
            f"{len(content):,}). It is a different or corrupted copy of {file.name}: delete it, "
            "then import or download the original."
        )
    return content


def verified_content(path: Path, file: DataFile, form_kind: str) -> bytes:
    """Read ``path`` and `check_content` it."""
    return check_content(Path(path).read_bytes(), file, form_kind, str(path))


@contextlib.contextmanager
def atomic_output(destination: Path) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``destination``; rename it into place only on success.

    Any exception inside the block (including a failed verification) removes the temporary file,
    so the cache never holds a partial file (`cnnkit.files.atomic_path`).
    """
    with atomic_path(destination) as partial, open(partial, "wb") as output:
        yield output
        output.flush()
        os.fsync(output.fileno())


def _drop_other_copies(destination: Path, file: DataFile) -> None:
    """Remove copies of ``file`` stored under another name (raw vs .gz) beside ``destination``.

    The look-up prefers the raw name, so a stale raw copy would otherwise hide a new .gz one.
    """
    for other in _candidates(destination.parent, file):
        if other != destination and other.is_file():
            other.unlink()


def _match(spec: DatasetSpec, base_name: str) -> tuple[DataForm, DataFile] | None:
    for form in spec.forms:
        for file in form.files:
            if base_name in (file.name, f"{file.name}.gz", *file.aliases):
                return form, file
    return None


_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error)
Entry = tuple[str, str, Callable[[], bytes]]  # (label for messages, base name, reader of bytes)


def _archive_entries(archive: Path) -> Iterator[Entry]:
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                if not info.is_dir():
                    yield (f"{archive}: {info.filename}", PurePosixPath(info.filename).name,
                           lambda info=info: bundle.read(info))
        return
    with tarfile.open(archive, "r:*") as bundle:
        for member in bundle:
            if member.isfile():
                yield (f"{archive}: {member.name}", PurePosixPath(member.name).name,
                       lambda member=member: bundle.extractfile(member).read())


def _source_entries(source: Path, spec: DatasetSpec) -> Iterator[Entry]:
    """Yield an `Entry` for each file in a folder (recursively), in an archive, or for one file."""
    if source.is_file() and _match(spec, source.name):
        yield str(source), source.name, source.read_bytes  # a registered archive, taken whole
    elif source.is_dir():
        for child in sorted(source.rglob("*")):
            if child.is_file():
                yield str(child), child.name, child.read_bytes
    elif source.name.endswith(_ARCHIVE_SUFFIXES):
        try:
            yield from _archive_entries(source)
        except _READ_ERRORS as error:
            raise DataFormatError(f"{source}: cannot read the archive ({error}).") from None
    else:
        yield str(source), source.name, source.read_bytes


def _store_name(form: DataForm, file: DataFile, raw: bytes) -> str:
    """The name a file gets in the cache: canonical, plus .gz for gzipped IDX files."""
    return f"{file.name}.gz" if form.kind == "idx" and is_gzip(raw) else file.name


def import_files(spec: DatasetSpec, source: str | os.PathLike) -> list[Path]:
    """Copy the files of ``spec`` found in ``source`` into the cache, verifying each.

    When ``source`` holds several candidates for one file (e.g. MNIST and Fashion-MNIST side by
    side, whose files share names), the first that verifies is taken.

    Args:
        source: a folder (searched recursively), an archive (.tar[.gz], .tgz, .zip) or one file.

    Returns:
        The paths written into ``data_dir() / spec.name``.

    Raises:
        DataNotFoundError: ``source`` holds none of the data set's files.
        ChecksumError, DataFormatError: no candidate for a file is the original; nothing is written.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise DataNotFoundError(f"No such file or folder: {source}.")
    verified: dict[str, tuple[DataForm, DataFile, bytes]] = {}
    rejected: dict[str, DataFormatError] = {}
    for label, base_name, read in _source_entries(source, spec):
        matched = _match(spec, base_name)
        if matched is None or matched[1].name in verified:
            continue
        form, file = matched
        try:
            raw = read()
            check_content(raw, file, form.kind, source=label)
        except DataFormatError as error:
            rejected.setdefault(file.name, error)
            continue
        except _READ_ERRORS as error:
            raise DataFormatError(f"{label}: cannot be read ({error}).") from None
        verified[file.name] = (form, file, raw)
    unresolved = [error for name, error in rejected.items() if name not in verified]
    if unresolved:
        raise unresolved[0]
    if not verified:
        raise DataNotFoundError(f"{source} holds none of the files of {spec.name}.\n"
                                + missing_message(spec))
    written = []
    for form, file, raw in verified.values():
        destination = data_dir() / spec.name / _store_name(form, file, raw)
        with atomic_output(destination) as output:
            output.write(raw)
        _drop_other_copies(destination, file)
        written.append(destination)
    return written


def _progress_printer(label: str, total: int | None) -> Callable[[int], None]:
    interactive = sys.stderr.isatty()
    last_shown = [-1]

    def show(done: int) -> None:
        if total:
            percent = int(100 * done / total)
            if percent == last_shown[0] or (not interactive and percent % 10 and done < total):
                return
            last_shown[0] = percent
            bar = "#" * (percent // 4)
            text = f"{label} [{bar:<25}] {percent:3d}% of {total / 1e6:.1f} MB"
        else:
            text = f"{label} {done / 1e6:.1f} MB"
        sys.stderr.write(("\r" if interactive else "") + text + ("" if interactive else "\n"))
        if interactive and total and done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def download_file(url: str, destination: Path, file: DataFile, form_kind: str,
                  progress: bool = True, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``destination`` atomically and verify it against ``file``."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        show = _progress_printer(destination.name, total) if progress else (lambda done: None)
        with atomic_output(destination) as output:
            done = 0
            while chunk := response.read(_CHUNK):
                output.write(chunk)
                done += len(chunk)
                show(done)
            output.flush()
            check_content(Path(output.name).read_bytes(), file, form_kind, source=url)
    _drop_other_copies(destination, file)
    return destination


def fetch(spec: DatasetSpec, progress: bool = True) -> Located:
    """Download one complete form of ``spec`` into the cache (unless already there).

    Raises:
        DataNotFoundError: offline mode, or every mirror failed; the message says where to put
            the files by hand.
    """
    located = find(spec)
    if located is not None and located.origin == "CNNKIT_DATA_DIR":
        return located
    if is_offline():
        raise DataNotFoundError("CNNKIT_OFFLINE=1: not downloading.\n" + missing_message(spec))
    failures = []
    for form in spec.forms:
        downloadable = [file for file in form.files if file.mirrors]
        if len(downloadable) != len(form.files):
            continue
        paths = {}
        for file in form.files:
            for url in file.mirrors:
                destination = data_dir() / spec.name / Path(url).name
                try:
                    paths[file.name] = download_file(url, destination, file, form.kind, progress)
                    break
                except (OSError, DataFormatError) as error:
                    failures.append(f"  {url}: {error}")
            else:
                break
        else:
            return Located(spec, form, paths, "download")
    raise DataNotFoundError(
        f"Could not download {spec.name}:\n" + "\n".join(failures) + "\n" + missing_message(spec)
    )
