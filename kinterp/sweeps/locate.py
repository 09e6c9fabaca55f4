"""Point an error at the SPEC line it is about: ``sweep.toml, line 7: unknown technique ...``.

TOML parsers keep no positions, so the line is found in the text: the block of the n-th
``[[runs]]`` table (with its ``[runs.*]`` sub-tables), then the ``key =`` line or the quoted
value inside it. A spec given as a Python dict has no lines; its errors name the key path.
"""

from __future__ import annotations

import re

from kinterp.errors import KinterpError

_HEADER = re.compile(r"^\s*\[")
_RUNS_HEADER = re.compile(r"^\s*\[\[\s*runs\s*\]\]")
_RUNS_SUBTABLE = re.compile(r"^\s*\[\s*runs\s*\.")


class Locator:
    """Turns a problem at a place in the spec into a one-line :class:`KinterpError`."""

    def __init__(self, name: str, text: str | None = None):
        self.name = name
        self.lines = text.splitlines() if text is not None else None

    def error(
        self,
        problem: str,
        run: int | None = None,
        key: str | None = None,
        value: str | None = None,
        within: str | None = None,
    ) -> KinterpError:
        """An error naming the line of ``key`` (or ``value``) in ``runs[run]`` (or the top)."""
        if self.lines is None:
            parts = ([f"runs[{run}]"] if run is not None else []) + [p for p in (within, key) if p]
            where = f" {'.'.join(parts)}" if parts else ""
            return KinterpError(f"sweep spec{where}: {problem}")
        line = self.line(run, key, value, within)
        return KinterpError(
            f"{self.name}, line {line}: {problem}" if line else f"{self.name}: {problem}"
        )

    def line(
        self,
        run: int | None = None,
        key: str | None = None,
        value: str | None = None,
        within: str | None = None,
    ) -> int | None:
        """The 1-based line of the place, or of the nearest enclosing one found."""
        if self.lines is None:
            return None
        start, end = self._block(run)
        if within:
            found = self._find_key(within, start, end)
            if found is not None:
                start = found
        for finder, target in ((self._find_value, value), (self._find_key, key)):
            if target is not None:
                found = finder(target, start, end)
                if found is not None:
                    return found + 1
        if run is not None and start < len(self.lines):
            return start + 1
        return None

    def _block(self, run: int | None) -> tuple[int, int]:
        """Line range of the top-level keys (run None) or of the ``run``-th ``[[runs]]``."""
        lines = self.lines or []
        if run is None:
            end = next((i for i, t in enumerate(lines) if _HEADER.match(t)), len(lines))
            return 0, end
        headers = [i for i, t in enumerate(lines) if _RUNS_HEADER.match(t)]
        if run >= len(headers):
            return 0, len(lines)
        start = headers[run]
        end = start + 1
        while end < len(lines) and not (
            _HEADER.match(lines[end]) and not _RUNS_SUBTABLE.match(lines[end])
        ):
            end += 1
        return start, end

    def _find_key(self, key: str, start: int, end: int) -> int | None:
        pattern = re.compile(
            rf"(^|[\s{{,.])[\"']?{re.escape(key)}[\"']?\s*=|^\s*\[\s*runs\s*\.\s*{re.escape(key)}\s*\]"
        )
        return next((i for i in range(start, end) if pattern.search(_code(self.lines[i]))), None)

    def _find_value(self, value: str, start: int, end: int) -> int | None:
        quoted = (f'"{value}"', f"'{value}'")
        return next((i for i in range(start, end) if any(q in self.lines[i] for q in quoted)), None)


def _code(line: str) -> str:
    """A line without its trailing comment (good enough for keys: no ``#`` in key names)."""
    return line.split("#", 1)[0]
