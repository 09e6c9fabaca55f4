"""Progress for long work: a rich bar on a terminal; without one (logs, CI, a pipe) a line
on stderr every few seconds (``KINTERP_PROGRESS_SECONDS``, default 5) while work goes on;
nothing with --quiet.

Whoever runs a technique on behalf of someone else (the server's workers) follows its
progress with :func:`observing`: while the block runs, this thread's progress bars go to the
observer instead (whatever ``quiet`` says), one :meth:`ProgressObserver.start` per bar, then
:meth:`ProgressObserver.advance` per step.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol


class ProgressObserver(Protocol):
    """What :func:`observing` takes: told of each progress bar and each step of it."""

    def start(self, description: str, total: int | None) -> None:
        """A new bar (a stage of the run) of ``total`` steps begins."""

    def advance(self, steps: int) -> None:
        """``steps`` more steps of the current bar are done."""


_observed = threading.local()


class Progress:
    """A handle a technique advances; does nothing when progress is hidden."""

    def __init__(self, bar=None, task=None):
        self._bar = bar
        self._task = task

    def advance(self, steps: int = 1) -> None:
        """Mark ``steps`` more units of work done."""
        if self._bar is not None:
            self._bar.advance(self._task, steps)


@contextmanager
def rich_bar(total: int, description: str, *extra: str, **fields: Any) -> Iterator[Any]:
    """A transient rich bar on stderr (description, bar, n/total, time left, ``extra``
    columns); yields (bar, task)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        *extra,
    )
    with RichProgress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield bar, bar.add_task(description, total=total, **fields)


class _Observed(Progress):
    def __init__(self, observer: ProgressObserver):
        super().__init__()
        self.observer = observer

    def advance(self, steps: int = 1) -> None:
        self.observer.advance(steps)


@contextmanager
def observing(observer: ProgressObserver) -> Iterator[None]:
    """Send this thread's progress bars to ``observer`` while the block runs."""
    previous = getattr(_observed, "observer", None)
    _observed.observer = observer
    try:
        yield
    finally:
        _observed.observer = previous


LINE_SECONDS = 5.0
"""How often a progress line is printed without a terminal (``KINTERP_PROGRESS_SECONDS``)."""


def line_seconds() -> float:
    """The interval of progress lines: ``KINTERP_PROGRESS_SECONDS`` if a positive number."""
    try:
        seconds = float(os.environ.get("KINTERP_PROGRESS_SECONDS", LINE_SECONDS))
    except ValueError:
        return LINE_SECONDS
    return seconds if math.isfinite(seconds) and seconds > 0 else LINE_SECONDS


class LineProgress(Progress):
    """Without a terminal: ``description: done/total (pct%)`` on stderr, at most once per
    interval, the first after one interval of work (a short run prints nothing)."""

    def __init__(self, total: int, description: str):
        super().__init__()
        self.total, self.description, self.done = total, description, 0
        self.every = line_seconds()
        self.last = time.monotonic()

    def advance(self, steps: int = 1) -> None:
        self.done += steps
        clock = time.monotonic()
        if clock - self.last >= self.every:
            self.last = clock
            share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
            print(f"{self.description}: {self.done}/{self.total}{share}", file=sys.stderr)


@contextmanager
def progress_bar(total: int, description: str, quiet: bool) -> Iterator[Progress]:
    """Show progress on stderr while the block runs: a rich bar on a terminal, else lines
    (:class:`LineProgress`), nothing when quiet; under :func:`observing`, tell the observer
    instead."""
    observer = getattr(_observed, "observer", None)
    if observer is not None:
        observer.start(description, total)
        yield _Observed(observer)
        return
    if quiet:
        yield Progress()
        return
    if not sys.stderr.isatty():
        yield LineProgress(total, description)
        return
    with rich_bar(total, description) as (bar, task):
        yield Progress(bar, task)
