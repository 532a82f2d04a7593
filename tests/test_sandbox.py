"""The grading sandbox on its own: what a process inside bubblewrap can see and do.

These run a short Python program in the sandbox that `cnnkit.course.sandbox` builds for a
student's kernel (without nbgrader); tests/test_course.py grades hostile notebooks through it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from cnnkit.course.output_limit import LimitOutputSize
from cnnkit.course.sandbox import (
    HOME,
    KernelSettings,
    bwrap_arguments,
    kernel_environment,
    python_paths,
    sandbox_support,
)

ROOT = Path(__file__).resolve().parents[1]

needs_sandbox = pytest.mark.skipif(not sandbox_support().available,
                                   reason=f"{sandbox_support().reason}; ./kit test installs bwrap")


def run_inside(tmp_path: Path, code: str, **limits) -> dict:
    """Run ``code`` in a student's sandbox; return the JSON it prints as its last line."""
    run = tmp_path / "run"
    run.mkdir()
    settings = KernelSettings(run_folder=str(run), state_folder=str(tmp_path),
                              read_only=python_paths([ROOT, Path(tempfile.gettempdir())]),
                              env=kernel_environment(None, None), **limits)
    command = [*bwrap_arguments(settings, "lab"), sys.executable, "-c", code]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_the_sandbox_never_exposes_the_repository_or_the_course():
    """Are the repository (solutions/) and the course left out, the cnnkit package in?"""
    folders = [Path(folder) for folder in python_paths([ROOT])]
    assert str(ROOT / "cnnkit") in map(str, folders)
    assert not [folder for folder in folders if folder == ROOT or folder in ROOT.parents]


@needs_sandbox
def test_inside_it_sees_only_its_own_processes_and_no_network(tmp_path):
    """Which processes, uid, network and files does code in the sandbox see?"""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    code = f"""
import json, os, socket
connection = socket.socket()
connection.settimeout(2)
reached = connection.connect_ex(('127.0.0.1', {port})) == 0
print(json.dumps({{"pids": sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),
                  "uid": os.getuid(), "reached_host": reached, "root": sorted(os.listdir('/')),
                  "cwd": os.getcwd(), "solutions": os.path.exists({str(ROOT / 'solutions')!r})}}))
"""
    seen = run_inside(tmp_path, code)
    listener.close()
    assert seen["uid"] == 65534 and max(seen["pids"]) < 10, seen
    assert not seen["reached_host"], "the sandbox reached a port on the host's loopback"
    assert seen["cwd"] == f"{HOME}/lab" and not seen["solutions"]


@needs_sandbox
def test_only_its_home_and_tmp_are_writable_and_both_are_small(tmp_path):
    """Can it write to /, /usr or the cnnkit package? How much can it write at home?"""
    code = """
import json, os
result = {}
for place in ['/', '/usr', os.path.dirname(__import__('cnnkit').__file__), '/tmp', '.']:
    try:
        open(os.path.join(place, 'probe.txt'), 'w').write('x')
        result[place] = 'wrote'
    except OSError as error:
        result[place] = type(error).__name__
written = 0
try:
    with open('big.bin', 'wb') as handle:
        while written < 64 << 20:
            handle.write(bytes(1 << 20))
            written += 1 << 20
except OSError:
    pass
result['written_mb'] = written >> 20
print(json.dumps(result))
"""
    seen = run_inside(tmp_path, code, disk_bytes=8 << 20)
    package = next(key for key in seen if "cnnkit" in key)
    assert seen["/"] == seen["/usr"] == seen[package] == "OSError"
    assert seen["/tmp"] == seen["."] == "wrote"
    assert seen["written_mb"] <= 8
    assert not (ROOT / "cnnkit" / "probe.txt").exists()


def test_a_huge_output_is_cut_and_small_ones_kept():
    """Does LimitOutputSize cut a 5 MB line and a 5 MB image, and keep a short print?"""
    cells = [nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="y" * (5 << 20)),
        nbformat.v4.new_output("display_data", data={"image/png": "A" * (5 << 20)}),
        nbformat.v4.new_output("stream", name="stdout", text="fine\n")])]
    notebook, _ = LimitOutputSize().preprocess(nbformat.v4.new_notebook(cells=cells), {})
    stream, image, small = notebook.cells[0].outputs
    assert len(stream.text) < (1 << 20) and "cut by the grader" in stream.text
    assert "image/png" not in image.data and "cut by the grader" in image.data["text/plain"]
    assert small.text == "fine\n"
