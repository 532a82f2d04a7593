"""Benchmark the story of Lab 3's training run: initial loss, overfitting 200 images, the ablation.

Usage: nice -n 10 .venv/bin/python -m bench.bench_lab3_story [--seeds 0 1] [--report-only]
       (writes bench/results/lab3_story.md and lab3_story.json)

The real CIFAR-10 has no offline source here, so the stand-in is the real Fashion-MNIST, each
28x28 image padded to 32x32 and repeated over 3 channels (as bench_cifar.py does). The lab's own
cells run, taken from the solution notebook (tests/labcode.py), in the full profile:

1. `initial_loss`: a fresh `build_vgg()` compiled with the recipe, evaluated on 512 training
   images before any training (compare ln 10 = 2.3026);
2. `overfit`: 200 training images, no augmentation, no label smoothing, Adam 1e-3, 60 steps;
   the training accuracy Keras reports after each pass;
3. `ablation_setup` + `ablation_run`: full recipe, no augmentation, no batch norm, each trained on
   5,000 training images for 6 epochs and validated on 2,000 other training images after each
   epoch. With --seeds, the three variants run again with those seeds too (the lab runs seed 0).
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
os.environ["CNNKIT_PROFILE"] = "full"

import cnnkit  # noqa: E402,F401 - quiet TensorFlow import
from bench.bench_cifar import fashion_as_cifar  # noqa: E402
from tests.labcode import solution_namespace  # noqa: E402

CELLS = ("setup", "make_pipeline", "build_vgg", "warmup_cosine", "recipe", "compile_vgg",
         "initial_loss", "overfit", "ablation_setup", "ablation_run")


def run(seeds: list[int]) -> dict:
    from cnnkit.data import load_fashion_mnist

    train, _ = load_fashion_mnist()
    start = time.perf_counter()
    lab = solution_namespace("lab3-cifar10", CELLS, preset={
        "x_train": fashion_as_cifar(train.images), "y_train": train.labels,
        "predicted_initial_loss": None})
    report = {
        "initial_loss": float(lab.initial_loss), "initial_accuracy": float(lab.initial_accuracy),
        "overfit": {"images": lab.OVERFIT_IMAGES, "steps": lab.overfit_steps,
                    "accuracy_per_pass": [float(a) for a in lab.tiny_run.history["accuracy"]],
                    "final_accuracy": float(lab.overfit_accuracy),
                    "final_loss": float(lab.tiny_run.history["loss"][-1])},
        "ablation": {"examples": lab.ABLATION_EXAMPLES, "held_out": lab.HELD_OUT,
                     "epochs": lab.ABLATION_EPOCHS, "runs": []},
    }
    for label, run_ in lab.ablation.items():
        report["ablation"]["runs"].append(_row(label, 0, run_))
    for seed in (s for s in seeds if s != 0):
        for label, change in lab.VARIANTS.items():
            row = _row(label, seed, lab.train_variant(**change, seed=seed))
            report["ablation"]["runs"].append(row)
            print(f"seed {seed} {label}: {row['val_accuracy'][-1]:.1%}", flush=True)
    report["seconds"] = round(time.perf_counter() - start)
    return report


def _row(label: str, seed: int, run_: dict) -> dict:
    return {"variant": label, "seed": seed, "parameters": run_["parameters"],
            "seconds": round(run_["seconds"], 1),
            "accuracy": [float(a) for a in run_["accuracy"]],
            "val_accuracy": [float(a) for a in run_["val_accuracy"]]}


def write_report(report: dict) -> None:
    overfit, ablation = report["overfit"], report["ablation"]
    lines = [
        "# Lab 3's story on a stand-in: initial loss, overfitting 200 images, the ablation\n",
        f"Measured {report['date']} on {report['machine']}, with `nice`, by "
        "`python -m bench.bench_lab3_story` running the lab's own cells from the solution notebook. "
        "**Stand-in data:** real Fashion-MNIST, each image padded to 32x32 and repeated over 3 "
        "channels (no CIFAR-10 offline); on CIFAR-10 the numbers differ. "
        f"Whole run: {report['seconds'] / 60:.1f} minutes.\n",
        "## Before training\n",
        f"Loss of a fresh `build_vgg()` compiled with the recipe, on 512 training images: "
        f"**{report['initial_loss']:.4f}** (ln 10 = {np.log(10):.4f}); accuracy "
        f"{report['initial_accuracy']:.1%}.\n",
        "## Overfitting 200 training images\n",
        f"No augmentation, no label smoothing, Adam 1e-3, batches of 50: training accuracy "
        f"(as Keras reports it) **{overfit['final_accuracy']:.1%}** after {overfit['steps']} "
        f"steps, loss {overfit['final_loss']:.3f}. Per pass of 4 steps: "
        + " ".join(f"{a:.0%}" for a in overfit["accuracy_per_pass"]) + ".\n",
        f"## Ablation: {ablation['examples']:,} training images, {ablation['epochs']} epochs, "
        f"validated on {ablation['held_out']:,} held-out training images\n",
        "Seconds are wall time on a CPU shared with other jobs, so they follow the load more "
        "than the variant. Training accuracy is measured on augmented images where augmentation "
        "is on, with dropout active.\n",
        "| variant | seed | parameters | seconds | validation accuracy per epoch | last: training "
        "/ validation |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for row in ablation["runs"]:
        lines.append(f"| {row['variant']} | {row['seed']} | {row['parameters']:,} | "
                     f"{row['seconds']:.0f} | "
                     + " ".join(f"{a:.1%}" for a in row["val_accuracy"])
                     + f" | {row['accuracy'][-1]:.1%} / {row['val_accuracy'][-1]:.1%} |")
    by_variant: dict[str, list[float]] = {}
    for row in ablation["runs"]:
        by_variant.setdefault(row["variant"], []).append(row["val_accuracy"][-1])
    ranking = sorted(by_variant, key=lambda label: np.mean(by_variant[label]), reverse=True)
    seeds = len(next(iter(by_variant.values())))
    lines += ["", f"Ranking by the last epoch's validation accuracy"
                  f"{f' (mean over {seeds} seeds)' if seeds > 1 else ' (seed 0, as in the lab)'}: "
              + ", ".join(f"{label} {100 * np.mean(by_variant[label]):.1f} %"
                          + (f" (spread {100 * np.ptp(by_variant[label]):.1f})" if seeds > 1
                             else "") for label in ranking) + "."]
    (ROOT / "bench" / "results" / "lab3_story.md").write_text("\n".join(lines) + "\n")
    (ROOT / "bench" / "results" / "lab3_story.json").write_text(json.dumps(report, indent=1) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_lab3_story",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="seeds for the ablation (0 is the lab's own run)")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite lab3_story.md from lab3_story.json without training")
    args = parser.parse_args()
    if args.report_only:
        write_report(json.loads((ROOT / "bench" / "results" / "lab3_story.json").read_text()))
        return

    import keras
    import tensorflow as tf

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    gpus = tf.config.list_physical_devices("GPU")
    machine = (f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs), "
               f"{'GPU: ' + ', '.join(g.name for g in gpus) if gpus else 'no GPU'}, "
               f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    report = {"date": started, "machine": machine, **run(args.seeds)}
    write_report(report)


if __name__ == "__main__":
    main()
