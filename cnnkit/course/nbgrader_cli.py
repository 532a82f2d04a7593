"""Run the nbgrader command line from Python, with the environment it needs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def nbgrader_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for nbgrader: this Python's bin/ first on PATH (nbgrader runs `alembic`)."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.update(extra or {})
    return env


def put_tools_on_path() -> None:
    """Put this Python's bin/ first on PATH, for nbgrader's in-process Gradebook (alembic)."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def run_nbgrader(course: Path, *args: str, timeout: float | None = None,
                 extra_env: dict[str, str] | None = None,
                 preexec=None) -> subprocess.CompletedProcess:  # noqa: ANN001
    """Run ``nbgrader ARGS`` in ``course``; kill its whole process group on timeout.

    ``preexec`` runs in the child before it starts (e.g. to set resource limits).

    Raises:
        subprocess.TimeoutExpired: it ran past ``timeout`` seconds (its process group is
            killed; a sandboxed kernel dies with it through bwrap's ``--die-with-parent``, and
            the grader checks that nothing of the sandbox is left).
    """
    def start_session() -> None:
        os.setsid()
        if preexec is not None:
            preexec()

    process = subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=course,
                               env=nbgrader_env(extra_env), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, preexec_fn=start_session)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise subprocess.TimeoutExpired(process.args, timeout, output=output) from None
    return subprocess.CompletedProcess(process.args, process.returncode, output, "")
