"""Profiles, seeding, subsets and fit_or_load in each profile."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from cnnkit.train import current_profile, epochs_for_profile, fit_or_load, set_seed, steps_for_profile, subset


@pytest.fixture
def profile(monkeypatch):
    """Set the profile as a user would: through the environment."""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("CNNKIT_PROFILE", raising=False)

    def use(name=None, nbgrader=None):
        if name:
            monkeypatch.setenv("CNNKIT_PROFILE", name)
        if nbgrader:
            monkeypatch.setenv("NBGRADER_EXECUTION", nbgrader)
    return use


def test_default_profile_is_full(profile):
    """Without any setting, does a student get the full profile?"""
    profile()
    assert current_profile().name == "full" and current_profile().trains


@pytest.mark.parametrize("mode", ["autograde", "validate"])
def test_nbgrader_execution_selects_grade(profile, mode):
    """Under nbgrader (autograde or validate), is the profile grade, which never trains?"""
    profile(nbgrader=mode)
    assert current_profile().name == "grade" and not current_profile().trains


def test_nothing_overrides_grade_under_nbgrader(profile):
    """Under nbgrader, CNNKIT_PROFILE=smoke (a student's %env, the grader's shell) is ignored."""
    profile("SMOKE", nbgrader="autograde")
    assert current_profile().name == "grade"


def test_grade_survives_a_notebook_deleting_nbgrader_execution(tmp_path):
    """A kernel started by nbgrader stays in grade even if a cell deletes NBGRADER_EXECUTION."""
    import subprocess
    import sys

    code = ("import os; os.environ.pop('NBGRADER_EXECUTION'); os.environ['CNNKIT_PROFILE'] = 'smoke'; "
            "from cnnkit.train import current_profile; print(current_profile().name)")
    env = {**os.environ, "NBGRADER_EXECUTION": "autograde"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "grade", result.stderr


def test_unknown_profile_lists_the_known_ones(profile):
    """Is a misspelt profile refused with the valid names?"""
    profile("fast")
    with pytest.raises(ValueError, match="CNNKIT_PROFILE='fast' is not a profile. Expected one of: "
                                         "full, smoke, grade"):
        current_profile()


def test_subset_is_profile_aware_seeded_and_keeps_pairs(profile):
    """Does subset cut to 2,048 in smoke, keep all in full, repeat, and keep pairs together?"""
    images, labels = np.arange(5000), np.arange(5000) * 10
    profile("full")
    assert len(subset(images, labels)[0]) == 5000
    profile("smoke")
    small_images, small_labels = subset(images, labels)
    assert len(small_images) == 2048 and np.all(small_labels == small_images * 10)
    assert np.all(np.diff(small_images) > 0), "kept examples stay in their original order"
    np.testing.assert_array_equal(small_images, subset(images, labels)[0])
    assert len(subset(images, size=10)) == 10


def test_epochs_are_capped_in_smoke(profile):
    profile("smoke")
    assert epochs_for_profile(15) == 1
    profile("full")
    assert epochs_for_profile(15) == 15


def test_steps_are_capped_in_smoke_only(profile):
    profile("smoke")
    assert steps_for_profile(300) == 4
    profile("full")
    assert steps_for_profile(300) == 300


# --- fit_or_load, with a model small enough to train in a second ------------------------------

def _model():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 3, 64)


@pytest.mark.slow
def test_full_trains_saves_then_loads(profile, tmp_path, data, capsys):
    """In full, does the first call train and save, and the second load without training?"""
    profile("full")
    set_seed(0)
    first = fit_or_load(_model(), "tiny", *data, epochs=2, directory=tmp_path, verbose=0)
    assert first.trained and len(first.history["loss"]) == 2
    assert first.weights_path == tmp_path / "tiny.weights.h5" and first.weights_path.is_file()
    assert json.loads((tmp_path / "tiny.history.json").read_text()) == first.history
    model = _model()
    second = fit_or_load(model, "tiny", *data, epochs=2, directory=tmp_path, verbose=0)
    assert not second.trained and second.history == first.history
    assert "Loaded tiny.weights.h5" in capsys.readouterr().out
    trained = _model()
    trained.load_weights(first.weights_path)
    np.testing.assert_array_equal(model.predict(data[0], verbose=0), trained.predict(data[0], verbose=0))


@pytest.mark.slow
def test_smoke_trains_one_epoch_into_its_own_file(profile, tmp_path, data):
    """In smoke, is training capped at one epoch and kept away from the real weights file?"""
    profile("smoke")
    result = fit_or_load(_model(), "tiny", *data, epochs=10, directory=tmp_path, verbose=0)
    assert result.trained and len(result.history["loss"]) == 1
    assert [p.name for p in tmp_path.glob("*.h5")] == ["tiny.smoke.weights.h5"]


@pytest.mark.slow
def test_grade_without_weights_fails_clearly_and_never_trains(profile, tmp_path, data):
    """While grading, does a missing weights file fail with the fix, rather than retrain?"""
    profile(nbgrader="autograde")
    with pytest.raises(FileNotFoundError, match=r"tiny.weights.h5 is missing: while grading, models "
                                                r"are not trained.*submit that file"):
        fit_or_load(_model(), "tiny", *data, epochs=1, directory=tmp_path, verbose=0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_grade_loads_submitted_weights(profile, tmp_path, data):
    """While grading, are the submitted weights loaded and the saved history returned?"""
    profile("full")
    trained = fit_or_load(_model(), "tiny", *data, epochs=1, directory=tmp_path, verbose=0)
    profile(nbgrader="autograde")
    graded = fit_or_load(_model(), "tiny", *data, epochs=1, directory=tmp_path, verbose=0)
    assert not graded.trained and graded.history == trained.history


@pytest.mark.slow
def test_grade_survives_a_garbage_history_file(profile, tmp_path, data, capsys):
    """Does an unreadable history file cost only the curves, not the loaded weights?"""
    profile("full")
    fit_or_load(_model(), "tiny", *data, epochs=1, directory=tmp_path, verbose=0)
    (tmp_path / "tiny.history.json").write_text("{not json")
    profile(nbgrader="autograde")
    graded = fit_or_load(_model(), "tiny", *data, epochs=1, directory=tmp_path, verbose=0)
    assert graded.history == {} and not graded.trained
    assert "ignoring tiny.history.json" in capsys.readouterr().out


@pytest.mark.slow
def test_weights_of_another_architecture_are_refused_clearly(profile, tmp_path, data):
    """Are weights that do not fit the model reported with what to do?"""
    import keras

    profile("full")
    fit_or_load(_model(), "tiny", *data, epochs=1, directory=tmp_path, verbose=0)
    wider = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"do not fit this model \(variable.shape=\(4, 8\), Received: "
                                         r"value.shape=\(4, 3\)\). Build the model exactly"):
        fit_or_load(wider, "tiny", *data, epochs=1, directory=tmp_path, verbose=0)


def test_weights_name_must_be_a_plain_file_name(profile, tmp_path, data):
    """Is a name with a path separator refused before anything is written?"""
    profile("full")
    with pytest.raises(ValueError, match="is not a plain file name"):
        fit_or_load(None, "../escape", *data, directory=tmp_path)


@pytest.mark.slow
def test_set_seed_makes_training_repeat_exactly(profile, tmp_path, data):
    """With set_seed(…, deterministic=True), do two trainings give identical weights?"""
    profile("full")
    weights = []
    for _ in range(2):
        set_seed(7, deterministic=True)
        model = _model()
        model.fit(*data, epochs=2, batch_size=16, verbose=0)
        weights.append(model.get_weights())
    for first, second in zip(*weights):
        np.testing.assert_array_equal(first, second)


@pytest.mark.slow
def test_a_tf_data_pipeline_trains_without_keras_shuffle_warning(profile, tmp_path, data):
    """A tf.data pipeline shuffles itself: fit_or_load does not make Keras warn about shuffle."""
    import warnings

    import tensorflow as tf

    profile("smoke")
    x, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        result = fit_or_load(_model(), "pipeline", tf.data.Dataset.from_tensor_slices((x, y)).batch(8),
                             directory=tmp_path, verbose=0)
    assert result.trained
