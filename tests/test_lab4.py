"""Lab 4: both tracks run end to end, and grading gives full marks to real work, none to the stub.

The offline track runs on the real MNIST (CI installs it); the imagenet track runs on a
small folder of JPEGs in the flower photos' layout with MobileNetV2's random weights, since
neither the photos nor the ImageNet weights can be downloaded here.
"""

from __future__ import annotations

import json
import shutil
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
from tests.tinydata import write_photo_folder

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab4-transfer"
NOTEBOOK = f"{LAB}.ipynb"
AUTO, WRITTEN = lab_points(LAB)  # autograded points; written answers, graded by hand
LAB_CELLS = ("setup", "load_data", "build_augmentation", "backbone", "build_transfer_model",
             "make_model", "start_feature_extraction", "start_fine_tuning", "graded_model")


def test_release_holds_no_solution():
    """The student copy has stubs where the augmentation, the model and both phases go."""
    text = (ROOT / "labs" / LAB / NOTEBOOK).read_text()
    for solution_code in ("RandomShear(x_factor=shear", "GlobalAveragePooling2D(name",
                          "backbone.trainable = False", "in_top and not isinstance"):
        assert solution_code not in text, f"the released lab contains {solution_code!r}"


@pytest.mark.slow
@pytest.mark.real_data
def test_offline_track_runs_in_the_smoke_profile(tmp_path, real_mnist):
    """Every cell runs, the curve and the augmentation comparison included (one seed); the
    lab's wall time is recorded against a 2-minute budget (tests/timings.py)."""
    folder = smoke_run(LAB, tmp_path)
    for phase in ("features", "finetuned", "scratch"):
        assert (folder / f"lab4_offline_{phase}.smoke.weights.h5").is_file()
    printed = _printed(folder / NOTEBOOK)
    assert "labels/class" in printed and "10 labels per class: fine-tuned" in printed
    assert "30 labels per class: fine-tuned" in printed
    assert "yours minus none:" in printed and "classic minus none:" in printed


def _printed(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "".join("".join(output.get("text", "")) for cell in cells
                   if cell["cell_type"] == "code" for output in cell.get("outputs", []))


def test_the_text_states_the_learning_rates_the_tracks_use():
    """Part F's text gives each track's two rates; they must be the ones the code uses."""
    import re

    from cnnkit import transfer

    cells = json.loads((ROOT / "solutions" / LAB / NOTEBOOK).read_text())["cells"]
    part_f = next("".join(cell["source"]) for cell in cells
                  if cell["metadata"].get("nbgrader", {}).get("grade_id") == "part_f")
    stated = {float(number) for number in re.findall(r"\b\d+e-\d+\b", part_f)}
    for name in transfer.TRACKS:
        track = transfer.get_track(name)
        assert {track.feature_learning_rate, track.fine_tune_learning_rate} <= stated, name


@pytest.mark.slow
def test_imagenet_track_runs_on_a_local_photo_folder(tmp_path, monkeypatch):
    """The same notebook with the switch on "imagenet": MobileNetV2 (random weights) on JPEGs."""
    cache = tmp_path / "cache"
    write_photo_folder(cache / "flowers" / "flower_photos",
                       ("daisy", "dandelion", "roses", "sunflowers", "tulips"), per_class=8)
    monkeypatch.setenv("CNNKIT_DATA_DIR", str(cache))
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    monkeypatch.setenv("CNNKIT_IMAGENET_WEIGHTS", "none")
    folder = shutil.copytree(ROOT / "solutions" / LAB, tmp_path / LAB)
    notebook = folder / NOTEBOOK
    source = notebook.read_text()
    assert source.count('choose_track(\\"offline\\")') == 1
    notebook.write_text(source.replace('choose_track(\\"offline\\")', 'choose_track(\\"imagenet\\")'))

    _, errors = execute(notebook, "smoke")

    assert errors == []
    printed = _printed(notebook)
    assert "track: imagenet" in printed
    assert "mobilenetv2" in printed.lower()
    assert "The imagenet track is not graded" in printed
    assert (folder / "lab4_imagenet_finetuned.smoke.weights.h5").is_file()


def _train_submission(folder: Path) -> float:
    """Weights a student would hand in, trained briefly with the lab's own functions."""
    import keras

    from cnnkit.transfer import repeat_to_steps

    lab = solution_namespace(LAB, LAB_CELLS)
    track = lab.track
    keras.utils.set_random_seed(0)
    lab.start_feature_extraction(lab.model, lab.backbone, track.feature_learning_rate)
    lab.model.fit(*repeat_to_steps(lab.x_train, lab.y_train, track.steps["features"],
                                   track.batch_size), batch_size=track.batch_size, verbose=0)
    lab.model.save_weights(folder / "lab4_offline_features.weights.h5")
    lab.start_fine_tuning(lab.model, lab.backbone, track.top_n, track.fine_tune_learning_rate)
    lab.model.fit(*repeat_to_steps(lab.x_train, lab.y_train, track.steps["fine_tune"],
                                   track.batch_size), batch_size=track.batch_size, verbose=0)
    lab.model.save_weights(folder / "lab4_offline_finetuned.weights.h5")
    lab.build_graded_model().save_weights(folder / "lab4_offline_scratch.weights.h5")
    predictions = lab.model.predict(lab.x_test, batch_size=500, verbose=0).argmax(axis=1)
    return float(np.mean(predictions == lab.y_test))


@pytest.mark.slow
@pytest.mark.real_data
def test_round_trip_full_marks_with_weights_and_zero_for_the_blank_release(
        tmp_path, real_mnist):
    """cnnkit course grade: solution + weights -> every autograded point, its written answers
    waiting for the instructor (then full marks); the release -> 0; a submission that switched
    to the imagenet track is graded on the offline one all the same."""
    inbox = tmp_path / "inbox"
    alice, bob, carol = inbox / "alice", inbox / "bob", inbox / "carol"
    for student in (alice, bob, carol):
        student.mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / LAB / NOTEBOOK, alice / NOTEBOOK)
    accuracy = _train_submission(alice)
    assert accuracy >= 0.88, f"the lab's recipe reached only {accuracy:.2%}"
    shutil.copy(ROOT / "labs" / LAB / NOTEBOOK, bob / NOTEBOOK)
    source = (ROOT / "solutions" / LAB / NOTEBOOK).read_text()
    (carol / NOTEBOOK).write_text(
        source.replace('choose_track(\\"offline\\")', 'choose_track(\\"imagenet\\")'))
    for weights in alice.glob("*.weights.h5"):
        shutil.copy(weights, carol / weights.name)
    course = make_course(tmp_path / "course", LAB)

    graded, scores = collect_and_grade(course, LAB, inbox, ("alice", "bob", "carol"))

    assert scores == {"alice": (AUTO, AUTO + WRITTEN), "bob": (0.0, AUTO + WRITTEN),
                      "carol": (AUTO, AUTO + WRITTEN)}, graded.stdout
    assert "written answer(s) of 2 student(s) wait for you in Formgrader" in graded.stdout
    assert_round_trip(f"sqlite:///{course / 'gradebook.db'}", LAB, "alice", "bob")
    autograded = (course / "autograded" / "carol" / LAB / NOTEBOOK).read_text()
    assert "Epoch 1/" not in autograded, "grading trained a model instead of loading the weights"
    # The setup cell is locked: nbgrader restores it, so carol's switch is undone before grading.
    assert "track: offline, profile: grade" in autograded


@pytest.mark.slow
@pytest.mark.real_data
def test_the_recipes_network_from_scratch_does_not_clear_the_bar(tmp_path, monkeypatch,
                                                                real_mnist):
    """Weights trained from scratch with Part G's recipe, handed in as the fine-tuned ones, fail
    the graded accuracy check: the bar sits between the two arms."""
    import keras

    from cnnkit.checks import check_transfer_accuracy
    from cnnkit.transfer import repeat_to_steps

    monkeypatch.setenv("CNNKIT_PROFILE", "full")
    monkeypatch.chdir(tmp_path)
    lab = solution_namespace(LAB, (*LAB_CELLS, "training_setup"))
    track = lab.track
    keras.utils.set_random_seed(0)
    scratch = lab.build_graded_model()
    scratch.compile(optimizer=keras.optimizers.Adam(lab.scratch_schedule(track.steps["scratch"])),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    scratch.fit(*repeat_to_steps(lab.x_train, lab.y_train, track.steps["scratch"],
                                 track.batch_size), batch_size=track.batch_size, verbose=0)
    scratch.save_weights(tmp_path / "lab4_offline_finetuned.weights.h5")

    with pytest.raises(AssertionError, match=r"expected at least 87\.0%"):
        check_transfer_accuracy(lab.build_graded_model, "lab4_offline_finetuned", 0.87)
