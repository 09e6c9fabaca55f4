"""The one error type users see: a one-line message that names the problem and the fix."""

from __future__ import annotations

import re


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


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TF_NODE = re.compile(r"^\{\{function_node [^}]*\}\}\s*")  # where a TF op ran, not what failed
_RAISED = re.compile(r"^([A-Za-z_][\w.]*): (.*)$")
_WRAPPERS = (
    re.compile(r"^in user code:$"),  # tf.function: a traceback, then the real error
    re.compile(r"^Exception encountered when calling .*\.$"),  # Keras: the layer, then why
)
_TRAILERS = ("Arguments received by",)  # Keras lists the call's arguments after the cause


def error_line(exc: BaseException) -> str:
    """An exception as ``Type: the line that says what went wrong``.

    Most messages say it on their first line. TensorFlow's errors from inside a
    ``tf.function`` start with ``in user code:`` and a traceback, and Keras' layer errors
    with ``Exception encountered when calling X.call().``: those wrappers (and the traceback
    lines under them) are skipped to the cause, e.g. ``ValueError: Input 0 of layer "dense"
    is incompatible with the layer: ...``. Terminal colour codes and TensorFlow's
    ``{{function_node ...}}`` prefix are removed.

    Args:
        exc: any exception.

    Returns:
        One line, starting with the exception's type name.
    """
    name = type(exc).__name__
    lines = [_TF_NODE.sub("", _ANSI.sub("", line).strip()) for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    while lines and any(w.match(lines[0]) for w in _WRAPPERS):
        cause = _cause(lines[1:])
        if not cause:
            break
        lines = cause
        raised = _RAISED.match(lines[0])
        if raised:
            name, lines[0] = raised.group(1), raised.group(2)
    lines = [line for line in lines if not line.startswith(_TRAILERS)]
    return f"{name}: {lines[0]}" if lines else name


def _cause(lines: list[str]) -> list[str]:
    """What a wrapper line wraps: after a traceback, the lines from its ``Type: message``.

    Returns:
        The lines from the cause on; empty when a traceback ends without one.
    """
    last_file = max((i for i, line in enumerate(lines) if line.startswith('File "')), default=-1)
    if last_file < 0:
        return lines
    rest = lines[last_file + 1 :]
    raised = next((i for i, line in enumerate(rest) if _RAISED.match(line)), None)
    return rest[raised:] if raised is not None else []
