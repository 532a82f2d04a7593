"""The graded checks: each passes the right answer and fails a typical wrong one, with its hint."""

from __future__ import annotations

import numpy as np
import pytest

from cnnkit import checks
from tests.labcode import solution_namespace

LAB1 = solution_namespace("lab1-convolution", (
    "setup", "conv_output_size", "pad2d", "conv2d_naive", "conv2d_fast", "pooling", "conv_params",
    "conv2d_backward"))


def test_output_size_passes_the_solution_on_every_case(capsys):
    """Does the solution's conv_output_size agree with TensorFlow on fixed and random cases?"""
    assert checks.check_conv_output_size(LAB1.conv_output_size, seed=3, count=60) is None
    assert capsys.readouterr().out == ("conv_output_size: all 71 cases agree with TensorFlow's output "
                                       "shapes.\n")


def test_output_size_that_floors_instead_of_refusing_fails():
    """Is a version that silently floors (7, 3, stride 3 -> 2) caught with the divisibility hint?"""
    def floors(n, f, *, stride=1, padding="valid", dilation=1):
        pad = {"valid": 0, "same": (f - 1) // 2, "full": f - 1}.get(padding, padding)
        return (n + 2 * pad - dilation * (f - 1) - 1) // stride + 1

    with pytest.raises(AssertionError, match=r"the filter does not fit, so a ValueError was "
                                             r"expected; got 2\. Hint: check that"):
        checks.check_conv_output_size(floors)


def test_output_size_ignoring_dilation_fails_with_its_formula():
    """Is a version that ignores dilation caught, naming effective_f?"""
    def no_dilation(n, f, *, stride=1, padding="valid", dilation=1):
        return LAB1.conv_output_size(n, f, stride=stride, padding=padding)

    with pytest.raises(AssertionError, match=r"dilation=2\): expected 6, got 8\. Hint: .*effective_f"):
        checks.check_conv_output_size(no_dilation)


def test_pad2d_passes_solution_and_catches_channel_padding():
    """Is padding the channel axis too caught, with its hint?"""
    checks.check_pad2d(LAB1.pad2d)
    with pytest.raises(AssertionError, match=r"expected shape \(6, 7, 3\), got \(6, 7, 5\)\. Hint: "
                                             r"pad only the two spatial axes"):
        checks.check_pad2d(lambda x, p: np.pad(x, p))


@pytest.mark.parametrize("name", ["conv2d_naive", "conv2d_fast"])
def test_conv2d_passes_solution(name, capsys):
    """Do both solution convolutions match tf.nn.conv2d on all fixed and random cases?"""
    checks.check_conv2d(getattr(LAB1, name), seed=1, count=20, name=name)
    checks.check_conv2d_rejects_bad_arguments(getattr(LAB1, name), name=name)
    lines = capsys.readouterr().out.splitlines()
    cases = int(lines[0].split()[2])
    assert cases >= 25 and lines[0] == f"{name}: all {cases} cases agree with tf.nn.conv2d."
    assert lines[1] == f"{name}: refuses all 4 invalid calls with a ValueError."


def test_true_convolution_is_named_as_flipped():
    """Is a kernel-flipping (true) convolution caught, with the cross-correlation hint?"""
    def flipped(x, w, b, **settings):
        return LAB1.conv2d_fast(x, w[::-1, ::-1], b, **settings)

    with pytest.raises(AssertionError, match="true convolution \\(flipped kernel\\)"):
        checks.check_conv2d(flipped)


def test_missing_bias_is_named():
    """Is a convolution without its bias caught, with the bias hint?"""
    with pytest.raises(AssertionError, match="the bias b\\[k\\] is missing"):
        checks.check_conv2d(lambda x, w, b, **s: LAB1.conv2d_fast(x, w, 0 * b, **s))


def test_same_padding_on_the_wrong_side_is_named():
    """Is 'same' padding that puts the extra row on top caught, with TensorFlow's convention?"""
    def top_heavy(x, w, b, stride=1, padding="valid", dilation=1):
        if padding == "same":
            top, bottom, left, right = LAB1.padding_amounts(x.shape[0], x.shape[1], w.shape[0],
                                                            stride=stride, padding="same",
                                                            dilation=dilation)
            x = LAB1.pad2d(x, (bottom, top, right, left))
            padding = "valid"
        return LAB1.conv2d_fast(x, w, b, stride=stride, padding=padding, dilation=dilation)

    with pytest.raises(AssertionError, match="extra row and column at the bottom and right"):
        checks.check_conv2d(top_heavy)


def test_a_crash_in_student_code_is_reported_with_the_call():
    """Does an exception inside the student's function become an explained AssertionError?"""
    def crashes(x, w, b, **settings):
        return x[100]

    with pytest.raises(AssertionError, match=r"conv2d\(x \(6, 6, 1\), .*\) raised IndexError"):
        checks.check_conv2d(crashes)


def test_conv2d_that_accepts_mismatched_channels_fails():
    """Is a convolution that silently drops channels caught, saying what does not match?"""
    def lenient(x, w, b, **settings):
        return LAB1.conv2d_fast(x[..., :w.shape[2]], w, np.resize(b, w.shape[3]), **settings)

    with pytest.raises(AssertionError, match=r"x has 3 channels but w expects 2, so a ValueError was "
                                             r"expected; got an array of shape \(5, 5, 4\)"):
        checks.check_conv2d_rejects_bad_arguments(lenient)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_passes_solution_and_catches_swapped_modes(mode):
    """Do the pooling checks pass the solution and fail the other kind of pooling?"""
    right = LAB1.max_pool2d if mode == "max" else LAB1.avg_pool2d
    wrong = LAB1.avg_pool2d if mode == "max" else LAB1.max_pool2d
    checks.check_pool2d(right, mode)
    with pytest.raises(AssertionError, match=f"Hint: each output is the {mode} of a size x size"):
        checks.check_pool2d(wrong, mode)


def test_conv_params_forgetting_biases_fails():
    """Is a count without biases caught, with the Keras count as expected value?"""
    checks.check_conv_params(LAB1.conv_params)
    with pytest.raises(AssertionError, match=r"conv_params\(5, 3, 5\): expected 380, got 375"):
        checks.check_conv_params(lambda f, c_in, k: f * f * c_in * k)


def test_speedup_measures_a_ratio_and_fails_a_slow_fast_version():
    """Is the speed-up measured in one run, passing the solution and failing naive-vs-naive?"""
    args = (np.ones((24, 24, 3)), np.ones((3, 3, 3, 4)), np.zeros(4))
    assert checks.check_speedup(LAB1.conv2d_naive, LAB1.conv2d_fast, args, at_least=20) > 20
    with pytest.raises(AssertionError, match=r"expected the fast version at least 50x faster, "
                                             r"measured \d+\.\dx"):
        checks.check_speedup(LAB1.conv2d_naive, LAB1.conv2d_naive, args)


def test_worked_example_of_the_curriculum():
    """Does the oracle itself reproduce the lecture's 5x5 example (so the lab's test is sound)?"""
    image = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2],
                      [2, 0, 0, 0, 1]], float)
    kernel = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], float)
    out = checks.conv2d_oracle(image[..., None], kernel[..., None, None], np.zeros(1))
    np.testing.assert_array_equal(out[..., 0], [[12, 12, 17], [10, 17, 19], [9, 6, 14]])


def test_numpy_only_catches_tensorflow_and_the_oracle_even_through_a_helper():
    """Is a 'solution' that calls TensorFlow or the checks' oracle (directly or via a helper) caught?"""
    import tensorflow as tf

    def calls_tf(x, w, b, **settings):
        return tf.nn.conv2d(x[None], w, 1, "VALID")[0] + b

    def helper(x, w, b):
        return checks.conv2d_oracle(x, w, b)

    def hides_it(x, w, b, **settings):
        return helper(x, w, b)

    with pytest.raises(AssertionError, match=r"calls_tf uses 'tf' from tensorflow: this part is NumPy only"):
        checks.check_numpy_only(calls_tf)
    with pytest.raises(AssertionError, match=r"hides_it uses 'checks' from cnnkit.checks"):
        checks.check_numpy_only(hides_it)


def test_numpy_only_refuses_the_lecture_arithmetic_as_lab1_answers():
    """cnnkit.arithmetic computes output sizes for the lectures: may Lab 1's answers call it? No."""
    from cnnkit import arithmetic
    from cnnkit.arithmetic import conv_param_count

    def conv_output_size(n, f, *, stride=1, padding="valid", dilation=1):
        return arithmetic.conv_output_size(n, f, stride=stride, padding=padding, dilation=dilation)

    def conv_params(f, c_in, k):
        return conv_param_count(f, c_in, k)

    for borrowed in (conv_output_size, conv_params):
        with pytest.raises(AssertionError, match=r"uses '\w+' from cnnkit.arithmetic"):
            checks.check_numpy_only(borrowed)


def test_numpy_only_passes_the_solution(capsys):
    """Do the solution's functions pass the NumPy-only audit?"""
    checks.check_numpy_only(LAB1.conv2d_naive, LAB1.conv2d_fast, LAB1.max_pool2d, LAB1.conv2d_backward,
                            LAB1.conv_output_size, LAB1.conv_params)
    assert capsys.readouterr().out.endswith("NumPy only.\n")


def test_speed_of_a_wrong_answer_earns_nothing():
    """Does the speed check refuse a fast version that returns the wrong result, before timing?"""
    args = (np.ones((24, 24, 1)), np.ones((3, 3, 1, 1)), np.zeros(1))
    expected = checks.conv2d_oracle(*args)
    with pytest.raises(AssertionError, match="the speed test only counts a correct result"):
        checks.check_speedup(LAB1.conv2d_naive, lambda x, w, b: np.zeros((22, 22, 1)), args,
                             expected=expected)


def test_full_padding_that_ignores_dilation_is_caught():
    """Is a 'full' that pads f - 1 instead of dilation * (f - 1) caught, with the 'full' hint?"""
    def full_without_dilation(x, w, b, stride=1, padding="valid", dilation=1):
        if padding == "full":
            padding = w.shape[0] - 1
        return LAB1.conv2d_fast(x, w, b, stride=stride, padding=padding, dilation=dilation)

    with pytest.raises(AssertionError, match="'full' pads dilation \\* \\(f - 1\\)"):
        checks.check_conv2d(full_without_dilation)


def test_stride_with_dilation_is_checked_against_the_zero_inserted_kernel():
    """Does the oracle handle stride 2 with dilation 2 (which tf.nn.conv2d refuses) like the solution?"""
    rng = np.random.default_rng(4)
    x, w, b = rng.normal(size=(9, 9, 2)), rng.normal(size=(3, 3, 2, 3)), rng.normal(size=3)
    np.testing.assert_allclose(checks.conv2d_oracle(x, w, b, stride=2, padding=2, dilation=2),
                               LAB1.conv2d_naive(x, w, b, stride=2, padding=2, dilation=2))


def test_lab1_and_the_library_take_conv_output_size_arguments_in_one_order():
    """Do Lab 1's conv_output_size and cnnkit.arithmetic's both take stride, padding and dilation
    as keywords only, in that order (a positional stride is refused)?"""
    import inspect

    from cnnkit import arithmetic

    def keyword_only(function):
        return [name for name, parameter in inspect.signature(function).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY]

    assert keyword_only(LAB1.conv_output_size) == ["stride", "padding", "dilation"]
    assert keyword_only(arithmetic.conv_output_size)[:3] == ["stride", "padding", "dilation"]
    assert keyword_only(LAB1.padding_amounts) == ["stride", "padding", "dilation"]
    for function in (LAB1.conv_output_size, arithmetic.conv_output_size):
        with pytest.raises(TypeError):
            function(7, 3, 2)
