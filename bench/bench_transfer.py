"""Benchmark Lab 4's offline track: when transfer pays, and which augmentation helps.

Usage: .venv/bin/python -m bench.bench_transfer [--seeds 3] [--quick]
       (writes bench/results/transfer.md and transfer.json)

Everything runs through the lab's own cells (the solution notebook's functions and its
`train_transfer` / `train_scratch` helpers), with the shipped backbone pre-trained on the MNIST
digits 0-4, on the digits 5-9; test accuracy on all 4,861 test images of those digits:

1. transfer (feature extraction then fine-tuning) against the same network from scratch, at
   10, 30, 100 and 300 labelled images per class, each seed with its own sample of images;
2. at the lab's budget (10 per class, the lab's own images), the from-scratch network without
   augmentation, with the classic settings, and with small ones; and the fine-tuned network
   with the small ones;
3. each arm's training seconds.

Verdicts: transfer gain at the lab's budget (goal >= +5 points, mean over seeds); gain at each
budget; augmentation gain over no augmentation (goal: more than the larger seed spread).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ["CNNKIT_PROFILE"] = "full"

import cnnkit  # noqa: E402,F401 - quiet TensorFlow import
from cnnkit import transfer  # noqa: E402
from cnnkit.transfer import CLASSIC_AUGMENTATION, AugmentationSettings  # noqa: E402
from tests.labcode import solution_namespace  # noqa: E402

CELLS = ("setup", "load_data", "build_augmentation", "build_transfer_model",
         "start_feature_extraction", "start_fine_tuning", "training_setup", "experiment_helpers")
BUDGETS = (10, 30, 100, 300)
SMALL = AugmentationSettings(rotation_degrees=10, shift=0.05)
GOAL_POINTS = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_transfer",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per setting (default 3)")
    parser.add_argument("--quick", action="store_true", help="4 steps per phase (a dry run)")
    args = parser.parse_args()
    if args.quick:
        os.environ["CNNKIT_PROFILE"] = "smoke"
    lab = solution_namespace("lab4-transfer", CELLS)
    seeds = range(args.seeds)
    track = lab.track

    curve = {}
    for budget in BUDGETS:
        runs = []
        for seed in seeds:
            sample = track.load_data(budget, seed=2026 + seed)
            runs.append({**lab.train_transfer(sample.train_images, sample.train_labels, seed),
                         **lab.train_scratch(sample.train_images, sample.train_labels, seed)})
        curve[budget] = runs
        print(budget, "per class:", _summary(runs, "fine_tuned"), "vs", _summary(runs, "scratch"),
              flush=True)

    augmentation = {}
    for label, settings in (("none", AugmentationSettings()), ("classic", CLASSIC_AUGMENTATION),
                            ("small", SMALL)):
        augmentation[label] = [lab.train_scratch(lab.x_train, lab.y_train, seed, settings)
                               for seed in seeds]
        print("from scratch,", label, _summary(augmentation[label], "scratch"), flush=True)
    tuned_small = [lab.train_transfer(lab.x_train, lab.y_train, seed, SMALL) for seed in seeds]
    tuned_none = curve[track.labels_per_class]  # seed 0 there is the lab's own images, not all

    results = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "quick": args.quick,
               "seeds": args.seeds, "steps": lab.STEPS, "curve": curve,
               "augmentation_scratch": augmentation, "augmentation_fine_tuned_small": tuned_small}
    out = ROOT / "bench" / "results"
    (out / "transfer.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = _report(results, track, tuned_none)
    (out / "transfer.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _summary(runs: list[dict], key: str) -> transfer.SeedSummary:
    return transfer.over_seeds([run[key] for run in runs])


def _report(results: dict, track, tuned_none: list[dict]) -> list[str]:
    curve, seeds = results["curve"], results["seeds"]
    lab_budget = track.labels_per_class
    lines = [
        "# Lab 4, offline track: when transfer pays, and which augmentation helps",
        "",
        f"Machine: {results['machine']}; `python -m bench.bench_transfer`"
        f"{' --quick' if results['quick'] else ''}, {seeds} seeds. Backbone pre-trained on the "
        "MNIST digits 0-4 (`cnnkit/weights/digits_backbone.json`); target: the digits 5-9. Test "
        "accuracy on all 4,861 test images of those digits, mean ± standard deviation over "
        f"seeds (each seed its own sample of training images). Steps: {results['steps']} "
        f"(batch {track.batch_size}); seconds are training time per run.",
        "",
        "## Transfer against from scratch, by label budget",
        "",
        "| labels per class | feature extraction | fine-tuned | from scratch | gain (points) "
        "| verdict | seconds (transfer / scratch) |",
        "|---|---|---|---|---|---|---|",
    ]
    for budget, runs in curve.items():
        tuned, fresh = _summary(runs, "fine_tuned"), _summary(runs, "scratch")
        verdict = ("transfer clearly better" if transfer.clearly_better(tuned, fresh) else
                   "scratch clearly better" if transfer.clearly_better(fresh, tuned) else
                   "within the spread")
        lines.append(
            f"| {budget}{' (the lab)' if budget == lab_budget else ''} | "
            f"{_summary(runs, 'features')} | {tuned} | {fresh} | "
            f"{100 * (tuned.mean - fresh.mean):+.1f} | {verdict} | "
            f"{np.mean([run['transfer_seconds'] for run in runs]):.0f} / "
            f"{np.mean([run['scratch_seconds'] for run in runs]):.0f} |")
    lab_runs = curve[lab_budget]
    gain = 100 * (_summary(lab_runs, "fine_tuned").mean - _summary(lab_runs, "scratch").mean)
    lines += [
        "",
        f"**Verdict, transfer at the lab's budget ({lab_budget} per class): {gain:+.1f} points "
        f"(goal >= +{GOAL_POINTS:.0f}): {'met' if gain >= GOAL_POINTS else 'NOT met'}.**",
        "",
        transfer.describe_curve(tuple(curve), [_summary(r, "fine_tuned") for r in curve.values()],
                                [_summary(r, "scratch") for r in curve.values()]).replace(
                                    "\n", "  \n"),
        "",
        f"## Augmentation, at the lab's budget (the lab's own {5 * lab_budget} images)",
        "",
        "| network | augmentation | test accuracy | seconds |",
        "|---|---|---|---|",
    ]
    scratch = results["augmentation_scratch"]
    for label, runs in scratch.items():
        lines.append(f"| from scratch | {label} | {_summary(runs, 'scratch')} | "
                     f"{np.mean([run['scratch_seconds'] for run in runs]):.0f} |")
    small_tuned = results["augmentation_fine_tuned_small"]
    lines.append(f"| fine-tuned | small | {_summary(small_tuned, 'fine_tuned')} | "
                 f"{np.mean([run['transfer_seconds'] for run in small_tuned]):.0f} |")
    none, small = _summary(scratch["none"], "scratch"), _summary(scratch["small"], "scratch")
    classic = _summary(scratch["classic"], "scratch")
    margin, spread = 100 * (small.mean - none.mean), 100 * max(none.spread, small.spread)
    lines += [
        "",
        f"Small = {SMALL}.",
        "",
        f"**Verdict, augmentation (from scratch): small minus none {margin:+.1f} points, larger "
        f"seed spread {spread:.1f} points: "
        f"{'met' if transfer.clearly_better(small, none) else 'NOT met'}.** "
        f"Classic minus none: {100 * (classic.mean - none.mean):+.1f} points.",
        "",
        f"For reference, the fine-tuned network without augmentation at {lab_budget} per class "
        f"(the curve's runs, each seed its own images): {_summary(tuned_none, 'fine_tuned')}.",
    ]
    return lines


if __name__ == "__main__":
    main()
