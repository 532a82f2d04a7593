"""Benchmark Lab 2's ConvNet recipe against the Keras "Simple MNIST convnet" example, on real MNIST.

Usage: .venv/bin/python -m bench.bench_mnist [--seeds 0 1 2] [--keras-seeds 0]
       (writes bench/results/mnist.md and mnist.json; about 10 minutes on 2 CPU cores)

Both recipes train as published or as the lab teaches, on the same 60,000 images with
``validation_split=0.1`` (so both also pay for a validation pass each epoch):

- keras: Conv 32@3x3 -> MaxPool 2 -> Conv 64@3x3 -> MaxPool 2 -> Flatten -> Dropout 0.5 ->
  Dense 10 softmax; Adam (default rate), batch 128, 15 epochs. Inputs scaled to [0, 1].
- lab: `build_convnet` and `compile_with_schedule` (Adam, warm-up + cosine schedule, label
  smoothing on one-hot targets) taken from the Lab 2 solution notebook, with its CONVNET_EPOCHS
  and CONVNET_BATCH.

Every half epoch the clock is paused and the model is evaluated on the 10,000 test images; the
time to first reach 99.0 % is the training wall time (data pipeline, validation included) up to
that evaluation.
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

TARGET = 0.99


def keras_example_model():
    """The Keras "Simple MNIST convnet" model (34,826 parameters), with the scaling inside."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)), layers.Rescaling(1 / 255),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
        layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax"),
    ], name="keras_example")


def make_probe(test_images: np.ndarray, test_labels: np.ndarray, steps_per_epoch: int):
    """A callback that evaluates on the test set every half epoch, with the clock paused."""
    import keras

    class TestAccuracyProbe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.points, self.paused, self.start = [], 0.0, time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if (batch + 1) % (steps_per_epoch // 2) == 0 and batch + 1 < steps_per_epoch:
                self._probe()

        def on_epoch_end(self, epoch, logs=None):
            self._probe()

        def _probe(self):
            pause = time.perf_counter()
            seconds = pause - self.start - self.paused
            accuracy = float(np.mean(self.model.predict(test_images, batch_size=1000, verbose=0)
                                     .argmax(axis=1) == test_labels))
            self.points.append({"epochs": round(self.model.optimizer.iterations.numpy()
                                                / steps_per_epoch, 2),
                                "seconds": round(seconds, 2), "test_accuracy": accuracy})
            self.paused += time.perf_counter() - pause

    return TestAccuracyProbe()


def run(name: str, model, compile_model, epochs: int, batch: int, train, test, seed: int,
        targets=lambda labels: labels) -> dict:
    import keras

    keras.utils.set_random_seed(seed)
    model = model()
    compile_model(model)
    steps = int(np.ceil(np.ceil(len(train.labels) * 0.9) / batch))
    probe = make_probe(test.images, test.labels, steps)
    model.fit(train.images, targets(train.labels), batch_size=batch, epochs=epochs, validation_split=0.1,
              verbose=0, callbacks=[probe])
    reached = next((p for p in probe.points if p["test_accuracy"] >= TARGET), None)
    after_3 = next((p["test_accuracy"] for p in probe.points if p["epochs"] == 3), None)
    result = {"recipe": name, "seed": seed, "parameters": model.count_params(), "epochs": epochs,
              "batch": batch, "points": probe.points,
              "seconds_to_99": reached and reached["seconds"],
              "epochs_to_99": reached and reached["epochs"],
              "accuracy_after_3_epochs": after_3,
              "final_accuracy": probe.points[-1]["test_accuracy"],
              "seconds_total": probe.points[-1]["seconds"]}
    print(f"{name} seed {seed}: 99.0 % after {result['seconds_to_99']} s "
          f"({result['epochs_to_99']} epochs); 3 epochs: {after_3}; final "
          f"{result['final_accuracy']:.4f} in {result['seconds_total']:.0f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_mnist",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--keras-seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    lab = solution_namespace("lab2-mnist", ("setup", "load_data", "recipe", "build_convnet"))
    train, test = lab.train, lab.test

    def keras_compile(model):
        model.compile(loss="sparse_categorical_crossentropy",
                      optimizer="adam", metrics=["accuracy"])

    def lab_compile(model):
        lab.compile_with_schedule(model, lab.CONVNET_EPOCHS, lab.CONVNET_BATCH)

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = [run("keras", keras_example_model, keras_compile, 15, 128, train, test, seed)
               for seed in args.keras_seeds]
    results += [run("lab", lab.build_convnet, lab_compile, lab.CONVNET_EPOCHS, lab.CONVNET_BATCH,
                    train, test, seed, targets=lab.one_hot) for seed in args.seeds]
    gpus = tf.config.list_physical_devices("GPU")
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
               f"{'GPU: ' + ', '.join(g.name for g in gpus) if gpus else 'no GPU'}, "
               f"Python {platform.python_version()}, TensorFlow {tf.__version__}, "
               f"Keras {keras.__version__}")
    report = {"date": started, "machine": machine, "target": TARGET, "runs": results}
    write_report(report)


def write_report(report: dict) -> None:
    runs = report["runs"]
    lines = ["# Lab 2 ConvNet recipe vs the Keras \"Simple MNIST convnet\" example\n",
             f"Measured {report['date']} on {report['machine']}, real MNIST (60,000 training, "
             "10,000 test images). Times are training wall time (validation pass included, test "
             "evaluations excluded); test accuracy is probed every half epoch.\n",
             "| recipe | seed | parameters | epochs x batch | time to 99.0 % (s) | epochs to "
             "99.0 % | test acc. after 3 epochs | final test acc. | total time (s) |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in runs:
        to_99 = "not reached" if r["seconds_to_99"] is None else f"{r['seconds_to_99']:.1f}"
        after_3 = "-" if r["accuracy_after_3_epochs"] is None else \
            f"{r['accuracy_after_3_epochs']:.2%}"
        lines.append(f"| {r['recipe']} | {r['seed']} | {r['parameters']:,} | {r['epochs']} x "
                     f"{r['batch']} | {to_99} | {r['epochs_to_99'] or '-'} | {after_3} | "
                     f"{r['final_accuracy']:.2%} | {r['seconds_total']:.0f} |")
    keras_times = [r["seconds_to_99"] for r in runs if r["recipe"] == "keras"]
    lab_times = [r["seconds_to_99"] for r in runs if r["recipe"] == "lab"]
    lab_after_3 = [r["accuracy_after_3_epochs"] for r in runs if r["recipe"] == "lab"]
    lines.append("")
    if None not in keras_times + lab_times:
        ratio = np.median(lab_times) / np.median(keras_times)
        lines.append(f"Median time to 99.0 %: lab {np.median(lab_times):.1f} s, Keras example "
                     f"{np.median(keras_times):.1f} s: the lab's recipe needs {ratio:.0%} of the "
                     f"Keras time (goal: at most 50 %).")
    else:
        lines.append("A recipe did not reach 99.0 % in one of its runs (see the table).")
    lines.append(f"Lab recipe after 3 epochs: {', '.join(f'{a:.2%}' for a in lab_after_3)} "
                 f"(goal: at least 99.3 %).")
    (ROOT / "bench" / "results" / "mnist.md").write_text("\n".join(lines) + "\n")
    (ROOT / "bench" / "results" / "mnist.json").write_text(json.dumps(report, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
