"""A real PostgreSQL server for the tests: Debian's `postgresql`, on loopback, in a temporary folder.

`./kit test` installs the package; this module initialises a cluster (as an unprivileged user when
the tests run as root: PostgreSQL refuses root), starts it on a free loopback port with trust
authentication (loopback only, for tests), hands out one empty database per test, and stops and
removes the cluster at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

SERVER_USER = "cnnkit-grader"  # tests/ordinary_user.py's user; created if missing


def find_bindir() -> Path | None:
    """The folder of Debian's initdb/pg_ctl (the newest version installed), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    if subprocess.run(["id", SERVER_USER], capture_output=True).returncode:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SERVER_USER], check=True)
    return ["runuser", "-u", SERVER_USER, "--", *command]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One PostgreSQL cluster on 127.0.0.1 (see the module docstring)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="cnnkit-postgres-", dir="/tmp"))
        self.port = _free_port()
        if os.geteuid() == 0:
            _as_server_user(["true"])  # creates the user
            shutil.chown(self.folder, SERVER_USER, SERVER_USER)

    def _run(self, *command: str) -> None:
        completed = subprocess.run(_as_server_user(list(command)), capture_output=True, text=True,
                                   timeout=120, cwd="/")
        if completed.returncode:
            raise RuntimeError(f"{command[0]} failed:\n{completed.stdout}\n{completed.stderr}")

    def start(self) -> PostgresServer:
        data = self.folder / "data"
        self._run(str(self.bindir / "initdb"), "-D", str(data), "--auth=trust", "-U", "cnnkit",
                  "--encoding=UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                  "-l", str(self.folder / "server.log"), "start")
        return self

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast",
                  "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def new_database(self) -> str:
        """Create an empty database; return its SQLAlchemy URL."""
        import psycopg

        name = f"course_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=cnnkit dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://cnnkit@127.0.0.1:{self.port}/{name}"


def running_server(bindir: Path) -> Iterator[PostgresServer]:
    """Start a server, yield it, stop it (a generator for a pytest fixture)."""
    server = PostgresServer(bindir).start()
    try:
        yield server
    finally:
        server.stop()
