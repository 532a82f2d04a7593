"""The `cnnkit data` command line: status, import and fetch, with their exit codes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cnnkit.cli import main
from tests.tinydata import write_idx_set


def test_status_lists_every_data_set(empty_cache, capsys):
    """Does `data status` list each registered data set, saying what is missing?"""
    assert main(["data", "status"]) == 0
    out = capsys.readouterr().out
    assert f"Data cache: {empty_cache}  (CNNKIT_OFFLINE=1)" in out
    for name in ("mnist", "fashion_mnist", "cifar10"):
        assert f"cnnkit data import {name} PATH" in out


def test_status_verify_flags_a_corrupt_copy(empty_cache, capsys):
    """Does `data status --verify` exit 1 and name a file whose checksum fails?"""
    write_idx_set(empty_cache / "mnist")
    assert main(["data", "status", "--verify"]) == 1
    assert "checksum mismatch" in capsys.readouterr().out


def test_import_of_a_wrong_file_exits_2_with_the_reason(empty_cache, tmp_path, capsys):
    """Does `data import` of a same-named wrong file exit 2 and say why?"""
    write_idx_set(tmp_path / "folder")
    assert main(["data", "import", "mnist", str(tmp_path / "folder")]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert list(empty_cache.iterdir()) == []


def test_fetch_offline_exits_1_naming_the_files(empty_cache, capsys):
    """Does `data fetch` offline exit 1 with where to put the files?"""
    assert main(["data", "fetch", "cifar10"]) == 1
    assert "cifar-10-python.tar.gz" in capsys.readouterr().err


def test_unknown_data_set_is_an_argument_error(capsys):
    """Is `data fetch minst` refused by the parser with the valid choices?"""
    with pytest.raises(SystemExit) as caught:
        main(["data", "fetch", "minst"])
    assert caught.value.code == 2 and "invalid choice: 'minst'" in capsys.readouterr().err


@pytest.mark.real_data
def test_import_real_mnist_then_load_it(real_mnist, empty_cache, capsys):
    """Does `data import mnist FOLDER` report completeness, after which load_mnist works offline?"""
    from cnnkit.data import load_mnist

    assert main(["data", "import", "mnist", str(real_mnist)]) == 0
    assert "mnist is complete (idx)." in capsys.readouterr().out
    (x_train, y_train), (x_test, _) = load_mnist()
    assert (len(x_train), len(x_test)) == (60000, 10000)
    assert list(y_train[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_the_command_works_without_nbgrader(tmp_path):
    """Colab installs cnnkit with --no-deps: data, doctor's parser, validate and submit must not
    need nbgrader."""
    code = ("import sys; sys.modules['nbgrader'] = None\n"
            "from cnnkit.cli import main\n"
            "import cnnkit.student, cnnkit.course.collect\n"
            "sys.exit(main(['data', 'status']))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         check=False, env={**os.environ, "CNNKIT_DATA_DIR": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "mnist" in run.stdout


def test_course_audit_and_its_old_name_check(tmp_path, capsys):
    """Does `course audit` pass an empty course, and `course check` do the same with a note?"""
    from cnnkit.cli import main

    assert main(["course", "--course", str(tmp_path), "audit"]) == 2
    assert "has no nbgrader_config.py and no solutions. Expected the folder" in capsys.readouterr().err
    (tmp_path / "solutions").mkdir()
    (tmp_path / "labs").mkdir()
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    assert main(["course", "--course", str(tmp_path), "audit"]) == 0
    audited = capsys.readouterr()
    assert "labs/ is in sync with solutions/, leaks nothing" in audited.out and not audited.err
    assert main(["course", "--course", str(tmp_path), "check"]) == 0
    assert "`cnnkit course check` is now `cnnkit course audit`" in capsys.readouterr().err


def test_course_grade_takes_its_defaults_from_grade_limits():
    """Are `course grade`'s limits, left unset, exactly GradeLimits' defaults (one home)?"""
    from dataclasses import asdict

    from cnnkit.cli import build_parser
    from cnnkit.course.limits import GradeLimits

    args = build_parser().parse_args(["course", "grade", "lab1-convolution"])
    defaults = asdict(GradeLimits())
    for name in ("cell_timeout", "notebook_timeout", "memory_gb", "cpu_seconds", "max_processes",
                 "disk_mb", "open_files"):
        assert getattr(args, name) == defaults[name], name
    assert args.no_sandbox is (not defaults["sandbox"])
