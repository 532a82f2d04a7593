"""Lab 3 on CIFAR-10 files in the original format (synthetic, learnable images: no real CIFAR here).

The real 80 % bar needs the real CIFAR-10 and a long training run; what is tested here is the
lab's code and the grading mechanics, on data in the exact on-disk format.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.labcode import (
    assert_round_trip,
    collect_and_grade,
    lab_points,
    make_course,
    smoke_run,
    solution_namespace,
)
from tests.tinydata import write_learnable_cifar

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab3-cifar10"
NOTEBOOK = f"{LAB}.ipynb"


@pytest.fixture(scope="module")
def synthetic_cifar(tmp_path_factory):
    """A data cache holding learnable CIFAR-10 batches, used through CNNKIT_DATA_DIR."""
    cache = tmp_path_factory.mktemp("cache")
    write_learnable_cifar(cache / "cifar10")
    return cache


@pytest.fixture
def cifar_env(synthetic_cifar, monkeypatch):
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(synthetic_cifar))
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    return synthetic_cifar


def test_release_holds_no_solution():
    """The student copy has stubs where the pipeline, the model and the schedule go."""
    text = (ROOT / "labs" / LAB / NOTEBOOK).read_text()
    for solution_code in ("stateless_random_crop(image", "GlobalAveragePooling2D()(x)",
                          "tf.cos(math.pi * progress)", "predicted_initial_loss = 2.3",
                          "**Model answer.**"):
        assert solution_code not in text, f"the released lab contains {solution_code!r}"


def test_points_add_up_to_the_grading_line_of_the_introduction():
    """Does the introduction state the points the graded cells carry (autograded + written)?"""
    automatic, manual = lab_points(LAB)
    intro = "".join(json.loads((ROOT / "solutions" / LAB / NOTEBOOK).read_text())
                    ["cells"][0]["source"])
    assert f"**Grading ({automatic + manual:g} points" in intro
    assert f"{automatic:g} checked automatically, {manual:g} for written answers" in intro


@pytest.mark.slow
def test_solution_runs_in_the_smoke_profile(tmp_path, cifar_env):
    """Smoke profile on CIFAR-format files: no cell fails (the lab's wall time is recorded
    against a 2-minute budget), and the story's experiments ran (initial loss, overfitting, the
    ablation's three variants)."""
    folder = smoke_run(LAB, tmp_path)
    assert (folder / "cifar_vgg.smoke.weights.h5").is_file()
    text = (folder / NOTEBOOK).read_text()
    for printed in ("the loss before training: you predicted 2.3", "steps on 200 images",
                    "full recipe: validation accuracy", "no augmentation: validation accuracy",
                    "no batch norm: validation accuracy", "measured ranking, best first",
                    "parameters of build_vgg((32, 64, 128)): you predicted 289642"):
        assert printed in text, printed


def _train_submission(folder: Path) -> None:
    """Weights a student would submit, trained briefly on the synthetic set with the lab's code."""
    import keras

    from cnnkit.data import load_cifar10

    train, _ = load_cifar10()
    lab = solution_namespace(LAB, ("setup", "make_pipeline", "build_vgg", "warmup_cosine",
                                   "recipe", "compile_vgg", "my_design"),
                             preset={"x_train": train.images})
    keras.utils.set_random_seed(0)
    vgg = lab.compile_vgg(lab.build_vgg(lab.MY_WIDTHS), epochs=5)
    # Small batches: enough steps for batch norm's moving statistics to settle on a small set.
    vgg.fit(lab.make_pipeline(train.images, train.labels, training=True, batch_size=16),
            epochs=5, shuffle=False, verbose=0)
    vgg.save_weights(folder / "cifar_vgg.weights.h5")
    dense = keras.Sequential([
        keras.Input(shape=(32, 32, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
        keras.layers.Dense(512, activation="relu"), keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(10, activation="softmax", dtype="float32")])
    dense.save_weights(folder / "cifar_dense.weights.h5")


@pytest.mark.slow
def test_round_trip_full_marks_with_weights_and_zero_for_the_blank_release(tmp_path, cifar_env):
    """cnnkit course grade: solution + trained weights -> every autograded point, written answers
    waiting for the instructor (full marks once graded); the release -> 0, nothing waiting."""
    inbox = tmp_path / "inbox"
    alice, bob = inbox / "alice", inbox / "bob"
    alice.mkdir(parents=True)
    bob.mkdir()
    shutil.copy(ROOT / "solutions" / LAB / NOTEBOOK, alice / NOTEBOOK)
    _train_submission(alice)
    shutil.copy(ROOT / "labs" / LAB / NOTEBOOK, bob / NOTEBOOK)
    course = make_course(tmp_path / "course", LAB)

    graded, scores = collect_and_grade(course, LAB, inbox, ("alice", "bob"))
    automatic, manual = lab_points(LAB)
    assert scores == {"alice": (automatic, automatic + manual),
                      "bob": (0.0, automatic + manual)}, graded.stdout
    assert_round_trip(f"sqlite:///{course / 'gradebook.db'}", LAB, "alice", "bob")
    autograded = (course / "autograded" / "alice" / LAB / NOTEBOOK).read_text()
    assert "Epoch 1/" not in autograded, "grading trained a model instead of loading the weights"
