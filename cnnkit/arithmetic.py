"""Convolution arithmetic: output sizes, receptive fields, parameter counts and per-layer cost tables.

The plain functions take integers (pixels, channels) and refuse settings that do not fit instead of
rounding silently. `cost_table(model)` reads any built Keras model, layer by layer.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BYTES_PER_FLOAT32", "CostTable", "LayerCost", "conv_output_size", "conv_param_count",
    "cost_table", "dense_param_count", "pool_output_size", "receptive_field", "same_padding",
]

BYTES_PER_FLOAT32 = 4
ROUNDINGS = ("exact", "floor", "ceil")


# --- sizes -------------------------------------------------------------------------------------

def _is_int(value: object) -> bool:
    """True for Python and NumPy integers, False for bools and floats."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _padding_pixels(padding: str | int, effective_kernel: int, call: str) -> int:
    """Pixels added on each side for 'valid', 'full' or an explicit int (not 'same')."""
    if padding == "valid":
        return 0
    if padding == "full":
        return effective_kernel - 1
    if _is_int(padding) and padding >= 0:
        return int(padding)
    raise ValueError(f"{call}: received padding={padding!r}; expected 'valid', 'same', 'full' or an "
                     "int >= 0 (pixels added on each side).")


def conv_output_size(input_size: int, kernel_size: int, *, stride: int = 1,
                     padding: str | int = "valid", dilation: int = 1,
                     rounding: str = "exact") -> int:
    """Return the output size, along one axis, of a convolution or pooling window.

    Uses (N - F + 2P) / S + 1 with the effective filter size F = D * (kernel_size - 1) + 1.
    'same' gives ceil(N / S), as Keras and TensorFlow do; 'full' pads F - 1 on each side.

    Args:
        input_size: N, the input size in pixels.
        kernel_size: the filter (or pooling window) size in pixels.
        stride: S, the step between windows in pixels.
        padding: 'valid' (P = 0), 'same', 'full', or an int P of pixels added on each side.
        dilation: D, the spacing between the filter's taps (1: a dense filter).
        rounding: what to do when (N - F + 2P) is not a multiple of S: 'exact' refuses,
            'floor' drops the last partial window (Keras' 'valid'), 'ceil' keeps it unless it
            would start in the right padding (PyTorch's `ceil_mode`). For pooling with
            `kernel_size == stride`, 'ceil' equals Keras' 'same'; in general 'same' is ceil(N / S).

    Returns:
        The number of output pixels along this axis.

    Raises:
        ValueError: when an argument is out of range, or when the filter does not fit
            exactly and `rounding` is 'exact'.

    Example:
        >>> conv_output_size(7, 3, stride=2)
        3
    """
    call = f"conv_output_size({input_size}, {kernel_size}, stride={stride}, padding={padding!r})"
    return _output_size(input_size, kernel_size, stride, padding, dilation, rounding, call)


def _output_size(input_size: int, kernel_size: int, stride: int, padding: str | int, dilation: int,
                 rounding: str, call: str) -> int:
    """`conv_output_size` with the call text its errors quote."""
    for name, value, least in (("input_size", input_size, 1), ("kernel_size", kernel_size, 1),
                               ("stride", stride, 1), ("dilation", dilation, 1)):
        if not _is_int(value) or value < least:
            raise ValueError(f"{call}: received {name}={value!r}; expected an int >= {least}.")
    if rounding not in ROUNDINGS:
        raise ValueError(f"{call}: received rounding={rounding!r}; expected one of {ROUNDINGS}.")
    effective = dilation * (kernel_size - 1) + 1
    if padding == "same":
        return math.ceil(input_size / stride)
    pad = _padding_pixels(padding, effective, call)
    span = input_size - effective + 2 * pad
    if span < 0:
        raise ValueError(f"{call}: the {effective}-pixel filter is larger than the padded input "
                         f"({input_size + 2 * pad} pixels). Fix: pad more or use a smaller filter.")
    if span % stride and rounding == "exact":
        raise ValueError(
            f"{call}: ({input_size} - {effective} + 2*{pad}) / {stride} + 1 = "
            f"{span / stride + 1:.2f} is not a whole number, so the filter does not fit: the last "
            f"{span % stride} pixel(s) would be skipped. Expected (N - F + 2P) to be a multiple of "
            "the stride. Fix: change the padding or the stride, or pass rounding='floor' (what "
            "Keras' 'valid' does) or 'ceil'.")
    steps = span // stride if rounding != "ceil" else -(-span // stride)
    if rounding == "ceil" and steps * stride >= input_size + pad:
        steps -= 1  # that window would start in the right padding and see no input
    return steps + 1


def pool_output_size(input_size: int, pool_size: int = 2, stride: int | None = None,
                     padding: str | int = "valid", rounding: str = "exact") -> int:
    """Return the output size, along one axis, of a pooling window (W - F) / S + 1.

    `stride` defaults to `pool_size`; see `conv_output_size` for `padding` and `rounding`.
    """
    stride = pool_size if stride is None else stride
    call = f"pool_output_size({input_size}, {pool_size}, stride={stride}, padding={padding!r})"
    return _output_size(input_size, pool_size, stride, padding, 1, rounding, call)


def same_padding(kernel_size: int) -> int:
    """Return the zero padding P = (F - 1) / 2 that keeps the size at stride 1 (odd F only)."""
    if not _is_int(kernel_size) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"same_padding({kernel_size!r}): expected an odd int >= 1. An even "
                         "kernel needs unequal padding (Keras puts the extra pixel after).")
    return (kernel_size - 1) // 2


def conv_param_count(kernel_size: int, in_channels: int, filters: int,
                     use_bias: bool = True) -> int:
    """Return (F * F * D_in) * K weights + K biases of a conv layer with K filters F x F x D_in."""
    return kernel_size * kernel_size * in_channels * filters + (filters if use_bias else 0)


def dense_param_count(inputs: int, units: int, use_bias: bool = True) -> int:
    """Return inputs * units weights + units biases of a fully connected layer."""
    return inputs * units + (units if use_bias else 0)


def receptive_field(layers: Iterable[Sequence[int]]) -> int:
    """Return the receptive field, in input pixels, of one unit after a chain of windows.

    Args:
        layers: for each conv or pooling layer in order, `(kernel_size, stride)` or
            `(kernel_size, stride, dilation)`.

    Example:
        >>> receptive_field([(3, 1), (3, 1)])  # two stacked 3x3 convolutions see 5x5
        5
    """
    field, jump = 1, 1
    for index, layer in enumerate(layers):
        if len(layer) not in (2, 3) or not all(_is_int(value) and value >= 1 for value in layer):
            raise ValueError(f"receptive_field: layer {index} is {tuple(layer)!r}; expected "
                             "(kernel_size, stride) or (kernel_size, stride, dilation), ints >= 1.")
        kernel_size, stride, dilation = (*layer, 1)[:3]
        field += dilation * (kernel_size - 1) * jump
        jump *= stride
    return field


# --- cost tables -------------------------------------------------------------------------------

# Layers that only re-label values already stored: not counted as new activations.
VIEW_LAYERS = ("Flatten", "Reshape", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
               "Identity")


@dataclass(frozen=True)
class LayerCost:
    """One layer of a `CostTable`.

    `activations` is the number of values the layer outputs per example; `multiply_adds` the
    multiply-accumulate operations of its weighted sums per example (one MAC = 2 FLOPs);
    `connections` the input-to-output wires including biases, as LeCun et al. (1998) count them.
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    parameters: int
    activations: int
    multiply_adds: int
    connections: int = 0
    is_view: bool = False

    @property
    def activation_bytes(self) -> int:
        """float32 memory of this layer's output for one example, in bytes."""
        return 0 if self.is_view else self.activations * BYTES_PER_FLOAT32

    @property
    def parameter_bytes(self) -> int:
        """float32 memory of this layer's parameters, in bytes."""
        return self.parameters * BYTES_PER_FLOAT32


@dataclass(frozen=True)
class CostTable:
    """Per-layer output shapes, parameters, activations, multiply-adds and float32 memory."""

    model_name: str
    rows: tuple[LayerCost, ...]

    @property
    def parameters(self) -> int:
        return sum(row.parameters for row in self.rows)

    @property
    def activations(self) -> int:
        """Values stored per example in a forward pass (views and the like not counted twice)."""
        return sum(row.activations for row in self.rows if not row.is_view)

    @property
    def multiply_adds(self) -> int:
        return sum(row.multiply_adds for row in self.rows)

    @property
    def activation_bytes(self) -> int:
        return self.activations * BYTES_PER_FLOAT32

    @property
    def parameter_bytes(self) -> int:
        return self.parameters * BYTES_PER_FLOAT32

    def row(self, name: str) -> LayerCost:
        """Return the row of the layer called `name`."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no layer {name!r} in {self.model_name}; layers: "
                       f"{', '.join(row.name for row in self.rows)}")

    def format(self, weighted_only: bool = False) -> str:
        """Return the table as text; `weighted_only` keeps the input and the layers with MACs."""
        header = (f"{'layer':<22} {'type':<18} {'output shape':<16} {'parameters':>12} "
                  f"{'activations':>12} {'mult-adds':>15} {'act. memory':>11}")
        lines = [header, "-" * len(header)]
        for row in self.rows:
            if weighted_only and not (row.multiply_adds or row.kind == "InputLayer"):
                continue
            shape = "×".join(str(size) for size in row.output_shape)
            activations = "(view)" if row.is_view else f"{row.activations:,}"
            lines.append(f"{row.name[:22]:<22} {row.kind[:18]:<18} {shape:<16} {row.parameters:>12,} "
                         f"{activations:>12} {row.multiply_adds:>15,} "
                         f"{_megabytes(row.activation_bytes) if row.activation_bytes else '':>11}")
        lines.append("-" * len(header))
        lines.append(f"{'total':<22} {'':<18} {'':<16} {self.parameters:>12,} {self.activations:>12,} "
                     f"{self.multiply_adds:>15,} {_megabytes(self.activation_bytes):>11}")
        lines.append(f"parameter memory (float32): {_megabytes(self.parameter_bytes)}; "
                     f"activation memory per image, forward pass: {_megabytes(self.activation_bytes)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _megabytes(size_bytes: int) -> str:
    """Format bytes with a decimal unit (1 MB = 10^6 bytes; 1 MiB = 2^20 bytes is 4.9 % more)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:,.1f} {unit}"
    return f"{size_bytes} B"


def _shape(tensor: Any) -> tuple[int, ...]:
    return tuple(int(size) for size in tensor.shape[1:])


def _values(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _multiply_adds(layer: Any, input_shape: tuple[int, ...], output_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one layer for one example; 0 for layers without weighted sums."""
    kind = type(layer).__name__
    if hasattr(layer, "multiply_adds"):  # the kit's own layers (e.g. LeNet-5's C3) say it
        return int(layer.multiply_adds(input_shape, output_shape))
    if kind == "Dense":
        return _values(output_shape) * input_shape[-1]
    if kind in ("DepthwiseConv1D", "DepthwiseConv2D"):
        return _values(output_shape) * math.prod(layer.kernel_size)
    if kind in ("SeparableConv1D", "SeparableConv2D"):
        depthwise = _values(output_shape[:-1]) * input_shape[-1] * layer.depth_multiplier
        return depthwise * math.prod(layer.kernel_size) + depthwise * layer.filters
    if kind in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        return _values(input_shape) * math.prod(layer.kernel_size) * layer.filters
    if kind in ("Conv1D", "Conv2D", "Conv3D"):
        per_output = math.prod(layer.kernel_size) * input_shape[-1] // getattr(layer, "groups", 1)
        return _values(output_shape) * per_output
    return 0


def _connections(layer: Any, input_shape: tuple[int, ...], output_shape: tuple[int, ...],
                 multiply_adds: int) -> int:
    """Wires of a weighted layer per example: one per multiply-add, plus one per bias use."""
    if hasattr(layer, "connections"):
        return int(layer.connections(input_shape, output_shape))
    if not multiply_adds:
        return 0
    return multiply_adds + (_values(output_shape) if getattr(layer, "use_bias", False) else 0)


def _flat_layers(model: Any) -> Iterable[Any]:
    """Yield the layers of a model, descending into nested models.

    Raises:
        ValueError: for a layer called more than once (shared weights) or a channels-first one,
            which the table would count wrongly.
    """
    import keras

    for layer in model.layers:
        if len(getattr(layer, "_inbound_nodes", ())) > 1:
            raise ValueError(f"cost_table: layer {layer.name!r} is called "
                             f"{len(layer._inbound_nodes)} times (shared weights); the table counts "
                             "each layer once. Fix: count a model in which each layer is called once.")
        if getattr(layer, "data_format", "channels_last") == "channels_first":
            raise ValueError(f"cost_table: layer {layer.name!r} is channels_first; expected "
                             "channels_last, the kit's convention. Fix: build the model channels-last.")
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer


def cost_table(model: Any) -> CostTable:
    """Return the per-layer cost table of a built Keras model (Sequential or functional).

    Each row gives the layer's output shape (without the batch axis), parameters, activations
    (output values per example), multiply-adds per example and float32 memory. Layers of nested
    models are listed in place. Totals are properties of the returned table. Multiply-adds are
    counted for Dense and the convolution layers (plain, grouped, depthwise, separable,
    transposed) and for layers that define `multiply_adds(input_shape, output_shape)`; any
    other layer counts 0 (batch normalisation, activations and pooling, by convention).

    Raises:
        TypeError: when `model` is not a Keras model.
        ValueError: when the model has not been built on an input shape, calls a layer more
            than once, or is channels-first.

    Example:
        >>> table = cost_table(keras.applications.VGG16(weights=None))
        >>> table.parameters
        138357544
    """
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"cost_table: received {type(model).__name__}; expected a keras.Model.")
    try:
        model.inputs  # noqa: B018 - raises while the model has no input shape
        inputs_known = bool(model.inputs)
    except (AttributeError, ValueError):
        inputs_known = False
    if not inputs_known:
        raise ValueError(f"cost_table: model {model.name!r} has no known input shape. Fix: start a "
                         "Sequential with keras.Input(shape=...) or build a functional model.")
    rows = [LayerCost("input" if len(model.inputs) == 1 else f"input_{index}", "InputLayer",
                      _shape(tensor), 0, _values(_shape(tensor)), 0)
            for index, tensor in enumerate(model.inputs)]
    for layer in _flat_layers(model):
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        output_shape = _shape(layer.output)
        inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        input_shape = _shape(inputs[0])
        multiply_adds = _multiply_adds(layer, input_shape, output_shape)
        rows.append(LayerCost(layer.name, kind, output_shape, int(layer.count_params()),
                              _values(output_shape), multiply_adds,
                              _connections(layer, input_shape, output_shape, multiply_adds),
                              is_view=kind in VIEW_LAYERS))
    return CostTable(model.name, tuple(rows))
