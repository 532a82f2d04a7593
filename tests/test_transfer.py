"""Lab 4's helpers and checks: each check passes the lab's solution and fails a known mistake.

Mistakes come from the lab's own solution cells with one thing changed; the shipped backbone is
checked against the record written when it was trained, and its script against that record.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest

from tests.labcode import solution_namespace

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

from cnnkit import backbones, transfer  # noqa: E402
from cnnkit.checks import transfer as checks  # noqa: E402
from cnnkit.transfer import CLASSIC_AUGMENTATION, AugmentationSettings  # noqa: E402

LAB = "lab4-transfer"
IMAGES = np.random.default_rng(0).integers(0, 256, size=(16, 28, 28, 1)).astype(np.uint8)


@pytest.fixture(scope="module")
def lab():
    """The lab's solution functions, without loading any data."""
    return solution_namespace(LAB, ("setup", "build_augmentation", "build_transfer_model",
                                    "start_feature_extraction", "start_fine_tuning"))


def _model(lab, pretrained=False):
    backbone = backbones.load_digits_backbone(pretrained)
    augmentation = lab.build_augmentation(**asdict(CLASSIC_AUGMENTATION))
    model = lab.build_transfer_model(backbone, augmentation, layers.Rescaling(1 / 255), 5)
    return model, backbone, augmentation


# --- augmentation ---------------------------------------------------------------------------

def test_solution_augmentation_passes(lab):
    checks.check_augmentation(lab.build_augmentation, IMAGES, CLASSIC_AUGMENTATION)


def _augmentation_with(lab, **changes):
    def build(**settings):
        block = lab.build_augmentation(**settings)
        for kind, make in changes.items():
            block = keras.Sequential([make() if type(layer).__name__ == kind else layer
                                      for layer in block.layers])
        return block
    return build


@pytest.mark.parametrize("kind, wrong, message", [
    ("RandomRotation", lambda: layers.RandomRotation(40, fill_mode="nearest"), "factor"),
    ("RandomTranslation", lambda: layers.RandomTranslation(0.2, 0.2), "fill_mode"),
    ("RandomZoom", lambda: layers.RandomZoom(0.2, fill_mode="nearest"), "width_factor"),
    ("RandomBrightness", lambda: layers.Rescaling(1 / 255), "expected one each"),
])
def test_augmentation_mistakes_fail(lab, kind, wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_augmentation(_augmentation_with(lab, **{kind: wrong}), IMAGES,
                                  CLASSIC_AUGMENTATION)


def test_augmentation_that_acts_at_inference_fails(lab):
    class AlwaysFlip(layers.Layer):
        def call(self, images, training=None):
            return images[:, :, ::-1, :]

    def build(**settings):
        block = lab.build_augmentation(**settings)
        return keras.Sequential([*block.layers, AlwaysFlip()]) if block.layers else block

    with pytest.raises(AssertionError, match="identity at inference|expected one each"):
        checks.check_augmentation(build, IMAGES, CLASSIC_AUGMENTATION)


def test_the_same_transform_for_a_whole_batch_fails():
    class RandomFlip(layers.RandomFlip):  # flips every image of a batch, or none, by turns
        calls = 0

        def call(self, images, training=True):
            if not training:
                return images
            RandomFlip.calls += 1
            return images[:, :, ::-1, :] if RandomFlip.calls % 2 else images

    with pytest.raises(AssertionError, match="distinct results"):
        checks.check_augmentation(lambda **settings: keras.Sequential(
            [RandomFlip("horizontal")] if settings["horizontal_flip"] else [layers.Identity()]),
            IMAGES, AugmentationSettings(horizontal_flip=True))


# --- the model and the phases ---------------------------------------------------------------

def test_solution_model_and_phases_pass(lab):
    model, backbone, augmentation = _model(lab)
    checks.check_transfer_model(model, backbone, augmentation, 5, (28, 28, 1))
    lab.start_feature_extraction(model, backbone, 3e-3)
    checks.check_feature_extraction(model, backbone, 3e-3)
    lab.start_fine_tuning(model, backbone, 7, 1e-3)
    checks.check_fine_tuning(model, backbone, 7, 1e-3)
    checks.check_batchnorm_inference(model, IMAGES)


def test_a_model_around_a_new_backbone_fails(lab):
    model, _, augmentation = _model(lab)
    with pytest.raises(AssertionError, match="not one of the model's layers"):
        checks.check_transfer_model(model, backbones.digits_backbone(), augmentation, 5,
                                    (28, 28, 1))


def test_feature_extraction_without_recompiling_fails(lab):
    model, backbone, _ = _model(lab)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(IMAGES, np.arange(16) % 5, epochs=1, verbose=0)
    backbone.trainable = False
    with pytest.raises(AssertionError, match="compile again"):
        checks.check_feature_extraction(model, backbone, 1e-3)


def test_fine_tuning_that_unfreezes_batchnorm_fails_both_checks(lab):
    model, backbone, _ = _model(lab)
    lab.start_feature_extraction(model, backbone, 1e-3)
    backbone.trainable = True
    for layer in backbone.layers[:-7]:
        layer.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    with pytest.raises(AssertionError, match=r"layer 6 \(bn2.*batch-norm layers stay frozen"):
        checks.check_fine_tuning(model, backbone, 7, 1e-3)
    # The Keras 2 recipe, backbone(x, training=False), does not protect them in Keras 3.
    with pytest.raises(AssertionError, match="moved the statistics of 2 batch-norm"):
        checks.check_batchnorm_inference(model, IMAGES)


def test_batchnorm_check_restores_the_statistics(lab):
    model, backbone, _ = _model(lab)
    before = [variable.numpy().copy() for variable in backbone.non_trainable_weights]
    with pytest.raises(AssertionError):
        checks.check_batchnorm_inference(model, IMAGES)
    after = [variable.numpy() for variable in backbone.non_trainable_weights]
    assert all(np.array_equal(old, new) for old, new in zip(before, after))


@pytest.mark.parametrize("top_n, rate, message",
                         [(3, 1e-3, "layer 5 "), (7, 3e-3, "expected 0.001")])
def test_wrong_top_n_or_rate_fails(lab, top_n, rate, message):
    model, backbone, _ = _model(lab)
    lab.start_fine_tuning(model, backbone, top_n, rate)
    with pytest.raises(AssertionError, match=message):
        checks.check_fine_tuning(model, backbone, 7, 1e-3)


# --- show_trainable -------------------------------------------------------------------------

def test_show_trainable_marks_changes_and_warns_when_nothing_changed(lab, capsys):
    backbone = backbones.digits_backbone()
    state = transfer.show_trainable(backbone)
    assert f"{sum(s.trainable_params for s in state):,} parameters train" in capsys.readouterr().out
    assert sum(s.trainable_params for s in state) == sum(
        int(np.prod(v.shape)) for v in backbone.trainable_weights)

    backbone.layers[-2].trainable = False  # bn3
    transfer.show_trainable(backbone, before=state)
    printed = capsys.readouterr().out
    assert "True -> False" in printed and printed.count("  *") == 1
    assert "1 layer flag(s) changed; trainable parameters 92,896 -> 92,640" in printed

    transfer.show_trainable(backbone, before=transfer.trainable_state(backbone))
    assert "WARNING: no layer's trainable flag changed" in capsys.readouterr().out


# --- tracks ---------------------------------------------------------------------------------

def test_choose_track_refuses_unknown_names_and_grading_forces_offline(monkeypatch):
    with pytest.raises(ValueError, match="Expected one of: offline, imagenet"):
        transfer.choose_track("cifar")
    assert transfer.choose_track("imagenet") == "imagenet"
    monkeypatch.setattr(transfer, "under_nbgrader", lambda: True)
    assert transfer.choose_track("imagenet") == "offline"


def test_mobilenet_preprocessing_layer_is_preprocess_input():
    pixels = np.random.default_rng(1).uniform(0, 255, size=(2, 8, 8, 3)).astype(np.float32)
    expected = keras.applications.mobilenet_v2.preprocess_input(pixels.copy())
    got = np.asarray(transfer.get_track("imagenet").preprocess()(pixels))
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_mobilenet_backbone_without_weights(monkeypatch):
    monkeypatch.setenv("CNNKIT_IMAGENET_WEIGHTS", "none")
    backbone = backbones.mobilenet_backbone((96, 96))
    assert len(backbone.layers) == 154
    assert backbone.output_shape == (None, 3, 3, 1280)


def test_track_settings_are_consistent():
    for name in transfer.TRACKS:
        track = transfer.get_track(name)
        assert track.fine_tune_learning_rate <= track.feature_learning_rate / 3
        # From scratch trains at least as long as both transfer phases together.
        assert track.steps["scratch"] >= track.steps["features"] + track.steps["fine_tune"]
        assert track.labels_per_class is None or track.labels_per_class in track.budgets


# --- the shipped backbone -------------------------------------------------------------------

def test_shipped_weights_match_their_record():
    from cnnkit.data.formats import sha256_of

    record = backbones.shipped_record()
    assert sha256_of(backbones.SHIPPED_WEIGHTS.read_bytes()) == record["weights_sha256"]
    assert record["source_dataset"] == "mnist" and record["source_classes"] == [0, 1, 2, 3, 4]
    assert record["epochs_run"] == record["recipe"]["epochs"]


@pytest.mark.real_data
def test_shipped_backbone_classifies_its_source_classes_as_recorded(real_mnist):
    from cnnkit.data import load_mnist, select_classes

    _, test = load_mnist()
    images, labels = select_classes(test, backbones.SOURCE_CLASSES)
    model = backbones.source_classifier(backbones.digits_backbone())
    model.load_weights(backbones.SHIPPED_WEIGHTS)
    accuracy = np.mean(model.predict(images, batch_size=500, verbose=0).argmax(1) == labels)
    recorded = backbones.shipped_record()["source_test_accuracy_per_epoch"][-1]
    assert accuracy == pytest.approx(recorded, abs=0.002)


@pytest.mark.slow
@pytest.mark.real_data
def test_pretraining_script_reproduces_the_recorded_curve(tmp_path, real_mnist):
    """`cnnkit backbone pretrain`, first 2 of the 3 epochs: within 1.5 points of the record."""
    output = tmp_path / "digits_source_model.weights.h5"
    run = subprocess.run([sys.executable, "-m", "cnnkit", "backbone", "pretrain", "--output",
                          str(output), "--stop-after", "2"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    record = json.loads((tmp_path / "digits_backbone.json").read_text())
    shipped = backbones.shipped_record()
    assert record["recipe"] == shipped["recipe"] and record["epochs_run"] == 2
    assert record["source_test_accuracy_per_epoch"][1] == pytest.approx(
        shipped["source_test_accuracy_per_epoch"][1], abs=0.015)
    assert backbones.load_digits_backbone(weights=output).output_shape == (None, 7, 7, 128)


# --- the offline data, step budgets and seed summaries --------------------------------------

@pytest.mark.real_data
def test_offline_data_takes_the_budget_of_each_digit_and_every_test_image(real_mnist):
    lab_data = transfer.offline_data()
    assert lab_data.train_images.shape == (50, 28, 28, 1)
    assert lab_data.train_images.dtype == np.uint8
    assert np.bincount(lab_data.train_labels).tolist() == [10] * 5
    assert lab_data.test_images.shape == (4861, 28, 28, 1)
    assert lab_data.class_names == ("5", "6", "7", "8", "9")
    assert lab_data.pool_per_class == 5421  # the 5s, the rarest of the digits 5-9 in training
    again, other = transfer.offline_data(10, seed=2026), transfer.offline_data(10, seed=2027)
    assert np.array_equal(again.train_images, lab_data.train_images)
    assert not np.array_equal(other.train_images, lab_data.train_images)
    assert np.bincount(transfer.offline_data(300).train_labels).tolist() == [300] * 5


def test_take_per_class_is_balanced_seeded_and_refuses_too_large_a_budget():
    labels = np.repeat(np.arange(3), [5, 7, 9])
    chosen = transfer.take_per_class(labels, 4, seed=1)
    assert np.bincount(labels[chosen]).tolist() == [4, 4, 4]
    assert np.array_equal(chosen, np.sort(chosen))
    assert np.array_equal(chosen, transfer.take_per_class(labels, 4, seed=1))
    assert np.array_equal(transfer.take_per_class(labels, None, seed=1), np.arange(21))
    with pytest.raises(ValueError, match="Class 0 has 5 training examples; received a budget of 6"):
        transfer.take_per_class(labels, 6, seed=1)


def test_repeat_to_steps_gives_exact_steps_and_every_image_equally_often():
    images, labels = np.arange(50).reshape(50, 1, 1, 1), np.arange(50) % 5
    repeated_images, repeated_labels = transfer.repeat_to_steps(images, labels, 100, 32)
    assert repeated_images.shape == (3200, 1, 1, 1)
    assert np.array_equal(repeated_labels, repeated_images.ravel() % 5)
    counts = np.bincount(repeated_images.ravel(), minlength=50)
    assert counts.min() == 64 and counts.max() == 64  # 3,200 / 50: whole passes only
    assert np.array_equal(np.sort(repeated_images[:50].ravel()), np.arange(50))  # one pass
    with pytest.raises(ValueError, match="must be >= 1"):
        transfer.repeat_to_steps(images, labels, 0, 32)


def test_seed_summaries_and_the_curve_sentence():
    scarce_tuned = transfer.over_seeds([0.88, 0.86, 0.90])
    scarce_fresh = transfer.over_seeds([0.75, 0.77, 0.73])
    assert scarce_tuned.mean == pytest.approx(0.88)
    assert scarce_tuned.spread == pytest.approx(np.std([0.88, 0.86, 0.90]))
    assert str(scarce_tuned) == "88.0% ± 1.6%"
    assert transfer.clearly_better(scarce_tuned, scarce_fresh)
    close = transfer.over_seeds([0.925, 0.915, 0.935]), transfer.over_seeds([0.92, 0.93, 0.91])
    assert not transfer.clearly_better(*close)
    text = transfer.describe_curve((10, 100), [scarce_tuned, close[0]], [scarce_fresh, close[1]])
    assert "10 labels per class: fine-tuned 88.0% ± 1.6%, from scratch 75.0% ± 1.6%, gain +13.0" \
        in text
    assert text.endswith("Transfer was clearly better up to 10 labels per class; from 100 per "
                         "class on, from scratch caught up: the crossover.")
    everywhere = transfer.describe_curve((10,), [scarce_tuned], [scarce_fresh])
    assert everywhere.endswith(
        "clearly better at every budget measured, up to 10 labels per class.")
    with pytest.raises(ValueError, match="no accuracies"):
        transfer.over_seeds([])
    with pytest.raises(ValueError, match="one of each per budget"):
        transfer.describe_curve((10, 30), [scarce_tuned], [scarce_fresh])
