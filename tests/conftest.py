"""Shared fixtures (an isolated empty cache, the real data sets when present) and the timings summary."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cnnkit.data import data_dir, find, get_spec
from tests.timings import summary_lines

# Resolved once, before any test changes CNNKIT_DATA_DIR: where ./kit imported the real data.
REAL_DATA_DIR = data_dir()
REQUIRE_REAL_DATA = os.environ.get("CI") == "true" or os.environ.get("CNNKIT_REQUIRE_REAL_DATA") == "1"


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    """An empty data cache and an empty Keras cache, offline: nothing outside tmp_path is seen."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(cache))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    return cache


def real_data_folder(name: str) -> Path:
    """The folder holding the real data set ``name``; skip (or fail under CI) if absent."""
    spec = get_spec(name)
    folder = REAL_DATA_DIR / spec.name
    located = find(spec, folder) if folder.is_dir() else None
    if located is None:
        message = f"real {name} is not in {REAL_DATA_DIR}; run ./kit data"
        if REQUIRE_REAL_DATA:
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope="session")
def real_mnist() -> Path:
    return real_data_folder("mnist")


@pytest.fixture(scope="session")
def real_fashion_mnist() -> Path:
    return real_data_folder("fashion_mnist")


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def pytest_terminal_summary(terminalreporter):
    """After the run: the timed runs (tests/timings.py) that went over budget, if any were timed."""
    lines = summary_lines()
    if lines:
        terminalreporter.section("timed runs")
        for line in lines:
            terminalreporter.line(line)
