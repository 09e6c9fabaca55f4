"""The one error type users see: a one-line message that names the problem and the fix."""

from __future__ import annotations


class KinterpError(Exception):
    """A user-facing error: the CLI prints ``str(error)`` on one line and exits 2."""

    exit_code = 2
