"""Collect submissions into nbgrader's layout: from a folder per student, or from an LMS zip."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from cnnkit.student_ids import ID_PATTERN, RULE, is_student_id

# Typical LMS export names: "alice_1234_5678_lab1-convolution.ipynb", "bob_LATE_12_34_x.ipynb".
DEFAULT_PATTERN = rf"^(?P<student>{ID_PATTERN})_(?:late_)?(?:\d+_)*(?P<file>[^/]+)$"


@dataclass
class CollectReport:
    """What `collect` did: files placed per student, and files it could not match."""

    collected: dict[str, list[str]] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)

    def text(self) -> str:
        """A readable report for the instructor."""
        lines = [f"collected {sum(map(len, self.collected.values()))} file(s) for "
                 f"{len(self.collected)} student(s)"]
        lines += [f"  {student}: {', '.join(files)}" for student, files in sorted(self.collected.items())]
        if self.unmatched:
            lines.append(f"could not match {len(self.unmatched)} file(s) to a student "
                         "(rename them STUDENT_FILE, or pass --pattern):")
            lines += [f"  {name}" for name in self.unmatched]
        if self.replaced:
            lines.append(f"{len(self.replaced)} file(s) came twice; the later copy was kept:")
            lines += [f"  {name}" for name in self.replaced]
        return "\n".join(lines)


def _place(root: Path, lab: str, student: str, name: str, content: bytes, when: datetime,
           report: CollectReport) -> None:
    if not is_student_id(student):
        report.unmatched.append(f"{name} (student id {student!r}: expected {RULE})")
        return
    target = root / "submitted" / student / lab
    target.mkdir(parents=True, exist_ok=True)
    if PurePosixPath(name).name in report.collected.get(student, []):
        report.replaced.append(f"{student}/{PurePosixPath(name).name}")
    (target / PurePosixPath(name).name).write_bytes(content)
    (target / "timestamp.txt").write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
    report.collected.setdefault(student, []).append(PurePosixPath(name).name)


MAX_SUBMITTED_BYTES = 2 * 1024**3  # a student's archive, unpacked: far above any lab's weights


def _collect_submission(root: Path, lab: str, content: bytes, label: str, student: str | None,
                        when: datetime, matcher: re.Pattern, report: CollectReport) -> None:
    """Place the files of a `cnnkit submit` archive (`STUDENT_FILE` names, no nesting).

    ``student`` is the id the archive's own place gives (its name, its folder), if any: inner
    names for another student are refused. ``when`` is when the archive was handed in.
    """
    with zipfile.ZipFile(io.BytesIO(content)) as inner:
        members = [info for info in inner.infolist() if not info.is_dir()
                   and not PurePosixPath(info.filename).name.startswith(".")]
        if sum(info.file_size for info in members) > MAX_SUBMITTED_BYTES:
            report.unmatched.append(f"{label} (unpacks to more than {MAX_SUBMITTED_BYTES >> 30} GiB)")
            return
        for info in members:
            name = PurePosixPath(info.filename).name
            match = matcher.match(name)
            if match is None or name.lower().endswith(".zip"):
                report.unmatched.append(f"{label}: {info.filename}")
            elif student is not None and match["student"] != student:
                report.unmatched.append(f"{label}: {info.filename} (names {match['student']!r}, "
                                        f"but the archive is {student!r}'s)")
            else:
                _place(root, lab, match["student"], match["file"], inner.read(info), when, report)


def _is_zip(name: str, content: bytes) -> bool:
    return name.lower().endswith(".zip") and zipfile.is_zipfile(io.BytesIO(content))


def _collect_zip(root: Path, lab: str, bundle: zipfile.ZipFile, matcher: re.Pattern,
                 report: CollectReport) -> None:
    """Place every file of an LMS zip named by ``matcher``; a `cnnkit submit` archive is opened."""
    for info in bundle.infolist():
        name = PurePosixPath(info.filename).name
        if info.is_dir() or name.startswith("."):
            continue
        match = matcher.match(name)
        when = datetime(*info.date_time, tzinfo=timezone.utc)
        content = bundle.read(info)
        if _is_zip(name, content):
            _collect_submission(root, lab, content, info.filename, match and match["student"], when,
                                matcher, report)
        elif match is None:
            report.unmatched.append(info.filename)
        else:
            _place(root, lab, match["student"], match["file"], content, when, report)


def collect(root: Path, lab: str, source: Path, pattern: str = DEFAULT_PATTERN) -> CollectReport:
    """Copy submissions into ``root/submitted/STUDENT/LAB/``.

    Args:
        root: the course folder.
        lab: the lab, e.g. "lab1-convolution".
        source: a folder holding one sub-folder per student (named by the student id), and/or
            files named by ``pattern``; or a .zip exported by an LMS, named by ``pattern``. Zips
            inside either (the archives `cnnkit submit` writes) are opened and read the same way.
        pattern: a regular expression with groups ``student`` and ``file`` for flat file names.

    Returns:
        A `CollectReport`; unmatched files are listed, never guessed.
    """
    root, source, report = Path(root), Path(source), CollectReport()
    matcher = re.compile(pattern, re.IGNORECASE)
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as bundle:
            _collect_zip(root, lab, bundle, matcher, report)
        return report
    if not source.is_dir():
        raise ValueError(f"{source} is neither a folder nor a .zip file. Expected a folder with a "
                         "sub-folder per student, or the zip an LMS exports.")
    for entry in sorted(source.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            for file in sorted(p for p in entry.rglob("*") if p.is_file() and not p.is_symlink()):
                when = datetime.fromtimestamp(file.stat().st_mtime, tz=timezone.utc)
                content = file.read_bytes()
                if _is_zip(file.name, content):
                    _collect_submission(root, lab, content, f"{entry.name}/{file.name}", entry.name,
                                        when, matcher, report)
                else:
                    _place(root, lab, entry.name, file.name, content, when, report)
        elif _is_zip(entry.name, entry.read_bytes()):
            match = matcher.match(entry.name)
            when = datetime.fromtimestamp(entry.stat().st_mtime, tz=timezone.utc)
            _collect_submission(root, lab, entry.read_bytes(), entry.name, match and match["student"],
                                when, matcher, report)
        elif (match := matcher.match(entry.name)) is not None:
            when = datetime.fromtimestamp(entry.stat().st_mtime, tz=timezone.utc)
            _place(root, lab, match["student"], match["file"], entry.read_bytes(), when, report)
        else:
            report.unmatched.append(entry.name)
    return report
