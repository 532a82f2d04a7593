"""cnnkit.models: the lecture architectures and the numbers CURRICULUM §5 states about them."""

import math

import keras
import numpy as np
import pytest

from cnnkit import models
from cnnkit.arithmetic import cost_table


def _trainable(model: keras.Model) -> int:
    return sum(math.prod(weight.shape) for weight in model.trainable_weights)


# LeCun et al. (1998), Table I, row by row: the C3 maps (columns) each S2 map (row) feeds.
TABLE_I = ["X   XXX  XXXX XX", "XX   XXX  XXXX X", "XXX   XXX  X XXX",
           " XXX  XXXX  X XX", "  XXX  XXXX XX X", "   XXX  XXXX XXX"]


def test_lenet5_c3_partial_table():
    """Is C3's table the paper's Table I, and does it hold exactly 1,516 parameters?"""
    from_paper = [tuple(row for row in range(6) if TABLE_I[row][column] == "X") for column in range(16)]
    assert [tuple(sorted(inputs)) for inputs in models.LENET5_C3_TABLE] == from_paper
    assert [len(inputs) for inputs in from_paper] == [3] * 6 + [4] * 9 + [6]
    table = cost_table(models.build_lenet5())
    c3 = table.row("C3")
    assert (c3.output_shape, c3.parameters, c3.connections) == ((10, 10, 16), 1_516, 151_600)


def test_lenet5_layers_and_total():
    """S2: 12 parameters, 5,880 connections; C1 122,304 connections; about 60 K parameters."""
    model = models.build_lenet5()
    table = cost_table(model)
    assert (table.row("S2").parameters, table.row("S2").connections) == (12, 5_880)
    assert table.row("C1").connections == 122_304
    assert table.row("C5").output_shape == (1, 1, 120)
    assert _trainable(model) == table.parameters == 60_850
    assert models.build_lenet5(full_c3=True).count_params() - table.parameters == 2_416 - 1_516


def test_lenet5_c3_reads_only_its_table():
    """Does an output map of C3 ignore the input maps its table leaves out?"""
    model = models.build_lenet5()
    c3 = model.get_layer("C3")
    maps = np.random.default_rng(0).normal(size=(1, 14, 14, 6)).astype("float32")
    base = keras.ops.convert_to_numpy(c3(maps))
    changed = maps.copy()
    changed[..., 5] += 1.0  # map 0 reads maps 0, 1, 2 only; map 3 reads 3, 4, 5
    after = keras.ops.convert_to_numpy(c3(changed))
    np.testing.assert_allclose(after[..., 0], base[..., 0], atol=1e-6)
    assert not np.allclose(after[..., 3], base[..., 3])


def test_lenet5_layers_round_trip_through_a_saved_model(tmp_path):
    model = models.build_lenet5()
    path = tmp_path / "lenet5.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    images = np.random.default_rng(1).normal(size=(2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0),
                               atol=1e-6)


def test_partial_conv_refuses_a_table_beyond_its_input():
    layer = models.PartialConv2D([(0, 7)], 3)
    with pytest.raises(ValueError, match="expected indices in 0..5"):
        layer.build((None, 10, 10, 6))


def test_alexnet_as_tabulated():
    """CONV1 34,944 parameters -> 55x55x96; 27x27x96, 13x13x256, 6x6x256; about 60 M in all."""
    table = cost_table(models.build_alexnet())
    assert (table.row("conv1").parameters, table.row("conv1").output_shape) == (34_944, (55, 55, 96))
    assert table.row("pool1").output_shape == (27, 27, 96)
    assert table.row("pool2").output_shape == (13, 13, 256)
    assert table.row("pool3").output_shape == (6, 6, 256)
    assert table.parameters == 62_378_344


@pytest.mark.slow
def test_vgg16_matches_keras_applications():
    """Same layer shapes and parameters as keras.applications.VGG16; 138 M, 102,760,448 in fc1."""
    ours, reference = cost_table(models.build_vgg16()), cost_table(
        keras.applications.VGG16(weights=None))
    assert [(row.output_shape, row.parameters) for row in ours.rows] == \
        [(row.output_shape, row.parameters) for row in reference.rows]
    assert ours.parameters == 138_357_544
    assert ours.row("fc1").parameters - 4096 == 7 * 7 * 512 * 4096 == 102_760_448
    assert ours.parameter_bytes == 553_430_176  # ≈ 552 MB as the lecture rounds 138 M x 4 bytes
    assert ours.activations == 15_237_608  # the honest sum; the slide quotes 24 M
    assert round(ours.multiply_adds / 1e9, 1) == 15.5


@pytest.mark.slow
def test_mobilenet_full_versus_separable():
    """The paper's Table 4: 29.3 M vs 4.2 M parameters, 4,866 M vs 569 M mult-adds."""
    separable = cost_table(models.build_mobilenet(separable=True))
    full = cost_table(models.build_mobilenet(separable=False))
    assert separable.parameters == keras.applications.MobileNet(weights=None).count_params()
    assert round(separable.parameters / 1e6, 1) == 4.3 and round(full.parameters / 1e6, 1) == 29.3
    assert round(separable.multiply_adds / 1e6) == 569
    assert abs(full.multiply_adds / 1e6 - 4866) < 2


def test_blocks_shapes():
    """Do the residual, separable and Inception blocks give the documented output shapes?"""
    inputs = keras.Input((28, 28, 32))
    assert models.residual_block(inputs, 32).shape[1:] == (28, 28, 32)
    assert models.residual_block(inputs, 64, stride=2, name="down").shape[1:] == (14, 14, 64)
    assert models.depthwise_separable_block(inputs, 64, stride=2).shape[1:] == (14, 14, 64)
    assert models.inception_block(inputs, 8, 4, 16, 2, 4, 4).shape[1:] == (28, 28, 32)
    naive = models.inception_block(inputs, 8, 0, 16, 0, 4, 0, name="naive")
    assert naive.shape[1:] == (28, 28, 8 + 16 + 4 + 32)
