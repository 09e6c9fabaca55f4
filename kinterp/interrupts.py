"""Ctrl-C stops a command promptly, even inside a long compiled TensorFlow call.

Python raises ``KeyboardInterrupt`` only when the main thread next runs Python code, and a
compiled optimisation chunk can keep it in TensorFlow's C++ for tens of seconds. The CLI
therefore watches for SIGINT from a helper thread (through ``signal.set_wakeup_fd``, which
the C-level handler writes to at once): if the main thread has not finished within
``GRACE_S`` of the signal, the helper removes the live run directories, prints the one
line, and ends the process with exit code 130.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from types import TracebackType

from kinterp.rundir import discard_live

GRACE_S = 1.0
EXIT_CODE = 130
MESSAGE = "Error: interrupted"


class InterruptWatch:
    """A context manager for the length of one command (a no-op outside the main thread)."""

    def __init__(self, grace: float = GRACE_S):
        self.grace = grace
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._previous: int | None = None
        self._pipe: tuple[int, int] | None = None

    def __enter__(self) -> InterruptWatch:
        if threading.current_thread() is not threading.main_thread():
            return self
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        self._previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        self._pipe = (read_end, write_end)
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
            signal.set_wakeup_fd(-1 if self._previous is None else self._previous)
            os.close(self._pipe[1])  # the helper's read returns b"" and it ends
            self._pipe = None

    def _watch(self) -> None:
        assert self._pipe is not None
        read_end = self._pipe[0]
        try:
            while True:
                data = os.read(read_end, 64)
                if not data or self._stopped.is_set():
                    return
                if signal.SIGINT in data:
                    break
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                os.close(read_end)
        if self._stopped.wait(self.grace):
            return
        with self._lock:
            if self._stopped.is_set():
                return
            discard_live()
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            os.write(2, f"{MESSAGE}\n".encode())
            os._exit(EXIT_CODE)
