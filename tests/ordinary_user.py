"""Grade as an ordinary (non-root) user, as an instructor on JupyterHub or a laptop would.

The project's .venv is built from an interpreter in root's home on the kit's machines, which
other users cannot run; so the user gets a venv of Debian's own Python 3 of the same minor version
that imports the project's site-packages (read-only) through a .pth file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

USER = "cnnkit-grader"
VENV = Path("/tmp/cnnkit-grader-venv")


def can_switch_user() -> bool:
    """Whether this test run may create a user and run commands as it (root, on Linux)."""
    return (os.geteuid() == 0 and shutil.which("runuser") is not None
            and Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}").is_file())


def ensure_user_python() -> Path:
    """Create the user and its venv if needed; return the venv's python."""
    if subprocess.run(["id", USER], capture_output=True).returncode:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        USER], check=True)
    python = VENV / "bin" / "python"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if not python.exists():
        subprocess.run([f"/usr/bin/python{version}", "-m", "venv", "--without-pip", str(VENV)],
                       check=True)
    # Written every time: the project (and so its site-packages) may have moved since.
    site_packages = sysconfig.get_paths()["purelib"]
    (VENV / "lib" / f"python{version}" / "site-packages" / "project-venv.pth").write_text(
        f"import site; site.addsitedir({site_packages!r})\n")
    alembic = VENV / "bin" / "alembic"  # nbgrader runs it by name
    alembic.write_text(f"#!{python}\nimport sys\nfrom alembic.config import main\n"
                       "sys.exit(main())\n")
    alembic.chmod(0o755)
    return python


def user_can_read_the_project(python: Path) -> bool:
    """Whether the user can import this project's cnnkit (its folders must be readable to it)."""
    probe = subprocess.run(["runuser", "-u", USER, "--", str(python), "-c",
                            f"import cnnkit, sys; sys.exit(cnnkit.__file__ != {_cnnkit_file()!r})"],
                           capture_output=True, text=True, timeout=120, cwd="/")
    return probe.returncode == 0


def _cnnkit_file() -> str:
    import cnnkit

    return cnnkit.__file__


def user_folder() -> Path:
    """A fresh folder owned by the user (pytest's own temporary folders are root's, mode 700)."""
    folder = Path(tempfile.mkdtemp(prefix="cnnkit-user-course-", dir="/tmp"))
    shutil.chown(folder, USER, USER)
    return folder


def grade_as_user(course: Path, lab: str, limits: dict) -> list[dict]:
    """Run `grade_lab` as the user on ``course`` (chowned to it); return each result as a dict."""
    subprocess.run(["chown", "-R", f"{USER}:{USER}", str(course)], check=True)
    script = ("import json, sys; from dataclasses import asdict; from cnnkit.course import grade_lab;"
              "from cnnkit.course.grading import GradeLimits;"
              f"results = grade_lab({str(course)!r}, {lab!r}, jobs=2, limits=GradeLimits(**{limits!r}),"
              " record_missing=True);"
              "print('RESULTS', json.dumps([asdict(r) for r in results]))")
    python = ensure_user_python()
    command = ["runuser", "-u", USER, "--", "env", f"PATH={python.parent}:/usr/bin:/bin",
               f"HOME={course.parent}",
               str(python), "-c", script]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd="/")
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULTS ")]
    assert completed.returncode == 0 and lines, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(lines[-1][len("RESULTS "):])

