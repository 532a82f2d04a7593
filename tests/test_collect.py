"""`cnnkit course collect`: submissions from a folder per student or an LMS zip, into nbgrader's layout."""

from __future__ import annotations

import zipfile

import pytest

from cnnkit.cli import main
from cnnkit.course import collect

LAB = "lab1-convolution"


def test_folder_per_student_is_copied_with_weights_and_a_timestamp(tmp_path):
    """Are a student's notebook and weights copied to submitted/STUDENT/LAB/ with a timestamp?"""
    source = tmp_path / "inbox"
    (source / "alice").mkdir(parents=True)
    (source / "alice" / f"{LAB}.ipynb").write_text("{}")
    (source / "alice" / "mnist_convnet.weights.h5").write_bytes(b"\x89HDF")
    report = collect(tmp_path / "course", LAB, source)
    folder = tmp_path / "course" / "submitted" / "alice" / LAB
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{LAB}.ipynb", "mnist_convnet.weights.h5", "timestamp.txt"]
    assert report.collected == {"alice": [f"{LAB}.ipynb", "mnist_convnet.weights.h5"]}
    assert report.unmatched == []


def test_lms_zip_is_matched_by_name_and_the_rest_reported(tmp_path, capsys):
    """Are LMS-style names matched to students, and unmatched or unsafe names reported?"""
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(f"alice_1234_5678_{LAB}.ipynb", "{}")
        bundle.writestr(f"bob_LATE_12_34_{LAB}.ipynb", "{}")
        bundle.writestr("README.txt", "instructions")
        bundle.writestr(f"../../etc/eve_1_{LAB}.ipynb", "{}")  # path parts are dropped
    code = main(["course", "--course", str(tmp_path / "course"), "collect", LAB, str(archive)])
    out = capsys.readouterr().out
    assert code == 1, "unmatched files make the exit status 1"
    assert "collected 3 file(s) for 3 student(s)" in out
    assert "could not match 1 file(s) to a student" in out and "README.txt" in out
    for student in ("alice", "bob", "eve"):
        assert (tmp_path / "course" / "submitted" / student / LAB / f"{LAB}.ipynb").is_file()
    assert not (tmp_path / "etc").exists()


def test_source_that_is_neither_folder_nor_zip_is_refused(tmp_path):
    """Is a plain file given as the source refused with what was expected?"""
    (tmp_path / "grades.csv").write_text("x")
    with pytest.raises(ValueError, match="neither a folder nor a .zip file"):
        collect(tmp_path / "course", LAB, tmp_path / "grades.csv")
