"""The Keras-model and evaluation checks: they pass Lab 2's solution and explain each kind of bug."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit import checks
from tests.labcode import solution_namespace

LAB = "lab2-mnist"


@pytest.fixture(scope="module")
def lab():
    """Lab 2's solution functions (no training: the cells that only define functions)."""
    return solution_namespace(LAB, ("setup", "build_mlp", "build_convnet", "confusion_matrix",
                                    "most_confident_mistakes", "shift_images", "build_lenet"))


def _sequential(*stack, name="model"):
    import keras
    from keras import layers

    return keras.Sequential([keras.Input((28, 28, 1)), layers.Rescaling(1 / 255), *stack],
                            name=name)


def test_solution_models_pass_the_architecture_checks(lab, capsys):
    """Do the solution's three models pass every architecture check, printing one line each?"""
    checks.check_probabilities(lab.build_mlp(), name="mlp")
    checks.check_parameter_count(lab.build_mlp(), 203_530, name="mlp")
    checks.check_feature_map(lab.build_convnet(), (7, 7, 32), name="convnet")
    checks.check_fewer_parameters(lab.build_convnet(), lab.build_mlp())
    checks.check_parameter_count(lab.build_lenet(), 61_706, name="lenet")
    out = capsys.readouterr().out
    assert "203,530 parameters" in out and "7x7x32" in out and "61,706 parameters" in out


def test_feature_map_check_explains_a_wrong_padding():
    """A ConvNet with 'valid' convolutions ends at 4x4, and the message lists every layer."""
    from keras import layers

    valid = _sequential(layers.Conv2D(32, 5, activation="relu"), layers.MaxPooling2D(2),
                        layers.Conv2D(32, 5, activation="relu"), layers.MaxPooling2D(2),
                        layers.Flatten(), layers.Dense(10, activation="softmax"))
    with pytest.raises(AssertionError, match=r"has shape \(4, 4, 32\), expected \(7, 7, 32\)"
                                             r".*padding='same'"):
        checks.check_feature_map(valid, (7, 7, 32), name="convnet")


def test_probability_check_catches_a_missing_softmax_and_a_wrong_width():
    """Logits instead of probabilities, or 9 outputs, fail with the fix in the message."""
    from keras import layers

    logits = _sequential(layers.Flatten(), layers.Dense(10))
    with pytest.raises(AssertionError, match="activation='softmax'"):
        checks.check_probabilities(logits)
    nine = _sequential(layers.Flatten(), layers.Dense(9, activation="softmax"))
    with pytest.raises(AssertionError, match=r"shape \(8, 10\), got \(8, 9\)"):
        checks.check_probabilities(nine)


def test_a_function_that_returns_nothing_is_named_as_such():
    """The broken LeNet's missing return: the message says the function returned None."""
    with pytest.raises(AssertionError, match="forget to return"):
        checks.check_parameter_count(None, 61_706, name="lenet")


def test_fewer_parameters_check_fails_for_a_big_head(lab):
    """A ConvNet with a 512-unit head is bigger than the MLP: the message says where the weights are."""
    from keras import layers

    big = _sequential(layers.Conv2D(32, 5, padding="same"), layers.MaxPooling2D(4),
                      layers.Flatten(), layers.Dense(512, activation="relu"),
                      layers.Dense(10, activation="softmax"))
    with pytest.raises(AssertionError, match="not fewer than mlp's 203,530.*first Dense"):
        checks.check_fewer_parameters(big, lab.build_mlp())


@pytest.fixture
def full_profile(monkeypatch, tmp_path):
    """The full profile, outside nbgrader, working in an empty folder."""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("CNNKIT_PROFILE", "full")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.real_data
def test_saved_accuracy_is_that_of_the_weights_file(lab, real_mnist, full_profile, monkeypatch,
                                                    capsys):
    """No file: 'missing'; untrained weights fail the bar, even under a cheating predict()."""
    with pytest.raises(AssertionError, match="mnist_convnet.weights.h5 is missing. Fix: run"):
        checks.check_saved_accuracy(lab.build_convnet, "mnist_convnet", 0.985)
    lab.build_convnet().save_weights(full_profile / "mnist_convnet.weights.h5")
    with pytest.raises(AssertionError, match=r"of 2,000 graded test images are right, "
                                             r"expected at least 98.5%"):
        checks.check_saved_accuracy(lab.build_convnet, "mnist_convnet", 0.985)

    import keras

    _, labels = checks.grading_slice("mnist")

    class Cheat(keras.Sequential):
        def predict(self, *args, **kwargs):  # "perfect" answers, whatever the weights
            return np.eye(10)[labels]

    def build_cheat():
        return Cheat([keras.Input((28, 28, 1)), *lab.build_convnet().layers])

    with pytest.raises(AssertionError, match="expected at least 98.5%"):
        checks.check_saved_accuracy(build_cheat, "mnist_convnet", 0.985)

    monkeypatch.setenv("CNNKIT_PROFILE", "smoke")  # outside nbgrader: report, no bar
    lab.build_convnet().save_weights(full_profile / "mnist_convnet.smoke.weights.h5")
    assert checks.check_saved_accuracy(lab.build_convnet, "mnist_convnet", 0.985) is None
    assert "smoke profile" in capsys.readouterr().out

    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # under nbgrader: the bar applies
    with pytest.raises(AssertionError, match="expected at least 98.5%"):
        checks.check_saved_accuracy(lab.build_convnet, "mnist_convnet", 0.985)


@pytest.mark.real_data
def test_weights_of_another_model_are_explained(lab, real_mnist, full_profile):
    """Weights saved from the MLP do not fit the ConvNet: the message says to rebuild or retrain."""
    lab.build_mlp().save_weights(full_profile / "mnist_convnet.weights.h5")
    with pytest.raises(AssertionError, match="do not fit this model"):
        checks.check_saved_accuracy(lab.build_convnet, "mnist_convnet", 0.985)


def test_inputs_must_be_scaled_inside_the_model(lab):
    """No scaling layer, or one that multiplies by 255, fails; the solution's models pass."""
    import keras
    from keras import layers

    checks.check_scales_inputs(lab.build_mlp(), name="mlp")
    checks.check_scales_inputs(lab.build_convnet(), name="convnet")
    raw = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(),
                            layers.Dense(10, activation="softmax")])
    with pytest.raises(AssertionError, match=r"no scaling layer .* layers.Rescaling\(1 / 255\)"):
        checks.check_scales_inputs(raw)
    with pytest.raises(AssertionError, match=r"maps pixel value 255 to 6.5e\+04"):
        checks.check_scales_inputs(keras.Sequential([keras.Input((28, 28, 1)), layers.Rescaling(255),
                                                     layers.Flatten(), layers.Dense(10)]))


def test_layer_kinds_are_counted(lab):
    """A 'ConvNet' that only pools and a dense layer is refused; the solution has its 2+2 layers."""
    from keras import layers

    checks.check_layers(lab.build_convnet(), {"Conv2D": 2, "MaxPooling2D": 2}, name="convnet")
    no_conv = _sequential(layers.AveragePooling2D(4), layers.Dense(32), layers.Flatten(),
                          layers.Dense(10, activation="softmax"))
    with pytest.raises(AssertionError, match="expected at least 2 Conv2D layer"):
        checks.check_layers(no_conv, {"Conv2D": 2, "MaxPooling2D": 2})


def test_a_model_without_input_is_told_to_start_with_one():
    """keras.Sequential without keras.Input has no shapes: the message says what to add."""
    import keras
    from keras import layers

    unbuilt = keras.Sequential([layers.Flatten(), layers.Dense(10, activation="softmax")])
    with pytest.raises(AssertionError, match=r"not built.*keras.Input"):
        checks.check_parameter_count(unbuilt, 7_850)


@pytest.mark.real_data
def test_grading_slice_is_fixed_and_spread_over_the_test_set(real_mnist):
    """2,000 images, the same on every call, drawn from both halves of the MNIST test set."""
    images, labels = checks.grading_slice("mnist")
    again, _ = checks.grading_slice("mnist")
    assert images.shape == (2000, 28, 28, 1) and images.dtype == np.uint8
    assert np.array_equal(images, again)
    counts = np.bincount(labels, minlength=10)
    assert counts.min() > 150, counts  # every digit well represented
    rest_images, rest_labels = checks.grading_slice("mnist", rest=True)
    assert len(rest_labels) == 8000
    joined = np.concatenate([images, rest_images]).reshape(10000, -1)
    assert len(np.unique(joined, axis=0)) >= 9990  # the two parts are disjoint (a few digits repeat)


def test_trains_check_passes_lenet_and_fails_a_frozen_model(lab):
    """The repaired LeNet learns; a frozen model, or one blind to its input, is caught."""
    from keras import layers

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 256)
    images = np.zeros((256, 28, 28, 1), dtype=np.uint8)
    for index, label in enumerate(labels):  # a learnable pattern: a bright column per class
        images[index, :, 2 + 2 * label] = 255
    checks.check_trains(lab.build_lenet, images, labels, name="lenet")

    def frozen():
        model = _sequential(layers.Flatten(), layers.Dense(10, activation="softmax"))
        model.layers[-1].trainable = False
        return model

    def constant():  # trainable, but its output ignores the image
        return _sequential(layers.Lambda(lambda x: x * 0.0), layers.Flatten(),
                           layers.Dense(10, activation="softmax"), name="constant")

    with pytest.raises(AssertionError, match="no trainable weights"):
        checks.check_trains(frozen, images, labels, name="frozen")
    with pytest.raises(AssertionError, match="expected at most 60% of the start"):
        checks.check_trains(constant, images, labels, name="constant")


def test_evaluation_checks_pass_the_solution(lab, capsys):
    """The solution's confusion matrix, mistakes and shift agree with the oracles."""
    checks.check_confusion_matrix(lab.confusion_matrix)
    checks.check_most_confident_mistakes(lab.most_confident_mistakes)
    checks.check_shift_images(lab.shift_images)
    assert capsys.readouterr().out.count("agree with") == 3


def test_confusion_matrix_must_be_integer_counts():
    """Row-normalised (float) matrices are refused with the fix."""
    def normalised(labels, predictions, num_classes=10):
        counts = np.zeros((num_classes, num_classes))
        np.add.at(counts, (labels, predictions), 1)
        return counts

    with pytest.raises(AssertionError, match="expected an array of integer counts"):
        checks.check_confusion_matrix(normalised)


def test_transposed_confusion_matrix_fails():
    """Rows and columns swapped: the message says what entry [i, j] counts."""
    def transposed(labels, predictions, num_classes=10):
        counts = np.zeros((num_classes, num_classes), dtype=int)
        np.add.at(counts, (predictions, labels), 1)
        return counts

    with pytest.raises(AssertionError, match=r"entry \[i, j\] counts the images of true class i"):
        checks.check_confusion_matrix(transposed)


@pytest.mark.parametrize("bug, message", [
    ("ascending", "most confident mistake first"),
    ("includes_right", "is not a mistake"),
    ("ignores_k", "expected a 1-D array of 5 indices"),
    ("repeats", "with repeats"),
    ("column", r"got shape \(5, 1\)"),
])
def test_mistakes_check_catches_each_bug(bug, message):
    """Least confident first, right answers, k ignored, repeats, a column: each is caught."""

    def mistakes(probabilities, labels, k):
        confidence = probabilities.max(axis=1)
        wrong = np.flatnonzero(probabilities.argmax(axis=1) != labels)
        if bug == "includes_right":
            wrong = np.arange(len(labels))
        order = np.argsort(confidence[wrong])
        if bug != "ascending":
            order = order[::-1]
        if bug == "repeats":
            return np.repeat(wrong[order[:1]], k)
        if bug == "column":
            return wrong[order[:k]].reshape(-1, 1)
        return wrong[order] if bug == "ignores_k" else wrong[order[:k]]

    with pytest.raises(AssertionError, match=message):
        checks.check_most_confident_mistakes(mistakes)


def test_shift_check_catches_in_place_and_square_only_versions():
    """Shifting the caller's array in place, or assuming square images, is caught."""
    def in_place(images, dx, dy):
        from scipy.ndimage import shift

        images[:] = shift(images, (0, dy, dx, 0), order=0)
        return images

    def square_only(images, dx, dy):
        from scipy.ndimage import shift

        size = images.shape[1]
        return shift(images[:, :size, :size], (0, dy, dx, 0), order=0)

    with pytest.raises(AssertionError, match="changed its input array in place"):
        checks.check_shift_images(in_place)
    with pytest.raises(AssertionError, match=r"expected shape \(2, 6, 9, 3\), got \(2, 6, 6, 3\)"):
        checks.check_shift_images(square_only)


def test_shift_check_catches_wrap_around_and_a_flipped_direction():
    """np.roll wraps pixels around; a sign error moves left instead of right."""
    with pytest.raises(AssertionError, match="no wrap-around"):
        checks.check_shift_images(lambda images, dx, dy: np.roll(images, (dy, dx), axis=(1, 2)))

    def flipped(images, dx, dy):
        from scipy.ndimage import shift

        return shift(images, (0, dy, -dx, 0), order=0)

    with pytest.raises(AssertionError, match="positive dx moves the content right"):
        checks.check_shift_images(flipped)
