"""Lab 3 on CIFAR-10 files in the original format (synthetic, learnable images: no real CIFAR here).

The real 80 % bar needs the real CIFAR-10 and a long training run; what is tested here is the
lab's code and the grading mechanics, on data in the exact on-disk format.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labcode import collect_and_grade, make_course, smoke_run, solution_namespace
from tinydata import write_learnable_cifar

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab3-cifar10"
NOTEBOOK = f"{LAB}.ipynb"
MAX_POINTS = 20.0


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
                          "tf.cos(math.pi * progress)"):
        assert solution_code not in text, f"the released lab contains {solution_code!r}"


@pytest.mark.slow
def test_solution_runs_in_the_smoke_profile_in_under_two_minutes(tmp_path, cifar_env):
    """Smoke profile on CIFAR-format files: no cell fails, the whole lab in under 2 minutes."""
    folder = smoke_run(LAB, tmp_path)
    assert (folder / "cifar_vgg.smoke.weights.h5").is_file()


def _train_submission(folder: Path) -> None:
    """Weights a student would submit, trained briefly on the synthetic set with the lab's code."""
    import keras

    from cnnkit.data import load_cifar10

    train, _ = load_cifar10()
    lab = solution_namespace(LAB, ("setup", "make_pipeline", "build_vgg", "warmup_cosine",
                                   "recipe", "compile_vgg"), preset={"x_train": train.images})
    keras.utils.set_random_seed(0)
    vgg = lab.compile_vgg(lab.build_vgg(), epochs=5)
    # Small batches: enough steps for batch norm's moving statistics to settle on a small set.
    vgg.fit(lab.make_pipeline(train.images, train.labels, training=True, batch_size=16),
            epochs=5, verbose=0)
    vgg.save_weights(folder / "cifar_vgg.weights.h5")
    dense = keras.Sequential([
        keras.Input(shape=(32, 32, 3)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
        keras.layers.Dense(512, activation="relu"), keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(10, activation="softmax", dtype="float32")])
    dense.save_weights(folder / "cifar_dense.weights.h5")


@pytest.mark.slow
def test_round_trip_full_marks_with_weights_and_zero_for_the_blank_release(tmp_path, cifar_env):
    """cnnkit course grade: solution + trained weights -> 20/20; the release -> 0/20."""
    inbox = tmp_path / "inbox"
    alice, bob = inbox / "alice", inbox / "bob"
    alice.mkdir(parents=True)
    bob.mkdir()
    shutil.copy(ROOT / "solutions" / LAB / NOTEBOOK, alice / NOTEBOOK)
    _train_submission(alice)
    shutil.copy(ROOT / "labs" / LAB / NOTEBOOK, bob / NOTEBOOK)
    course = make_course(tmp_path / "course", LAB)

    graded, scores = collect_and_grade(course, LAB, inbox, ("alice", "bob"))
    assert scores == {"alice": (MAX_POINTS, MAX_POINTS), "bob": (0.0, MAX_POINTS)}, graded.stdout
    autograded = (course / "autograded" / "alice" / LAB / NOTEBOOK).read_text()
    assert "Epoch 1/" not in autograded, "grading trained a model instead of loading the weights"
