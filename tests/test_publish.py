"""`cnnkit course publish`: the student edition holds no solution or hidden test, and it runs.

A copy of this checkout plays the instructors' repository, with its Repository address set to a
course on GitHub and its student remote to a local bare repository standing in for GitHub; the
edition is pushed there with its tag, cloned as a student would, audited, and started.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cnnkit.course.publish import (
    PublishError,
    audit_edition,
    publish_edition,
    solution_blocks,
    solution_lines,
    write_edition,
)

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("cnnkit", "labs", "notebooks", "solutions", "data/README.md", "environment.yml", "kit",
          "pyproject.toml", "README.md", "nbgrader_config.py", ".gitignore", "tests/labcode.py")
REPOSITORY = "https://github.com/acme/cnn-course"


def _cnnkit(course: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnkit", "course", "--course", str(course), *args],
                          capture_output=True, text=True, timeout=600)


def _copy_course(folder: Path) -> Path:
    """This checkout's course files (COPIED) in ``folder``, as they are."""
    for name in COPIED:
        source, target = ROOT / name, folder / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return folder


def _instructor_copy(folder: Path, remote: Path | None = None) -> Path:
    """This checkout's course files in ``folder``, addressed to REPOSITORY and stamped for it."""
    _copy_course(folder)
    pyproject = folder / "pyproject.toml"
    text = pyproject.read_text().replace('Repository = "https://github.com/cnnkit-course/cnnkit"',
                                         f'Repository = "{REPOSITORY}"')
    if remote is not None:
        text = text.replace("[tool.cnnkit]\n", f'[tool.cnnkit]\nstudent_remote = "{remote}"\n')
    pyproject.write_text(text)
    for step in (("stamp",), ("build",)):
        result = _cnnkit(folder, *step)
        assert result.returncode == 0, result.stdout + result.stderr
    return folder


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """The edition pushed to a bare repository, and a student's clone of it."""
    base = tmp_path_factory.mktemp("publish")
    remote = base / "student.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(remote)],
                   check=True)  # as GitHub makes one
    course = _instructor_copy(base / "course", remote)
    result = _cnnkit(course, "publish", "--push")
    assert result.returncode == 0, result.stdout + result.stderr
    clone = base / "student"
    subprocess.run(["git", "clone", "--quiet", "--branch", "main", str(remote), str(clone)], check=True)
    return course, remote, clone, result.stdout


@pytest.mark.slow
def test_the_edition_holds_the_labs_and_no_solution_hidden_test_or_suite(published):
    """What a student clones: labs, lectures, the package, kit; no solutions, tests or bench, and
    not one line of solution or hidden-test code anywhere (the audit, then a grep of our own)."""
    course, _, clone, _ = published
    for present in ("labs/lab1-convolution/lab1-convolution.ipynb",
                    "notebooks/03-convolution-arithmetic.ipynb",
                    "cnnkit/__init__.py", "cnnkit/weights/digits_source_model.weights.h5", "kit",
                    "environment.yml", "pyproject.toml", "README.md"):
        assert (clone / present).is_file(), present
    for absent in ("solutions", "tests", "bench", ".ci", "nbgrader_config.py"):
        assert not (clone / absent).exists(), absent
    assert audit_edition(course, clone) == []
    text = "\n".join(path.read_text(errors="replace") for path in clone.rglob("*.ipynb"))
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    for lab, blocks in solution_blocks(course).items():  # each lab's own lines, in its notebook
        telling = set().union(*blocks)
        assert len(telling) > 20, f"{lab}: too few solution lines to make the grep meaningful"
        cells = json.loads((clone / "labs" / lab / f"{lab}.ipynb").read_text())["cells"]
        shown = {line.strip() for cell in cells for line in "".join(cell["source"]).splitlines()}
        assert telling & shown == set(), lab
    for lab in (path for path in (clone / "labs").iterdir() if path.is_dir()):
        assert (lab / f"{lab.name}.ipynb").read_bytes() == \
            (course / "labs" / lab.name / f"{lab.name}.ipynb").read_bytes()
    readme = (clone / "README.md").read_text()
    assert readme.startswith("# cnnkit — the student edition") and "## For instructors" not in readme
    assert re.search(r"\]\(bench/", (course / "README.md").read_text()), "nothing to strip"
    links = re.findall(r"\]\(([^)#:]+)\)", readme)  # relative links: none may point nowhere
    assert [link for link in links if not (clone / link).exists()] == []


@pytest.mark.slow
def test_the_tag_the_colab_cells_install_is_on_the_student_repository(published):
    """Every notebook's Colab cell installs git+REPOSITORY@vVERSION: is that tag there, on the
    published commit? Publishing the same edition again changes nothing."""
    from cnnkit import __version__

    course, remote, clone, _ = published
    tags = subprocess.run(["git", "ls-remote", "--tags", str(remote)], capture_output=True,
                          text=True, check=True).stdout
    assert f"refs/tags/v{__version__}" in tags
    head = subprocess.run(["git", "-C", str(clone), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert head in tags
    cell = json.loads((clone / "labs/lab2-mnist/lab2-mnist.ipynb").read_text())["cells"][1]
    assert f"git+{REPOSITORY}@v{__version__}" in "".join(cell["source"])
    again = _cnnkit(course, "publish", "--push")
    assert again.returncode == 0 and "unchanged" in again.stdout, again.stdout + again.stderr


def test_one_solution_line_in_a_released_lab_is_a_leak(tmp_path):
    """A single telling line of Lab 1's solutions, in Lab 1's released notebook, is found; the
    same line in a lecture (alone) is ordinary code there."""
    edition = write_edition(ROOT, tmp_path / "edition")
    line = sorted(next(block for block in solution_blocks(ROOT)["lab1-convolution"] if block))[0]
    for relative in ("labs/lab1-convolution/lab1-convolution.ipynb",
                     "notebooks/03-convolution-arithmetic.ipynb"):
        notebook = json.loads((edition.folder / relative).read_text())
        notebook["cells"].append({"cell_type": "code", "metadata": {}, "source": line,
                                  "outputs": [], "execution_count": None})
        (edition.folder / relative).write_text(json.dumps(notebook))
    assert audit_edition(ROOT, edition.folder) == [
        f"labs/lab1-convolution/lab1-convolution.ipynb: contains lab1-convolution's solution line "
        f"{line[:80]!r}"]


@pytest.mark.slow
def test_a_changed_edition_under_the_same_version_is_refused(published, tmp_path):
    """A solution notebook edited after publishing: the same tag would now install other code."""
    course, _, _, _ = published
    readme = course / "README.md"
    original = readme.read_text()
    readme.write_text(original.replace("## For students", "## For students\n\nNew words.", 1))
    try:
        refused = _cnnkit(course, "publish", "--push")
    finally:
        readme.write_text(original)
    assert refused.returncode == 1
    assert "already has v" in refused.stderr and "raise the version" in refused.stderr


@pytest.mark.slow
def test_publishing_refuses_the_placeholder_address_and_a_leak(tmp_path):
    """The placeholder Repository (Colab cells would install from nowhere) is refused unless it is a
    --preview; an edition that would carry a solution line is refused, and nothing is left."""
    course = _copy_course(tmp_path / "course")
    with pytest.raises(PublishError, match="still the placeholder"):
        publish_edition(course, tmp_path / "edition")
    block = next(sorted(block) for block in solution_blocks(course)["lab2-mnist"] if len(block) >= 3)
    lecture = course / "notebooks" / "03-convolution-arithmetic.ipynb"
    notebook = json.loads(lecture.read_text())
    notebook["cells"][-1]["source"] = "\n".join(block)  # a whole solution pasted in a lecture
    lecture.write_text(json.dumps(notebook))
    with pytest.raises(PublishError, match="would leak") as refusal:
        publish_edition(course, tmp_path / "edition", preview=True)
    assert "03-convolution-arithmetic.ipynb: contains lab2-mnist's solution line" in str(refusal.value)
    assert not (tmp_path / "edition").exists()


def test_an_occupied_folder_is_not_overwritten(tmp_path):
    """Writing into a folder that holds other files (not an earlier edition) is refused."""
    (tmp_path / "mine.txt").write_text("my work")
    with pytest.raises(PublishError, match="not empty"):
        write_edition(ROOT, tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "my work"


@pytest.mark.slow
def test_the_clone_runs_kit_test_and_kit_lab(published, real_mnist):
    """In the student's clone (this environment standing in for the one ./kit would build):
    `./kit test` checks the set-up with the doctor; `./kit lab` serves JupyterLab, opening on
    labs/ (tests/test_browser.py runs `cnnkit` in its kernels and terminals)."""
    _, _, clone, _ = published
    env = dict(os.environ, CNNKIT_VENV=str(Path(sys.executable).parents[1]),
               CNNKIT_DATA_DIR=str(real_mnist.parent), CNNKIT_PROFILE="smoke")
    doctor = subprocess.run(["./kit", "test"], cwd=clone, env=env, capture_output=True, text=True,
                            timeout=300)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "TensorFlow" in doctor.stdout and "student edition has no test suite" in doctor.stderr

    port, token = _free_port(), "studenttoken"
    server = subprocess.Popen(["./kit", "lab", f"--IdentityProvider.token={token}",
                               "--ServerApp.terminals_enabled=False"], cwd=clone,
                              env={**env, "PORT": str(port)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        contents = _wait_for(f"http://127.0.0.1:{port}/api/contents/labs?token={token}")
        assert {item["name"] for item in contents["content"]} >= {"lab1-convolution", "lab4-transfer"}
        top = _wait_for(f"http://127.0.0.1:{port}/api/contents?token={token}")
        assert "solutions" not in {item["name"] for item in top["content"]}
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/?token={token}", timeout=10)
        assert page.geturl().split("?")[0].endswith("/lab/tree/labs")
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_solution_lines_are_found_in_every_lab():
    """The audit's list of telling lines covers each lab's solution code."""
    telling = solution_lines(ROOT)
    for fragment in ("np.einsum", "layers.GlobalAveragePooling2D", "backbone.trainable = False"):
        assert any(fragment in line for line in telling), fragment
    assert all(len(line) >= 24 for line in telling)
    assert not any(re.fullmatch(r"\s*", line) for line in telling)
