"""Run a notebook in a fresh local kernel: the one place the kit starts kernels itself.

Used by `cnnkit validate`, `cnnkit course audit` and the tests. The kernel talks to this process
over Unix sockets (ZeroMQ's IPC transport) rather than TCP on localhost: nothing on the machine
can connect to it, and ipykernel has no reason to warn "Kernel is running over TCP without
encryption" into the student's terminal. Environment variables the kernel must see (a profile,
nbgrader's execution flag) are set only while it starts, then restored.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["environment", "run_notebook"]


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for the block (a kernel started in it inherits them),
    then restore every name to what it was (or remove it)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_notebook(document, folder: str | os.PathLike, *, timeout: int,  # noqa: ANN001 - nbformat
                 values: Mapping[str, str] | None = None, interrupt_on_timeout: bool = False,
                 stop_at_error: bool = False) -> None:
    """Execute every cell of ``document`` (an nbformat notebook, changed in place: outputs and
    execution counts) in a new python3 kernel whose working folder is ``folder``.

    Errors in cells are kept as outputs; execution goes on to the next cell, unless
    ``stop_at_error`` (then nbclient raises CellExecutionError at the first).

    Args:
        timeout: seconds one cell may run before nbclient stops the run.
        values: environment variables for the kernel.
        interrupt_on_timeout: interrupt a cell that runs too long instead of stopping the run.

    Raises:
        nbclient's CellTimeoutError or DeadKernelError, as nbclient raises them.
    """
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    with environment(values or {}), tempfile.TemporaryDirectory(prefix="cnnkit-kernel-") as sockets:
        if sys.platform == "win32":  # no Unix sockets
            manager = KernelManager(kernel_name="python3")
        else:  # an absolute path: the kernel starts in ``folder``, the client stays here
            manager = KernelManager(kernel_name="python3", transport="ipc",
                                    ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(document, km=manager, timeout=timeout, kernel_name="python3",
                                allow_errors=not stop_at_error,
                                interrupt_on_timeout=interrupt_on_timeout,
                                resources={"metadata": {"path": str(Path(folder))}})
        try:
            client.execute()
        finally:  # nbclient leaves a kernel it was given running: end it here, not at our exit
            if manager.has_kernel:
                manager.shutdown_kernel()
