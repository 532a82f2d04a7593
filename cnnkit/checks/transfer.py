"""Checks for Lab 4: the augmentation block, the transfer model, and what each phase freezes.

Trainability is checked layer by layer and by behaviour: a batch-norm layer "in inference mode"
is one whose moving statistics do not move when the model is called with ``training=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cnnkit.checks.common import call_explained, require_model
from cnnkit.checks.models import check_saved_accuracy
from cnnkit.train import under_nbgrader
from cnnkit.transfer import GRADED_TRACK, AugmentationSettings, chosen_track

__all__ = ["check_augmentation", "check_transfer_model", "check_feature_extraction",
           "check_fine_tuning", "check_batchnorm_inference", "check_transfer_accuracy"]



def _bounds(value: Any) -> tuple[float, float]:
    """A Keras factor as a (low, high) range: a number f means (-f, f)."""
    if isinstance(value, (int, float)):
        return (-abs(float(value)), abs(float(value)))
    low, high = (float(bound) for bound in value)
    return (low, high)


def _expected_layers(settings: AugmentationSettings) -> dict[str, dict[str, Any]]:
    """The Keras 3 layer each non-zero generator setting becomes, with the config it needs."""
    nearest = {"fill_mode": "nearest"}
    wanted: dict[str, dict[str, Any]] = {}
    if settings.horizontal_flip:
        wanted["RandomFlip"] = {"mode": "horizontal"}
    if settings.rotation_degrees:
        wanted["RandomRotation"] = {"factor": _bounds(settings.rotation_degrees / 360), **nearest}
    if settings.shift:
        wanted["RandomTranslation"] = {"height_factor": _bounds(settings.shift),
                                       "width_factor": _bounds(settings.shift), **nearest}
    if settings.shear:
        wanted["RandomShear"] = {"x_factor": _bounds(settings.shear), "y_factor": (0.0, 0.0),
                                 **nearest}
    if settings.zoom:
        wanted["RandomZoom"] = {"height_factor": _bounds(settings.zoom),
                                "width_factor": _bounds(settings.zoom), **nearest}
    if settings.channel_shift:
        wanted["RandomBrightness"] = {"factor": _bounds(settings.channel_shift / 255),
                                      "value_range": (0.0, 255.0)}
    return wanted


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, tuple):  # a (low, high) range
        try:
            return np.allclose(expected, _bounds(got), atol=1e-6)
        except (TypeError, ValueError):
            return False
    return expected == got


def _check_block_config(block: Any, settings: AugmentationSettings, call: str) -> None:
    layers = getattr(block, "layers", None)
    if layers is None:
        raise AssertionError(f"{call} returned {type(block).__name__}; expected a "
                             "keras.Sequential of preprocessing layers.")
    wanted = _expected_layers(settings)
    layers = [layer for layer in layers if type(layer).__name__ != "Identity"]
    kinds = [type(layer).__name__ for layer in layers]
    if sorted(kinds) != sorted(wanted):
        raise AssertionError(
            f"{call} has layers {kinds}; expected one each of {sorted(wanted)} (no others: "
            "rescaling belongs to the model, and a setting of 0 means no layer).")
    for layer in layers:
        kind = type(layer).__name__
        config = layer.get_config()
        for key, expected in wanted[kind].items():
            if not _same(expected, config.get(key)):
                raise AssertionError(
                    f"{call}: {kind} has {key}={config.get(key)!r}; expected {expected!r} for "
                    f"{settings}. Hint: Keras layers take fractions of a turn and of the image "
                    "size where ImageDataGenerator took degrees and fractions; fill like the "
                    "generator did (fill_mode='nearest').")


def check_augmentation(build_augmentation: Callable[..., Any], images: np.ndarray,
                       settings: AugmentationSettings) -> None:
    """Assert ``build_augmentation(**settings)`` maps each generator setting to its Keras layer,
    is random in training (per image, per call) and exactly the identity at inference.

    Args:
        build_augmentation: the student's builder, called with the fields of an
            `AugmentationSettings` as keyword arguments.
        images: a batch of real `uint8` images `(N, H, W, C)` to run it on (N >= 8).
        settings: the settings to check it with (e.g. `CLASSIC_AUGMENTATION`).
    """
    from dataclasses import asdict

    call = f"build_augmentation(**{asdict(settings)})"
    block = call_explained(build_augmentation, call, **asdict(settings))
    _check_block_config(block, settings, call)
    none = AugmentationSettings()
    empty = call_explained(build_augmentation, "build_augmentation(all settings 0)", **asdict(none))
    _check_block_config(empty, none, "build_augmentation(all settings 0)")

    batch = np.asarray(images[:8], dtype=np.float32)
    at_inference = np.asarray(call_explained(block, f"{call}(images, training=False)", batch,
                                             training=False))
    if at_inference.shape != batch.shape or not np.array_equal(at_inference, batch):
        raise AssertionError(
            f"{call}(images, training=False) changed the images (max difference "
            f"{np.max(np.abs(at_inference - batch)) if at_inference.shape == batch.shape else 'n/a'}"
            "); expected them unchanged: augmentation must be the identity at inference.")
    first = np.asarray(block(batch, training=True))
    second = np.asarray(block(batch, training=True))
    if first.shape != batch.shape:
        raise AssertionError(f"{call} changed the shape {batch.shape} to {first.shape}; "
                             "expected the same shape (transforms fill, never crop or resize).")
    changed = np.mean(np.any(np.abs(first - batch) > 1e-3, axis=(1, 2, 3)))
    if changed < 0.75 or np.array_equal(first, second):
        raise AssertionError(
            f"{call}(images, training=True) changed {changed:.0%} of the images and "
            f"{'repeated' if np.array_equal(first, second) else 'varied'} between two calls; "
            "expected nearly every image changed, differently on each call.")
    same_image = np.repeat(batch[:1], 8, axis=0)
    copies = np.asarray(block(same_image, training=True)).reshape(8, -1)
    if len(np.unique(np.round(copies, 3), axis=0)) < 6:
        raise AssertionError(
            f"{call}: 8 copies of one image came out with at most "
            f"{len(np.unique(np.round(copies, 3), axis=0))} distinct results; expected a "
            "different random transform for each image of a batch.")
    if first.max() <= 2.0 or first.min() < -1e-3 or first.max() > 255 + 1e-3:
        raise AssertionError(
            f"{call} output values in [{first.min():.2f}, {first.max():.2f}]; expected pixels "
            "kept in [0, 255]: the block must not rescale, and brightness shifts are clipped.")
    print(f"Augmentation block: {', '.join(type(layer).__name__ for layer in block.layers)}; "
          "random per image in training, identity at inference.")


def _nested_layers(model: Any) -> list[Any]:
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(_nested_layers(layer))
    return found


def check_transfer_model(model: Any, backbone: Any, augmentation: Any, num_classes: int,
                         input_shape: tuple[int, ...]) -> None:
    """Assert ``model`` = ``augmentation`` -> preprocessing -> ``backbone`` -> global average
    pooling -> softmax over ``num_classes``, taking raw images of ``input_shape``."""
    require_model(model, "build_transfer_model(...)")
    if tuple(model.input_shape[1:]) != tuple(input_shape):
        raise AssertionError(f"The model takes inputs of shape {model.input_shape}; expected "
                             f"(None, {', '.join(map(str, input_shape))}): raw images.")
    if tuple(model.output_shape) != (None, num_classes):
        raise AssertionError(f"The model outputs shape {model.output_shape}; expected "
                             f"(None, {num_classes}): one probability per class.")
    layers = list(model.layers)
    position = next((index for index, layer in enumerate(layers) if layer is backbone), None)
    if position is None:
        raise AssertionError(
            f"{backbone.name}, the backbone passed in, is not one of the model's layers; expected "
            "the model to call that very object (a new one would not carry its pre-trained "
            "weights, and freezing it would freeze nothing the model uses).")
    block = next((index for index, layer in enumerate(layers) if layer is augmentation), None)
    if block is None or block > position:
        raise AssertionError("The augmentation block passed in is not applied before the "
                             "backbone; expected it first, on the raw images.")
    after = [type(layer).__name__ for layer in layers[position + 1:]]
    if "GlobalAveragePooling2D" not in after or after[-1] != "Dense":
        raise AssertionError(f"After the backbone come {after}; expected GlobalAveragePooling2D, "
                             "optionally Dropout, then the Dense softmax layer.")
    head = layers[-1]
    if head.get_config().get("activation") != "softmax":
        raise AssertionError(f"The last layer's activation is "
                             f"{head.get_config().get('activation')!r}; expected 'softmax'.")
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, size=(4, *input_shape)).astype(np.float32)
    first, second = np.asarray(model(batch, training=False)), np.asarray(model(batch, training=False))
    if not np.allclose(first.sum(axis=1), 1.0, atol=1e-4) or not np.array_equal(first, second):
        raise AssertionError("At inference the model's rows must sum to 1 and repeat exactly on "
                             "the same images (no augmentation or dropout at inference).")
    print(f"Transfer model: {' -> '.join(type(layer).__name__ for layer in layers[1:])}.")


def _learning_rate(model: Any) -> float:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise AssertionError("The model is not compiled. Fix: call model.compile(...) at the end "
                             "of the phase, after setting the trainable flags.")
    return float(np.asarray(optimizer.learning_rate))


def _check_fresh_optimizer(model: Any, learning_rate: float, phase: str) -> None:
    got = _learning_rate(model)
    if not np.isclose(got, learning_rate, rtol=1e-6):
        raise AssertionError(f"{phase}: the optimizer's learning rate is {got:g}; expected "
                             f"{learning_rate:g}.")
    if int(np.asarray(model.optimizer.iterations)) != 0:
        raise AssertionError(
            f"{phase}: the optimizer has already taken {int(model.optimizer.iterations)} steps; "
            "expected a freshly compiled model. Fix: compile again after changing `trainable` "
            "(Keras only picks up the new flags, and the new rate, when you recompile).")


def _variable_ids(variables: list) -> set[int]:
    return {id(variable) for variable in variables}


def check_feature_extraction(model: Any, backbone: Any, learning_rate: float) -> None:
    """Assert the backbone is entirely frozen, only the head trains, and the model was compiled
    afresh with Adam at ``learning_rate``."""
    if backbone.trainable:
        raise AssertionError("backbone.trainable is True; expected False for feature extraction.")
    for index, layer in enumerate(backbone.layers):
        if layer.trainable or layer.trainable_weights:
            raise AssertionError(f"Backbone layer {index} ({layer.name}) is still trainable; "
                                 "expected every backbone layer frozen.")
    backbone_ids = _variable_ids(backbone.weights)
    training = [variable for variable in model.trainable_weights if id(variable) in backbone_ids]
    if training:
        raise AssertionError(f"{len(training)} backbone variables still train; expected none.")
    head = model.layers[-1]
    expected = sum(int(np.prod(variable.shape)) for variable in head.trainable_weights)
    trains = sum(int(np.prod(variable.shape)) for variable in model.trainable_weights)
    if trains != expected:
        raise AssertionError(f"{trains:,} parameters train; expected {expected:,}, the head's "
                             "Dense layer only.")
    _check_fresh_optimizer(model, learning_rate, "Feature extraction")
    print(f"Feature extraction: backbone frozen, {trains:,} head parameters train, "
          f"learning rate {learning_rate:g}.")


def check_fine_tuning(model: Any, backbone: Any, top_n: int, learning_rate: float) -> None:
    """Assert exactly the last ``top_n`` backbone layers train, except batch-norm layers, which
    stay frozen, and the model was compiled afresh at ``learning_rate``."""
    import keras

    if not backbone.trainable:
        raise AssertionError("backbone.trainable is False; expected True, so that its top "
                             "layers can train.")
    layers = backbone.layers
    for index, layer in enumerate(layers):
        is_norm = isinstance(layer, keras.layers.BatchNormalization)
        expected = index >= len(layers) - top_n and not is_norm
        if bool(layer.trainable) != expected:
            where = "one of" if index >= len(layers) - top_n else "below"
            reason = ("batch-norm layers stay frozen" if is_norm else
                      f"it is {where} the last {top_n} layers")
            raise AssertionError(
                f"Backbone layer {index} ({layer.name}, {type(layer).__name__}) has "
                f"trainable={layer.trainable}; expected {expected}: {reason}.")
    _check_fresh_optimizer(model, learning_rate, "Fine-tuning")
    trains = sum(int(np.prod(variable.shape)) for variable in model.trainable_weights)
    print(f"Fine-tuning: the last {top_n} backbone layers train (batch-norm frozen), "
          f"{trains:,} parameters in all, learning rate {learning_rate:g}.")


def check_batchnorm_inference(model: Any, images: np.ndarray) -> None:
    """Assert no batch-norm layer in ``model`` updates its moving statistics in a training call.

    The model's variables are restored afterwards, so the check changes nothing.
    """
    import keras

    norms = [layer for layer in _nested_layers(model)
             if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [[variable.numpy() for variable in layer.non_trainable_weights] for layer in norms]
    batch = np.asarray(images[:32], dtype=np.float32)
    try:
        call_explained(model, "model(images, training=True)", batch, training=True)
        moved = [layer.name for layer, values in zip(norms, saved)
                 if any(not np.array_equal(value, variable.numpy())
                        for value, variable in zip(values, layer.non_trainable_weights))]
    finally:
        for layer, values in zip(norms, saved):
            for value, variable in zip(values, layer.non_trainable_weights):
                variable.assign(value)
    if moved:
        raise AssertionError(
            f"A training step moved the statistics of {len(moved)} batch-norm layer(s), e.g. "
            f"{moved[0]}; expected all {len(norms)} in inference mode. Hint: in Keras 3, "
            "calling backbone(x, training=False) is overridden by fit's training=True; keep "
            "every BatchNormalization layer's trainable flag False.")
    print(f"All {len(norms)} batch-norm layers stay in inference mode while training.")


def check_transfer_accuracy(build: Callable[[], Any], name: str, minimum: float,
                            rest: bool = False) -> None:
    """Assert the offline track's saved weights ``NAME.weights.h5`` classify ``minimum`` of the
    graded test images of the MNIST digits 5-9 (see `check_saved_accuracy`).

    Outside grading, a notebook running the imagenet track is told the check does not apply;
    while nbgrader grades, the offline track is always checked.
    """
    from cnnkit.backbones import DATASET, TARGET_CLASSES

    if not under_nbgrader() and chosen_track() not in (None, GRADED_TRACK):
        print(f"The {chosen_track()} track is not graded: the {GRADED_TRACK} track's {name} "
              "weights are. Run the notebook on the offline track too before you hand it in.")
        return
    check_saved_accuracy(build, name, minimum, dataset=DATASET, rest=rest,
                         classes=TARGET_CLASSES)
