"""Measure Lab 2's shifted-digits curve: MLP, ConvNet, GAP ConvNet, shift-trained ConvNet, on real MNIST.

Usage: nice .venv/bin/python -m bench.bench_shift [--seeds 0 1 2]
       (writes bench/results/shift.md and shift.json; about 4 minutes per seed on 2 CPU cores)

Every model comes from the Lab 2 solution notebook's own cells (`build_mlp`, `build_convnet`,
`build_gap_convnet`, `build_shift_trained_convnet`, `compile_with_schedule`, `shift_curves`) and
trains as the notebook trains it in the ``full`` profile: the whole training set, the lab's epochs
and batch sizes, ``validation_split=0.1``, `set_seed(seed)` before each model (the notebook uses
seed 0). Accuracy is measured on the 2,000 graded test images (`checks.grading_slice`) shifted by
0..6 pixels to the right and diagonally (right and down at once), and on the 10,000 test images
unshifted. Times are training wall time, validation pass included.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ["CNNKIT_PROFILE"] = "full"  # the lab's cells load the whole training set

import cnnkit  # noqa: E402,F401 - quiet TensorFlow import
from tests.labcode import solution_namespace  # noqa: E402

CELLS = ("setup", "load_data", "recipe", "build_mlp", "build_convnet", "shift_images",
         "shift_helpers", "build_gap_convnet", "shift_training")


def train_and_measure(lab, label: str, build, epochs: int, batch: int, seed: int) -> dict:
    """Train one model as the notebook does and measure it on the shifted digits."""
    lab.set_seed(seed)
    model = lab.compile_with_schedule(build(), epochs, batch)
    start = time.perf_counter()
    model.fit(lab.x_train, lab.one_hot(lab.y_train), epochs=epochs, batch_size=batch,
              validation_split=lab.VALIDATION_SPLIT, verbose=0)
    seconds = time.perf_counter() - start
    curves = lab.shift_curves(model, lab.x_slice, lab.y_slice)
    test_accuracy = float(np.mean(model.predict(lab.x_test, batch_size=1000, verbose=0)
                                  .argmax(axis=1) == lab.y_test))
    result = {"model": label, "seed": seed, "parameters": model.count_params(),
              "epochs": epochs, "batch": batch, "seconds": round(seconds, 1),
              "test_accuracy": test_accuracy, **curves}
    print(f"{label} seed {seed}: {seconds:.0f} s, test {test_accuracy:.2%}, right "
          f"{[round(a, 4) for a in curves['right']]}, diagonal "
          f"{[round(a, 4) for a in curves['diagonal']]}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_shift",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    lab = solution_namespace("lab2-mnist", CELLS)
    models = {
        "MLP": (lab.build_mlp, lab.MLP_EPOCHS, lab.MLP_BATCH),
        "ConvNet": (lab.build_convnet, lab.CONVNET_EPOCHS, lab.CONVNET_BATCH),
        "GAP ConvNet": (lab.build_gap_convnet, lab.CONVNET_EPOCHS, lab.CONVNET_BATCH),
        "shift-trained ConvNet": (lab.build_shift_trained_convnet, lab.CONVNET_EPOCHS,
                                  lab.CONVNET_BATCH),
    }
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    runs = [train_and_measure(lab, label, build, epochs, batch, seed)
            for seed in args.seeds for label, (build, epochs, batch) in models.items()]
    gpus = tf.config.list_physical_devices("GPU")
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
               f"{'GPU: ' + ', '.join(g.name for g in gpus) if gpus else 'no GPU'}, "
               f"Python {platform.python_version()}, TensorFlow {tf.__version__}, "
               f"Keras {keras.__version__}")
    report = {"date": started, "machine": machine, "max_shift": lab.MAX_SHIFT,
              "shifts": list(lab.SHIFTS), "runs": runs}
    (ROOT / "bench" / "results" / "shift.json").write_text(json.dumps(report, indent=1) + "\n")
    write_report(report)


def write_report(report: dict) -> None:
    """Write bench/results/shift.md (tables) and shift.json (every number) from ``report``."""
    runs, shifts = report["runs"], report["shifts"]
    labels = list(dict.fromkeys(run["model"] for run in runs))
    seeds = sorted({run["seed"] for run in runs})
    lines = ["# Lab 2: shifted digits — ConvNet, GAP head, training with random shifts\n",
             f"Measured {report['date']} on {report['machine']}, real MNIST, with the Lab 2 "
             f"solution notebook's own cells (`python -m bench.bench_shift`), seeds {seeds}. Accuracy on "
             "the 2,000 graded test images shifted by 0–6 pixels; shift training uses "
             f"`RandomTranslation({report['max_shift']}, {report['max_shift']})` (up to "
             f"{report['max_shift'] * 28:.1f} px each way). Time: training wall time, validation "
             "pass included, on a machine shared with other jobs.\n",
             f"## Mean over {len(seeds)} seed(s), accuracy (%) (min–max over seeds at 4 px)\n",
             "| model | direction | " + " | ".join(f"{s} px" for s in shifts) + " | 4 px min–max |",
             "|---|---|" + "---:|" * (len(shifts) + 1)]
    for label in labels:
        mine = [run for run in runs if run["model"] == label]
        for direction in ("right", "diagonal"):
            table = np.array([run[direction] for run in mine]) * 100
            lines.append(f"| {label} | {direction} | "
                         + " | ".join(f"{value:.1f}" for value in table.mean(axis=0))
                         + f" | {table[:, 4].min():.1f}–{table[:, 4].max():.1f} |")
    lines += ["", "## Per seed\n",
              "| model | seed | parameters | epochs x batch | training (s) | test acc. (10,000) | "
              "0 px | 4 px right | 4 px diagonal | 6 px diagonal |",
              "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for run in runs:
        lines.append(f"| {run['model']} | {run['seed']} | {run['parameters']:,} | {run['epochs']} x "
                     f"{run['batch']} | {run['seconds']:.0f} | {run['test_accuracy']:.2%} | "
                     f"{run['right'][0]:.2%} | {run['right'][4]:.2%} | {run['diagonal'][4]:.2%} | "
                     f"{run['diagonal'][6]:.2%} |")
    lines += ["", "## Against the plain ConvNet, same seed (percentage points, mean and range)\n",
              "| model | 0 px | 4 px right | 4 px diagonal | 6 px diagonal |",
              "|---|---:|---:|---:|---:|"]
    baseline = {run["seed"]: run for run in runs if run["model"] == "ConvNet"}
    for label in labels:
        if label == "ConvNet":
            continue
        points = {"0 px": [], "4 px right": [], "4 px diagonal": [], "6 px diagonal": []}
        for run in (run for run in runs if run["model"] == label):
            base = baseline[run["seed"]]
            for key, (direction, shift) in {"0 px": ("right", 0), "4 px right": ("right", 4),
                                            "4 px diagonal": ("diagonal", 4),
                                            "6 px diagonal": ("diagonal", 6)}.items():
                points[key].append(100 * (run[direction][shift] - base[direction][shift]))
        lines.append(f"| {label} | " + " | ".join(
            f"{np.mean(values):+.1f} ({min(values):+.1f} to {max(values):+.1f})"
            for values in points.values()) + " |")
    (ROOT / "bench" / "results" / "shift.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
