"""Reference architectures of the lectures, built in Keras with random weights, for counting.

LeNet-5 (1998) with its original subsampling layers and C3's partial connection table,
AlexNet (2012) as the lecture tabulates it, VGG-16 (2014), MobileNet (2017) with separable or full
convolutions, and the residual, depthwise-separable and Inception blocks. None is trained here;
the notebooks use them to count parameters, activations and multiply-adds (`cnnkit.arithmetic`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

__all__ = [
    "LENET5_C3_TABLE", "PartialConv2D", "Subsampling", "build_alexnet", "build_lenet5",
    "build_mobilenet", "build_vgg16", "depthwise_separable_block", "inception_block",
    "residual_block",
]

# LeCun et al. (1998), Table I: the S2 maps (0-5) each C3 map (0-15) reads. Maps 0-5 read 3
# adjacent maps, 6-11 read 4 adjacent ones, 12-14 read 4 non-adjacent ones, 15 reads all 6.
LENET5_C3_TABLE: tuple[tuple[int, ...], ...] = (
    *(tuple((start + offset) % 6 for offset in range(3)) for start in range(6)),
    *(tuple((start + offset) % 6 for offset in range(4)) for start in range(6)),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


@keras.saving.register_keras_serializable(package="cnnkit")
class Subsampling(layers.Layer):
    """LeNet-5's subsampling: the sum of each 2x2 window times a trainable coefficient, plus a bias.

    One coefficient and one bias per map, then the activation. Input `(H, W, C)` -> output
    `(H / 2, W / 2, C)`; 2 * C parameters.
    """

    def __init__(self, activation: str = "tanh", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape: tuple) -> None:
        channels = input_shape[-1]
        self.coefficient = self.add_weight(shape=(channels,), initializer="ones", name="coefficient")
        self.bias = self.add_weight(shape=(channels,), initializer="zeros", name="bias")

    def call(self, inputs: Any) -> Any:
        window_sums = ops.average_pool(inputs, pool_size=2, strides=2) * 4.0
        return self.activation(window_sums * self.coefficient + self.bias)

    def multiply_adds(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> int:
        """One multiply by the coefficient per output value (the window sum is additions)."""
        return math.prod(output_shape)

    def connections(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> int:
        """Each output value is wired to its 4 inputs and the bias."""
        return math.prod(output_shape) * (4 + 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": keras.activations.serialize(self.activation)}


@keras.saving.register_keras_serializable(package="cnnkit")
class PartialConv2D(layers.Layer):
    """A 'valid' convolution whose output map j reads only the input maps `table[j]`.

    LeNet-5's C3 uses it to break symmetry and save parameters. Input `(H, W, C_in)` ->
    output `(H - F + 1, W - F + 1, len(table))`; sum over j of (F * F * len(table[j]) + 1)
    parameters, each output map with its own kernel `(F, F, len(table[j]), 1)` and bias.
    """

    def __init__(self, table: Sequence[Sequence[int]], kernel_size: int = 5,
                 activation: str = "tanh", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.table = tuple(tuple(int(index) for index in inputs) for inputs in table)
        self.kernel_size = int(kernel_size)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape: tuple) -> None:
        channels = input_shape[-1]
        for output_map, inputs in enumerate(self.table):
            if not inputs or min(inputs) < 0 or max(inputs) >= channels:
                raise ValueError(f"PartialConv2D: output map {output_map} reads input maps {inputs}; "
                                 f"expected indices in 0..{channels - 1} (the input has {channels}).")
        self.kernels = [self.add_weight(shape=(self.kernel_size, self.kernel_size, len(inputs), 1),
                                        initializer="glorot_uniform", name=f"kernel_{output_map}")
                        for output_map, inputs in enumerate(self.table)]
        self.bias = self.add_weight(shape=(len(self.table),), initializer="zeros", name="bias")

    def call(self, inputs: Any) -> Any:
        maps = [ops.conv(ops.take(inputs, list(selected), axis=-1), kernel, padding="valid")
                for selected, kernel in zip(self.table, self.kernels)]
        return self.activation(ops.concatenate(maps, axis=-1) + self.bias)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, height, width, _ = input_shape
        shrink = self.kernel_size - 1
        return (batch, None if height is None else height - shrink,
                None if width is None else width - shrink, len(self.table))

    def multiply_adds(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> int:
        """Per example: every output position of map j reads F * F * len(table[j]) inputs."""
        positions = output_shape[0] * output_shape[1]
        return positions * sum(self.kernel_size ** 2 * len(inputs) for inputs in self.table)

    def connections(self, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> int:
        """Per example: the multiply-adds plus one bias connection per output value."""
        return self.multiply_adds(input_shape, output_shape) + math.prod(output_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "table": [list(inputs) for inputs in self.table],
                "kernel_size": self.kernel_size,
                "activation": keras.activations.serialize(self.activation)}


def build_lenet5(input_shape: tuple[int, int, int] = (32, 32, 1), num_classes: int = 10,
                 full_c3: bool = False) -> keras.Model:
    """Build LeNet-5 (LeCun et al., 1998) with random weights.

    C1: 6 maps 5x5 -> S2: subsampling -> C3: 16 maps 5x5 on the partial table -> S4 ->
    C5: 120 maps 5x5 -> F6: 84 units -> `num_classes` outputs. tanh inside, softmax at the end
    (the paper's output layer is a set of fixed RBF units; a dense softmax takes its place).

    Args:
        input_shape: channels-last input; the paper's 32x32x1 gives C5 an output of 1x1x120.
        num_classes: outputs of the last layer.
        full_c3: connect every C3 map to all six S2 maps (a plain Conv2D) instead of the table.
    """
    c3 = (layers.Conv2D(16, 5, activation="tanh", name="C3") if full_c3
          else PartialConv2D(LENET5_C3_TABLE, 5, name="C3"))
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(6, 5, activation="tanh", name="C1"),
        Subsampling(name="S2"),
        c3,
        Subsampling(name="S4"),
        layers.Conv2D(120, 5, activation="tanh", name="C5"),
        layers.Flatten(name="flatten"),
        layers.Dense(84, activation="tanh", name="F6"),
        layers.Dense(num_classes, activation="softmax", name="output"),
    ], name="lenet5")


def build_alexnet(input_shape: tuple[int, int, int] = (227, 227, 3),
                  num_classes: int = 1000) -> keras.Model:
    """Build AlexNet (Krizhevsky et al., 2012) as one stream, as the lecture tabulates it.

    CONV1 96 11x11/4 -> POOL 3x3/2 -> CONV2 256 5x5 pad 2 -> POOL -> CONV3 384 3x3 ->
    CONV4 384 3x3 -> CONV5 256 3x3 -> POOL -> FC 4096 -> FC 4096 -> FC `num_classes`; ReLU,
    dropout 0.5 on the outputs of the first two FC layers. The paper's local response normalisation and
    its split over two GPUs are left out (they change no output shape).
    """
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(96, 11, strides=4, activation="relu", name="conv1"),
        layers.MaxPooling2D(3, strides=2, name="pool1"),
        layers.Conv2D(256, 5, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(3, strides=2, name="pool2"),
        layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3"),
        layers.Conv2D(384, 3, padding="same", activation="relu", name="conv4"),
        layers.Conv2D(256, 3, padding="same", activation="relu", name="conv5"),
        layers.MaxPooling2D(3, strides=2, name="pool3"),
        layers.Flatten(name="flatten"),
        layers.Dense(4096, activation="relu", name="fc6"),
        layers.Dropout(0.5, name="dropout6"),
        layers.Dense(4096, activation="relu", name="fc7"),
        layers.Dropout(0.5, name="dropout7"),
        layers.Dense(num_classes, activation="softmax", name="fc8"),
    ], name="alexnet")


VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def build_vgg16(input_shape: tuple[int, int, int] = (224, 224, 3),
                num_classes: int = 1000) -> keras.Model:
    """Build VGG-16 (Simonyan & Zisserman, 2014): 13 3x3 convs in 5 blocks, 2x2 pools, 3 FC layers.

    Layer names and shapes match `keras.applications.VGG16(weights=None)`.
    """
    model_layers = [keras.Input(shape=input_shape)]
    for block, (filters, convs) in enumerate(VGG16_BLOCKS, start=1):
        model_layers += [layers.Conv2D(filters, 3, padding="same", activation="relu",
                                       name=f"block{block}_conv{conv}") for conv in range(1, convs + 1)]
        model_layers.append(layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool"))
    model_layers += [layers.Flatten(name="flatten"),
                     layers.Dense(4096, activation="relu", name="fc1"),
                     layers.Dense(4096, activation="relu", name="fc2"),
                     layers.Dense(num_classes, activation="softmax", name="predictions")]
    return keras.Sequential(model_layers, name="vgg16")


def residual_block(inputs: Any, filters: int, stride: int = 1, name: str = "residual") -> Any:
    """Apply a ResNet basic block: two 3x3 Conv-BN layers learn a residual added to the input.

    The shortcut is the identity when shapes agree, else a 1x1 convolution with the block's stride.
    `(H, W, C)` -> `(H / stride, W / stride, filters)`.
    """
    shortcut = inputs
    if stride != 1 or inputs.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj")(inputs)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                      name=f"{name}_conv1")(inputs)
    x = layers.BatchNormalization(name=f"{name}_bn1")(x)
    x = layers.ReLU(name=f"{name}_relu1")(x)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(x)
    x = layers.BatchNormalization(name=f"{name}_bn2")(x)
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.ReLU(name=f"{name}_out")(x)


def depthwise_separable_block(inputs: Any, filters: int, stride: int = 1,
                              name: str = "separable") -> Any:
    """Apply MobileNet's block: 3x3 depthwise conv -> BN -> ReLU -> 1x1 pointwise conv -> BN -> ReLU.

    `(H, W, C)` -> `(H / stride, W / stride, filters)`.
    """
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                               name=f"{name}_depthwise")(inputs)
    x = layers.BatchNormalization(name=f"{name}_depthwise_bn")(x)
    x = layers.ReLU(name=f"{name}_depthwise_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pointwise")(x)
    x = layers.BatchNormalization(name=f"{name}_pointwise_bn")(x)
    return layers.ReLU(name=f"{name}_pointwise_relu")(x)


def _full_conv_block(inputs: Any, filters: int, stride: int, name: str) -> Any:
    """The same mapping as `depthwise_separable_block` with one full 3x3 convolution."""
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(inputs)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


# Howard et al. (2017), Table 1: (filters, stride) of the 13 blocks after the first convolution.
MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                    *((512, 1),) * 5, (1024, 2), (1024, 1))


def build_mobilenet(separable: bool = True, input_shape: tuple[int, int, int] = (224, 224, 3),
                    num_classes: int = 1000) -> keras.Model:
    """Build MobileNet v1 (width 1.0) with depthwise-separable blocks, or with full 3x3 convs.

    A 3x3/2 convolution of 32 filters, 13 blocks (`MOBILENET_BLOCKS`), global average pooling and
    a dense softmax. `separable=False` gives the paper's "Conv MobileNet" used to measure what
    the separable convolutions save.
    """
    block = depthwise_separable_block if separable else _full_conv_block
    inputs = keras.Input(shape=input_shape)
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for index, (filters, stride) in enumerate(MOBILENET_BLOCKS, start=1):
        x = block(x, filters, stride, name=f"block{index}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mobilenet" if separable else "conv_mobilenet")


def inception_block(inputs: Any, branch_1x1: int, reduce_3x3: int, branch_3x3: int,
                    reduce_5x5: int, branch_5x5: int, pool_projection: int,
                    name: str = "inception") -> Any:
    """Apply a GoogLeNet Inception module: 1x1, 3x3, 5x5 and pooled branches, concatenated.

    The 3x3 and 5x5 branches start with 1x1 "bottleneck" convolutions down to `reduce_3x3` and
    `reduce_5x5` channels; a reduction of 0 leaves the bottleneck out (the naive module).
    `(H, W, C)` -> `(H, W, branch_1x1 + branch_3x3 + branch_5x5 + pool_projection)`, with C in
    place of `pool_projection` when it is 0 (the pooled branch is then passed on as is).
    """
    def conv(x: Any, filters: int, size: int, suffix: str) -> Any:
        return layers.Conv2D(filters, size, padding="same", activation="relu", name=f"{name}_{suffix}")(x)

    one = conv(inputs, branch_1x1, 1, "1x1")
    three = conv(conv(inputs, reduce_3x3, 1, "3x3_reduce") if reduce_3x3 else inputs, branch_3x3, 3, "3x3")
    five = conv(conv(inputs, reduce_5x5, 1, "5x5_reduce") if reduce_5x5 else inputs, branch_5x5, 5, "5x5")
    pooled = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(inputs)
    if pool_projection:
        pooled = conv(pooled, pool_projection, 1, "pool_proj")
    return layers.Concatenate(name=f"{name}_concat")([one, three, five, pooled])
