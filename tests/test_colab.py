"""Colab: every notebook opens with an Open-in-Colab badge and a Colab-only setup cell, both written
by `cnnkit course stamp` from pyproject.toml and kept current by `cnnkit course stamp --check`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnnkit import __version__
from cnnkit.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [path.relative_to(ROOT).as_posix() for path in sorted(ROOT.glob("notebooks/*.ipynb"))
             + sorted(ROOT.glob("solutions/*/*.ipynb")) + sorted(ROOT.glob("labs/*/*.ipynb"))]
STAMPED = [path for path in NOTEBOOKS if not path.startswith("labs/")]  # labs/ is generated
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"

# What each notebook's Colab cell fetches: the data sets its code loads.
DATA = {
    "01-why-convolutions": ["mnist", "fashion_mnist"], "02-convolution-operation": [],
    "03-convolution-arithmetic": [], "04-pooling-and-invariance": ["mnist", "fashion_mnist"],
    "05-architectures": ["fashion_mnist"], "06-what-cnns-learn": ["fashion_mnist"],
    "07-beyond-classification": ["mnist", "fashion_mnist"],
    "lab1-convolution": ["mnist"], "lab2-mnist": ["mnist"], "lab3-cifar10": ["cifar10"],
    "lab4-transfer": ["mnist"],
}
LOADERS = {"load_mnist(": "mnist", "load_fashion_mnist(": "fashion_mnist",
           "load_cifar10(": "cifar10", "load_flowers(": "flowers"}
# Lab 4 loads through its track: the offline (graded) track reads MNIST.
INDIRECT = {"lab4-transfer": {"mnist"}}

# Runs cells given as a JSON list on stdin, with subprocess.run stubbed (each call succeeds, or
# the one whose arguments include argv[2] fails as pip would); prints what they did.
RUN_CELLS = """
import contextlib, io, json, subprocess, sys, types
if sys.argv[1] == "colab":
    sys.modules["google.colab"] = types.ModuleType("google.colab")
failing = sys.argv[2] if len(sys.argv) > 2 else None
report = {"executable": sys.executable, "cells": []}
for source in json.load(sys.stdin):
    calls, printed = [], io.StringIO()
    def run(args, **options):
        calls.append([list(args), options])
        fails = failing is not None and any(failing in str(arg) for arg in args)
        return subprocess.CompletedProcess(args, 1 if fails else 0, "",
                                           "ERROR: fatal: repository not found" if fails else "")
    subprocess.run = run
    stopped = None
    with contextlib.redirect_stdout(printed):
        try:
            exec(compile(source, "colab-cell", "exec"), {})
        except SystemExit as exit:
            stopped = str(exit)
    report["cells"].append({"calls": calls, "printed": printed.getvalue(), "stopped": stopped})
print(json.dumps(report))
"""


def _settings() -> tuple[str, str]:
    """The repository URL and branch, read straight from pyproject.toml."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["project"]["urls"]["Repository"], config["tool"]["cnnkit"]["colab_branch"]


def _student_path(path: str) -> str:
    return re.sub(r"^solutions/", "labs/", path)


def _cells(path: Path | str) -> list[dict]:
    return json.loads((ROOT / path if isinstance(path, str) else path).read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _title_index(cells: list[dict]) -> int:
    return next(index for index, cell in enumerate(cells) if cell["cell_type"] == "markdown")


def _colab_cell(path: str) -> dict:
    cells = _cells(path)
    return cells[_title_index(cells) + 1]


def _run_cells(sources: list[str], where: str, failing: str | None = None) -> dict:
    """Execute the cells in a fresh Python (``where``: "colab" fakes google.colab, else "local";
    the stubbed command whose arguments contain ``failing`` fails)."""
    result = subprocess.run([sys.executable, "-c", RUN_CELLS, where, *([failing] if failing else [])],
                            input=json.dumps(sources),
                            capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _course_copy(folder: Path) -> Path:
    """A copy of what `cnnkit course stamp` reads: pyproject.toml, the version, the notebooks."""
    for name in ("notebooks", "solutions"):
        shutil.copytree(ROOT / name, folder / name)
    (folder / "cnnkit").mkdir(parents=True)
    for name in ("pyproject.toml", "cnnkit/__init__.py"):
        shutil.copy(ROOT / name, folder / name)
    return folder


def _contents(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): path.read_text()
            for path in sorted(folder.glob("*/**/*.ipynb"))}


def _stamp(course: Path, *options: str) -> int:
    return main(["course", "--course", str(course), "stamp", *options])


def test_every_notebook_is_listed_here():
    """A new notebook must be added to DATA (and so to these checks)."""
    assert sorted({Path(path).stem for path in NOTEBOOKS}) == sorted(DATA)


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_opens_with_the_badge_to_its_student_copy_then_the_title(path):
    """Is the title cell's first line the badge to the student copy, and the title after it?"""
    repository, branch = _settings()
    github = repository.removeprefix("https://github.com/")
    url = f"https://colab.research.google.com/github/{github}/blob/{branch}/{_student_path(path)}"
    cells = _cells(path)
    title = _source(cells[_title_index(cells)])
    assert _title_index(cells) == 0
    assert title.startswith(f"[![Open In Colab]({BADGE_IMAGE})]({url})\n\n# ")


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_colab_cell_follows_the_title_as_a_plain_cell(path):
    """Is the cell after the title the Colab cell: plain code, no nbgrader metadata, no output?"""
    cell = _colab_cell(path)
    assert cell["cell_type"] == "code" and _source(cell).startswith("# Colab only:")
    assert "nbgrader" not in cell["metadata"], "not a graded, locked or solution cell"
    assert cell["outputs"] == [] and cell["execution_count"] is None
    assert "import cnnkit" not in _source(cell) and "%pip" not in _source(cell)
    assert sum(_source(other).startswith("# Colab only:") for other in _cells(path)) == 1


@pytest.mark.parametrize("path", STAMPED)
def test_colab_cell_fetches_what_the_notebook_loads(path):
    """Does DATA list exactly the data sets the notebook's code loads?"""
    code = "".join(_source(cell) for cell in _cells(path) if cell["cell_type"] == "code")
    loaded = {name for call, name in LOADERS.items() if call in code}
    assert set(DATA[Path(path).stem]) == loaded | INDIRECT.get(Path(path).stem, set())


def test_on_colab_the_cell_installs_this_release_without_deps_and_fetches_the_data():
    """With google.colab imported, does each cell run just pip (this tag, --no-deps), then fetch?"""
    repository, _ = _settings()
    report = _run_cells([_source(_colab_cell(path)) for path in NOTEBOOKS], "colab")
    python = report["executable"]
    for path, cell in zip(NOTEBOOKS, report["cells"]):
        expected = [[python, "-m", "pip", "install", "--quiet", "--no-deps",
                     f"git+{repository}@v{__version__}"]]
        expected += [[python, "-m", "cnnkit", "data", "fetch", name]
                     for name in DATA[Path(path).stem]]
        assert [args for args, _ in cell["calls"]] == expected, path
        assert all(options == {"capture_output": True, "text": True}
                   for _, options in cell["calls"]), path
        assert (cell["printed"], cell["stopped"]) == ("", None)


def test_a_failed_install_stops_the_cell_with_one_plain_sentence():
    """pip failing on Colab (a wrong address, a missing tag): no traceback, no data fetched, one
    sentence saying what failed, pip's own last line, and whom to tell."""
    repository, _ = _settings()
    report = _run_cells([_source(_colab_cell("solutions/lab2-mnist/lab2-mnist.ipynb"))], "colab",
                        failing="git+")
    cell = report["cells"][0]
    assert len(cell["calls"]) == 1, "it went on to fetch data after the install failed"
    assert cell["stopped"] == (f"Could not install cnnkit {__version__} from {repository} (ERROR: "
                               "fatal: repository not found). Tell your instructor that this "
                               "notebook's Colab set-up failed, with this message.")


def test_lab4_cell_says_how_to_fetch_the_flowers_for_the_imagenet_track():
    """Is the flower data set, read only by the imagenet track, named in a comment?"""
    source = _source(_colab_cell("solutions/lab4-transfer/lab4-transfer.ipynb"))
    assert re.search(r'# TRACK = "imagenet" .*add "flowers"', source)


def test_off_colab_the_cell_does_nothing_but_say_so():
    """Without google.colab, does each cell call nothing and print one short line?"""
    report = _run_cells([_source(_colab_cell(path)) for path in NOTEBOOKS], "local")
    for path, cell in zip(NOTEBOOKS, report["cells"]):
        assert cell["calls"] == [], path
        assert cell["printed"] == "Not on Colab: nothing to install, this cell is for Colab only.\n"


def test_stamp_check_passes_on_the_repository(capsys):
    """Is every committed notebook stamped for this URL, branch and version?"""
    assert _stamp(ROOT, "--check") == 0, capsys.readouterr().err
    assert f"All {len(STAMPED)} notebooks carry" in capsys.readouterr().out


def test_stamp_check_names_every_notebook_when_the_version_changes(tmp_path, capsys):
    """After a version bump, does --check exit 1, name each notebook and its pin, write nothing?"""
    course = _course_copy(tmp_path)
    init = course / "cnnkit" / "__init__.py"
    init.write_text(init.read_text().replace(f'"{__version__}"', '"9.8.7"'))
    before = _contents(course)
    assert _stamp(course, "--check") == 1
    captured = capsys.readouterr()
    repository, _ = _settings()
    for path in STAMPED:
        assert (f"{path}: Colab cell installs git+{repository}@v{__version__}, expected "
                f"git+{repository}@v9.8.7") in captured.err
    assert f"{len(STAMPED)} notebook(s) out of date. Fix: run `cnnkit course stamp`" in captured.out
    assert _contents(course) == before, "--check wrote nothing"


def test_stamp_check_names_the_notebook_whose_url_or_cell_is_wrong(tmp_path, capsys):
    """One notebook with a stale URL, one without its Colab cell: are exactly those two named?"""
    course = _course_copy(tmp_path)
    lecture = course / "notebooks" / "02-convolution-operation.ipynb"
    lecture.write_text(lecture.read_text().replace("github/cnnkit-course/", "github/someone-else/"))
    lab = course / "solutions" / "lab3-cifar10" / "lab3-cifar10.ipynb"
    notebook = json.loads(lab.read_text())
    del notebook["cells"][1]
    lab.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    assert _stamp(course, "--check") == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("notebooks/02-convolution-operation.ipynb: badge opens "
                               "https://colab.research.google.com/github/someone-else/")
    assert lines[1] == ("solutions/lab3-cifar10/lab3-cifar10.ipynb: no Colab setup cell after "
                        "the title cell")


def _set_repository(course: Path, url: str) -> None:
    """Change the course's Repository URL in its pyproject.toml."""
    pyproject = course / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("https://github.com/cnnkit-course/cnnkit", url))


def test_a_new_repository_url_is_stamped_in_place(tmp_path, capsys):
    """After the URL changes in pyproject.toml, are all badges and pins updated in place?"""
    course = _course_copy(tmp_path)
    _set_repository(course, "https://github.com/my-school/cnn-course")
    assert _stamp(course, "--check") == 1
    assert _stamp(course) == 0
    assert f"{len(STAMPED)} notebook(s) stamped" in capsys.readouterr().out
    assert _stamp(course, "--check") == 0
    for path in STAMPED:
        stamped, committed = _cells(course / path), _cells(path)
        assert [cell.get("id") for cell in stamped] == [cell.get("id") for cell in committed]
        assert "github/my-school/cnn-course/blob/main/" in _source(stamped[0])
        assert "git+https://github.com/my-school/cnn-course@v" in _source(stamped[1])


def test_stamping_is_idempotent(tmp_path, capsys):
    """Does stamping the repository change no byte, and bare notebooks stamped twice match it?"""
    course = _course_copy(tmp_path)
    committed = _contents(course)
    assert _stamp(course) == 0 and _contents(course) == committed
    assert f"0 notebook(s) stamped, {len(STAMPED)} already up to date" in capsys.readouterr().out
    for path in STAMPED:  # strip the badge and the Colab cell: as before the first stamp
        notebook = json.loads((course / path).read_text())
        del notebook["cells"][1]
        notebook["cells"][0]["source"] = notebook["cells"][0]["source"][2:]
        (course / path).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    assert _stamp(course) == 0 and _stamp(course) == 0
    assert _contents(course) == committed


def test_a_notebook_the_kit_does_not_know_is_refused(tmp_path, capsys):
    """Does a new notebook missing from the data table stop the stamp, saying where to add it?"""
    course = _course_copy(tmp_path)
    lectures = course / "notebooks"
    shutil.copy(lectures / "05-architectures.ipynb", lectures / "08-new.ipynb")
    assert _stamp(course) == 2
    assert re.search(r"Received .*08-new\.ipynb.*Fix: add it there", capsys.readouterr().err)


def test_a_repository_that_is_not_on_github_is_refused(tmp_path, capsys):
    """Does a non-GitHub Repository URL stop the stamp, saying what was received and expected?"""
    course = _course_copy(tmp_path)
    _set_repository(course, "https://gitlab.com/cnnkit-course/cnnkit")
    assert _stamp(course, "--check") == 2
    error = capsys.readouterr().err
    assert "Received Repository = 'https://gitlab.com/cnnkit-course/cnnkit'" in error
    assert "Expected a GitHub URL, https://github.com/OWNER/REPO" in error
