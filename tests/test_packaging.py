"""The project's own files agree: pyproject.toml vs environment.yml, README vs .ci/run."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _requirement(text: str) -> tuple[str, str]:
    """Split 'tensorflow>=2.16,<2.22' into a normalised (name, sorted specifiers)."""
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*(.*)$", text.split(";")[0])
    name, specifiers = match.group(1).lower().replace("_", "-"), match.group(2).replace(" ", "")
    return name, ",".join(sorted(filter(None, specifiers.split(","))))


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _conda_dependencies() -> dict[str, str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("dependencies:")
    conda = [line.strip()[2:] for line in lines[start + 1:]
             if re.match(r"^  - [A-Za-z]", line)]
    return dict(_requirement(item) for item in conda if item not in ("pip", "pip:"))


def test_environment_yml_matches_pyproject():
    """Does environment.yml pin the same packages, with the same bounds, as pyproject.toml?"""
    project = _pyproject()["project"]
    wanted = dict(_requirement(item) for item in project["dependencies"])
    wanted.update(_requirement(item) for item in project["optional-dependencies"]["test"]
                  if not item.startswith("tomli"))
    conda = _conda_dependencies()
    conda.pop("python")
    assert conda == wanted


def test_environment_yml_python_matches_requires_python():
    """Does environment.yml's Python lower bound equal requires-python?"""
    assert _pyproject()["project"]["requires-python"] in _conda_dependencies()["python"].split(",")


def test_gpu_extra_brings_the_cuda_build_on_linux():
    """Does the gpu extra ask for tensorflow[and-cuda] on Linux, with the same bounds?"""
    (gpu,) = _pyproject()["project"]["optional-dependencies"]["gpu"]
    assert gpu.startswith("tensorflow[and-cuda]>=2.16,<2.22") and "sys_platform == 'linux'" in gpu


def test_ci_runs_exactly_the_readme_test_command():
    """Is the README's test command the one .ci/run executes?"""
    readme_first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:40])
    assert "./kit test" in readme_first_screen and "./kit lab" in readme_first_screen
    assert re.search(r"^exec \./kit test$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)


def test_the_version_is_written_once_in_the_package():
    """Does pyproject.toml read the version from cnnkit/__init__.py, and the install agree?"""
    from importlib.metadata import version

    import cnnkit

    project = _pyproject()
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cnnkit.__version__"}
    assert version("cnnkit") == cnnkit.__version__
