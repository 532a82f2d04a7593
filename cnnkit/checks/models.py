"""Checks of Keras models: output, feature-map shape, parameters, accuracy, trainability.

Lab 2's models take images exactly as `cnnkit.data` returns them (`uint8`, `(N, H, W, C)`, values
0..255) and scale them inside the model; Lab 3's take images scaled to [0, 1], the contract its
pipeline check enforces (`check_saved_accuracy(..., scale=1 / 255)`). Either way the graded
weights are evaluated on the test images with no knowledge of the student's own preprocessing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cnnkit.checks.common import call_explained, require_model
from cnnkit.train import current_profile, load_weights, subset, weights_path_for

GRADING_SLICE_SIZE = 2000
GRADING_SLICE_SEED = 2026

__all__ = [
    "GRADING_SLICE_SIZE", "check_doubling_widths", "check_feature_map", "check_fewer_parameters",
    "check_compiled", "check_layers", "check_parameter_budget", "check_parameter_count",
    "check_float32_output", "check_probabilities", "check_saved_accuracy", "check_scales_inputs",
    "check_trains", "check_vgg_blocks", "grading_slice",
]


def _layer_outputs(model: Any, name: str) -> list[tuple[str, tuple]]:
    """(layer name, output shape without the batch axis) for each top-level layer."""
    shapes = []
    for layer in model.layers:
        try:
            shape = tuple(layer.output.shape)[1:]
        except (AttributeError, ValueError):
            raise AssertionError(
                f"{name}: layer {layer.name!r} has no known output shape. Build the model with "
                "keras.Sequential([keras.Input(shape), ...]) or the functional API, so its shapes "
                "are known before training.") from None
        shapes.append((layer.name, shape))
    return shapes


def check_probabilities(model: Any, input_shape: tuple[int, ...] = (28, 28, 1),
                        num_classes: int = 10, name: str = "model") -> None:
    """Assert ``model`` maps a batch of `uint8` images to ``num_classes`` probabilities per image.

    Args:
        model: a Keras model taking images of ``input_shape`` (values 0..255).
        input_shape: `(height, width, channels)` of one image.
        num_classes: the number of classes.
        name: how the model is called in messages.
    """
    require_model(model, name)
    images = np.random.default_rng(0).integers(0, 256, size=(8, *input_shape), dtype=np.uint8)
    call = f"{name}.predict(8 images of shape {input_shape})"
    outputs = np.asarray(call_explained(model.predict, call, images, verbose=0))
    if outputs.shape != (8, num_classes):
        raise AssertionError(f"{call}: expected an output of shape (8, {num_classes}), got "
                             f"{outputs.shape}. Hint: end with Dense({num_classes}).")
    sums = outputs.sum(axis=1)
    if (outputs < 0).any() or not np.allclose(sums, 1.0, atol=1e-3):
        raise AssertionError(
            f"{call}: expected probabilities (non-negative, each row summing to 1), got rows "
            f"summing to {np.round(sums[:3], 3).tolist()}... with minimum {outputs.min():.3g}. "
            "Hint: the last layer needs activation='softmax'.")
    print(f"{name}: {num_classes} probabilities per image.")


def check_feature_map(model: Any, expected: tuple[int, ...], name: str = "model") -> None:
    """Assert the convolutional part of ``model`` ends in a feature map of shape ``expected``.

    The feature map is the output of the last layer whose output is still an image
    `(height, width, channels)`, i.e. what enters the classifier head.
    """
    require_model(model, name)
    shapes = _layer_outputs(model, name)
    images = [(layer, shape) for layer, shape in shapes if len(shape) == 3]
    if not images:
        raise AssertionError(f"{name}: no layer outputs an image (height, width, channels); "
                             "expected convolution and pooling layers before the head.")
    layer, shape = images[-1]
    if shape != tuple(expected):
        table = ", ".join(f"{layer_name} {shape_}" for layer_name, shape_ in shapes)
        raise AssertionError(
            f"{name}: the feature map entering the head (output of {layer!r}) has shape {shape}, "
            f"expected {tuple(expected)}. Layer outputs: {table}. Hint: padding='same' keeps "
            "the size through a convolution; each 2x2 max-pool halves it.")
    print(f"{name}: the feature map entering the head is {'x'.join(map(str, shape))}.")


def check_parameter_count(model: Any, expected: int, name: str = "model",
                          hint: str = "") -> None:
    """Assert ``model`` has exactly ``expected`` parameters (trainable and not)."""
    require_model(model, name)
    got = model.count_params()
    if got != expected:
        rows = ", ".join(f"{layer.name} {layer.count_params():,}" for layer in model.layers)
        raise AssertionError(f"{name}: expected {expected:,} parameters, got {got:,} ({rows})."
                             f"{' Hint: ' + hint if hint else ''}")
    print(f"{name}: {got:,} parameters.")


def check_fewer_parameters(small: Any, large: Any, small_name: str = "convnet",
                           large_name: str = "mlp") -> None:
    """Assert ``small`` has fewer parameters than ``large``."""
    require_model(small, small_name)
    require_model(large, large_name)
    if small.count_params() >= large.count_params():
        raise AssertionError(
            f"{small_name} has {small.count_params():,} parameters, not fewer than {large_name}'s "
            f"{large.count_params():,}. Hint: most parameters sit in the first Dense layer after "
            "Flatten; shrink the feature map or that layer.")
    print(f"{small_name}: {small.count_params():,} parameters, fewer than {large_name}'s "
          f"{large.count_params():,}.")


def grading_slice(dataset: str = "mnist", rest: bool = False,
                  classes: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The fixed 2,000 test images (and labels) that accuracy is graded on, or all the others.

    A seeded random choice from the whole test split, in original order, the same for everyone.
    The slice is public, so a hidden test also looks at the rest (``rest=True``): a model fitted
    to the slice would fail there.

    Args:
        classes: keep only the test images of these classes, labelled 0..len(classes)-1 in
            that order (Lab 4's target task: Fashion-MNIST classes 5-9), before choosing.

    Returns:
        `(images, labels)`: `uint8` of shape `(2000, H, W, C)` and `int64` of shape `(2000,)`
        (with ``rest``: the remaining test images, e.g. 8,000 for MNIST).
    """
    from cnnkit.data import load_dataset, select_classes

    _, test = load_dataset(dataset)
    images, labels = select_classes(test, classes) if classes else (test.images, test.labels)
    chosen = subset(np.arange(len(labels)), size=GRADING_SLICE_SIZE, seed=GRADING_SLICE_SEED)
    keep = np.setdiff1d(np.arange(len(labels)), chosen) if rest else chosen
    return images[keep], labels[keep]


def check_saved_accuracy(build: Callable[[], Any], name: str, minimum: float,
                         dataset: str = "mnist", directory: str | None = None,
                         rest: bool = False, scale: float | None = None,
                         classes: tuple[int, ...] | None = None) -> None:
    """Assert the weights saved as ``NAME.weights.h5`` classify ``minimum`` of the grading slice.

    What is graded is the file that will be submitted, not whatever model the notebook holds:
    a fresh model is built with ``build``, the weights are loaded from disk, and Keras' own
    `keras.Model.predict` evaluates it on the raw `uint8` test images of `grading_slice`.
    In the ``smoke`` profile (outside nbgrader) the smoke run's weights are evaluated and the
    bar is not applied: it is meant for weights trained in the ``full`` profile.

    Args:
        build: the function that builds the (uncompiled) model, e.g. ``build_convnet``.
        name: the weights' name given to `fit_or_load`, e.g. ``"mnist_convnet"``.
        minimum: the bar, a fraction (0.985 for 98.5 %).
        dataset: the registered data set whose test split is used.
        directory: where the weights are (default: the working directory, beside the notebook).
        rest: evaluate on the test images outside the grading slice instead.
        scale: for models that take scaled images (e.g. ``1 / 255`` for a pipeline that yields
            [0, 1]), the factor applied to the raw images first; None feeds raw `uint8`.
        classes: grade on the test images of these classes only (see `grading_slice`).
    """
    import keras

    profile = current_profile()
    weights = weights_path_for(name, directory, profile)
    if not weights.is_file():
        raise AssertionError(
            f"{weights.name} is missing. Fix: run the training cell of {name} in the full profile "
            f"(it writes {weights.name} beside the notebook) and hand the file in with it.")
    builder = f"{getattr(build, '__name__', 'build')}()"
    model = call_explained(build, builder)
    require_model(model, builder)
    try:
        load_weights(model, weights)
    except ValueError as error:
        raise AssertionError(f"{name}: {error}") from None
    images, labels = grading_slice(dataset, rest, classes)
    if scale is not None:
        images = images.astype(np.float32) * np.float32(scale)
    call = f"{builder} with {weights.name}, on {len(images)} test images"
    outputs = np.asarray(call_explained(keras.Model.predict, call, model, images, batch_size=500,
                                        verbose=0))
    if outputs.ndim != 2 or len(outputs) != len(labels):
        raise AssertionError(f"{call}: expected one row of class scores per image, got shape "
                             f"{outputs.shape}.")
    accuracy = float(np.mean(outputs.argmax(axis=1) == labels))
    where = "the other test images" if rest else "the grading slice"
    scaling = ("feed the model images scaled as the pipeline does" if scale is not None
               else "keep the scaling inside the model")
    if profile.name == "smoke":
        print(f"{name}: {accuracy:.2%} on {where} (smoke profile: the "
              f"{minimum:.1%} bar applies to weights trained in the full profile).")
        return
    if accuracy < minimum:
        raise AssertionError(
            f"{name}: {accuracy:.2%} of {len(labels):,} graded test images are right, expected "
            f"at least {minimum:.1%}. Hint: train in the full profile (CNNKIT_PROFILE unset) with "
            f"the lab's recipe, {scaling}, and hand in the .weights.h5 file the training cell "
            "wrote.")
    print(f"{name}: {accuracy:.2%} of {len(labels):,} graded test images (bar {minimum:.1%}).")


def check_scales_inputs(model: Any, name: str = "model", largest: float = 5.0) -> None:
    """Assert ``model`` scales its `uint8` input itself, before any layer with weights.

    A `Rescaling` or `Normalization` layer must come before the first layer with weights, and map
    pixel values 0..255 into [-largest, largest].
    """
    import keras

    require_model(model, name)
    scaling = (keras.layers.Rescaling, keras.layers.Normalization)
    for layer in model.layers:
        if isinstance(layer, scaling):
            probe = keras.Model(model.inputs, layer.output)
            shape = model.input_shape[1:]
            extremes = np.stack([np.zeros(shape), np.full(shape, 255)]).astype(np.uint8)
            scaled = np.abs(np.asarray(probe.predict(extremes, verbose=0)))
            if scaled.max() > largest:
                raise AssertionError(
                    f"{name}: {layer.name!r} maps pixel value 255 to {scaled.max():.3g}; expected "
                    f"values within +-{largest:g}. Hint: layers.Rescaling(1 / 255) maps 0..255 to "
                    "0..1.")
            print(f"{name}: scales its input ({layer.name}: 0..255 -> at most {scaled.max():.3g}).")
            return
        if layer.weights:
            break
    raise AssertionError(
        f"{name}: no scaling layer before the first layer with weights. Fix: put "
        "layers.Rescaling(1 / 255) right after keras.Input, so the model takes raw uint8 images.")


def check_layers(model: Any, at_least: dict[str, int], name: str = "model") -> None:
    """Assert ``model`` has at least so many layers of each kind, e.g. ``{"Conv2D": 2}``.

    Kinds are `keras.layers` class names; subclasses count (a `Conv2D` subclass is a `Conv2D`).
    """
    import keras

    require_model(model, name)
    for kind, count in at_least.items():
        found = sum(isinstance(layer, getattr(keras.layers, kind)) for layer in model.layers)
        if found < count:
            kinds = ", ".join(type(layer).__name__ for layer in model.layers)
            raise AssertionError(f"{name}: expected at least {count} {kind} layer(s), found "
                                 f"{found} (layers: {kinds}).")
    counts = ", ".join(f"at least {count} {kind}" for kind, count in at_least.items())
    print(f"{name}: has {counts}.")


def check_parameter_budget(model: Any, budget: int, name: str = "model") -> None:
    """Assert ``model`` has at most ``budget`` parameters."""
    require_model(model, name)
    if model.count_params() > budget:
        raise AssertionError(f"{name}: {model.count_params():,} parameters, over the budget of "
                             f"{budget:,}. Hint: check the widths, and pool before the head.")
    print(f"{name}: {model.count_params():,} parameters (budget {budget:,}).")


def check_doubling_widths(model: Any, name: str = "model") -> None:
    """Assert the `Conv2D` widths come in blocks whose width doubles from one block to the next."""
    import keras

    require_model(model, name)
    widths = [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    blocks = [width for index, width in enumerate(widths)
              if index == 0 or width != widths[index - 1]]
    if len(blocks) < 2 or any(after != 2 * before for before, after in zip(blocks, blocks[1:])):
        raise AssertionError(f"{name}: convolution widths {widths}; expected blocks whose width "
                             "doubles, e.g. [32, 32, 64, 64, 128, 128].")
    print(f"{name}: widths {' -> '.join(map(str, blocks))}.")


def _block_tokens(model: Any) -> list[str]:
    """The convolutional part of ``model`` as words: Conv2D(32), BN, ReLU, MaxPool, ..."""
    import keras

    words = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            words.append(f"Conv2D({layer.filters})")
            if getattr(layer.activation, "__name__", "") == "relu":
                words.append("ReLU")
        elif isinstance(layer, keras.layers.BatchNormalization):
            words.append("BN")
        elif isinstance(layer, keras.layers.ReLU) or (
                isinstance(layer, keras.layers.Activation)
                and getattr(layer.activation, "__name__", "") == "relu"):
            words.append("ReLU")
        elif isinstance(layer, keras.layers.MaxPooling2D):
            words.append("MaxPool")
    return words


def check_vgg_blocks(model: Any, widths: tuple[int, ...], batch_norm: bool = True,
                     bn_momentum: float | None = None, name: str = "model") -> None:
    """Assert ``model`` is made of VGG-style blocks, one per width in ``widths``.

    A block is twice [3x3 `Conv2D(width, padding="same")` → `BatchNormalization` → ReLU], then a
    2x2 `MaxPooling2D`; with ``batch_norm=False`` twice [Conv2D → ReLU]. With batch norm the
    convolutions have no bias (batch norm's beta plays that role); without it they keep theirs.
    With ``bn_momentum``, every batch norm must use that momentum. Only the order of these
    layers is checked; what sits between them (e.g. Dropout) and the head are free.
    """
    import keras

    require_model(model, name)
    unit = ["BN", "ReLU"] if batch_norm else ["ReLU"]
    expected = [word for width in widths
                for word in [f"Conv2D({width})", *unit, f"Conv2D({width})", *unit, "MaxPool"]]
    got = _block_tokens(model)
    if got != expected:
        raise AssertionError(
            f"{name}: layers {' '.join(got) or '(none)'}; expected {' '.join(expected)}. Hint: "
            f"for each width in {tuple(widths)}, twice Conv2D(width, 3, padding='same') → "
            + ("BatchNormalization() → ReLU()" if batch_norm else "ReLU()")
            + ", then MaxPooling2D(2), with the layers directly in the model.")
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and bn_momentum is not None and \
                not np.isclose(layer.momentum, bn_momentum):
            raise AssertionError(
                f"{name}: {layer.name!r} has momentum={layer.momentum}; expected "
                f"momentum={bn_momentum}. Hint: BatchNormalization(momentum={bn_momentum}), so "
                "the moving averages used at inference keep up in a short run.")
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        if tuple(layer.kernel_size) != (3, 3) or layer.padding != "same" or \
                tuple(layer.strides) != (1, 1):
            raise AssertionError(
                f"{name}: {layer.name!r} has kernel {tuple(layer.kernel_size)}, padding "
                f"{layer.padding!r}, strides {tuple(layer.strides)}; expected (3, 3), 'same', "
                "(1, 1). Hint: Conv2D(width, 3, padding='same').")
        if layer.use_bias == batch_norm:
            raise AssertionError(
                f"{name}: {layer.name!r} has use_bias={layer.use_bias}; expected "
                f"use_bias={not batch_norm}. Hint: "
                + ("batch norm subtracts the mean right after, so a bias would be cancelled: "
                   "use_bias=False." if batch_norm else
                   "without batch norm nothing else shifts the outputs: keep the bias."))
    print(f"{name}: {len(widths)} blocks of widths {' -> '.join(map(str, widths))}, each twice "
          f"Conv-{'BN-' if batch_norm else ''}ReLU then a max-pool.")


def check_float32_output(build: Callable[[], Any], name: str = "model") -> None:
    """Assert the model from ``build`` outputs float32 even under mixed precision.

    The model is built under the ``mixed_float16`` policy (as on a GPU); its output must still
    be float32, so that the probabilities and the loss are exact.
    """
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = call_explained(build, f"{name} under mixed precision")
    finally:
        keras.mixed_precision.set_global_policy(previous)
    require_model(model, name)
    dtype = str(model.outputs[0].dtype)
    if "float32" not in dtype:
        raise AssertionError(f"{name}: under mixed precision the output is {dtype}; expected "
                             "float32. Hint: give the last layer dtype=\"float32\".")
    print(f"{name}: float32 output under mixed precision.")


def check_compiled(model: Any, label_smoothing: float, name: str = "model") -> None:
    """Assert ``model`` is compiled with a learning-rate schedule and smoothed cross-entropy.

    Expected: the optimizer's learning rate is a `keras.optimizers.schedules.LearningRateSchedule`
    and the loss `keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)`.
    """
    import keras

    require_model(model, name)
    if getattr(model, "optimizer", None) is None:
        raise AssertionError(f"{name} is not compiled. Fix: call model.compile(...) and return "
                             "the model.")
    loss = getattr(model, "loss", None)
    if not isinstance(loss, keras.losses.CategoricalCrossentropy):
        raise AssertionError(f"{name}: compiled with loss {loss!r}; expected "
                             "keras.losses.CategoricalCrossentropy(label_smoothing=...).")
    got = loss.get_config().get("label_smoothing", 0.0)
    if not np.isclose(got, label_smoothing):
        raise AssertionError(f"{name}: label_smoothing={got}; expected {label_smoothing}.")
    rate = getattr(model.optimizer, "_learning_rate", None)
    if not isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        raise AssertionError(f"{name}: the optimizer's learning rate is a fixed number; expected "
                             "a schedule object (e.g. WarmupCosine(total_steps, peak)).")
    print(f"{name}: {type(rate).__name__} schedule; cross-entropy with label smoothing "
          f"{label_smoothing:g}.")


def check_trains(build: Callable[[], Any], images: np.ndarray, labels: np.ndarray,
                 name: str = "model", epochs: int = 3, at_most: float = 0.6) -> None:
    """Assert a fresh model from ``build`` learns: a short fit cuts its loss to ``at_most`` x start.

    The model is compiled here (Adam, sparse categorical cross-entropy) and fitted on
    ``images``/``labels`` (a few hundred examples suffice), seeded so the check is repeatable.
    """
    import keras

    keras.utils.set_random_seed(0)
    model = call_explained(build, f"{getattr(build, '__name__', name)}()")
    require_model(model, name)
    if not model.trainable_weights:
        raise AssertionError(f"{name} has no trainable weights, so it cannot learn. Hint: look "
                             "for trainable=False on the model or its layers.")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    before = float(model.evaluate(images, labels, verbose=0))
    call_explained(model.fit, f"{name}.fit", images, labels, epochs=epochs, batch_size=32,
                   verbose=0)
    after = float(model.evaluate(images, labels, verbose=0))
    if not np.isfinite(after) or after > at_most * before:
        raise AssertionError(
            f"{name}: {epochs} epochs on {len(labels)} images took the loss from {before:.3f} to "
            f"{after:.3f}; expected at most {at_most:.0%} of the start. Hint: check the "
            "activations (tanh/relu inside, softmax at the end) and that every layer is called "
            "on the previous layer's output.")
    print(f"{name} trains: loss {before:.3f} -> {after:.3f} in {epochs} epochs on "
          f"{len(labels)} images.")
