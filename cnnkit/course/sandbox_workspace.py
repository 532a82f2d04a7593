"""A grading workspace's sandbox: what every student's kernel shares, its own kernel, the clean-up.

`cnnkit.course.sandbox` holds the mechanism (bubblewrap, cgroups, the kernelspec); this module
applies it to one workspace of `cnnkit.course.grading`.
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import replace
from pathlib import Path

from cnnkit.course.limits import GradeLimits
from cnnkit.course.sandbox import (
    DATA_MOUNT,
    KERAS_MOUNT,
    KernelSettings,
    install_kernel,
    kernel_environment,
    leftover_processes,
    make_cgroups,
    python_paths,
    remove_cgroups,
)


def _readable_folder(path: Path) -> Path | None:
    try:
        return path if path.is_dir() and os.access(path, os.R_OK | os.X_OK) else None
    except OSError:  # e.g. a folder inside another user's home
        return None


def shared_kernel_settings(course_root: Path, limits: GradeLimits) -> KernelSettings:
    """What every student's sandboxed kernel sees: Python, cnnkit, the data caches; the limits.

    Nothing that contains ``course_root``, the cnnkit repository or the temporary folder is
    bound into the sandbox (the cnnkit package folder itself is).
    """
    from cnnkit.data.store import data_dir, keras_datasets_dir

    repository = Path(__file__).resolve().parents[2]
    data, keras = _readable_folder(data_dir()), _readable_folder(keras_datasets_dir())
    mounts = {str(data): DATA_MOUNT} if data else {}
    if keras:
        mounts[str(keras)] = f"{KERAS_MOUNT}/datasets"
    hidden = (str(course_root), str(repository), tempfile.gettempdir())
    return KernelSettings(
        run_folder="", state_folder="", read_only=_python_paths(hidden), mounts=mounts,
        env=kernel_environment(data, keras), memory_bytes=int(limits.memory_gb * (1 << 30)),
        cpu_seconds=limits.cpu_seconds, max_processes=limits.max_processes,
        disk_bytes=limits.disk_mb << 20, open_files=limits.open_files)


@functools.lru_cache(maxsize=8)
def _python_paths(hidden: tuple[str, ...]) -> list[str]:
    return python_paths([Path(path) for path in hidden])


def sandbox_kernel(workspace: Path, base: KernelSettings, limits: GradeLimits,
                   ) -> tuple[dict[str, str], list[Path]]:
    """Give a workspace its sandboxed kernel; return nbgrader's extra environment and the cgroup."""
    kernel = workspace / "kernel"
    (kernel / "run").mkdir(parents=True)
    (kernel / "state").mkdir()
    cgroups = make_cgroups(limits.max_processes, limits.cpus)
    settings = replace(base, run_folder=str(kernel / "run"), state_folder=str(kernel / "state"),
                       cgroups=[str(folder) for folder in cgroups])
    return install_kernel(workspace, settings), cgroups


def end_sandbox(workspace: Path, cgroups: list[Path]) -> list[str]:
    """Make sure no process of the student's sandbox lives on; say so if one had to be killed."""
    survivors = leftover_processes(workspace / "kernel" / "state")
    survivors = max(survivors, remove_cgroups(cgroups))
    return ([f"{survivors} sandbox process(es) outlived the kernel and were killed before the "
             "results were read"] if survivors else [])
