"""Benchmark Lab 4's offline track: what transfer buys on Fashion-MNIST classes 5-9, 100 labels each.

Usage: .venv/bin/python bench/bench_transfer.py [--quick]
       (writes bench/results/transfer.md and transfer.json)

With the lab's own functions (from the solution notebook) and the shipped backbone (pre-trained
on classes 0-4), on the 500 training images of `transfer.offline_data()`, test accuracy on all
5,000 test images of classes 5-9:

1. feature extraction (backbone frozen, 40 epochs, Adam 1e-3), then fine-tuning (last 11 layers,
   batch-norm frozen, 40 epochs, Adam 3e-4): the track's recipe, no augmentation;
2. the same network from scratch, 40 and 80 epochs (80 = both transfer phases together);
3. the transfer recipe with augmentation: a horizontal flip only, and the classic settings.

Times are wall-clock training seconds on this machine (evaluation excluded). Goal (issue 7):
fine-tuned >= from scratch + 5 points.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ["CNNKIT_PROFILE"] = "full"

import cnnkit  # noqa: E402,F401 - quiet TensorFlow import
from labcode import solution_namespace  # noqa: E402

from cnnkit import transfer  # noqa: E402
from cnnkit.train import set_seed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs per phase (a dry run)")
    args = parser.parse_args()
    import keras

    lab = solution_namespace("lab4-transfer", ("setup", "build_augmentation",
                                               "build_transfer_model", "start_feature_extraction",
                                               "start_fine_tuning"))
    track = transfer.get_track("offline")
    data = track.load_data()
    epochs = {key: (2 if args.quick else value) for key, value in track.epochs.items()}

    def accuracy(model) -> float:
        predicted = model.predict(data.test_images, batch_size=500, verbose=0).argmax(axis=1)
        return float(np.mean(predicted == data.test_labels))

    def fit(model, count: int) -> float:
        start = time.perf_counter()
        model.fit(data.train_images, data.train_labels, epochs=count,
                  batch_size=track.batch_size, verbose=0)
        return time.perf_counter() - start

    def transfer_run(settings: transfer.AugmentationSettings) -> dict:
        set_seed(0)
        backbone = track.backbone()
        model = lab.build_transfer_model(backbone, lab.build_augmentation(**asdict(settings)),
                                         track.preprocess(), len(data.class_names))
        lab.start_feature_extraction(model, backbone, track.feature_learning_rate)
        features_seconds = fit(model, epochs["features"])
        features_accuracy = accuracy(model)
        lab.start_fine_tuning(model, backbone, track.top_n, track.fine_tune_learning_rate)
        tune_seconds = fit(model, epochs["fine_tune"])
        return {"features": features_accuracy, "features_seconds": features_seconds,
                "finetuned": accuracy(model), "finetune_seconds": tune_seconds}

    def scratch_run(count: int) -> dict:
        set_seed(0)
        model = lab.build_transfer_model(track.backbone(pretrained=False),
                                         lab.build_augmentation(), track.preprocess(),
                                         len(data.class_names))
        model.compile(optimizer=keras.optimizers.Adam(track.feature_learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        seconds = fit(model, count)
        return {"epochs": count, "accuracy": accuracy(model), "seconds": seconds}

    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "quick": args.quick,
        "recipe": transfer_run(track.augmentation),
        "scratch": [scratch_run(epochs["features"]), scratch_run(epochs["scratch"])],
        "flip": transfer_run(transfer.AugmentationSettings(horizontal_flip=True)),
        "classic": transfer_run(transfer.CLASSIC_AUGMENTATION),
    }
    out = ROOT / "bench" / "results"
    (out / "transfer.json").write_text(json.dumps(results, indent=2) + "\n")
    recipe, best_scratch = results["recipe"], max(run["accuracy"] for run in results["scratch"])
    lines = [
        "# Lab 4, offline track: transfer vs from scratch (Fashion-MNIST 5-9, 100 labels/class)",
        "",
        f"Machine: {results['machine']}; `bench/bench_transfer.py`"
        f"{' --quick' if args.quick else ''}. Test accuracy on all 5,000 test images of classes "
        "5-9; seconds of training.",
        "",
        "| model | epochs | seconds | test accuracy |",
        "|---|---|---|---|",
        f"| feature extraction (frozen backbone) | {epochs['features']} | "
        f"{recipe['features_seconds']:.0f} | {recipe['features']:.2%} |",
        f"| + fine-tuning (last {track.top_n} layers, BN frozen) | +{epochs['fine_tune']} | "
        f"+{recipe['finetune_seconds']:.0f} | {recipe['finetuned']:.2%} |",
        *[f"| from scratch | {run['epochs']} | {run['seconds']:.0f} | {run['accuracy']:.2%} |"
          for run in results["scratch"]],
        f"| fine-tuned, with a horizontal flip | {epochs['features']}+{epochs['fine_tune']} | "
        f"{results['flip']['features_seconds'] + results['flip']['finetune_seconds']:.0f} | "
        f"{results['flip']['finetuned']:.2%} |",
        f"| fine-tuned, with the classic augmentation | {epochs['features']}+{epochs['fine_tune']} "
        f"| {results['classic']['features_seconds'] + results['classic']['finetune_seconds']:.0f} "
        f"| {results['classic']['finetuned']:.2%} |",
        "",
        f"Fine-tuned minus the best from-scratch run: "
        f"{100 * (recipe['finetuned'] - best_scratch):+.1f} points (goal: +5).",
    ]
    (out / "transfer.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
