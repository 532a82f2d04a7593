"""Benchmark Lab 1's convolutions: naive loops vs vectorised vs SciPy vs tf.nn.conv2d.

Usage: .venv/bin/python -m bench.bench_conv   (writes bench/results/conv.md and conv.json)

The lab's functions are taken from the solution notebook, so the numbers describe what the
course recommends. Times are the best of several runs (one run for the naive version).
Cases (from the Lab 1 issue):
  (a) one 256x256 single-channel image, one 3x3 kernel, valid;
  (b) 100 images of 31x31x3, 25 filters of 3x3x3, stride 1, padding 1.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import cnnkit  # noqa: F401 - quiet TensorFlow import
from cnnkit.checks import time_call
from tests.labcode import solution_namespace

ROOT = Path(__file__).resolve().parents[1]

lab = solution_namespace("lab1-convolution", ("setup", "conv_output_size", "pad2d", "conv2d_naive",
                                              "conv2d_fast"))


def scipy_conv(images: np.ndarray, filters: np.ndarray, bias: np.ndarray, pad: int) -> np.ndarray:
    """Per image, filter and channel: scipy.signal.correlate2d, summed over channels."""
    from scipy.signal import correlate2d

    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = []
    for image in padded:
        maps = [sum(correlate2d(image[..., c], filters[..., c, k], mode="valid")
                    for c in range(filters.shape[2])) + bias[k] for k in range(filters.shape[3])]
        out.append(np.stack(maps, axis=-1))
    return np.stack(out)


def tf_conv(images: np.ndarray, filters: np.ndarray, bias: np.ndarray, pad: int) -> np.ndarray:
    import tensorflow as tf

    padding = [[0, 0], [pad, pad], [pad, pad], [0, 0]]
    return (tf.nn.conv2d(images, filters, strides=1, padding=padding) + bias).numpy()


def run_case(name: str, images: np.ndarray, filters: np.ndarray, pad: int) -> dict:
    bias = np.zeros(filters.shape[3])
    images64, filters64 = images.astype(np.float64), filters.astype(np.float64)
    reference = tf_conv(images64, filters64, bias, pad)
    results = {}
    candidates = {
        "conv2d_naive": (lambda: np.stack([lab.conv2d_naive(x, filters64, bias, padding=pad)
                                           for x in images64]), 1),
        "conv2d_fast": (lambda: lab.conv2d_fast(images64, filters64, bias, padding=pad), 7),
        "scipy correlate2d": (lambda: scipy_conv(images64, filters64, bias, pad), 3),
        "tf.nn.conv2d (float32)": (lambda: tf_conv(images, filters, bias, pad), 7),
        "tf.nn.conv2d (float64)": (lambda: tf_conv(images64, filters64, bias, pad), 7),
    }
    for label, (call, repeats) in candidates.items():
        output = call()  # warm-up, and a correctness check of every candidate
        np.testing.assert_allclose(output, reference, rtol=1e-4, atol=1e-4)
        results[label] = time_call(call, repeats=repeats)
        print(f"  {name} {label:<24} {results[label] * 1e3:10.2f} ms", flush=True)
    return results


def main() -> None:
    rng = np.random.default_rng(0)
    cases = {
        "(a) 256x256x1, one 3x3 kernel": (rng.normal(size=(1, 256, 256, 1)).astype(np.float32),
                                          rng.normal(size=(3, 3, 1, 1)).astype(np.float32), 0),
        "(b) 100 x 31x31x3, 25 filters 3x3x3, pad 1": (
            rng.normal(size=(100, 31, 31, 3)).astype(np.float32),
            rng.normal(size=(3, 3, 3, 25)).astype(np.float32), 1),
    }
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    import tensorflow as tf

    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
               f"Python {platform.python_version()}, NumPy {np.__version__}, TensorFlow {tf.__version__}")
    report = {"date": started, "machine": machine, "cases": {}}
    for name, (images, filters, pad) in cases.items():
        print(name, flush=True)
        report["cases"][name] = run_case(name, images, filters, pad)

    lines = ["# Lab 1 convolution benchmark\n", f"Measured {started} on {machine}.",
             "Best of several runs (naive: one run); every candidate's output was checked against "
             "tf.nn.conv2d first.\n"]
    a, b = report["cases"].values()
    for name, timings in report["cases"].items():
        lines += [f"## {name}\n", "| implementation | time (ms) | vs conv2d_fast |", "|---|---:|---:|"]
        for label, seconds in timings.items():
            lines.append(f"| {label} | {seconds * 1e3:.2f} | {seconds / timings['conv2d_fast']:.2f}x |")
        lines.append("")
    goals = [
        ("fast >= 100x naive on (a)", a["conv2d_naive"] / a["conv2d_fast"], 100, ">="),
        ("fast >= 500x naive on (b)", b["conv2d_naive"] / b["conv2d_fast"], 500, ">="),
        ("fast within 3x of tf.nn.conv2d (float32) on (b)",
         b["conv2d_fast"] / b["tf.nn.conv2d (float32)"], 3, "<="),
    ]
    lines += ["## Goals\n", "| goal | measured | met |", "|---|---:|---|"]
    for goal, value, target, sense in goals:
        met = value >= target if sense == ">=" else value <= target
        lines.append(f"| {goal} | {value:.1f}x | {'yes' if met else 'no'} |")
    (ROOT / "bench" / "results" / "conv.md").write_text("\n".join(lines) + "\n")
    (ROOT / "bench" / "results" / "conv.json").write_text(json.dumps(report, indent=1) + "\n")
    print("\n".join(lines[-5:]))


if __name__ == "__main__":
    main()
