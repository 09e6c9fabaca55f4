"""The sweep's progress: a rich bar with runs per minute and the estimated end on a terminal,
one line per finished run otherwise (logs, CI), nothing when quiet."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from kinterp.sweeps.outcome import Outcome
from kinterp.sweeps.plan import PlannedRun
from kinterp.technique.progress import rich_bar


class SweepProgress:
    """Advanced once per finished run; draws a bar, prints lines, or does nothing."""

    def __init__(self, total: int, quiet: bool, bar: Any = None, task: Any = None):
        self.total = total
        self.quiet = quiet
        self.done = 0
        self.started = time.monotonic()
        self._bar = bar
        self._task = task

    def rate(self) -> float:
        """Runs finished per minute so far."""
        return 60 * self.done / max(time.monotonic() - self.started, 1e-9)

    def eta(self) -> str:
        """The clock time the sweep should end at, at the current rate."""
        if not self.done:
            return "?"
        left = (self.total - self.done) * 60 / self.rate()
        return (datetime.now() + timedelta(seconds=left)).strftime("%H:%M:%S")

    def advance(self, run: PlannedRun, outcome: Outcome) -> None:
        """Count one finished run."""
        self.done += 1
        label = run.label
        if self._bar is not None:
            stats = f"{self.rate():.1f} runs/min, ends ~{self.eta()}"
            self._bar.update(self._task, advance=1, stats=stats)
            if outcome.status in ("failed", "refused"):
                self._bar.console.print(f"{outcome.status}: {label}: {outcome.error}")
        elif not self.quiet:
            seconds = f" {outcome.seconds:.1f}s" if outcome.seconds is not None else ""
            error = f": {outcome.error}" if outcome.error else ""
            print(
                f"[{self.done}/{self.total}] {outcome.status} {label}{seconds}{error}",
                file=sys.stderr,
                flush=True,
            )


@contextmanager
def sweep_progress(total: int, quiet: bool) -> Iterator[SweepProgress]:
    """Progress over ``total`` runs on stderr."""
    if quiet or not sys.stderr.isatty():
        yield SweepProgress(total, quiet)
        return
    with rich_bar(total, "sweep", "{task.fields[stats]}", stats="") as (bar, task):
        yield SweepProgress(total, quiet, bar, task)
