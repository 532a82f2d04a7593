"""The pipeline, schedule and Lab 3 model checks: they pass the solution and explain each bug."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnkit import checks
from tests.labcode import solution_namespace

LAB = "lab3-cifar10"


@pytest.fixture(scope="module")
def lab():
    """Lab 3's solution functions (no data needed: the training set is a placeholder)."""
    return solution_namespace(LAB, ("setup", "make_pipeline", "build_vgg", "warmup_cosine",
                                    "recipe", "compile_vgg"),
                              preset={"x_train": np.zeros((256, 32, 32, 3), dtype=np.uint8)})


PARTS = {"batches": checks.check_pipeline_batches, "evaluation": checks.check_pipeline_evaluation,
         "augmentation": checks.check_pipeline_augmentation,
         "shuffling": checks.check_pipeline_shuffling}


def test_solution_passes_every_check(lab, capsys):
    """The solution's pipeline (all four parts), schedule, model and compile settings pass."""
    checks.check_pipeline(lab.make_pipeline)
    checks.check_schedule(lab.warmup_cosine)
    vgg = lab.build_vgg()
    checks.check_vgg_blocks(vgg, (32, 64, 128), bn_momentum=0.9)
    checks.check_vgg_blocks(lab.build_vgg((16, 32)), (16, 32))
    checks.check_vgg_blocks(lab.build_vgg(batch_norm=False), (32, 64, 128), batch_norm=False)
    checks.check_float32_output(lab.build_vgg)
    checks.check_doubling_widths(vgg)
    checks.check_parameter_budget(vgg, 1_000_000)
    checks.check_compiled(lab.compile_vgg(vgg), label_smoothing=0.1)
    out = capsys.readouterr().out
    for line in ("batch sizes [16, 16, 16, 2]", "scaled exactly, in their order",
                 "augment=False turns it off; the seed reproduces it",
                 "reshuffled every epoch, the seed reproduces the order", "32 -> 64 -> 128",
                 "float32 output under mixed precision"):
        assert line in out


def _pipeline(bug: str):
    """A pipeline with one planted bug (the solution's structure otherwise)."""
    import tensorflow as tf

    def make_pipeline(images, labels, training, batch_size=128, seed=0, augment=True):
        scale = 255.0 * (255.0 if bug == "scaled_twice" else 1.0)
        targets = labels if bug == "integer_targets" else tf.one_hot(labels, 10)
        if bug == "smoothed_targets":
            targets = targets * 0.9 + 0.01
        if bug == "labels_shuffled_apart" and training:
            images = tf.random.shuffle(images, seed=seed)
        dataset = tf.data.Dataset.from_tensor_slices((images, targets))
        dataset = dataset.map(lambda x, y: (tf.cast(x, tf.float32) / scale, tf.cast(y, tf.float32)))
        augmenting = (augment or bug == "augment_ignored") if training else \
            bug == "augments_at_evaluation"
        if training and bug != "no_shuffle":
            buffer = 4 if bug == "small_buffer" else len(images)
            dataset = dataset.shuffle(buffer, seed=None if bug == "unseeded" else seed,
                                      reshuffle_each_iteration=bug != "frozen_epochs")
        if augmenting:
            def transform(example, position):
                image, target = example
                first = 0 if bug == "augmentation_ignores_seed" else seed
                key = tf.stack([tf.cast(first, tf.int64), position])
                if bug == "stateful_augmentation":
                    image = tf.image.random_flip_left_right(image)
                    image = tf.pad(image, [[4, 4], [4, 4], [0, 0]])
                    return tf.image.random_crop(image, [32, 32, 3]), target
                if bug != "no_flip":
                    image = tf.image.stateless_random_flip_left_right(image, key)
                mode = "REFLECT" if bug == "reflect_padding" else "CONSTANT"
                image = tf.pad(image, [[4, 4], [4, 4], [0, 0]], mode=mode)
                return tf.image.stateless_random_crop(image, [32, 32, 3], key + 1), target

            if bug == "per_batch":  # one crop for the whole batch
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


@pytest.mark.parametrize("bug, part, message", [
    ("integer_targets", "batches", "expected one-hot float32"),
    ("smoothed_targets", "batches", "label smoothing belongs to the loss"),
    ("drop_remainder", "batches", "batch sizes \\[16, 16, 16\\]; expected \\[16, 16, 16, 2\\]"),
    ("augments_at_evaluation", "evaluation", "at evaluation nothing random"),
    ("scaled_twice", "evaluation", "differ from images / 255"),
    ("no_flip", "augmentation", "0 of 48 images flipped"),
    ("reflect_padding", "augmentation", "pad 4 pixels of zeros"),
    ("per_batch", "augmentation", "within a batch all images got the same flip or shift"),
    ("augment_ignored", "augmentation", "augment=False.*expected them unchanged"),
    # stateful ops ignore `seed`: unrepeatable, or (under a global seed) the same for every seed
    ("stateful_augmentation", "augmentation",
     "expected the same seed to give the same|expected the seed to drive the augmentation"),
    ("augmentation_ignores_seed", "augmentation", "the same flips and shifts as with seed=3"),
    ("labels_shuffled_apart", "shuffling", "shuffle \\(image, label\\) pairs together"),
    ("no_shuffle", "shuffling", "come in their original order"),
    ("unseeded", "shuffling", "same seed gave another order"),
    ("frozen_epochs", "shuffling", "a second pass over the same dataset comes in the same order"),
    ("small_buffer", "shuffling", "shuffle with a buffer as large as the data set"),
])
def test_each_pipeline_part_fails_on_its_bug_and_the_others_still_pass(bug, part, message):
    """Does each part fail, with its hint, on the bug it targets, while the other three parts
    pass (so a student with that one bug keeps their points)?"""
    pipeline = _pipeline(bug)
    with pytest.raises(AssertionError, match=message):
        PARTS[part](pipeline)
    for other, check in PARTS.items():
        if other != part:
            check(pipeline)


def test_pipeline_parts_say_what_is_missing_when_there_is_no_pipeline_yet():
    """Does a stub that returns None fail every part with 'expected a tf.data.Dataset'?"""
    for check in PARTS.values():
        with pytest.raises(AssertionError, match="expected a tf.data.Dataset, received NoneType"):
            check(lambda images, labels, training, batch_size=128, seed=0, augment=True: None)


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


def _vgg(bug: str):
    """A small VGG-style model with one planted bug."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=(32, 32, 3))
    x = inputs
    for width in (16, 32):
        for _ in range(2):
            x = layers.Conv2D(width, 5 if bug == "kernel_5" else 3, padding="same",
                              use_bias=bug == "bias_with_bn")(x)
            if bug == "relu_before_bn":
                x = layers.ReLU()(x)
                x = layers.BatchNormalization()(x)
            else:
                x = layers.BatchNormalization()(x)
                x = layers.ReLU()(x)
        if bug != "one_pool_at_the_end":
            x = layers.MaxPooling2D(2)(x)
    if bug == "one_pool_at_the_end":
        x = layers.MaxPooling2D(4)(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax",
                           dtype=None if bug == "float16_output" else "float32")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("bug, message", [
    ("kernel_5", "has kernel \\(5, 5\\).*expected \\(3, 3\\)"),
    ("bias_with_bn", "use_bias=True; expected use_bias=False"),
    ("relu_before_bn", "layers Conv2D\\(16\\) ReLU BN"),
    ("one_pool_at_the_end", "expected Conv2D\\(16\\) BN ReLU Conv2D\\(16\\) BN ReLU MaxPool"),
])
def test_vgg_block_check_explains_each_bug(bug, message):
    """A 5x5 kernel, a bias before batch norm, ReLU before BN, one pool for all blocks: caught."""
    checks.check_vgg_blocks(_vgg("none"), (16, 32))
    with pytest.raises(AssertionError, match=message):
        checks.check_vgg_blocks(_vgg(bug), (16, 32))


def test_vgg_block_check_asks_for_the_batch_norm_momentum_when_told():
    """Is Keras' default momentum (0.99) refused where 0.9 is asked for, with the fix?"""
    checks.check_vgg_blocks(_vgg("none"), (16, 32))
    with pytest.raises(AssertionError, match="momentum=0.99; expected momentum=0.9"):
        checks.check_vgg_blocks(_vgg("none"), (16, 32), bn_momentum=0.9)


def test_vgg_block_check_refuses_batch_norm_where_none_was_asked_for():
    """Does batch_norm=False refuse a model that still has batch norm, and say so?"""
    with pytest.raises(AssertionError, match="expected Conv2D\\(16\\) ReLU Conv2D\\(16\\) ReLU"):
        checks.check_vgg_blocks(_vgg("none"), (16, 32), batch_norm=False)


def test_float32_output_check_builds_under_mixed_precision_and_restores_the_policy():
    """Is a head without dtype='float32' caught under mixed precision, and the policy restored?"""
    import keras

    checks.check_float32_output(lambda: _vgg("none"))
    with pytest.raises(AssertionError, match="output is float16; expected float32"):
        checks.check_float32_output(lambda: _vgg("float16_output"))
    assert keras.mixed_precision.global_policy().name == "float32"
