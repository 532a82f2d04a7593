"""cnnkit validate and cnnkit submit: what a student runs before handing in, and what collect accepts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from cnnkit.course.collect import collect
from cnnkit.student import SubmissionError, submit, validate
from cnnkit.student.validate import INSIDE_VALIDATION, validate_notebook
from tests.labcode import lab_points

ROOT = Path(__file__).resolve().parents[1]
LAB2_WEIGHTS = ["mnist_mlp.weights.h5", "mnist_convnet.weights.h5", "mnist_gap_convnet.weights.h5",
                "mnist_shift_convnet.weights.h5", "mnist_lenet.weights.h5"]


def _code_names(lab: str) -> set[str]:
    """The weights names that the solution's fit_or_load calls write (string literals or f-strings)."""
    text = "\n".join("".join(cell["source"]) for cell in
                     json.loads((ROOT / "solutions" / lab / f"{lab}.ipynb").read_text())["cells"])
    names = re.findall(r"fit_or_load\(\w+,\s*f?\"([^\"]+)\"", text)
    return {name.replace("{TRACK}", "offline") + ".weights.h5" for name in names}


@pytest.mark.parametrize("lab", ["lab1-convolution", "lab2-mnist", "lab3-cifar10", "lab4-transfer"])
def test_each_lab_lists_the_weights_its_training_cells_save(lab):
    """The notebook metadata `cnnkit.submit` names exactly what fit_or_load writes (graded track)."""
    for folder in ("solutions", "labs"):
        metadata = json.loads((ROOT / folder / lab / f"{lab}.ipynb").read_text())["metadata"]
        assert set(metadata.get("cnnkit", {}).get("submit", [])) == _code_names(lab), folder


@pytest.fixture
def lab2(tmp_path) -> Path:
    """A student's copy of Lab 2 with the weights files its training cells write."""
    folder = tmp_path / "lab2-mnist"
    folder.mkdir()
    shutil.copy(ROOT / "labs" / "lab2-mnist" / "lab2-mnist.ipynb", folder)
    for name in LAB2_WEIGHTS:
        (folder / name).write_bytes(b"weights of " + name.encode())
    (folder / "mnist_mlp.history.json").write_text('{"loss": [1.0]}')
    return folder


def test_submit_packs_the_notebook_and_weights_under_the_student_id(lab2):
    archive = submit(lab2, student="alice")
    assert archive == lab2 / "alice_lab2-mnist.zip"
    with zipfile.ZipFile(archive) as bundle:
        assert sorted(bundle.namelist()) == sorted(
            ["alice_lab2-mnist.ipynb", "alice_mnist_mlp.history.json"]
            + [f"alice_{name}" for name in LAB2_WEIGHTS])
        assert bundle.read("alice_mnist_convnet.weights.h5") == b"weights of mnist_convnet.weights.h5"


def test_submit_refuses_missing_weights_and_says_which(lab2):
    """A missing file is named, a smoke-profile look-alike is pointed out, and nothing is written."""
    (lab2 / "mnist_lenet.weights.h5").unlink()
    (lab2 / "mnist_lenet.smoke.weights.h5").write_bytes(b"smoke")
    with pytest.raises(SubmissionError, match=r"(?s)1 weights file.*mnist_lenet.weights.h5 "
                       r"\(mnist_lenet.smoke.weights.h5 is there, but it comes from the quick 'smoke'"
                       r".*Fix: run the notebook's training cells"):
        submit(lab2, student="alice")
    assert list(lab2.glob("*.zip")) == []


@pytest.mark.parametrize("student", ["", "alice_b", "a b", ".alice"])
def test_submit_refuses_student_ids_collect_cannot_read(lab2, student, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    with pytest.raises(SubmissionError, match="student id"):
        submit(lab2, student=student)


def test_submit_finds_the_lab_by_name_and_takes_the_hub_user(lab2, monkeypatch):
    monkeypatch.chdir(lab2.parent)
    monkeypatch.setenv("JUPYTERHUB_USER", "bob")
    assert submit("lab2-mnist").name == "bob_lab2-mnist.zip"
    with pytest.raises(SubmissionError, match="no notebook for 'lab9'"):
        submit("lab9")


def test_collect_accepts_submitted_archives_in_a_folder_or_inside_an_lms_zip(lab2, tmp_path):
    """A folder of `cnnkit submit` archives, or an LMS export that wraps them, lands per student."""
    archive = submit(lab2, student="alice")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(archive, inbox)
    report = collect(tmp_path / "course", "lab2-mnist", inbox)
    placed = tmp_path / "course" / "submitted" / "alice" / "lab2-mnist"
    assert report.unmatched == [] and sorted(report.collected) == ["alice"]
    assert sorted(path.name for path in placed.iterdir()) == sorted(
        ["lab2-mnist.ipynb", "mnist_mlp.history.json", "timestamp.txt", *LAB2_WEIGHTS])
    lms = tmp_path / "lms.zip"
    with zipfile.ZipFile(lms, "w") as bundle:
        bundle.write(archive, "alice_4242_alice_lab2-mnist.zip")
    assert sorted(collect(tmp_path / "course2", "lab2-mnist", lms).collected) == ["alice"]


def test_submit_command_exit_codes(lab2):
    run = subprocess.run([sys.executable, "-m", "cnnkit", "submit", str(lab2), "--student", "carol"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0 and "carol_lab2-mnist.zip" in run.stdout
    assert "part(s) look unfinished" in run.stderr and "it was packed all the same" in run.stderr
    (lab2 / "mnist_mlp.weights.h5").unlink()
    run = subprocess.run([sys.executable, "-m", "cnnkit", "submit", str(lab2), "--student", "carol"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 2 and "mnist_mlp.weights.h5" in run.stderr


def test_validate_is_skipped_inside_a_validation(monkeypatch, capsys):
    """A `cnnkit.validate()` cell in the notebook being validated must not start another run."""
    monkeypatch.setenv(INSIDE_VALIDATION, "1")
    assert validate("anything.ipynb") is None
    assert "skipped" in capsys.readouterr().out


def test_the_old_name_check_still_works_and_says_it_is_now_validate(monkeypatch, capsys):
    """Are `cnnkit.check()` and `cnnkit check` kept for one release, each naming the new word?"""
    import cnnkit
    from cnnkit.cli import main

    monkeypatch.setenv(INSIDE_VALIDATION, "1")
    with pytest.warns(FutureWarning, match=r"cnnkit.check\(\) is now cnnkit.validate\(\)"):
        assert cnnkit.check("anything.ipynb") is None
    capsys.readouterr()
    assert main(["check", "anything.ipynb"]) == 2
    error = capsys.readouterr().err
    assert "`cnnkit check` is now `cnnkit validate`" in error
    assert "cnnkit validate: no notebook at" in error


def test_validate_refuses_what_is_not_a_lab(tmp_path):
    """A missing file, a broken one, a lecture: is each refused with what to do?"""
    with pytest.raises(ValueError, match="no notebook at"):
        validate_notebook(tmp_path / "missing.ipynb")
    (tmp_path / "broken.ipynb").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable notebook"):
        validate_notebook(tmp_path / "broken.ipynb")
    shutil.copy(ROOT / "notebooks" / "02-convolution-operation.ipynb", tmp_path)
    with pytest.raises(ValueError, match="no nbgrader test cells"):
        validate_notebook(tmp_path / "02-convolution-operation.ipynb")


@pytest.mark.slow
def test_validate_reports_each_exercise_of_a_half_done_lab1(tmp_path):
    """Two exercises solved (from the solution), the rest untouched: a table with both outcomes."""
    solution = nbformat.read(ROOT / "solutions" / "lab1-convolution" / "lab1-convolution.ipynb", 4)
    student = nbformat.read(ROOT / "labs" / "lab1-convolution" / "lab1-convolution.ipynb", 4)
    solved = {cell.metadata.nbgrader.grade_id: cell.source for cell in solution.cells
              if cell.metadata.get("nbgrader", {}).get("grade_id") in ("conv_output_size", "conv_params")}
    for cell in student.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in solved:
            cell.source = solved[cell.metadata.nbgrader.grade_id]
    notebook = tmp_path / "lab1-convolution.ipynb"
    nbformat.write(student, notebook)
    run = subprocess.run([sys.executable, "-m", "cnnkit", "validate", str(notebook)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 1, run.stderr[-2000:]
    rows = {line.split()[0]: line for line in run.stdout.splitlines() if line.startswith("test_")}
    assert "passed" in rows["test_conv_output_size"] and "2/2" in rows["test_conv_output_size"]
    assert "passed" in rows["test_conv_params"]
    assert "FAILED  not written yet: replace `raise NotImplementedError()`" in rows["test_pad2d"]
    pad2d_cell = next(index + 1 for index, cell in enumerate(student.cells)
                      if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_pad2d")
    assert re.search(rf"\s{pad2d_cell}\s+FAILED", rows["test_pad2d"]), "JupyterLab's cell number"
    assert "0/3" in rows["test_conv2d_naive"]
    assert f"visible tests: 3 of {lab_points('lab1-convolution')[0]:g} points" in run.stdout
    assert all(not cell.get("outputs") for cell in nbformat.read(notebook, 4).cells), "left unchanged"


def test_collect_refuses_an_archive_that_names_another_student(lab2, tmp_path):
    """bob's archive holding alice's files must not overwrite alice's submission."""
    archive = submit(lab2, student="alice")
    inbox = tmp_path / "inbox"
    (inbox / "bob").mkdir(parents=True)
    shutil.copy(archive, inbox / "bob_lab2-mnist.zip")
    shutil.copy(archive, inbox / "bob" / "my-work.zip")
    report = collect(tmp_path / "course", "lab2-mnist", inbox)
    assert report.collected == {}
    assert len(report.unmatched) == 2 * (2 + len(LAB2_WEIGHTS))  # notebook, history, weights
    assert all("but the archive is 'bob'" in line for line in report.unmatched)


def test_collect_opens_archives_in_student_folders_and_reports_duplicates(lab2, tmp_path):
    archive = submit(lab2, student="alice")
    inbox = tmp_path / "inbox"
    (inbox / "alice").mkdir(parents=True)
    shutil.copy(archive, inbox / "alice")
    shutil.copy(archive, inbox / "alice_lab2-mnist.zip")
    report = collect(tmp_path / "course", "lab2-mnist", inbox)
    placed = tmp_path / "course" / "submitted" / "alice" / "lab2-mnist"
    assert (placed / "lab2-mnist.ipynb").is_file() and not (placed / "alice_lab2-mnist.zip").exists()
    assert "alice/lab2-mnist.ipynb" in report.replaced and "came twice" in report.text()


def test_validate_counts_partial_credit_and_refuses_to_nest(tmp_path, monkeypatch):
    """A test cell whose value is a number earns that many points (nbgrader's rule)."""
    from cnnkit.student.results import TestResult, earned_points, partial_credit

    cell = {"outputs": [{"output_type": "execute_result", "data": {"text/plain": "0.5"}}]}
    assert partial_credit(cell) == 0.5
    assert earned_points(TestResult("t", "", 2.0, True, "", 0.5)) == 0.5
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    notebook = tmp_path / "lab2-mnist.ipynb"
    shutil.copy(ROOT / "labs" / "lab2-mnist" / "lab2-mnist.ipynb", notebook)
    with pytest.raises(ValueError, match="refused while the notebook is being validated or graded"):
        validate_notebook(notebook)


def test_on_colab_submit_fetches_the_open_notebook(lab2, monkeypatch):
    """Colab keeps the notebook in Drive: submit writes the page's copy beside the weights."""
    import types

    (lab2 / "lab2-mnist.ipynb").rename(lab2 / "in-drive.ipynb")
    page = json.loads((lab2 / "in-drive.ipynb").read_text())
    message = types.SimpleNamespace(blocking_request=lambda request, timeout_sec: {"ipynb": page})
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.SimpleNamespace(_message=message))
    monkeypatch.chdir(lab2)
    archive = submit("lab2-mnist", student="dana")
    with zipfile.ZipFile(archive) as bundle:
        assert json.loads(bundle.read("dana_lab2-mnist.ipynb")) == page
    message.blocking_request = lambda request, timeout_sec: None
    (lab2 / "lab2-mnist.ipynb").unlink()
    with pytest.raises(SubmissionError, match="Colab did not hand over the notebook"):
        submit("lab2-mnist", student="dana")


def test_validate_lists_the_written_answers_still_blank(tmp_path, capfd):
    """A lab with one answered and one blank written answer: does the table say which is blank?
    And the kernel is quiet: no "running over TCP without encryption" (it uses Unix sockets)."""
    notebook = nbformat.v4.new_notebook()
    answer = {"grade": True, "solution": True, "points": 2, "schema_version": 3, "locked": False}
    test = {"grade": True, "solution": False, "points": 1, "schema_version": 3, "locked": True}
    notebook.cells = [
        nbformat.v4.new_code_cell('"""Check one."""\nassert 1 == 1', metadata={
            "nbgrader": {**test, "grade_id": "test_one"}}),
        nbformat.v4.new_markdown_cell("Pooling drops position.", metadata={
            "nbgrader": {**answer, "grade_id": "explain_pooling"}}),
        nbformat.v4.new_markdown_cell("YOUR ANSWER HERE", metadata={
            "nbgrader": {**answer, "grade_id": "explain_speed"}})]
    nbformat.write(notebook, tmp_path / "lab.ipynb")
    report = validate_notebook(tmp_path / "lab.ipynb")
    assert (report.earned, report.possible, report.unanswered) == (1.0, 1.0, ["explain_speed"])
    assert ("written answers: 4 more points, graded by your instructor; not written yet: "
            "explain_speed.") in report.table()
    assert "without encryption" not in capfd.readouterr().err


def test_a_long_reason_is_never_cut_and_its_hint_has_a_line_of_its_own():
    """A check's message of 300 characters ending in a hint: every word reaches the table."""
    from cnnkit.student.results import TestResult, ValidationReport

    hint = ("your result is a true convolution (flipped kernel): tf.nn.conv2d and this lab "
            "compute a cross-correlation, so slide the kernel as it is, without flipping it.")
    reason = ("AssertionError: conv2d_naive(x, w, b) with x (1, 5, 5, 1), w (3, 3, 1, 1): 9 of 9 "
              "values differ; first at index (0, 0, 0, 0): expected 4, got -2. Hint: " + hint)
    report = ValidationReport(Path("lab.ipynb"), [TestResult("test_conv2d_naive", "Check conv2d_naive",
                                                             3.0, False, reason)])
    table = report.table()
    joined = " ".join(table.split())
    assert " ".join(hint.split()) in joined and "…" not in table
    hint_line = next(line for line in table.splitlines() if "hint:" in line)
    assert hint_line.strip().startswith("hint: your result is a true convolution")


def test_submit_names_each_unfinished_part_by_its_cell(lab2):
    """The untouched release: each exercise, prediction and written answer is listed with
    JupyterLab's 1-based cell number and its grade id; a failed test cell's last run too."""
    from cnnkit.student.submit import unfinished_work

    notebook = lab2 / "lab2-mnist.ipynb"
    document = nbformat.read(notebook, 4)
    numbers = {cell.metadata.get("nbgrader", {}).get("grade_id"): index + 1
               for index, cell in enumerate(document.cells)}
    found = unfinished_work(notebook)
    assert f"cell {numbers['build_mlp']} (build_mlp): not written yet" in found
    assert any("prediction not written yet" in line for line in found)
    assert any("written answer not written yet" in line for line in found)
    test = next(cell for cell in document.cells
                if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_build_mlp")
    test.outputs = [nbformat.v4.new_output("error", ename="NotImplementedError", evalue="",
                                           traceback=[])]
    nbformat.write(document, notebook)
    assert (f"cell {numbers['test_build_mlp']} (test_build_mlp): failed (NotImplementedError) "
            "when you last ran it") in unfinished_work(notebook)
