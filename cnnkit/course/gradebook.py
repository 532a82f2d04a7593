"""Where the course gradebook is, and a lock so that graders on several machines never collide.

The URL is found as nbgrader's own tools find it (``c.CourseDirectory.db_url`` in the course's
``nbgrader_config.py``, else ``sqlite:///COURSE/gradebook.db``), and ``--db`` overrides it.
Creating the schema or a lab's rows from two graders at once fails on unique constraints, so
every write to the course gradebook happens under `gradebook_lock`: a PostgreSQL advisory lock,
or a file lock beside an sqlite file.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

ADVISORY_LOCK_KEY = 0x636E6E6B  # "cnnk": one key for every cnnkit grader of a database


def configured_url(root: Path) -> str | None:
    """``c.CourseDirectory.db_url`` from ``root/nbgrader_config.py``, if it sets one."""
    config_file = Path(root) / "nbgrader_config.py"
    if not config_file.is_file():
        return None
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
    url = config.get("CourseDirectory", {}).get("db_url")
    return str(url) if url else None


def gradebook_url(root: Path, override: str | None = None) -> str:
    """The course gradebook's URL: ``override`` (``--db``), the course config's, or sqlite."""
    return override or configured_url(root) or f"sqlite:///{Path(root).resolve() / 'gradebook.db'}"


@contextlib.contextmanager
def gradebook_lock(db_url: str) -> Iterator[None]:
    """Hold the course gradebook's lock (one holder at a time across processes and machines)."""
    if db_url.startswith("sqlite:///"):
        path = Path(db_url[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{path}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    if db_url.startswith("postgresql"):
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(db_url, poolclass=NullPool)
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                   {"key": ADVISORY_LOCK_KEY})
        engine.dispose()
        return
    yield  # another database: nbgrader's own behaviour, unlocked


@contextlib.contextmanager
def open_gradebook(db_url: str):  # noqa: ANN201 - yields nbgrader's Gradebook
    """Open the course gradebook under its lock (creating the schema is then safe too)."""
    from nbgrader.api import Gradebook

    from cnnkit.course.nbgrader_cli import put_tools_on_path

    put_tools_on_path()
    with gradebook_lock(db_url), Gradebook(db_url) as gradebook:
        yield gradebook
