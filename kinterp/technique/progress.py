"""Progress bars for long work: rich on a terminal, silent otherwise or with --quiet."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


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


@contextmanager
def progress_bar(total: int, description: str, quiet: bool) -> Iterator[Progress]:
    """Show a rich progress bar on stderr while the block runs (unless quiet or not a tty)."""
    if quiet or not sys.stderr.isatty():
        yield Progress()
        return
    with rich_bar(total, description) as (bar, task):
        yield Progress(bar, task)
