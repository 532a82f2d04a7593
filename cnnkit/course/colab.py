"""Colab for students: an "Open in Colab" badge and a Colab-only setup cell in every notebook.

`cnnkit course stamp` writes both into the lecture notebooks (``notebooks/*.ipynb``) and the labs'
sources (``solutions/LAB/LAB.ipynb``; ``./kit labs`` then carries them into ``labs/``):

- the badge, as the first line of the notebook's title cell, opens the *student* copy on Colab:
  ``https://colab.research.google.com/github/OWNER/REPO/blob/BRANCH/labs/LAB/LAB.ipynb``;
- the setup cell, right after the title cell, installs this release of cnnkit on Colab (from the
  git tag ``vVERSION``, with ``--no-deps`` so that Colab's own TensorFlow and Keras stay) and
  fetches the data sets the notebook reads. Anywhere else it prints one line and does nothing, so
  JupyterLab, the smoke runs and nbgrader's grading are unaffected. It is a plain code cell: no
  nbgrader metadata, no points.

The repository URL comes from one place, ``[project.urls] Repository`` in ``pyproject.toml``; the
branch from ``[tool.cnnkit] colab_branch``; the version from ``cnnkit/__init__.py``. Both cells are
recognised by their text (the badge's image link, the setup cell's first comment line), which
survives nbgrader, nbstripout and the release's metadata clean-up, so stamping again updates them
in place.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ImportError:  # reported when settings are read
        tomllib = None

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_PREFIX = f"[![Open In Colab]({BADGE_IMAGE})]"
COLAB_MARKER = "# Colab only:"  # the first line of the setup cell starts with this
COLAB_CELL_ID = "colab-setup"
DEFAULT_BRANCH = "main"
STAMP_FIX = "run `cnnkit course stamp`, then `./kit labs` to regenerate labs/"


@dataclass(frozen=True)
class ColabNeeds:
    """What a notebook's Colab setup cell fetches.

    Attributes:
        datasets: names for ``cnnkit data fetch``, in the order the notebook first reads them.
        note: one comment line above the fetch loop (e.g. a data set only one track reads).
    """

    datasets: tuple[str, ...] = ()
    note: str = ""


# The one list of the data sets each notebook reads (its `load_*` calls; Lab 4's offline track reads
# MNIST digits): the Colab cells fetch them, `course audit` skips a lab without them, and the
# tests skip a notebook whose data is not in the cache.
NOTEBOOK_NEEDS: dict[str, ColabNeeds] = {
    "01-why-convolutions": ColabNeeds(("mnist", "fashion_mnist")),
    "02-convolution-operation": ColabNeeds(),
    "03-convolution-arithmetic": ColabNeeds(),
    "04-pooling-and-invariance": ColabNeeds(("mnist", "fashion_mnist")),
    "05-architectures": ColabNeeds(("fashion_mnist",)),
    "06-what-cnns-learn": ColabNeeds(("fashion_mnist",)),
    "07-beyond-classification": ColabNeeds(("mnist", "fashion_mnist")),
    "lab1-convolution": ColabNeeds(("mnist",)),
    "lab2-mnist": ColabNeeds(("mnist",)),
    "lab3-cifar10": ColabNeeds(("cifar10",)),
    "lab4-transfer": ColabNeeds(("mnist",), note=(
        'TRACK = "imagenet" also reads the flower photos (a large download): add "flowers" here.')),
}


@dataclass(frozen=True)
class ColabSettings:
    """Where Colab finds the course, and which cnnkit release the notebooks pin.

    Attributes:
        repository: the GitHub URL, ``https://github.com/OWNER/REPO``.
        branch: the branch Colab opens the notebooks from.
        version: cnnkit's version; the setup cell installs the git tag ``v{version}``.
    """

    repository: str
    branch: str
    version: str

    @property
    def github_path(self) -> str:
        """``OWNER/REPO``."""
        return self.repository.removeprefix("https://github.com/")

    @property
    def install_target(self) -> str:
        """What ``pip install`` gets on Colab: ``git+https://github.com/OWNER/REPO@vVERSION``."""
        return f"git+{self.repository}@v{self.version}"


@dataclass(frozen=True)
class StampResult:
    """One notebook after stamping (or checking): its path and why it was out of date."""

    path: Path
    reasons: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.reasons)


def read_settings(root: Path) -> ColabSettings:
    """Read the repository URL, branch and version of the course checkout at ``root``.

    Raises:
        ValueError: ``pyproject.toml`` is missing, or names no GitHub repository.
    """
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        raise ValueError(f"Received course folder {root}, which has no pyproject.toml. Expected "
                         "the cnnkit repository's root. Fix: run it in the checkout, or pass "
                         "--course.")
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise ValueError("Reading pyproject.toml on Python 3.10 needs tomli. "
                         "Fix: pip install tomli.")
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    repository = str(config.get("project", {}).get("urls", {}).get("Repository", ""))
    branch = str(config.get("tool", {}).get("cnnkit", {}).get("colab_branch", DEFAULT_BRANCH))
    return ColabSettings(_github_url(repository), branch, read_version(root))


def _github_url(repository: str) -> str:
    url = repository.strip().rstrip("/").removesuffix(".git")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(
            f"Received Repository = {repository!r} in pyproject.toml's [project.urls]. Expected a "
            "GitHub URL, https://github.com/OWNER/REPO (Colab opens notebooks from GitHub). Fix: "
            "set it to the repository the course is published in.")
    return url


def read_version(root: Path) -> str:
    """Return ``__version__`` from ``root/cnnkit/__init__.py`` (else the installed cnnkit's)."""
    init = root / "cnnkit" / "__init__.py"
    if init.is_file():
        match = re.search(r'^__version__ = "([^"]+)"', init.read_text(encoding="utf-8"),
                          re.MULTILINE)
        if match:
            return match.group(1)
    from cnnkit import __version__

    return __version__


def student_path(root: Path, notebook: Path) -> str:
    """Return the path students open, relative to ``root``: ``solutions/X/Y`` -> ``labs/X/Y``."""
    relative = notebook.resolve().relative_to(root.resolve()).as_posix()
    if relative.startswith("solutions/"):
        return "labs/" + relative.removeprefix("solutions/")
    return relative


def badge_markdown(settings: ColabSettings, path: str) -> str:
    """Return the "Open in Colab" badge that opens ``path`` (relative to the repository)."""
    url = (f"https://colab.research.google.com/github/{settings.github_path}/blob/"
           f"{settings.branch}/{path}")
    return f"{BADGE_PREFIX}({url})"


def colab_cell_source(settings: ColabSettings, needs: ColabNeeds) -> str:
    """Return the setup cell's code: on Colab install cnnkit and fetch ``needs``, else nothing.

    A step that fails stops the cell with one plain sentence (what failed, pip's or the fetch's
    last line, and to tell the instructor) instead of a traceback.
    """
    what = f"install cnnkit {settings.version}" + (" and fetch the data" if needs.datasets else "")
    lines = [
        f"{COLAB_MARKER} {what}; anywhere else this cell does nothing.",
        "# (Written by `cnnkit course stamp`. --no-deps keeps Colab's own TensorFlow and Keras.)",
        "import subprocess",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        f'    steps = [("install cnnkit {settings.version} from {settings.repository}",',
        '              [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",',
        f'               "{settings.install_target}"])]',
    ]
    if needs.note:
        lines.append(f"    # {needs.note}")
    if needs.datasets:
        names = ", ".join(f'"{name}"' for name in needs.datasets)
        lines += ["    steps += [(f\"fetch the data set {name}\", [sys.executable, \"-m\", "
                  "\"cnnkit\", \"data\", \"fetch\", name])",
                  f"              for name in [{names}]]"]
    lines += [
        "    for what, command in steps:",
        "        done = subprocess.run(command, capture_output=True, text=True)",
        "        if done.returncode:",
        '            said = ((done.stderr or done.stdout).strip().splitlines() or ["no message"])[-1]',
        '            raise SystemExit(f"Could not {what} ({said}). Tell your instructor that this "',
        '                             "notebook\'s Colab set-up failed, with this message.")',
        "else:",
        '    print("Not on Colab: nothing to install, this cell is for Colab only.")']
    return "\n".join(lines)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _title_index(notebook: dict, path: Path | str = "the notebook") -> int:
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "markdown":
            return index
    raise ValueError(f"Received {path} with no markdown cell. Expected a title cell ('# Title') "
                     "for the Colab badge. Fix: add one at the top of the notebook.")


def _is_colab_cell(cell: dict) -> bool:
    return cell["cell_type"] == "code" and _source(cell).startswith(COLAB_MARKER)


def _without_badge(text: str) -> str:
    """The title cell's text with a leading badge line (and the blank lines after it) removed."""
    if not text.startswith(BADGE_PREFIX):
        return text
    return text.partition("\n")[2].lstrip("\n")


def _new_code_cell(notebook: dict) -> dict:
    """An empty code cell, with an id unique in ``notebook`` where its format (4.5+) has ids."""
    cell = {"cell_type": "code", "execution_count": None}
    if (notebook.get("nbformat", 4), notebook.get("nbformat_minor", 0)) >= (4, 5):
        taken = {other.get("id") for other in notebook["cells"]}
        cell["id"] = COLAB_CELL_ID
        while cell["id"] in taken:
            cell["id"] += "-1"
    cell.update(metadata={}, outputs=[], source=[])
    return cell


def stamp_notebook(notebook: dict, badge: str, colab_source: str, path: Path) -> dict:
    """Return a copy of ``notebook`` with ``badge`` atop its title cell and the Colab cell after it.

    A badge already there is replaced; Colab cells already there are removed, the first one
    becoming the new cell (its id and metadata kept), so stamping twice changes nothing.
    """
    stamped = json.loads(json.dumps(notebook))
    cells = stamped["cells"]
    title = cells[_title_index(stamped, path)]
    title["source"] = _lines(f"{badge}\n\n{_without_badge(_source(title))}")
    old = [cell for cell in cells if _is_colab_cell(cell)]
    cells[:] = [cell for cell in cells if not _is_colab_cell(cell)]
    colab = old[0] if old else _new_code_cell(stamped)
    colab.update(source=_lines(colab_source), outputs=[], execution_count=None)
    cells.insert(cells.index(title) + 1, colab)
    return stamped


def describe_drift(current: dict, expected: dict) -> list[str]:
    """Say, in words, how ``current`` differs from the stamped ``expected`` notebook."""
    want_title = _source(expected["cells"][_title_index(expected)])
    want_badge, want_cell = want_title.partition("\n")[0], colab_cell_of(expected)
    title_index = _title_index(current)
    have_title = _source(current["cells"][title_index])
    have_badge = have_title.partition("\n")[0] if have_title.startswith(BADGE_PREFIX) else ""
    reasons = []
    if not have_badge:
        reasons.append("no Open-in-Colab badge atop the title cell")
    elif have_badge != want_badge:
        reasons.append(f"badge opens {_link(have_badge)}, expected {_link(want_badge)}")
    positions = [i for i, cell in enumerate(current["cells"]) if _is_colab_cell(cell)]
    if not positions:
        return reasons + ["no Colab setup cell after the title cell"]
    have_cell = current["cells"][positions[0]]
    have_pin, want_pin = _install_target(_source(have_cell)), _install_target(want_cell)
    if have_pin != want_pin:
        reasons.append(f"Colab cell installs {have_pin}, expected {want_pin}")
    elif _source(have_cell) != want_cell:
        reasons.append("Colab cell differs from what `cnnkit course stamp` writes")
    if positions != [title_index + 1]:
        reasons.append("Colab cell is not (only) right after the title cell")
    if have_cell.get("outputs") or have_cell.get("execution_count"):
        reasons.append("Colab cell has outputs")
    return reasons or ["cells differ from what `cnnkit course stamp` writes"]


def colab_cell_of(notebook: dict) -> str:
    """Return the source of ``notebook``'s Colab setup cell, or ``""`` if it has none."""
    return next((_source(cell) for cell in notebook["cells"] if _is_colab_cell(cell)), "")


def _link(badge: str) -> str:
    return badge.removeprefix(BADGE_PREFIX).strip("()")


def _install_target(source: str) -> str:
    match = re.search(r'"(git\+[^"]+)"', source)
    return match.group(1) if match else "nothing"


def course_notebooks(root: Path) -> list[Path]:
    """The notebooks to stamp: ``notebooks/*.ipynb`` and ``solutions/*/*.ipynb`` (not ``labs/``)."""
    return sorted(root.glob("notebooks/*.ipynb")) + sorted(root.glob("solutions/*/*.ipynb"))


def needs_of(notebook: Path) -> ColabNeeds:
    """Return what ``notebook``'s Colab cell fetches (see `NOTEBOOK_NEEDS`)."""
    if notebook.stem not in NOTEBOOK_NEEDS:
        raise ValueError(
            f"Received {notebook}, which is not in cnnkit.course.colab.NOTEBOOK_NEEDS. Expected "
            f"one of: {', '.join(NOTEBOOK_NEEDS)}. Fix: add it there with the data sets it reads "
            "(ColabNeeds() for none).")
    return NOTEBOOK_NEEDS[notebook.stem]


def write_notebook(notebook: dict, path: Path) -> None:
    """Write ``notebook`` as Jupyter does: JSON indented by 1, UTF-8 kept, a final newline."""
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def stamp_course(root: Path, check: bool = False) -> list[StampResult]:
    """Stamp the badge and Colab cell into every course notebook; with ``check``, write nothing.

    Returns:
        One `StampResult` per notebook; ``reasons`` is empty for one that was already up to date.

    Raises:
        ValueError: the settings are missing or wrong, or a notebook is unknown or has no title.
    """
    settings = read_settings(root)
    results = []
    for path in course_notebooks(root):
        current = json.loads(path.read_text(encoding="utf-8"))
        expected = stamp_notebook(current, badge_markdown(settings, student_path(root, path)),
                                  colab_cell_source(settings, needs_of(path)), path)
        reasons = describe_drift(current, expected) if expected != current else []
        if reasons and not check:
            write_notebook(expected, path)
        results.append(StampResult(path, tuple(reasons)))
    return results
