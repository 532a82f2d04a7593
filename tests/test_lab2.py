"""Lab 2 on real MNIST: the release, a smoke run, a full-profile training run, and grading it."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from tests.labcode import (
    assert_round_trip,
    collect_and_grade,
    execute,
    lab_points,
    make_course,
    smoke_run,
    solution_namespace,
)

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab2-mnist"
NOTEBOOK = f"{LAB}.ipynb"
MAX_POINTS = 29.0  # 24 autograded + 5 for written answers (see test_points_add_up)
WEIGHTS = ("mnist_mlp.weights.h5", "mnist_convnet.weights.h5", "mnist_gap_convnet.weights.h5",
           "mnist_shift_convnet.weights.h5", "mnist_lenet.weights.h5")
PART_F_MODELS = {"mnist_gap_convnet": "build_gap_convnet",
                 "mnist_shift_convnet": "build_shift_trained_convnet"}


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(path: Path, grade_id: str) -> str:
    return next("".join(cell["source"]) for cell in _cells(path)
                if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def test_points_add_up():
    """29 points: 24 autograded (three predictions among them) and 5 for three written answers."""
    assert lab_points(LAB) == (24.0, 5.0)
    assert sum(lab_points(LAB)) == MAX_POINTS


def test_release_holds_no_solution_and_the_broken_lenet_to_fix():
    """The student copy has stubs, no outputs, and LeNet's four bugs in place of its solution;
    its predictions are open (None) and its written answers empty."""
    release = ROOT / "labs" / LAB / NOTEBOOK
    text = release.read_text()
    for solution_code in ("np.add.at(counts", "5 * 5 * 16,", "padding=\"same\", activation=\"relu\")",
                          "layers.GlobalAveragePooling2D(),", "784 * 256 + 256", "**Model answer.**"):
        assert solution_code not in text, f"the released lab contains {solution_code!r}"
    for topic in ("mlp_first_layer", "gap_parameters", "gap_shift", "shift_training"):
        assert _source(release, f"predict_{topic}").startswith(f"predicted_{topic} = None  # ")
    for topic in ("parameter_sharing", "gap_shift", "shift_training"):
        assert _source(release, f"explain_{topic}").strip() == "YOUR ANSWER HERE"
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
def test_solution_runs_in_the_smoke_profile(tmp_path, real_mnist):
    """Smoke profile: every cell runs without an error (the whole lab's wall time is recorded
    against a 2-minute budget: tests/timings.py)."""
    folder = smoke_run(LAB, tmp_path)
    assert {path.name for path in folder.glob("*.smoke.weights.h5")} == {
        name.replace(".weights", ".smoke.weights") for name in WEIGHTS}


def _pretrain_part_f_models(folder: Path, examples: int = 12_000, epochs: int = 1) -> None:
    """Train Part F's GAP ConvNet and shift-trained ConvNet briefly into ``folder``.

    With the lab's recipe each takes 3 epochs on 60,000 images (about a minute on 2 cores); here
    they get ``epochs`` on ``examples`` images, and the full-profile run then loads them, so they
    add seconds, not minutes, to the suite. Their accuracy is not graded; bench/bench_shift.py
    measures them trained for real.
    """
    from cnnkit.data import load_mnist
    from cnnkit.train import fit_or_load, subset

    train, _ = load_mnist()
    images, labels = subset(train.images, train.labels, size=examples)
    lab = solution_namespace(LAB, ("setup", "recipe", "build_convnet", "build_gap_convnet",
                                   "shift_training"), preset={"x_train": images, "y_train": labels})
    for name, build in PART_F_MODELS.items():
        lab.set_seed(0)
        model = lab.compile_with_schedule(getattr(lab, build)(), epochs, lab.CONVNET_BATCH)
        fit_or_load(model, name, images, lab.one_hot(labels), epochs=epochs,
                    batch_size=lab.CONVNET_BATCH, validation_split=lab.VALIDATION_SPLIT,
                    directory=folder, verbose=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, real_mnist):
    """The solution run in the full profile, as a student would before submitting (Part F's two
    extra ConvNets trained briefly beforehand, see _pretrain_part_f_models)."""
    folder = shutil.copytree(ROOT / "solutions" / LAB, tmp_path_factory.mktemp("student") / LAB)
    start = time.perf_counter()
    _pretrain_part_f_models(folder)
    print(f"Part F's two ConvNets, 1 epoch on 12,000 images: {time.perf_counter() - start:.0f} s")
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


def _outputs(notebook: Path, cell_id: str) -> str:
    cell = next(cell for cell in _cells(notebook) if cell.get("id") == cell_id)
    return "".join("".join(output.get("text", "")) for output in cell["outputs"])


@pytest.mark.slow
@pytest.mark.real_data
def test_full_profile_run_measures_every_model_on_shifted_digits_and_shows_the_predictions(trained):
    """Part F prints one table with the four models, compares each prediction with its
    measurement, and the shift-trained ConvNet (even trained briefly) beats the plain one at 4 px
    diagonally."""
    folder, _ = trained
    notebook = folder / NOTEBOOK
    table = _outputs(notebook, "shift-all")
    for label in ("MLP", "ConvNet", "GAP ConvNet", "shift-trained ConvNet"):
        assert re.search(rf"^{re.escape(label)} +right +0px", table, re.MULTILINE), table
    gain = re.search(r"shift-trained ConvNet vs ConvNet: .*4 px diagonally ([+-][\d.]+)", table)
    assert gain and float(gain.group(1)) > 0, table
    for cell_id, what in {"mlp-count": "parameters of the MLP's hidden layer",
                          "gap-count": "parameters of the GAP ConvNet",
                          "gap-measure": "GAP ConvNet, accuracy at 4 px diagonally",
                          "shift-measure": "shift-trained ConvNet, accuracy at 4 px diagonally"}.items():
        assert f"{what}: you predicted" in _outputs(notebook, cell_id), cell_id


@pytest.mark.slow
@pytest.mark.real_data
def test_round_trip_trained_solution_gets_full_marks_and_blank_release_gets_zero(trained, tmp_path):
    """cnnkit course grade: notebook + weights -> every autograded point, then full marks once the
    written answers are graded; the release with no weights -> 0 and nothing to grade by hand;
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
    automatic, manual = lab_points(LAB)
    assert scores["carol"] == (automatic - 2, automatic + manual), graded.stdout
    assert_round_trip(f"sqlite:///{course / 'gradebook.db'}", LAB, "alice", "bob")
    assert "%env CNNKIT_PROFILE=smoke" in graded.stdout  # flagged for review
    autograded = (course / "autograded" / "alice" / LAB / NOTEBOOK).read_text()
    assert "Epoch 1/" not in autograded, "grading trained a model instead of loading the weights"
    assert "Epoch 1/" in (folder / NOTEBOOK).read_text()  # ...which the student's run did
