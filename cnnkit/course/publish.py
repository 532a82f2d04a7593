"""The student edition: what students clone, generated from this (the instructor's) repository.

The instructor's repository holds the labs' solutions and hidden tests (`solutions/`), the test
suite and the benchmarks; students must never get them. `publish_edition` copies only what a
student needs (the released labs, the lecture notebooks, the `cnnkit` package, `kit`, the
environment files and a student README), audits the copy for any solution or hidden-test text,
and writes it to a folder, to a branch of this repository, or to the student repository that the
Colab badges and setup cells point to (with the tag ``vVERSION`` that the setup cells install).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cnnkit.course.colab import read_settings
from cnnkit.course.release import LEAK_MARKERS, audit_release, stale_labs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# What a student gets, relative to the repository root (folders are copied whole, minus caches).
EDITION_PATHS = ("labs", "notebooks", "cnnkit", "data/README.md", "environment.yml", "kit",
                 "pyproject.toml", ".gitignore")
NEVER_PUBLISHED = ("solutions", "tests", "bench", ".ci", "nbgrader_config.py")
SKIPPED_NAMES = ("__pycache__", ".ipynb_checkpoints", "*.pyc", "*.weights.h5", "*.history.json")
KEPT_WEIGHTS = "cnnkit/weights"  # the shipped backbone: the one set of weights students need
PLACEHOLDER_REPOSITORY = "https://github.com/cnnkit-course/cnnkit"
EDITION_MARKER = ".cnnkit-student-edition"  # a folder holding it may be overwritten
STUDENT_README_START = "<!-- student edition: start -->"
STUDENT_README_END = "<!-- student edition: end -->"
MIN_SOLUTION_LINE = 24  # shorter solution lines ("return x") also occur in ordinary code


class PublishError(RuntimeError):
    """Publishing was refused; the message says why and what to do."""


@dataclass
class Edition:
    """A student edition written to ``folder``: its files and where it went."""

    folder: Path
    files: list[str] = field(default_factory=list)
    destination: str = ""
    warnings: list[str] = field(default_factory=list)


def student_remote(root: Path) -> str:
    """Where `--push` sends the edition: ``[tool.cnnkit] student_remote``, else Repository.git."""
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    remote = config.get("tool", {}).get("cnnkit", {}).get("student_remote")
    return str(remote) if remote else read_settings(root).repository + ".git"


BLOCK = re.compile(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END (?:SOLUTION|HIDDEN TESTS)",
                   flags=re.DOTALL)
LECTURE_MATCHES = 3  # telling lines of one block that make a lecture or other file a leak


def _cell_text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def solution_blocks(root: Path) -> dict[str, list[set[str]]]:
    """Per lab, the telling lines of each solution or hidden-test block: lines long enough to be
    distinctive that the lab does not also show students (outside its blocks, or as starter
    code)."""
    blocks: dict[str, list[set[str]]] = {}
    for notebook in sorted((root / "solutions").glob("*/*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        public = set()
        for cell in cells:
            shown = BLOCK.sub("", _cell_text(cell))
            shown += "".join(cell.get("metadata", {}).get("cnnkit", {}).get("starter", []))
            public |= {line.strip() for line in shown.splitlines()}
        blocks[notebook.parent.name] = [
            {line.strip() for line in block.splitlines()
             if len(line.strip()) >= MIN_SOLUTION_LINE and line.strip() not in public}
            for cell in cells for block in BLOCK.findall(_cell_text(cell))]
    return blocks


def solution_lines(root: Path) -> set[str]:
    """Every telling line of every lab's solutions and hidden tests (see `solution_blocks`)."""
    return {line for lab in solution_blocks(root).values() for block in lab for line in block}


def audit_edition(root: Path, folder: Path) -> list[str]:
    """The leaks in an edition at ``folder``: forbidden paths, nbgrader markers, and solution
    code: in a lab's own notebook any telling line of its blocks; elsewhere (lectures, the
    package, the README) several telling lines of one block."""
    problems = [f"{name} is in the edition" for name in NEVER_PUBLISHED if (folder / name).exists()]
    blocks = solution_blocks(root)
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or ".git" in path.relative_to(folder).parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # weights and other binary files hold no source text
        relative = path.relative_to(folder)
        problems += [f"{relative}: contains '{marker}'" for marker in LEAK_MARKERS
                     if marker in text and not _quotes_marker(relative)]
        lab = relative.parts[1] if relative.parts[0] == "labs" and len(relative.parts) > 2 else None
        lines, reported = _stripped_lines(path, text), set()
        for name, lab_blocks in blocks.items():
            for block in lab_blocks:
                found = sorted(block & lines)
                if found and found[0] not in reported and (
                        name == lab or len(found) >= min(LECTURE_MATCHES, len(block) + 1)):
                    reported.add(found[0])
                    problems.append(f"{relative}: contains {name}'s solution line {found[0][:80]!r}")
    return problems


def _stripped_lines(path: Path, text: str) -> set[str]:
    """The lines of a file as a reader sees them: a notebook's cell sources, else its text."""
    if path.suffix == ".ipynb":
        try:
            text = "\n".join(_cell_text(cell) for cell in json.loads(text).get("cells", []))
        except (ValueError, AttributeError):
            pass  # not a notebook after all: its raw text is what a reader sees
    return {line.strip() for line in text.splitlines()}


def _quotes_marker(relative: Path) -> bool:
    """The kit's own code names the markers (to find or audit them); only notebooks must not."""
    return relative.parts[0] == "cnnkit" and relative.suffix == ".py"


def write_edition(root: Path, folder: Path) -> Edition:
    """Copy the student edition of ``root`` into ``folder`` (created; an old edition replaced)."""
    root, folder = Path(root).resolve(), Path(folder).resolve()
    if folder.exists() and any(folder.iterdir()):
        if not (folder / EDITION_MARKER).is_file():
            raise PublishError(f"Received destination {folder}, which is not empty. Expected a new "
                               "folder or an earlier student edition. Fix: choose another folder.")
        for child in folder.iterdir():
            if child.name != ".git":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns(*SKIPPED_NAMES)
    for name in EDITION_PATHS:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=ignore, dirs_exist_ok=True)
        elif source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    for weights in (root / KEPT_WEIGHTS).glob("*.weights.h5"):
        shutil.copy2(weights, folder / KEPT_WEIGHTS / weights.name)
    (folder / "README.md").write_text(student_readme(root), encoding="utf-8")
    (folder / EDITION_MARKER).write_text(
        "This folder is generated by `cnnkit course publish` from the instructors' repository.\n",
        encoding="utf-8")
    files = sorted(str(path.relative_to(folder)) for path in folder.rglob("*")
                   if path.is_file() and ".git" not in path.relative_to(folder).parts)
    return Edition(folder, files)


def student_readme(root: Path) -> str:
    """The student README: the part of the instructors' README between the edition's markers."""
    text = (root / "README.md").read_text(encoding="utf-8")
    start, end = text.find(STUDENT_README_START), text.find(STUDENT_README_END)
    if start < 0 or end < start:
        raise PublishError(f"README.md has no '{STUDENT_README_START}' ... "
                           f"'{STUDENT_README_END}' section. Fix: mark the students' part of it.")
    body = text[start + len(STUDENT_README_START):end].strip()
    # Links into what stays with the instructors (benchmarks, tests) keep their text only.
    never = "|".join(NEVER_PUBLISHED)
    body = re.sub(rf"\[([^\]]+)\]\((?:{never})/[^)]*\)", r"\1", body)
    return ("# cnnkit — the student edition\n\n"
            "Lecture notebooks and four graded labs on convolutional neural networks, with the\n"
            "`cnnkit` package they import. On a fresh Linux machine with Python 3.10+:\n\n"
            "```bash\n./kit lab     # set up .venv, start JupyterLab on labs/\n"
            "./kit test    # set up .venv and check it: versions, data cache, whether the kit runs\n```\n\n"
            f"{body}\n")


def check_publishable(root: Path, preview: bool) -> list[str]:
    """Refusals before anything is written: an out-of-date release, or a Colab set-up that would
    break (the placeholder address, notebooks stamped for another address or version)."""
    from cnnkit.course.colab import stamp_course

    problems = audit_release(root)
    problems += [f"labs/{lab} is out of date: run `./kit labs` and commit" for lab in stale_labs(root)]
    settings = read_settings(root)
    if settings.repository == PLACEHOLDER_REPOSITORY and not preview:
        problems.append(f"pyproject.toml's Repository is still the placeholder {settings.repository}:"
                        " Colab badges and setup cells would point nowhere. Fix: set [project.urls]"
                        " Repository to the student repository, run `cnnkit course stamp` and "
                        "`./kit labs`; or publish with --preview for a folder to look at.")
    stale = [result.path.name for result in stamp_course(root, check=True) if result.changed]
    if stale:
        problems.append(f"the Colab cells of {', '.join(stale)} are out of date: run `cnnkit course "
                        "stamp`, then `./kit labs`")
    return problems


def publish_edition(root: Path, destination: Path | None = None, *, branch: str | None = None,
                    push: bool = False, preview: bool = False) -> Edition:
    """Write the student edition to a folder, a branch of ``root``'s repository, or the student
    remote (with the tag the Colab setup cells install).

    Raises:
        PublishError: a refusal (leak, stale release, placeholder address, tag clash), or git failed.
    """
    root = Path(root).resolve()
    problems = check_publishable(root, preview)
    if problems:
        raise PublishError("refusing to publish:\n  " + "\n  ".join(problems))
    settings = read_settings(root)
    with tempfile.TemporaryDirectory(prefix="cnnkit-edition-") as scratch:
        folder = Path(destination) if destination else Path(scratch) / "edition"
        edition = write_edition(root, folder)
        leaks = audit_edition(root, edition.folder)
        if leaks:
            shutil.rmtree(edition.folder, ignore_errors=True)
            raise PublishError("refusing to publish, the edition would leak:\n  " + "\n  ".join(leaks))
        edition.destination = str(edition.folder)
        repository = Path(scratch) / "git"
        if branch:
            _commit(edition.folder, repository / "branch", settings.version, (str(root), branch))
            _git(root, "fetch", "--quiet", str(repository / "branch"), f"HEAD:refs/heads/{branch}")
            edition.destination = f"branch {branch} of {root}"
        if push:
            remote = student_remote(root)
            commit = _commit(edition.folder, repository / "push", settings.version,
                             (remote, settings.branch))
            edition.destination = _push(remote, repository / "push", commit, settings.version,
                                        settings.branch)
        return edition


def _git(where: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True)
    if result.returncode:
        raise PublishError(f"git {' '.join(args)} failed in {where}: "
                           f"{(result.stderr or result.stdout).strip()}")
    return result.stdout.strip()


def _commit(folder: Path, repository: Path, version: str, parent: tuple[str, str]) -> str:
    """Commit ``folder``'s files in a fresh repository at ``repository``, on top of the branch
    ``parent`` = (repository URL or path, branch) when it exists, so that students' clones can
    pull; return the commit (the parent itself when nothing changed)."""
    repository.mkdir(parents=True)
    _git(repository, "init", "--quiet")
    for key, value in (("user.name", "cnnkit publish"), ("user.email", "cnnkit@localhost")):
        _git(repository, "config", key, value)
    source, branch = parent
    fetched = subprocess.run(["git", "fetch", "--quiet", source, f"refs/heads/{branch}"],
                             cwd=repository, capture_output=True, text=True)
    if fetched.returncode == 0:
        _git(repository, "reset", "--quiet", "--soft", "FETCH_HEAD")
    work_tree = f"--work-tree={folder}"
    _git(repository, work_tree, "add", "--all", ".")
    if fetched.returncode == 0 and not _git(repository, work_tree, "status", "--porcelain"):
        return _git(repository, "rev-parse", "HEAD")
    _git(repository, work_tree, "commit", "--quiet", "-m", f"Student edition of cnnkit {version}")
    return _git(repository, "rev-parse", "HEAD")


def _push(remote: str, repository: Path, commit: str, version: str, branch: str) -> str:
    """Push the edition to ``remote``'s ``branch``, tagged vVERSION; return where it went."""
    tag = f"v{version}"
    existing = subprocess.run(["git", "ls-remote", "--tags", remote, f"refs/tags/{tag}"],
                              capture_output=True, text=True, cwd=repository)
    if existing.returncode:
        raise PublishError(f"cannot reach the student repository {remote}: "
                           f"{existing.stderr.strip()}. Fix: create it, or set [tool.cnnkit] "
                           "student_remote in pyproject.toml.")
    if existing.stdout.strip():
        _git(repository, "fetch", "--quiet", remote, f"refs/tags/{tag}:refs/tags/{tag}")
        if _git(repository, "rev-parse", f"{tag}^{{tree}}") != \
                _git(repository, "rev-parse", f"{commit}^{{tree}}"):
            raise PublishError(f"{remote} already has {tag} with other content, and the Colab "
                               f"cells of every published notebook install {tag}. Fix: raise the "
                               "version (pyproject.toml and cnnkit/__init__.py), run `cnnkit course "
                               "stamp` and `./kit labs`, then publish again.")
        _git(repository, "push", "--quiet", remote, f"{commit}:refs/heads/{branch}")
        return f"{remote}, branch {branch} (unchanged: {tag} already holds this edition)"
    _git(repository, "tag", tag, commit)
    _git(repository, "push", "--quiet", remote, f"{commit}:refs/heads/{branch}", f"refs/tags/{tag}")
    if not _git(repository, "ls-remote", "--tags", remote, f"refs/tags/{tag}"):
        raise PublishError(f"pushed, but {remote} does not show {tag}; the Colab cells need it.")
    return f"{remote}, branch {branch}, tag {tag}"
