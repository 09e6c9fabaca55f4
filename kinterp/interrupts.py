"""Ctrl-C and SIGTERM stop a command promptly, even inside a long compiled TensorFlow call.

SIGTERM is what ``timeout``, systemd, Docker and Kubernetes send; it is treated like Ctrl-C:
the main thread gets :class:`Terminated` (a ``KeyboardInterrupt``, so every clean-up that
runs for Ctrl-C runs for it too), the run directory is removed, and the exit code is 143
(128 + 15) instead of 130.

Python raises in the main thread only when that thread next runs Python code, and a
compiled optimisation chunk can keep it in TensorFlow's C++ for tens of seconds. The CLI
therefore also watches for both signals from a helper thread (through
``signal.set_wakeup_fd``, which the C-level handler writes to at once): if the main thread
has not finished within ``GRACE_S`` of the signal, the helper removes the live run
directories, prints the one line, and ends the process itself.

A command that handles the signals itself (``kinterp serve``: uvicorn shuts down its
workers gracefully) calls :func:`hand_over` so the helper does not cut that short.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any

from kinterp.reporting.rundir import discard_live

GRACE_S = 1.0
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
MESSAGES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
_ACTIVE: list[InterruptWatch] = []


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop as for Ctrl-C, but exit 143."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def hand_over() -> None:
    """The running command handles SIGINT and SIGTERM itself: the watch stops ending it."""
    for watch in _ACTIVE:
        watch.stop()


class InterruptWatch:
    """A context manager for the length of one command (a no-op outside the main thread)."""

    def __init__(self, grace: float = GRACE_S):
        self.grace = grace
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._previous: int | None = None
        self._previous_term: Any = None
        self._pipe: tuple[int, int] | None = None

    def __enter__(self) -> InterruptWatch:
        if threading.current_thread() is not threading.main_thread():
            return self
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        self._previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        self._previous_term = signal.signal(signal.SIGTERM, _raise_terminated)
        self._pipe = (read_end, write_end)
        _ACTIVE.append(self)
        threading.Thread(target=self._watch, name="kinterp-interrupt", daemon=True).start()
        return self

    def stop(self) -> None:
        """The main thread is done (or handles the interrupt itself): stand down.

        Blocks for good if the helper is already ending the process.
        """
        with self._lock:
            self._stopped.set()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
        if self._pipe is not None:
            signal.signal(signal.SIGTERM, self._previous_term)
            signal.set_wakeup_fd(-1 if self._previous is None else self._previous)
            os.close(self._pipe[1])  # the helper's read returns b"" and it ends
            self._pipe = None
            _ACTIVE.remove(self)

    def _watch(self) -> None:
        """Wait for each signal; end the process if the main thread has not within the grace.

        The pipe is read until the command ends (its write end is closed), also once stood
        down, so a later signal never finds a closed pipe.
        """
        assert self._pipe is not None
        read_end = self._pipe[0]
        try:
            while (received := self._next_signal(read_end)) is not None:
                if not self._stopped.wait(self.grace):
                    self._end_process(received)
        finally:
            with contextlib.suppress(OSError):
                os.close(read_end)

    def _next_signal(self, read_end: int) -> signal.Signals | None:
        """The next SIGINT or SIGTERM from the wakeup pipe (ignored once stood down); None
        when the pipe is closed."""
        try:
            while data := os.read(read_end, 64):
                if self._stopped.is_set():
                    continue
                for number in data:
                    if number in EXIT_CODES:
                        return signal.Signals(number)
        except OSError:
            pass
        return None

    def _end_process(self, received: signal.Signals) -> None:
        """Remove the live run directories, print the one line and exit (unless stood down)."""
        with self._lock:
            if self._stopped.is_set():
                return
            discard_live()
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            os.write(2, f"Error: {MESSAGES[received]}\n".encode())
            os._exit(EXIT_CODES[received])
