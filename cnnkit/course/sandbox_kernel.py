"""The sandboxed kernel's two stages: the launcher (outside, trusted) and the set-up inside.

``python -m cnnkit.course.sandbox_kernel launch SETTINGS CONNECTION_FILE [ARGS...]`` is what the
grading kernelspec runs: in the notebook's folder (where nbgrader put the student's files), it
copies those files to a staging folder, joins the pids cgroup, sets the limits and replaces itself
with ``bwrap``. Inside, ``... inside`` copies the staged files into the size-limited home, caps the
number of processes of the sandbox's user namespace and replaces itself with ipykernel.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
from pathlib import Path

from cnnkit.course.sandbox import SUBMISSION_MOUNT, KernelSettings, bwrap_arguments


def _stage_files(source: Path, staging: Path) -> None:
    """Copy the regular files of the notebook's folder (no links, no folders) for the sandbox."""
    staging.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file() and not item.is_symlink() and item.suffix != ".ipynb":
            shutil.copyfile(item, staging / item.name)


def _set_limits(settings: KernelSettings) -> None:
    limits = {resource.RLIMIT_AS: settings.memory_bytes, resource.RLIMIT_CPU: settings.cpu_seconds,
              resource.RLIMIT_NOFILE: settings.open_files, resource.RLIMIT_FSIZE: settings.disk_bytes,
              resource.RLIMIT_CORE: 0}
    for kind, value in limits.items():
        _, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


def launch(settings_file: str, connection_file: str, kernel_args: list[str]) -> None:
    """Start the kernel inside bwrap (this process becomes bwrap; it never returns)."""
    settings = KernelSettings.load(Path(settings_file))
    state = Path(settings.state_folder)
    staging = state / f"submission-{os.getpid()}"
    _stage_files(Path.cwd(), staging)
    for cgroup in settings.cgroups:
        (Path(cgroup) / "cgroup.procs").write_text(str(os.getpid()))
    record = os.open(state / f"sandbox-{os.getpid()}.json", os.O_WRONLY | os.O_CREAT, 0o600)
    os.set_inheritable(record, True)
    settings.mounts = {**settings.mounts, str(staging): SUBMISSION_MOUNT}
    # nbgrader sets NBGRADER_EXECUTION in its own process, after the settings were written: the
    # kernel must start with it, or cnnkit would not know it is being graded (profile "grade").
    settings.env.update({key: value for key, value in os.environ.items()
                         if key.startswith("NBGRADER_")})
    workdir = Path.cwd().name or "work"
    command = [*bwrap_arguments(settings, workdir), "--info-fd", str(record),
               sys.executable, "-m", "cnnkit.course.sandbox_kernel", "inside",
               str(settings.max_processes), "--", sys.executable, "-m", "ipykernel_launcher",
               "-f", connection_file, *kernel_args]
    _set_limits(settings)
    os.execvp(command[0], command)


def inside(max_processes: int, kernel_command: list[str]) -> None:
    """Inside the sandbox: fill the home folder, cap processes, become the kernel."""
    for item in Path(SUBMISSION_MOUNT).iterdir():
        shutil.copyfile(item, Path.cwd() / item.name)
    # Counted per user namespace, so the cap is this student's alone (root is exempt from it:
    # as root the grader's pids cgroup caps the sandbox instead).
    resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
    os.execv(kernel_command[0], kernel_command)


def main(argv: list[str]) -> None:
    if argv[:1] == ["launch"] and len(argv) >= 3:
        launch(argv[1], argv[2], argv[3:])
    elif argv[:1] == ["inside"] and len(argv) >= 4 and argv[2] == "--":
        inside(int(argv[1]), argv[3:])
    else:
        print(json.dumps({"usage": "sandbox_kernel launch SETTINGS CONNECTION_FILE [ARGS] | "
                          "inside MAX_PROCESSES -- COMMAND"}), file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
