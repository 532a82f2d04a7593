"""Lab 2 on real MNIST: the release, a smoke run, a full-profile training run, and grading it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from labcode import collect_and_grade, execute, make_course, smoke_run, solution_namespace

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab2-mnist"
NOTEBOOK = f"{LAB}.ipynb"
MAX_POINTS = 20.0
WEIGHTS = ("mnist_mlp.weights.h5", "mnist_convnet.weights.h5", "mnist_lenet.weights.h5")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(path: Path, grade_id: str) -> str:
    return next("".join(cell["source"]) for cell in _cells(path)
                if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def test_release_holds_no_solution_and_the_broken_lenet_to_fix():
    """The student copy has stubs, no outputs, and LeNet's four bugs in place of its solution."""
    release = ROOT / "labs" / LAB / NOTEBOOK
    text = release.read_text()
    for solution_code in ("np.add.at(counts", "5 * 5 * 16,", "padding=\"same\", activation=\"relu\")"):
        assert solution_code not in text, f"the released lab contains {solution_code!r}"
    lenet = _source(release, "build_lenet")
    for bug in ("4 * 4 * 50", 'layers.Dense(84, activation="tanh")\n', '"sofmax"'):
        assert bug in lenet, f"the broken LeNet lost its bug {bug!r}"
    assert "return model" not in lenet
    assert '"starter"' not in text, "the starter metadata must not reach the student"


LENET_FIXES = {
    "flatten size": ("layers.Reshape((4 * 4 * 50,))", "layers.Reshape((5 * 5 * 16,))"),
    "layer without input": ('layers.Dense(84, activation="tanh")\n',
                            'layers.Dense(84, activation="tanh")(x)\n'),
    "activation name": ('"sofmax"', '"softmax"'),
    "missing return": ('name="lenet")', 'name="lenet")\n    return model'),
}


def _lenet_passes(source: str) -> bool:
    from cnnkit import checks

    namespace = dict(vars(solution_namespace(LAB, ("setup",))))
    exec(source, namespace)
    try:
        model = namespace["build_lenet"]()
        checks.check_parameter_count(model, 61_706, name="lenet")
        checks.check_probabilities(model, name="lenet")
    except Exception:  # noqa: BLE001 - any failure counts: the bug is still there
        return False
    return True


@pytest.mark.parametrize("left_in", [None, *LENET_FIXES])
def test_each_planted_lenet_bug_alone_breaks_it(left_in):
    """The starter LeNet with all four fixes passes; leave any one bug in and it fails."""
    source = _source(ROOT / "labs" / LAB / NOTEBOOK, "build_lenet")
    for bug, (broken, fixed) in LENET_FIXES.items():
        assert source.count(broken) == 1, f"{bug}: {broken!r} is not in the starter code once"
        if bug != left_in:
            source = source.replace(broken, fixed)
    assert _lenet_passes(source) == (left_in is None)


@pytest.mark.slow
@pytest.mark.real_data
def test_solution_runs_in_the_smoke_profile_in_under_two_minutes(tmp_path, real_mnist):
    """Smoke profile: every cell runs without an error, and the whole lab in under 2 minutes."""
    folder = smoke_run(LAB, tmp_path)
    assert {path.name for path in folder.glob("*.smoke.weights.h5")} == {
        name.replace(".weights", ".smoke.weights") for name in WEIGHTS}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, real_mnist):
    """The solution run in the full profile, as a student would before submitting."""
    folder = shutil.copytree(ROOT / "solutions" / LAB, tmp_path_factory.mktemp("student") / LAB)
    seconds, errors = execute(folder / NOTEBOOK, "full", timeout=900)
    print(f"full-profile run of the solution: {seconds:.0f} s")
    return folder, errors


@pytest.mark.slow
@pytest.mark.real_data
def test_full_profile_solution_meets_the_accuracy_bars(trained):
    """Trained for real, the solution's weights beat 97 % (MLP) and 98.5 % (ConvNet) on real MNIST."""
    import keras

    from cnnkit import checks
    from cnnkit.data import load_mnist

    folder, errors = trained
    assert errors == []
    lab = solution_namespace(LAB, ("setup", "build_mlp", "build_convnet"))
    images, labels = checks.grading_slice("mnist")
    _, test = load_mnist()
    bars = {"mlp": (lab.build_mlp, 0.97), "convnet": (lab.build_convnet, 0.985)}
    for name, (build, bar) in bars.items():
        model: keras.Model = build()
        model.load_weights(folder / f"mnist_{name}.weights.h5")
        on_slice = np.mean(model.predict(images, verbose=0).argmax(axis=1) == labels)
        on_test = np.mean(model.predict(test.images, verbose=0).argmax(axis=1) == test.labels)
        print(f"{name}: {on_slice:.2%} on the graded slice, {on_test:.2%} on the 10,000 test images")
        assert on_slice >= bar and on_test >= bar


@pytest.mark.slow
@pytest.mark.real_data
def test_round_trip_trained_solution_gets_full_marks_and_blank_release_gets_zero(trained, tmp_path):
    """cnnkit course grade: notebook + weights -> 20/20; the release with no weights -> 0/20;
    untrained MLP weights behind a switch to the smoke profile -> the MLP's 2 points lost."""
    import nbformat

    folder, _ = trained
    course = make_course(tmp_path / "course", LAB)
    inbox = tmp_path / "inbox"
    alice, bob, carol = inbox / "alice", inbox / "bob", inbox / "carol"
    for student in (alice, carol):
        student.mkdir(parents=True)
        for name in (NOTEBOOK, *WEIGHTS):
            shutil.copy(folder / name, student / name)
    bob.mkdir()
    shutil.copy(ROOT / "labs" / LAB / NOTEBOOK, bob / NOTEBOOK)
    notebook = nbformat.read(carol / NOTEBOOK, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell("%env CNNKIT_PROFILE=smoke"))
    nbformat.write(notebook, carol / NOTEBOOK)
    solution_namespace(LAB, ("setup", "build_mlp")).build_mlp().save_weights(
        carol / "mnist_mlp.weights.h5")

    graded, scores = collect_and_grade(course, LAB, inbox, ("alice", "bob", "carol"))
    assert scores == {"alice": (MAX_POINTS, MAX_POINTS), "bob": (0.0, MAX_POINTS),
                      "carol": (MAX_POINTS - 2, MAX_POINTS)}, graded.stdout
    assert "%env CNNKIT_PROFILE=smoke" in graded.stdout  # flagged for review
    autograded = (course / "autograded" / "alice" / LAB / NOTEBOOK).read_text()
    assert "Epoch 1/" not in autograded, "grading trained a model instead of loading the weights"
    assert "Epoch 1/" in (folder / NOTEBOOK).read_text()  # ...which the student's run did
