"""The one error type users see: a one-line message that names the problem and the fix."""

from __future__ import annotations


class KinterpError(Exception):
    """A user-facing error: the CLI prints ``str(error)`` on one line and exits 2."""

    exit_code = 2


class RunFailed(Exception):
    """A technique crashed; its report was written with status ``failed`` (CLI exit 1).

    Attributes:
        traceback: the technique's traceback, shown under ``--debug``.
    """

    exit_code = 1

    def __init__(self, message: str, traceback: str | None = None):
        super().__init__(message)
        self.traceback = traceback
