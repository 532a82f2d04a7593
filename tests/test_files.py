"""cnnkit.files: a file is replaced whole or not at all."""

from __future__ import annotations

import os
import stat

import pytest

from cnnkit.files import atomic_path, write_text_atomically


def test_the_new_content_replaces_the_old_only_when_the_block_ends(tmp_path):
    """Until the block ends, is the old file untouched, and is the temporary name beside it?"""
    target = tmp_path / "model.weights.h5"
    target.write_text("old")
    with atomic_path(target) as partial:
        assert partial.parent == tmp_path and partial.name.endswith("-model.weights.h5")
        partial.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.weights.h5"]


def test_an_error_inside_the_block_leaves_the_old_file_and_no_partial_one(tmp_path):
    """A writer that fails half-way: is the old file kept and the half-written one removed?"""
    target = tmp_path / "archive.zip"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as partial:
        partial.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["archive.zip"]


def test_the_written_file_gets_the_usual_permissions_not_mkstemps_private_ones(tmp_path):
    """mkstemp creates 0600; does the finished file follow the umask, as any other file would?"""
    umask = os.umask(0o022)
    try:
        write_text_atomically(tmp_path / "history.json", "{}")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "history.json").stat().st_mode) == 0o644
    assert (tmp_path / "history.json").read_text() == "{}"


def test_missing_parent_folders_are_created(tmp_path):
    """Does writing into a folder that does not exist yet create it?"""
    write_text_atomically(tmp_path / "a" / "b" / "notes.txt", "hello")
    assert (tmp_path / "a" / "b" / "notes.txt").read_text() == "hello"
