"""Figures the lecture notebooks share: image grids, filters, feature maps, sliding windows, bars.

Every function draws with Matplotlib and returns the figure, so a notebook can save or adjust it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["draw_sliding_window", "plot_bars", "show_feature_maps", "show_filters", "show_images"]


def _grid(count: int, columns: int, cell_size: float) -> tuple[Any, np.ndarray]:
    import matplotlib.pyplot as plt

    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(cell_size * columns, cell_size * rows),
                                squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    return figure, axes


def show_images(images: Sequence[np.ndarray] | np.ndarray, titles: Sequence[str] | None = None,
                columns: int = 8, cell_size: float = 1.6, cmap: str = "gray") -> Any:
    """Show images `(N, H, W)`, `(N, H, W, 1)` or `(N, H, W, 3)` in a grid, with optional titles.

    Grey images are drawn with `cmap`, each scaled to its own range; colour images as given
    (uint8 0-255 or floats in [0, 1]).
    """
    figure, axes = _grid(len(images), columns, cell_size)
    for index, (axis, image) in enumerate(zip(axes.flat, images)):
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        axis.imshow(image, cmap=cmap if image.ndim == 2 else None)
        if titles is not None:
            axis.set_title(str(titles[index]), fontsize=9)
    figure.tight_layout()
    return figure


def show_filters(kernel: np.ndarray, columns: int = 8, cell_size: float = 1.0,
                 title: str | None = None) -> Any:
    """Show the filters of a conv kernel `(F, F, C_in, K)`: one tile per filter.

    Filters with 3 input channels are drawn in colour, others one tile per filter from channel 0.
    Each tile is scaled to its own minimum and maximum, so the pattern, not the size, is visible.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 4:
        raise ValueError(f"show_filters: received a kernel of shape {kernel.shape}; expected "
                         "(F, F, C_in, K), as layer.get_weights()[0] of a Conv2D gives it.")
    tiles = np.moveaxis(kernel, -1, 0)
    tiles = tiles if kernel.shape[2] == 3 else tiles[..., 0]
    low = tiles.min(axis=tuple(range(1, tiles.ndim)), keepdims=True)
    high = tiles.max(axis=tuple(range(1, tiles.ndim)), keepdims=True)
    scaled = (tiles - low) / np.maximum(high - low, 1e-8)
    figure, axes = _grid(len(scaled), columns, cell_size)
    for axis, tile in zip(axes.flat, scaled):
        axis.imshow(tile, cmap="gray" if tile.ndim == 2 else None, interpolation="nearest")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def show_feature_maps(feature_maps: np.ndarray, columns: int = 8, cell_size: float = 1.2,
                      limit: int = 32, title: str | None = None) -> Any:
    """Show the channels of one example's feature maps `(H, W, C)`, up to `limit` of them."""
    feature_maps = np.asarray(feature_maps)
    if feature_maps.ndim != 3:
        raise ValueError(f"show_feature_maps: received shape {feature_maps.shape}; expected one "
                         "example's maps (H, W, C). Fix: index the batch, e.g. maps[0].")
    count = min(limit, feature_maps.shape[-1])
    figure, axes = _grid(count, columns, cell_size)
    for channel, axis in zip(range(count), axes.flat):
        axis.imshow(feature_maps[..., channel], cmap="viridis")
        axis.set_title(str(channel), fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def _draw_grid(axis: Any, values: np.ndarray, title: str, highlight: tuple[int, int, int, int] | None,
               color: str) -> None:
    """Draw a 2-D array as a table of numbers, with an optional highlighted rectangle."""
    from matplotlib import patches

    rows, columns = values.shape
    axis.set_xlim(0, columns)
    axis.set_ylim(rows, 0)
    axis.set_aspect("equal")
    axis.axis("off")
    axis.set_title(title, fontsize=10)
    for row in range(rows):
        for column in range(columns):
            axis.add_patch(patches.Rectangle((column, row), 1, 1, fill=False, edgecolor="0.6"))
            value = values[row, column]
            if not np.isnan(value):
                axis.text(column + 0.5, row + 0.5, f"{value:g}", ha="center", va="center", fontsize=9)
    if highlight is not None:
        top, left, height, width = highlight
        axis.add_patch(patches.Rectangle((left, top), width, height, fill=True, alpha=0.25,
                                         facecolor=color, edgecolor=color, linewidth=2))


def draw_sliding_window(image: np.ndarray, kernel: np.ndarray, row: int, column: int,
                        stride: int = 1, padding: int = 0) -> Any:
    """Draw one step of a convolution: the input window, the kernel and the output value.

    Args:
        image: 2-D input `(H, W)`.
        kernel: 2-D kernel `(F, F)`.
        row, column: the output position to draw.
        stride, padding: as in `cnnkit.arithmetic.conv_output_size` (padding in pixels).

    Returns:
        The figure: padded input with the window highlighted, kernel, and the output map filled
        up to (row, column) in reading order (cross-correlation, no bias).
    """
    import matplotlib.pyplot as plt

    from cnnkit.arithmetic import conv_output_size

    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    size = kernel.shape[0]
    padded = np.pad(image, padding)
    out_rows = conv_output_size(image.shape[0], size, stride=stride, padding=padding)
    out_columns = conv_output_size(image.shape[1], size, stride=stride, padding=padding)
    output = np.full((out_rows, out_columns), np.nan)
    for index in range(row * out_columns + column + 1):
        r, c = divmod(index, out_columns)
        window = padded[r * stride:r * stride + size, c * stride:c * stride + size]
        output[r, c] = float(np.sum(window * kernel))
    figure, (left, middle, right) = plt.subplots(
        1, 3, figsize=(2.2 + 0.45 * (padded.shape[1] + size + out_columns), 0.5 * padded.shape[0] + 1),
        gridspec_kw={"width_ratios": [padded.shape[1], size, out_columns]})
    _draw_grid(left, padded, f"input {image.shape[0]}×{image.shape[1]}"
               + (f", padding {padding}" if padding else ""), (row * stride, column * stride, size, size),
               "tab:blue")
    _draw_grid(middle, kernel, f"kernel {size}×{size}", None, "tab:blue")
    _draw_grid(right, output, f"output {out_rows}×{out_columns}", (row, column, 1, 1), "tab:orange")
    figure.suptitle(f"output[{row}, {column}] = sum(window × kernel) = {output[row, column]:g}"
                    + (f" (stride {stride})" if stride > 1 else ""))
    figure.tight_layout()
    return figure


def plot_bars(values: dict[str, float], ylabel: str, title: str | None = None, log: bool = False,
              axis: Any = None) -> Any:
    """Draw a bar per entry of `values` (label -> number), labelled with its value; returns the axis."""
    import matplotlib.pyplot as plt

    if axis is None:
        _, axis = plt.subplots(figsize=(max(4.0, 0.7 * len(values) + 1), 3.2))
    labels, heights = list(values), list(values.values())
    bars = axis.bar(labels, heights)
    axis.bar_label(bars, labels=[f"{height:,.3g}" for height in heights], fontsize=8)
    axis.set_ylabel(ylabel)
    if log:
        axis.set_yscale("log")
    if title:
        axis.set_title(title)
    axis.tick_params(axis="x", rotation=45 if len(values) > 5 else 0)
    return axis
