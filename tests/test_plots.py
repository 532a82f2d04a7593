"""cnnkit.plots: what each figure draws (axes, the pixels shown, titles and labels), on Agg."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: no window, the same pixels on every machine

import matplotlib.pyplot as plt
import numpy as np
import pytest

from cnnkit.plots import draw_sliding_window, plot_bars, show_feature_maps, show_filters, show_images


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def drawn(figure) -> list:
    """The axes of ``figure`` that show an image, in grid order."""
    return [axis for axis in figure.axes if axis.images]


def shown(axis) -> np.ndarray:
    """The array an axis shows."""
    return np.asarray(axis.images[0].get_array())


# --- show_images ---------------------------------------------------------------------------------

def test_show_images_draws_one_axis_per_image_in_a_grid_of_columns():
    """Does show_images draw one axis per image, five images in 3 columns making a 2x3 grid?"""
    images = np.random.default_rng(0).integers(0, 256, size=(5, 6, 6), dtype=np.uint8)
    figure = show_images(images, columns=3)
    assert len(figure.axes) == 6 and len(drawn(figure)) == 5
    assert figure.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 3)
    assert not any(axis.axison for axis in figure.axes), "every axis, the empty one too, is off"


def test_show_images_shows_the_images_as_given_with_their_titles():
    """Is each axis's image equal to its input, in order, in grey, under its title?"""
    images = np.random.default_rng(1).integers(0, 256, size=(3, 4, 5), dtype=np.uint8)
    figure = show_images(images, titles=["zero", "one", 2])
    for axis, image, title in zip(drawn(figure), images, ["zero", "one", "2"]):
        np.testing.assert_array_equal(shown(axis), image)
        assert axis.images[0].get_cmap().name == "gray"
        assert axis.get_title() == title


def test_show_images_drops_a_single_channel_and_keeps_colour():
    """Is (N, H, W, 1) shown as (H, W) in the cmap, and (N, H, W, 3) as colour pixels?"""
    grey = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 1)
    figure = show_images(grey, cmap="magma")
    np.testing.assert_array_equal(shown(drawn(figure)[1]), grey[1, ..., 0])
    assert drawn(figure)[1].images[0].get_cmap().name == "magma"
    colour = np.random.default_rng(2).integers(0, 256, size=(2, 4, 4, 3), dtype=np.uint8)
    figure = show_images(list(colour))
    np.testing.assert_array_equal(shown(drawn(figure)[0]), colour[0])


def test_show_images_never_makes_more_columns_than_images():
    """Two images with the default 8 columns: one row of two axes, not eight?"""
    figure = show_images(np.zeros((2, 3, 3)))
    assert len(figure.axes) == 2


# --- show_filters --------------------------------------------------------------------------------

def test_show_filters_draws_one_tile_per_filter_scaled_to_its_own_range():
    """Does a (3, 3, 1, 4) kernel give 4 tiles, each its filter scaled to 0..1?"""
    kernel = np.random.default_rng(3).normal(size=(3, 3, 1, 4))
    figure = show_filters(kernel, title="conv1")
    tiles = drawn(figure)
    assert len(tiles) == 4
    for index, axis in enumerate(tiles):
        weights = kernel[..., 0, index]
        expected = (weights - weights.min()) / (weights.max() - weights.min())
        np.testing.assert_allclose(shown(axis), expected, atol=1e-6)
        assert axis.images[0].get_cmap().name == "gray"
    assert figure.get_suptitle() == "conv1"


def test_show_filters_draws_rgb_filters_in_colour_and_others_from_channel_0():
    """Three input channels: colour tiles (3, 3, 3). Two: channel 0 only. A flat filter: no NaN."""
    rgb = np.random.default_rng(4).normal(size=(3, 3, 3, 2))
    assert shown(drawn(show_filters(rgb))[0]).shape == (3, 3, 3)
    two_channels = np.random.default_rng(5).normal(size=(3, 3, 2, 1))
    tile = shown(drawn(show_filters(two_channels))[0])
    channel_0 = two_channels[..., 0, 0]
    np.testing.assert_allclose(tile, (channel_0 - channel_0.min()) / np.ptp(channel_0), atol=1e-6)
    flat = shown(drawn(show_filters(np.ones((3, 3, 1, 1))))[0])
    np.testing.assert_array_equal(flat, np.zeros((3, 3)))


def test_show_filters_refuses_a_kernel_that_is_not_4d():
    """A (3, 3, 4) array: is the shape received and the one expected named?"""
    with pytest.raises(ValueError, match=r"received a kernel of shape \(3, 3, 4\); expected "
                                         r"\(F, F, C_in, K\)"):
        show_filters(np.zeros((3, 3, 4)))


# --- show_feature_maps ---------------------------------------------------------------------------

def test_show_feature_maps_draws_each_channel_up_to_the_limit_titled_by_its_index():
    """Forty channels, limit 32: 32 axes, each its channel's map in viridis, titled 0..31?"""
    maps = np.random.default_rng(6).normal(size=(5, 5, 40))
    figure = show_feature_maps(maps, title="relu1")
    axes = drawn(figure)
    assert len(axes) == 32
    for channel, axis in enumerate(axes):
        np.testing.assert_array_equal(shown(axis), maps[..., channel])
        assert axis.get_title() == str(channel)
    assert axes[0].images[0].get_cmap().name == "viridis"
    assert figure.get_suptitle() == "relu1"
    assert len(drawn(show_feature_maps(maps[..., :3]))) == 3


def test_show_feature_maps_refuses_a_batch_and_says_how_to_index_it():
    """A batch (1, 5, 5, 8) instead of one example's maps: is the fix (maps[0]) given?"""
    with pytest.raises(ValueError, match=r"received shape \(1, 5, 5, 8\).*Fix: index the batch, "
                                         r"e\.g\. maps\[0\]"):
        show_feature_maps(np.zeros((1, 5, 5, 8)))


# --- draw_sliding_window -------------------------------------------------------------------------

def numbers(axis) -> list[str]:
    """The numbers written in an axis's cells, in reading order."""
    return [text.get_text() for text in axis.texts]


def test_draw_sliding_window_shows_input_kernel_and_the_output_so_far():
    """4x4 input, 3x3 kernel, output position (1, 0): three panels titled with their sizes, the
    output filled in reading order up to (1, 0), and the suptitle giving that value?"""
    image = np.arange(16).reshape(4, 4)
    kernel = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]])
    figure = draw_sliding_window(image, kernel, row=1, column=0)
    left, middle, right = figure.axes
    assert [axis.get_title() for axis in figure.axes] == ["input 4×4", "kernel 3×3", "output 2×2"]
    assert numbers(left) == [str(value) for value in image.flat]
    assert numbers(middle) == [str(value) for value in kernel.flat]
    assert numbers(right) == ["-6", "-6", "-6"], "(1, 1) is not computed yet"
    assert figure.get_suptitle() == "output[1, 0] = sum(window × kernel) = -6"
    window = left.patches[-1]  # the highlighted window: top-left corner (x=column, y=row)
    assert (window.get_xy(), window.get_width(), window.get_height()) == ((0, 1), 3, 3)
    assert right.patches[-1].get_xy() == (0, 1)


def test_draw_sliding_window_with_padding_and_stride_moves_the_window():
    """Padding 1 and stride 2 on a 5x5 input: a 7x7 padded grid, a 3x3 output, the window of
    output (1, 2) at padded row 2, column 4 (its last column in the padding: 6 ones), and the
    stride named?"""
    image = np.ones((5, 5))
    figure = draw_sliding_window(image, np.ones((3, 3)), row=1, column=2, stride=2, padding=1)
    left, _, right = figure.axes
    assert left.get_title() == "input 5×5, padding 1" and right.get_title() == "output 3×3"
    assert len(numbers(left)) == 49 and numbers(left)[0] == "0"
    assert left.patches[-1].get_xy() == (4, 2)
    assert figure.get_suptitle() == "output[1, 2] = sum(window × kernel) = 6 (stride 2)"


def test_draw_sliding_window_refuses_a_stride_the_kernel_does_not_fit():
    """Stride 2 of a 3x3 kernel over 4 pixels leaves half a step: is that refused, naming it?"""
    with pytest.raises(ValueError, match=r"conv_output_size\(4, 3, stride=2, padding=0\)"):
        draw_sliding_window(np.ones((4, 4)), np.ones((3, 3)), row=0, column=0, stride=2)


# --- plot_bars -----------------------------------------------------------------------------------

def test_plot_bars_draws_one_labelled_bar_per_entry():
    """One bar per entry, its height the value, its label the value in short form, and the axis
    labels, title and linear scale as asked?"""
    values = {"LeNet-5": 60_850, "AlexNet": 62_378_344, "ratio": 0.25}
    axis = plot_bars(values, ylabel="parameters", title="sizes")
    bars = axis.containers[0]
    assert [bar.get_height() for bar in bars] == list(values.values())
    axis.figure.canvas.draw()
    assert [label.get_text() for label in axis.get_xticklabels()] == list(values)
    assert numbers(axis) == ["6.08e+04", "6.24e+07", "0.25"]
    assert (axis.get_ylabel(), axis.get_title(), axis.get_yscale()) == ("parameters", "sizes", "linear")
    assert axis.get_xticklabels()[0].get_rotation() == 0


def test_plot_bars_on_a_given_axis_in_log_scale_with_turned_labels():
    """On an axis passed in (returned as is), log scale; more than five bars turn their labels?"""
    _, given = plt.subplots()
    values = {f"layer {index}": 10.0 ** index for index in range(6)}
    axis = plot_bars(values, ylabel="weights", log=True, axis=given)
    assert axis is given and len(axis.containers[0]) == 6
    assert axis.get_yscale() == "log" and axis.get_title() == ""
    axis.figure.canvas.draw()
    assert axis.get_xticklabels()[0].get_rotation() == 45
