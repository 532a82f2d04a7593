"""Wall times that tests record instead of asserting: a CSV row per timed run, a warning past budget.

A run that takes longer than its budget on a loaded machine is not a failure; it is written to
`.ci/artifacts/timings.csv` (git-ignored) and named at the end of the session (tests/conftest.py).
"""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMINGS_CSV = ROOT / ".ci" / "artifacts" / "timings.csv"
COLUMNS = ("label", "seconds", "budget_seconds")


class OverBudgetWarning(UserWarning):
    """A timed run took longer than its budget (recorded, not failed: the machine may be loaded)."""


@dataclass(frozen=True)
class Timing:
    """One timed run: what ran (a test node id or a label), how long it took, and its budget."""

    label: str
    seconds: float
    budget_seconds: float

    @property
    def over_budget(self) -> bool:
        return self.seconds > self.budget_seconds

    def describe(self) -> str:
        """One line for a warning or the session summary."""
        return f"{self.label}: {self.seconds:.1f} s (budget {self.budget_seconds:g} s)"


@dataclass
class TimingLog:
    """A CSV file of timings (columns COLUMNS, appended to) and the timings recorded this session."""

    path: Path
    recorded: list[Timing] = field(default_factory=list)

    def record(self, timing: Timing) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new_file = not self.path.exists()
        with self.path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new_file:
                writer.writerow(COLUMNS)
            writer.writerow([timing.label, f"{timing.seconds:.3f}", f"{timing.budget_seconds:g}"])
        self.recorded.append(timing)

    def over_budget(self) -> list[Timing]:
        """This session's timings that took longer than their budget."""
        return [timing for timing in self.recorded if timing.over_budget]


SESSION_LOG = TimingLog(TIMINGS_CSV)


def current_test() -> str | None:
    """The node id of the running test (pytest sets PYTEST_CURRENT_TEST), or None outside one."""
    running = os.environ.get("PYTEST_CURRENT_TEST")
    return running.rsplit(" (", 1)[0] if running else None


def record_timing(seconds: float, budget_seconds: float, label: str | None = None,
                  log: TimingLog = SESSION_LOG) -> Timing:
    """Record a wall time against its budget; warn with OverBudgetWarning when it is over.

    Args:
        seconds: the measured wall time.
        budget_seconds: how long the run should take on the course's 2-core machine.
        label: what ran; by default the running test's node id.
        log: where to record it (by default `.ci/artifacts/timings.csv` and this session's list).

    Returns:
        The recorded timing.
    """
    timing = Timing(label or current_test() or "unlabelled run", seconds, budget_seconds)
    log.record(timing)
    if timing.over_budget:
        warnings.warn(f"over budget: {timing.describe()}", OverBudgetWarning, stacklevel=2)
    return timing


def summary_lines(log: TimingLog = SESSION_LOG) -> list[str]:
    """The end-of-session summary: each over-budget run, or that all were within budget.

    Empty when nothing was timed (a run without the slow tests, for example).
    """
    if not log.recorded:
        return []
    over = log.over_budget()
    lines = [f"over budget: {timing.describe()}" for timing in over]
    lines += [] if over else ["all timed runs within budget"]
    where = log.path.relative_to(ROOT) if log.path.is_relative_to(ROOT) else log.path
    return [*lines, f"{len(log.recorded)} timed run(s) this session, appended to {where}"]
