"""Progress bars for long work: rich on a terminal, silent otherwise or with --quiet.

Whoever runs a technique on behalf of someone else (the server's workers) follows its
progress with :func:`observing`: while the block runs, this thread's progress bars go to the
observer instead (whatever ``quiet`` says), one :meth:`ProgressObserver.start` per bar, then
:meth:`ProgressObserver.advance` per step.
"""

from __future__ import annotations

import sys
import threading
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


@contextmanager
def progress_bar(total: int, description: str, quiet: bool) -> Iterator[Progress]:
    """Show a rich progress bar on stderr while the block runs (unless quiet or not a tty);
    under :func:`observing`, tell the observer instead."""
    observer = getattr(_observed, "observer", None)
    if observer is not None:
        observer.start(description, total)
        yield _Observed(observer)
        return
    if quiet or not sys.stderr.isatty():
        yield Progress()
        return
    with rich_bar(total, description) as (bar, task):
        yield Progress(bar, task)
