"""The limits on one student's grading run, in one place for the grader and the command line.

Kept free of nbgrader and nbformat so that `cnnkit --help` works where they are not installed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GradeLimits:
    """Limits on one student's grading run.

    Attributes:
        cell_timeout: seconds a cell may run before it is interrupted (nbgrader's Execute.timeout).
        notebook_timeout: seconds the whole grading of one student may take; then it is killed.
        memory_gb: address-space limit of the grading process and of each kernel process.
        cpu_seconds: CPU time of each kernel process (RLIMIT_CPU); past it the kernel is killed.
        max_processes: processes and threads the student's code may have at once (a fork bomb).
        cpus: CPU cores the student's code may use at once (a cgroup CPU quota, as root); by
            default the machine's cores shared among the workers.
        disk_mb: size of the kernel's writable home folder (a copy of the student's files).
        open_files: file descriptors each kernel process may hold.
        sandbox: run each kernel in the bubblewrap sandbox (`cnnkit.course.sandbox`). Turned off
            only by an explicit ``--no-sandbox``; the report then marks every row "not isolated".
    """

    cell_timeout: int = 60
    notebook_timeout: int = 600
    memory_gb: float = 4.0
    cpu_seconds: int = 1200
    max_processes: int = 256
    disk_mb: int = 512
    open_files: int = 1024
    cpus: float = 0.0
    sandbox: bool = True
