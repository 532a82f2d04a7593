"""Backbones for Lab 4: the kit's own digits backbone (pre-trained here) and MobileNetV2.

The offline track needs a pre-trained network without any download, so the kit trains one on
the MNIST digits 0-4 and ships its weights; the lab transfers it to the digits 5-9, which it has
never seen: the strokes, curves and junctions are shared, the classes are not.
`pretrain_digits_backbone` is the script that made the shipped file (``cnnkit backbone
pretrain``); its recipe and measured accuracy are recorded beside the weights in
``digits_backbone.json``, and the test suite checks the script still reproduces them.

Why digits and not Fashion-MNIST classes 0-4 -> 5-9 (the first design): tops, trousers and
dresses taught a backbone almost nothing about sandals, sneakers and bags (-0.5 points against
from scratch at 100 labels per class in the earlier recorded benchmark; about +2 at 10 labels per
class in exploratory runs with 2-3 seeds), while digits 0-4 -> 5-9 gives +10.9 at 10 labels per
class over 3 seeds (``bench/results/transfer.md``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

DATASET = "mnist"  # the source digits and the target digits both come from it
SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SHIPPED_WEIGHTS = WEIGHTS_DIR / "digits_source_model.weights.h5"
SHIPPED_RECORD = WEIGHTS_DIR / "digits_backbone.json"

# (filters, followed by 2x2 max-pooling) per Conv-BN-ReLU unit: 28x28 -> 14x14 -> 7x7x128.
BACKBONE_UNITS = ((32, True), (64, True), (128, False))
# Keras' default momentum (0.99) leaves batch-norm's moving averages far behind the weights
# after the few hundred steps a 50-image training set gets: measured (earlier backbone), a
# from-scratch model then scored 21 % at inference while it scored 90 % in training mode.
# 0.9 lets them keep up, so the from-scratch baseline is a fair one.
BATCHNORM_MOMENTUM = 0.9
PRETRAIN_RECIPE = {"epochs": 3, "batch_size": 128, "peak_learning_rate": 3e-3,
                   "warmup_fraction": 0.1, "seed": 0,
                   "augmentation": {"rotation_degrees": 10, "shift": 0.1, "zoom": 0.1}}


def digits_backbone(name: str = "digits_backbone") -> Any:
    """Build the offline track's backbone with random weights.

    Conv(3x3, same, no bias) - BatchNormalization - ReLU units (``BACKBONE_UNITS``), 2x2
    max-pooling after the first two; 12 layers counting the input.

    Input: images scaled to [0, 1], shape `(batch, 28, 28, 1)`.
    Output: feature maps of shape `(batch, 7, 7, 128)`.
    """
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1), name="scaled_images")
    x = inputs
    pools = 0
    for unit, (filters, pool) in enumerate(BACKBONE_UNITS, start=1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{unit}")(x)
        x = layers.BatchNormalization(momentum=BATCHNORM_MOMENTUM, name=f"bn{unit}")(x)
        x = layers.ReLU(name=f"relu{unit}")(x)
        if pool:
            pools += 1
            x = layers.MaxPooling2D(name=f"pool{pools}")(x)
    return keras.Model(inputs, x, name=name)


def source_classifier(backbone: Any) -> Any:
    """The model the backbone was pre-trained in: raw `uint8` images `(batch, 28, 28, 1)` ->
    scale to [0, 1] -> backbone -> global average pooling -> softmax over the 5 source digits."""
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1), name="images")
    x = layers.Rescaling(1 / 255, name="scale")(inputs)
    x = backbone(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(len(SOURCE_CLASSES), activation="softmax", name="source_classes")(x)
    return keras.Model(inputs, outputs, name="digits_source_model")


def load_digits_backbone(pretrained: bool = True, weights: str | os.PathLike | None = None) -> Any:
    """Return the offline track's backbone, with the shipped pre-trained weights by default.

    Args:
        pretrained: False gives the same architecture with random weights (the from-scratch
            baseline).
        weights: a source-model weights file written by `pretrain_digits_backbone`; default
            the one shipped with the kit.
    """
    backbone = digits_backbone()
    if pretrained:
        path = Path(weights) if weights is not None else SHIPPED_WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: it ships with cnnkit. Fix: reinstall cnnkit, or regenerate it "
                "with `cnnkit backbone pretrain` (about 2 minutes on a 2-core CPU).")
        source_classifier(backbone).load_weights(path)
    return backbone


def pretrain_digits_backbone(output: str | os.PathLike = SHIPPED_WEIGHTS, epochs: int | None = None,
                             stop_after: int | None = None, verbose: int = 2) -> dict:
    """Pre-train the backbone on the MNIST digits 0-4 and write its weights and record.

    Recipe (``PRETRAIN_RECIPE``): all 30,596 training images of the five source digits, each
    randomly rotated (up to 10 degrees), shifted and zoomed (up to 10 %), so that the features
    tolerate the small variations of handwriting; Adam with a 10 % linear warm-up to 3e-3 then
    cosine decay, batch 128, 3 epochs, seed 0, op determinism on. After each epoch the accuracy
    on the 5,139 source-digit test images is recorded; the target digits 5-9 are never seen.

    Args:
        output: the weights file (the whole source model); the record goes beside it as
            ``digits_backbone.json``.
        epochs: the length of the schedule (default the recipe's 3).
        stop_after: stop after this many epochs of that schedule (to check a shorter run
            against the recorded curve); default: run it all.

    Returns:
        The record written: recipe, per-epoch test accuracy, seconds, versions, sha256.
    """
    import keras
    import tensorflow as tf

    from cnnkit.data import load_mnist, select_classes
    from cnnkit.data.formats import sha256_of
    from cnnkit.train import set_seed

    recipe = dict(PRETRAIN_RECIPE, epochs=epochs or PRETRAIN_RECIPE["epochs"])
    set_seed(recipe["seed"], deterministic=True)
    train, test = load_mnist()
    x_train, y_train = select_classes(train, SOURCE_CLASSES)
    x_test, y_test = select_classes(test, SOURCE_CLASSES)
    model = source_classifier(digits_backbone())
    augment = PRETRAIN_RECIPE["augmentation"]
    trainer = keras.Sequential([  # the recipe's random transforms, then the model saved
        keras.Input((28, 28, 1)),
        keras.layers.RandomRotation(augment["rotation_degrees"] / 360, fill_mode="nearest"),
        keras.layers.RandomTranslation(augment["shift"], augment["shift"], fill_mode="nearest"),
        keras.layers.RandomZoom(augment["zoom"], augment["zoom"], fill_mode="nearest"),
        model], name="pretraining")
    steps = recipe["epochs"] * int(np.ceil(len(x_train) / recipe["batch_size"]))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, steps, warmup_target=recipe["peak_learning_rate"],
        warmup_steps=int(recipe["warmup_fraction"] * steps))
    trainer.compile(optimizer=keras.optimizers.Adam(schedule),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    accuracy, seconds = [], 0.0
    for epoch in range(stop_after or recipe["epochs"]):
        start = time.perf_counter()
        trainer.fit(x_train, y_train, batch_size=recipe["batch_size"], epochs=epoch + 1,
                    initial_epoch=epoch, verbose=verbose)
        seconds += time.perf_counter() - start
        accuracy.append(round(float(model.evaluate(x_test, y_test, verbose=0)[1]), 4))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(output)
    record = {
        "source_dataset": DATASET,
        "source_classes": list(SOURCE_CLASSES),
        "recipe": recipe,
        "epochs_run": len(accuracy),
        "source_test_accuracy_per_epoch": accuracy,
        "train_seconds": round(seconds, 1),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "weights_sha256": sha256_of(output.read_bytes()),
    }
    output.with_name(SHIPPED_RECORD.name).write_text(json.dumps(record, indent=2) + "\n")
    return record


def shipped_record() -> dict:
    """The record of the shipped weights: recipe, per-epoch accuracy, versions, sha256."""
    return json.loads(SHIPPED_RECORD.read_text())


def mobilenet_backbone(image_size: tuple[int, int] = (160, 160), pretrained: bool = True) -> Any:
    """`keras.applications.MobileNetV2` without its top: `(batch, H, W, 3)` in [-1, 1] ->
    `(batch, H/32, W/32, 1280)`; 154 layers.

    ``pretrained`` loads the ImageNet weights (downloaded once into ``~/.keras/models``) unless
    ``CNNKIT_IMAGENET_WEIGHTS=none``, which gives random weights so the imagenet track's code can
    be tested where nothing can be downloaded.
    """
    import keras

    wanted = "imagenet" if pretrained else None
    if os.environ.get("CNNKIT_IMAGENET_WEIGHTS", "").strip().lower() == "none":
        wanted = None
    try:
        return keras.applications.MobileNetV2(input_shape=(*image_size, 3), include_top=False,
                                              weights=wanted)
    except Exception as error:  # noqa: BLE001 - a failed download surfaces as several types
        raise RuntimeError(
            f"Could not load MobileNetV2's ImageNet weights ({type(error).__name__}: {error}). "
            "They are downloaded once into ~/.keras/models and need internet access. Fix: run "
            "on Colab or a connected machine, or choose the offline track.") from None
