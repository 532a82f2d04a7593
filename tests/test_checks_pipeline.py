"""The pipeline, schedule and Lab 3 model checks: they pass the solution and explain each bug."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnkit import checks
from labcode import solution_namespace

LAB = "lab3-cifar10"


@pytest.fixture(scope="module")
def lab():
    """Lab 3's solution functions (no data needed: the training set is a placeholder)."""
    return solution_namespace(LAB, ("setup", "make_pipeline", "build_vgg", "warmup_cosine",
                                    "recipe", "compile_vgg"),
                              preset={"x_train": np.zeros((256, 32, 32, 3), dtype=np.uint8)})


def test_solution_passes_every_check(lab, capsys):
    """The solution's pipeline, schedule, model and compile settings pass, one line each."""
    checks.check_pipeline(lab.make_pipeline)
    checks.check_schedule(lab.warmup_cosine)
    vgg = lab.build_vgg()
    checks.check_doubling_widths(vgg)
    checks.check_parameter_budget(vgg, 1_000_000)
    checks.check_compiled(lab.compile_vgg(vgg), label_smoothing=0.1)
    out = capsys.readouterr().out
    assert "labels kept; the seed reproduces it" in out and "32 -> 64 -> 128" in out


def _pipeline(bug: str):
    """A pipeline with one planted bug (the solution's structure otherwise)."""
    import tensorflow as tf

    def make_pipeline(images, labels, training, batch_size=128, seed=0):
        scale = 255.0 * (255.0 if bug == "scaled_twice" else 1.0)
        targets = labels if bug == "integer_targets" else tf.one_hot(labels, 10)
        if bug == "labels_shuffled_apart" and training:
            images = tf.random.shuffle(images, seed=seed)
        dataset = tf.data.Dataset.from_tensor_slices((images, targets))
        dataset = dataset.map(lambda x, y: (tf.cast(x, tf.float32) / scale, tf.cast(y, tf.float32)))
        augment = training != (bug == "augments_at_evaluation")
        if training and bug != "no_shuffle":
            buffer = 4 if bug == "small_buffer" else len(images)
            dataset = dataset.shuffle(buffer, seed=None if bug == "unseeded" else seed,
                                      reshuffle_each_iteration=bug != "frozen_epochs")
        if augment:
            def transform(example, position):
                image, target = example
                key = tf.stack([tf.cast(seed, tf.int64), position])
                if bug != "no_flip":
                    image = tf.image.stateless_random_flip_left_right(image, key)
                mode = "REFLECT" if bug == "reflect_padding" else "CONSTANT"
                image = tf.pad(image, [[4, 4], [4, 4], [0, 0]], mode=mode)
                return tf.image.stateless_random_crop(image, [32, 32, 3], key + 1), target

            if bug == "per_batch":  # one flip and one crop for the whole batch
                def transform_batch(batch_images, targets):
                    key = tf.constant([seed, 0], tf.int64)
                    batch_images = tf.image.stateless_random_flip_left_right(batch_images, key)
                    padded = tf.pad(batch_images, [[0, 0], [4, 4], [4, 4], [0, 0]])
                    size = tf.stack([tf.shape(padded)[0], 32, 32, 3])
                    return tf.image.stateless_random_crop(padded, size, key + 1), targets

                return dataset.batch(batch_size).map(transform_batch)
            dataset = tf.data.Dataset.zip((dataset, tf.data.Dataset.counter())).map(transform)
        return dataset.batch(batch_size, drop_remainder=bug == "drop_remainder")

    return make_pipeline


@pytest.mark.parametrize("bug, message", [
    ("augments_at_evaluation", "at evaluation nothing random"),
    ("scaled_twice", "differ from images / 255"),
    ("integer_targets", "expected one-hot float32"),
    ("labels_shuffled_apart", "shuffle and augment \\(image, label\\) pairs together"),
    ("no_shuffle", "come in their original order"),
    ("unseeded", "same seed gave another epoch"),
    ("no_flip", "flipped"),
    ("reflect_padding", "pad 4 pixels of zeros"),
    ("frozen_epochs", "a second pass over the same dataset repeats the first"),
    ("per_batch", "within a batch all images got the same flip or shift"),
    ("small_buffer", "shuffle with a buffer as large as the data set"),
    ("drop_remainder", "batch sizes \\[16, 16, 16\\]"),
])
def test_pipeline_check_explains_each_bug(bug, message):
    """Each planted bug fails the check with a message that points at it."""
    with pytest.raises(AssertionError, match=message):
        checks.check_pipeline(_pipeline(bug))


@pytest.mark.parametrize("bug, message", [
    ("no_warmup", "at step 0 expected 0.0001"),
    ("linear_decay", "at step 325 expected 0.0008"),
    ("never_reaches_zero", "at step 1000 expected 0"),
    ("numpy_only", "inside tf.function, as Keras calls it"),
])
def test_schedule_check_explains_each_bug(bug, message):
    """No warm-up, a straight-line decay, a floor above 0, or code Keras cannot trace: caught."""
    import tensorflow as tf

    def schedule(step, total_steps, peak, warmup_fraction=0.1):
        if bug == "numpy_only":
            return np.asarray([math.cos(s) for s in step])  # iterating a tensor this way fails
        step = tf.cast(step, tf.float32)
        warmup = total_steps * warmup_fraction
        start = peak if bug == "no_warmup" else peak / 10
        rising = start + (peak - start) * step / warmup
        progress = tf.clip_by_value((step - warmup) / (total_steps - warmup), 0.0, 1.0)
        falling = peak * (1 - progress) if bug == "linear_decay" else \
            peak * 0.5 * (1 + tf.cos(math.pi * progress))
        if bug == "never_reaches_zero":
            falling = tf.maximum(falling, peak / 20)
        return tf.where(step < warmup, rising, falling)

    with pytest.raises(AssertionError, match=message):
        checks.check_schedule(schedule)


def test_model_checks_catch_constant_widths_a_big_model_and_no_smoothing(lab):
    """Constant widths, a model over budget, plain cross-entropy and a fixed rate are refused."""
    constant = lab.build_vgg(widths=(64, 64, 64))
    with pytest.raises(AssertionError, match=r"widths \[64, 64, 64, 64, 64, 64\]"):
        checks.check_doubling_widths(constant)
    with pytest.raises(AssertionError, match="over the budget of 1,000,000"):
        checks.check_parameter_budget(lab.build_vgg(widths=(64, 128, 256)), 1_000_000)
    plain = lab.build_vgg()
    plain.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(AssertionError, match="expected keras.losses.CategoricalCrossentropy"):
        checks.check_compiled(plain, label_smoothing=0.1)
    import keras

    fixed_rate = lab.build_vgg()
    fixed_rate.compile(optimizer=keras.optimizers.AdamW(1e-3),
                       loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
    with pytest.raises(AssertionError, match="learning rate is a fixed number"):
        checks.check_compiled(fixed_rate, label_smoothing=0.1)
