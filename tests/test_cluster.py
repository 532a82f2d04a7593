"""Grading on a Dask cluster: a scheduler and two workers as separate processes on loopback,
as `dask scheduler` and `dask worker` would run on other machines; one worker is killed mid-task."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.labcode import lab_points, make_course

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab1-convolution"
NOTEBOOK = f"{LAB}.ipynb"
DASK = str(Path(sys.executable).parent / "dask")
CLASS = {"s1": (ROOT / "solutions" / LAB / NOTEBOOK).read_bytes(),
         "s2": (ROOT / "solutions" / LAB / NOTEBOOK).read_bytes(),
         "s3": (ROOT / "labs" / LAB / NOTEBOOK).read_bytes(),
         "s4": (ROOT / "solutions" / LAB / NOTEBOOK).read_bytes()}
AUTO, WRITTEN = lab_points(LAB)  # a copy of the solution earns AUTO until its answers are graded
EXPECTED = {"s1": AUTO, "s2": AUTO, "s3": 0.0, "s4": AUTO}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(*command: str) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


@pytest.fixture
def cluster():
    """A scheduler and two single-threaded workers, named w1 and w2; yields (address, workers)."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    scheduler = _start(DASK, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                       "--no-dashboard")
    workers = {name: _start(DASK, "worker", address, "--nthreads", "1", "--name", name,
                            "--no-dashboard", "--host", "127.0.0.1")
               for name in ("w1", "w2")}
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for process in [*workers.values(), scheduler]:
            _stop(process)


@pytest.mark.slow
def test_a_worker_killed_mid_task_loses_no_student(cluster, tmp_path):
    """Kill the worker that is grading someone: is everyone still graded, exactly once?"""
    from distributed import Client
    from nbgrader.api import Gradebook

    address, workers = cluster
    course = make_course(tmp_path / "course", LAB)
    for student, notebook in CLASS.items():
        (course / "submitted" / student / LAB).mkdir(parents=True)
        (course / "submitted" / student / LAB / NOTEBOOK).write_bytes(notebook)
    grading = subprocess.Popen([sys.executable, "-m", "cnnkit", "course", "--course", str(course),
                                "grade", LAB, "--cluster", address],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = None
    with Client(address, timeout="60s") as client:
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline:
            busy = [info["name"] for worker, info in client.scheduler_info()["workers"].items()
                    if client.processing().get(worker)]
            if busy:
                time.sleep(3)  # well inside the task: nbgrader is running
                killed = busy[0]
                _stop(workers[killed])
            time.sleep(0.2)
    output, _ = grading.communicate(timeout=600)
    assert killed, "no worker ever took a task"
    assert grading.returncode == 0, output
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {s.student.id: s.score for s in gradebook.find_assignment(LAB).submissions}
    assert scores == EXPECTED, output
    assert all((course / "autograded" / student / LAB / NOTEBOOK).is_file() for student in CLASS)
