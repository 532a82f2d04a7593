"""cnnkit.arithmetic: the lecture's sizes, paddings, parameter counts and cost tables (CURRICULUM §1, §3)."""

import keras
import pytest
from keras import layers

from cnnkit import arithmetic
from cnnkit.arithmetic import (
    conv_output_size,
    conv_param_count,
    cost_table,
    dense_param_count,
    pool_output_size,
    receptive_field,
    same_padding,
)


def test_dense_layers_on_raw_images_explode():
    """Are the lecture's dense-layer counts (≈922 M, ≈1.6 G) and feature counts right?"""
    assert dense_param_count(640 * 480 * 3, 1000) == 921_601_000
    assert dense_param_count(200 * 200, 40_000) == 1_600_040_000
    assert dense_param_count(32 * 32 * 3, 1, use_bias=False) == 3_072


@pytest.mark.parametrize(("stride", "expected"), [(1, 5), (2, 3)])
def test_seven_by_seven_with_three_by_three(stride, expected):
    """Does a 7x7 input with a 3x3 filter give 5x5 at stride 1 and 3x3 at stride 2?"""
    assert conv_output_size(7, 3, stride=stride) == expected


def test_a_filter_that_does_not_fit_is_refused_with_the_reason():
    """Is stride 3 on 7x7 refused ((7-3)/3 + 1 = 2.33) instead of floored, with what to do?"""
    with pytest.raises(ValueError, match=r"2\.33 is not a whole number.*does not fit.*Fix"):
        conv_output_size(7, 3, stride=3)
    assert conv_output_size(7, 3, stride=3, rounding="floor") == 2
    assert conv_output_size(7, 3, stride=3, rounding="ceil") == 3


@pytest.mark.parametrize("kernel_size", [3, 5, 7])
def test_valid_same_full(kernel_size):
    """Do valid, same and full give N - F + 1, N and N + F - 1, with same padding (F - 1) / 2?"""
    assert conv_output_size(32, kernel_size, padding="valid") == 32 - kernel_size + 1
    assert conv_output_size(32, kernel_size, padding="same") == 32
    assert conv_output_size(32, kernel_size, padding="full") == 32 + kernel_size - 1
    assert same_padding(kernel_size) == {3: 1, 5: 2, 7: 3}[kernel_size]
    assert conv_output_size(32, kernel_size, padding=same_padding(kernel_size)) == 32


def test_ceil_never_starts_a_window_in_the_padding():
    """Ceil keeps a partial last window, but not one that would see only padding (PyTorch's rule)."""
    assert conv_output_size(5, 2, stride=2, padding=1, rounding="ceil") == 3
    assert conv_output_size(10, 5, stride=2, rounding="ceil") == 4
    assert conv_output_size(10, 5, stride=2, padding="same") == 5


def test_numpy_integers_are_accepted():
    import numpy as np

    assert conv_output_size(np.int64(28), np.int64(5)) == 24
    assert pool_output_size(np.int32(26)) == 13


def test_pool_stride_zero_is_refused_not_replaced():
    with pytest.raises(ValueError, match=r"received stride=0"):
        pool_output_size(8, 2, stride=0)


def test_receptive_field_refuses_malformed_layers():
    with pytest.raises(ValueError, match="expected \\(kernel_size, stride\\)"):
        receptive_field([(3,)])
    with pytest.raises(ValueError, match="layer 1"):
        receptive_field([(3, 1), (3, 1, 1, 1)])


def test_same_padding_refuses_even_kernels():
    with pytest.raises(ValueError, match="expected an odd int"):
        same_padding(4)


def test_repeated_valid_five_by_five_convolutions_shrink_fast():
    """Does 32 shrink by 4 per 5x5 valid convolution: 32, 28, 24, 20, ...?"""
    sizes = [32]
    while sizes[-1] >= 5:
        sizes.append(conv_output_size(sizes[-1], 5))
    assert sizes == [32, 28, 24, 20, 16, 12, 8, 4]


def test_dilation_widens_the_filter():
    """Is a 3x3 filter with dilation 2 as wide as a 5x5 one (effective D(F-1)+1)?"""
    assert conv_output_size(10, 3, dilation=2) == conv_output_size(10, 5) == 6
    assert receptive_field([(3, 1, 2)]) == 5


def test_parameter_counts():
    """Do the formulas give the lecture's 375 weights, AlexNet's CONV1 and agree with Keras?"""
    assert conv_param_count(5, 3, 5, use_bias=False) == 375
    assert conv_param_count(5, 3, 5) == 380
    assert conv_param_count(11, 3, 96) == 34_944
    layer = layers.Conv2D(32, 3)
    layer.build((None, 8, 8, 16))
    assert conv_param_count(3, 16, 32) == layer.count_params()
    assert tuple(layer.kernel.shape) == (3, 3, 16, 32)


def test_the_conv_pool_chain_needs_ceil_for_six():
    """28 -> 26 -> 13 -> 11 -> 6 only with ceil ('same') pooling; floor gives 5; exact refuses."""
    assert conv_output_size(28, 3) == 26
    assert pool_output_size(26) == 13
    assert conv_output_size(13, 3) == 11
    assert pool_output_size(11, rounding="floor") == 5
    assert pool_output_size(11, rounding="ceil") == pool_output_size(11, padding="same") == 6
    with pytest.raises(ValueError, match=r"pool_output_size\(11, 2, stride=2.*does not fit"):
        pool_output_size(11)
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(16, 3), layers.MaxPooling2D(),
                              layers.Conv2D(64, 3), layers.MaxPooling2D(padding="same")])
    assert [row.output_shape for row in cost_table(model).rows] == [
        (28, 28, 1), (26, 26, 16), (13, 13, 16), (11, 11, 64), (6, 6, 64)]


def test_stacked_three_by_three_convolutions_see_as_far_as_one_larger_kernel():
    """Do 2 and 3 stacked 3x3 convs see 5x5 and 7x7, and does a stride-2 pool double the step?"""
    assert [receptive_field([(3, 1)] * depth) for depth in (1, 2, 3)] == [3, 5, 7]
    assert receptive_field([(3, 1), (2, 2), (3, 1)]) == 8


@pytest.mark.parametrize("bad", [{"input_size": 0}, {"stride": 0}, {"padding": "middle"},
                                 {"padding": -1}, {"rounding": "round"}, {"kernel_size": 9}])
def test_bad_arguments_say_what_was_received(bad):
    arguments = {"input_size": 7, "kernel_size": 3} | bad
    with pytest.raises(ValueError, match="received|larger than"):
        conv_output_size(**arguments)


def test_cost_table_counts_one_small_model_by_hand():
    """Do the table's rows give shapes, parameters, activations, multiply-adds and float32 bytes?"""
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Conv2D(4, 3, name="conv"),
                              layers.Flatten(name="flatten"), layers.Dense(5, name="dense")])
    table = cost_table(model)
    conv, flatten, dense = table.row("conv"), table.row("flatten"), table.row("dense")
    assert (conv.output_shape, conv.parameters, conv.activations) == ((6, 6, 4), 112, 144)
    assert conv.multiply_adds == 6 * 6 * 4 * (3 * 3 * 3)
    assert conv.connections == conv.multiply_adds + 144
    assert flatten.is_view and flatten.activation_bytes == 0
    assert dense.multiply_adds == 144 * 5 and dense.parameters == 725
    assert table.parameters == model.count_params() == 837
    assert table.activations == 8 * 8 * 3 + 144 + 5
    assert table.activation_bytes == 4 * table.activations
    assert "total" in table.format() and "837" in table.format()
    with pytest.raises(KeyError, match="no layer 'missing'"):
        table.row("missing")


def test_cost_table_counts_separable_and_depthwise_convolutions():
    """Are depthwise and separable multiply-adds H*W*C*k*k and H*W*C*(k*k + filters)?"""
    model = keras.Sequential([keras.Input((10, 10, 8)),
                              layers.DepthwiseConv2D(3, padding="same", name="depthwise"),
                              layers.SeparableConv2D(16, 3, padding="same", name="separable")])
    table = cost_table(model)
    assert table.row("depthwise").multiply_adds == 10 * 10 * 8 * 9
    assert table.row("separable").multiply_adds == 10 * 10 * 8 * (9 + 16)


def test_cost_table_counts_transposed_and_grouped_convolutions_and_nested_models():
    """Transposed: inputs x k x k x filters; grouped: C_in / groups per output; nested: expanded."""
    inner = keras.Sequential([keras.Input((4, 4, 8)), layers.Conv2D(8, 3, padding="same", groups=4,
                                                                    name="grouped")], name="inner")
    inputs = keras.Input((4, 4, 8))
    outputs = layers.Conv2DTranspose(2, 2, strides=2, name="up")(inner(inputs))
    table = cost_table(keras.Model(inputs, outputs))
    assert table.row("grouped").multiply_adds == 4 * 4 * 8 * (3 * 3 * 8 // 4)
    assert table.row("up").output_shape == (8, 8, 2)
    assert table.row("up").multiply_adds == 4 * 4 * 8 * (2 * 2) * 2


def test_cost_table_refuses_shared_layers_and_channels_first():
    """A layer called twice would be counted once: refused with the reason."""
    shared = layers.Dense(4, name="shared")
    inputs = keras.Input((4,))
    with pytest.raises(ValueError, match="'shared' is called 2 times"):
        cost_table(keras.Model(inputs, shared(shared(inputs))))
    channels_first = keras.Sequential([keras.Input((3, 8, 8)),
                                       layers.Conv2D(4, 3, data_format="channels_first")])
    with pytest.raises(ValueError, match="channels_first; expected channels_last"):
        cost_table(channels_first)


def test_cost_table_refuses_a_model_without_input_shape():
    with pytest.raises(ValueError, match="no known input shape"):
        cost_table(keras.Sequential([layers.Dense(3)]))
    with pytest.raises(TypeError, match="expected a keras.Model"):
        cost_table("vgg16")


def test_public_names():
    assert set(arithmetic.__all__) >= {"conv_output_size", "receptive_field", "conv_param_count",
                                       "cost_table"}
