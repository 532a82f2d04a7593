"""Benchmark `cnnkit course grade`: 20 Lab 1 submissions with one and with two workers.

Usage: .venv/bin/python -m bench.bench_grading   (writes bench/results/grading.md and .json)

The submissions are a fixed mix, built from the solution and the release: 10 correct, 5 partly
wrong (one or two parts missing), 5 broken (not JSON, an infinite loop, a dying kernel, a
missing notebook, a syntax error). Grading runs under the default limits except a 20 s cell
timeout (the infinite loop costs that much).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

from cnnkit.course import grade_lab
from cnnkit.course.grading import GradeLimits
from cnnkit.course.sandbox import sandbox_support
from tests.labcode import make_course
from tests.submissions import LAB, NOTEBOOK, RELEASE, SOLUTION, dump_notebook, edited

ROOT = Path(__file__).resolve().parents[1]


def release_cell(grade_id: str) -> str:
    cell = next(c for c in RELEASE["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    return "".join(cell["source"])


def submissions() -> dict[str, bytes | None]:
    """20 submissions: name -> notebook bytes (None: no notebook)."""
    result: dict[str, bytes | None] = {f"correct{i:02d}": dump_notebook(SOLUTION) for i in range(10)}
    for i, parts in enumerate([("conv_params",), ("pooling",), ("conv2d_backward",),
                               ("conv_params", "pooling"), ("conv2d_fast", "conv2d_backward")]):
        notebook = SOLUTION
        for part in parts:
            notebook = edited(notebook, part, release_cell(part))
        result[f"partial{i}"] = dump_notebook(notebook)
    result["broken_json"] = dump_notebook(SOLUTION)[:3000]
    result["broken_loop"] = dump_notebook(edited(SOLUTION, "conv_params", "while True:\n    pass\n"))
    result["broken_exit"] = dump_notebook(edited(SOLUTION, "conv_params", "import os\nos._exit(1)\n"))
    result["broken_missing"] = None
    result["broken_syntax"] = dump_notebook(edited(SOLUTION, "conv_params", "def conv_params(:\n"))
    return result


def make_submissions(folder: Path, copies: int = 1) -> Path:
    """A course in ``folder`` with the 20 submissions, ``copies`` times (students NAME, NAME-1 ...)."""
    make_course(folder, LAB)
    for copy in range(copies):
        for student, content in submissions().items():
            target = folder / "submitted" / (f"{student}-{copy}" if copy else student) / LAB
            target.mkdir(parents=True)
            if content is not None:
                (target / NOTEBOOK).write_bytes(content)
    return folder


def main() -> None:
    limits = GradeLimits(cell_timeout=20)
    runs = {}
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as scratch:
            course = make_submissions(Path(scratch))
            start = time.perf_counter()
            results = grade_lab(course, LAB, jobs=jobs, limits=limits)
            seconds = time.perf_counter() - start
        correct = [r.seconds for r in results if r.student.startswith("correct")]
        runs[jobs] = {"seconds": seconds, "per_minute": 60 * len(results) / seconds,
                      "correct_max_seconds": max(correct),
                      "correct_median_seconds": sorted(correct)[len(correct) // 2],
                      "scores": {r.student: r.score for r in results}}
        print(f"jobs={jobs}: {seconds:.0f} s, {runs[jobs]['per_minute']:.1f} submissions/min", flush=True)
    assert runs[1]["scores"] == runs[2]["scores"], "the same submissions must get the same scores"
    speedup = runs[1]["seconds"] / runs[2]["seconds"]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    lines = ["# Grading throughput (Lab 1)\n",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine}; "
             f"student kernels {sandbox_support().describe()}; 20 submissions (10 correct, "
             "5 partly wrong, 5 broken: not JSON, infinite loop, dying kernel, no notebook, "
             "syntax error); cell timeout 20 s.\n",
             "| workers | wall time (s) | submissions / min | correct one: median (s) | max (s) |",
             "|---:|---:|---:|---:|---:|"]
    for jobs, run in runs.items():
        lines.append(f"| {jobs} | {run['seconds']:.0f} | {run['per_minute']:.1f} | "
                     f"{run['correct_median_seconds']:.1f} | {run['correct_max_seconds']:.1f} |")
    lines += ["", f"Speed-up with 2 workers: {speedup:.2f}x (goal >= 1.6x: "
                  f"{'met' if speedup >= 1.6 else 'not met'}). A correct submission autogrades in "
                  f"{runs[1]['correct_max_seconds']:.1f} s at most with one worker (goal < 30 s: "
                  f"{'met' if runs[1]['correct_max_seconds'] < 30 else 'not met'}). Both runs gave "
                  "identical scores."]
    (ROOT / "bench" / "results" / "grading.md").write_text("\n".join(lines) + "\n")
    (ROOT / "bench" / "results" / "grading.json").write_text(json.dumps(runs, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
