"""cnnkit.kernel: the one place the kit starts a kernel, sets its environment and ends it."""

from __future__ import annotations

import os

import nbformat
import pytest

from cnnkit.kernel import environment, run_notebook


def test_environment_sets_values_for_the_block_then_restores_each_name(monkeypatch):
    """A name that existed gets its old value back; a name that did not is removed again."""
    monkeypatch.setenv("CNNKIT_TEST_OLD", "before")
    monkeypatch.delenv("CNNKIT_TEST_NEW", raising=False)
    with environment({"CNNKIT_TEST_OLD": "during", "CNNKIT_TEST_NEW": "during"}):
        assert os.environ["CNNKIT_TEST_OLD"] == os.environ["CNNKIT_TEST_NEW"] == "during"
    assert os.environ["CNNKIT_TEST_OLD"] == "before" and "CNNKIT_TEST_NEW" not in os.environ


@pytest.mark.slow
def test_the_kernel_sees_the_values_runs_in_the_folder_and_is_ended(tmp_path):
    """Does the kernel see the values, start in ``folder``, and stop before run_notebook returns
    (nbclient leaves a kernel it was handed running, which used to print "Parent appears to
    have exited" into the student's terminal after `cnnkit validate` ended)?"""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nprint(os.getpid(), os.environ['CNNKIT_TEST_VALUE'], os.getcwd())")])
    run_notebook(notebook, tmp_path, timeout=60, values={"CNNKIT_TEST_VALUE": "seen"})
    pid, value, folder = notebook.cells[0].outputs[0]["text"].split()
    assert value == "seen" and os.path.samefile(folder, tmp_path)
    assert "CNNKIT_TEST_VALUE" not in os.environ
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid), 0)
