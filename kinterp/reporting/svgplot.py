"""A small SVG plotter: axes with round-number ticks, a frame, a legend, and the marks drawn
on them, written as text.

Why not matplotlib: a matplotlib PNG took 65-200 ms (Agg drawing, tight_layout, PNG
encoding), a third or more of a quick run (#24). An SVG plot is a few milliseconds of string
formatting, smaller, and sharp at any zoom; the browser draws the text. Layout uses an
estimate of text widths (``text_width``), generous so labels are not clipped.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
# matplotlib's tab10, then tab20's lighter shades: 20 colours, each with 4 dash patterns.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip
DASHES = ("", "6 3", "1.5 2.5", "6 2 1.5 2")
MARGIN = 0.05  # share of the data range left free at each end of an axis
LARGEST = 1e300  # values beyond are not drawn (their range would overflow float64)
SMALLEST = 1e-300  # nor positive values below this on a log axis
REPLACEMENT = "\ufffd"  # stands for characters XML cannot carry
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def series_style(index: int) -> dict[str, str]:
    """A distinct colour and dash pattern for the ``index``-th series (80 before repeating)."""
    return {
        "color": PALETTE[index % len(PALETTE)],
        "dash": DASHES[(index // len(PALETTE)) % len(DASHES)],
    }


NARROW_CHARACTERS = frozenset(" il.,:;'|!()[]/\\-")
WIDE_CHARACTERS = frozenset("MWmw@%#&+<=>^~{}\u2212\u2026")


def _character_width(character: str) -> float:
    """A character's width in em, rounded up from DejaVu Sans (the widest common sans)."""
    if character in NARROW_CHARACTERS:
        return 0.42
    if character in WIDE_CHARACTERS or unicodedata.east_asian_width(character) in "WF":
        return 1.0
    if character.isupper() or character.isdigit():
        return 0.8
    return 0.64


def text_width(text: str, size: float) -> float:
    """An upper estimate of ``text``'s width in pixels at font ``size`` (sans-serif)."""
    return size * sum(_character_width(c) for c in text)


def shortened(text: str, width: float, size: float) -> str:
    """``text``, cut and ended with an ellipsis where it would be wider than ``width``."""
    if text_width(text, size) <= width:
        return text
    room = width - text_width("\u2026", size)
    kept = ""
    for character in text:
        if text_width(kept + character, size) > room:
            break
        kept += character
    return kept.rstrip() + "\u2026"


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Axis:
    """A data range drawn along one side, linear or log, with round-number ticks."""

    low: float
    high: float
    log: bool = False
    integer: bool = False  # whole-number ticks only (an index, counts)

    @classmethod
    def fit(
        cls,
        values: np.ndarray,
        log: bool = False,
        margin: float = MARGIN,
        zero: bool = False,
        limits: tuple[float, float] | None = None,
        integer: bool = False,
    ) -> Axis:
        """The range of the finite ``values`` (positive ones on a log axis), widened by
        ``margin`` at each end; ``zero`` makes it start at 0 (bars, counts); ``limits`` fixes
        it; ``integer`` keeps its ticks on whole numbers."""
        if limits is not None:
            return cls(float(limits[0]), float(limits[1]), log)
        values = np.asarray(values, dtype="float64").ravel()
        values = values[np.abs(values) <= LARGEST]
        if log:
            values = np.log10(values[values >= SMALLEST])
        if values.size == 0:
            low, high = (0.0, 1.0)
        else:
            low, high = float(values.min()), float(values.max())
        if zero and not log:
            low, high = min(low, 0.0), max(high, 0.0)
            if low == high:  # nothing but zeros: a count axis from 0 to 1
                return cls(0.0, 1.0, False, integer)
        flat_pad = 0.5 if (log or low == 0) else abs(low) * 0.1
        pad = flat_pad if high == low else (high - low) * margin
        low = low if (zero and not log and low == 0) else low - pad
        high = high if (zero and not log and high == 0) else high + pad
        if not high - low > abs(high) * 1e-12:  # too narrow for float64 to place ticks
            low, high = low - 0.5 - abs(low) * 0.1, high + 0.5 + abs(high) * 0.1
        if log:
            return cls(10 ** max(low, -300.0), 10 ** min(high, 300.0), True)
        return cls(low, high, False, integer)

    def position(self, values, start: float, end: float) -> np.ndarray:
        """Pixel positions of ``values`` on an axis drawn from ``start`` to ``end``."""
        values = np.asarray(values, dtype="float64")
        low, high = self.low, self.high
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.log10(values)
            low, high = math.log10(low), math.log10(high)
        if not high > low:
            return np.full(values.shape, (start + end) / 2)
        with np.errstate(over="ignore", invalid="ignore"):  # values far outside: not drawn
            return start + (values - low) / (high - low) * (end - start)

    def ticks(self) -> list[tuple[float, str]]:
        """Round-number ticks inside the range, each with its label."""
        return self._ticks

    @cached_property
    def _ticks(self) -> list[tuple[float, str]]:  # asked for by layout, axes and labels alike
        return self._log_ticks() if self.log else self._linear_ticks()

    def _linear_ticks(self, target: int = 6) -> list[tuple[float, str]]:
        if not self.high > self.low:
            return [(self.low, f"{self.low:.3g}")]
        raw = (self.high - self.low) / target
        magnitude = 10 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
        if self.integer and step < 1:
            step = 1.0
        elif self.integer and step == 2.5:
            step = 2.0
        last_digit = math.floor(math.log10(step) + 1e-9)  # the step's last significant digit
        if round(step / 10**last_digit, 6) % 1:
            last_digit -= 1  # a step of 2.5, 0.25, ...
        decimals = max(0, -last_digit)
        first = math.ceil(self.low / step - 1e-9)
        last = math.floor(self.high / step + 1e-9)
        largest = max(abs(self.low), abs(self.high))
        exponent = largest >= 1e6 or step < 1e-4
        digits = min(15, max(2, math.floor(math.log10(largest) + 1e-9) - last_digit + 1))
        ticks = []
        for k in range(first, last + 1):
            value = k * step
            text = f"{value:.{digits}g}" if exponent else f"{value:.{decimals}f}"
            ticks.append((value, "0" if float(text) == 0 else text.replace("-", "\u2212")))
        return ticks

    def _log_ticks(self) -> list[tuple[float, str]]:
        if not self.high > self.low:
            return [(self.low, f"{self.low:.3g}")]
        low, high = math.log10(self.low), math.log10(self.high)
        exponents = range(math.ceil(low - 1e-9), math.floor(high + 1e-9) + 1)
        values = [10.0**e for e in exponents]
        if len(values) < 2:
            tenths = range(math.floor(low), math.ceil(high) + 1)
            values = [m * 10.0**e for e in tenths for m in (1, 2, 5)]
            values = [v for v in values if self.low <= v <= self.high]
        if len(values) < 2:  # a narrow range between round numbers: label its ends
            return [(v, f"{v:.3g}".replace("-", "\u2212")) for v in (self.low, self.high)]
        stride = -(-len(values) // 8)
        return [(v, f"{v:g}".replace("-", "\u2212")) for v in values[::stride]]

    def label_width(self, size: float) -> float:
        """The widest tick label's width at font ``size``."""
        return max((text_width(label, size) for _, label in self.ticks()), default=0.0)


@dataclass(frozen=True)
class Frame:
    """A plot area in pixels with its two axes."""

    left: float
    top: float
    width: float
    height: float
    x: Axis
    y: Axis

    def xs(self, values) -> np.ndarray:
        return self.x.position(values, self.left, self.left + self.width)

    def ys(self, values) -> np.ndarray:
        return self.y.position(values, self.top + self.height, self.top)


@dataclass
class Canvas:
    """An SVG picture being drawn, element by element."""

    width: int
    height: int
    parts: list[str] = field(default_factory=list)
    _clips: int = 0

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float = 11,
        anchor: str = "middle",
        rotate: float = 0.0,
        bold: bool = False,
    ) -> None:
        """``text`` with its baseline at ``y``, anchored at ``x`` (start, middle or end)."""
        turn = f' transform="rotate({_number(rotate)} {_number(x)} {_number(y)})"' if rotate else ""
        weight = ' font-weight="bold"' if bold else ""
        self.parts.append(
            f'<text x="{_number(x)}" y="{_number(y)}" font-size="{size}" '
            f'text-anchor="{anchor}"{weight}{turn}>{escape(NOT_XML.sub(REPLACEMENT, text))}</text>'
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, style: str) -> None:
        self.parts.append(
            f'<line x1="{_number(x1)}" y1="{_number(y1)}" x2="{_number(x2)}" '
            f'y2="{_number(y2)}" {style}/>'
        )

    def dots(
        self, xs: np.ndarray, ys: np.ndarray, colour: str, radius: float, extra: str = ""
    ) -> None:
        """A group of dots at the finite pixel points (``xs``, ``ys``); ``extra`` attributes
        of the group (a clip path, an opacity). Nothing when no point is finite."""
        circles = "".join(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}"/>'
            for x, y in zip(np.ravel(xs).tolist(), np.ravel(ys).tolist(), strict=True)
            if math.isfinite(x) and math.isfinite(y)
        )
        if circles:
            self.parts.append(f'<g fill="{colour}" {extra}>{circles}</g>')

    def clip(self, frame: Frame) -> str:
        """A clip path of ``frame``'s area; returns the attribute that applies it."""
        self._clips += 1
        name = f"area{self._clips}"
        self.parts.append(
            f'<clipPath id="{name}"><rect x="{_number(frame.left)}" y="{_number(frame.top)}" '
            f'width="{_number(frame.width)}" height="{_number(frame.height)}"/></clipPath>'
        )
        return f'clip-path="url(#{name})"'

    def svg(self) -> str:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" '
            f"font-family={quoteattr(FONT)}>"
            f'<rect width="100%" height="100%" fill="#fff"/>' + "".join(self.parts) + "</svg>\n"
        )

    def save(self, path: Path) -> None:
        Path(path).write_text(self.svg(), encoding="utf-8")


GRID = 'stroke="#000" stroke-opacity="0.12" stroke-width="1"'
INK = 'stroke="#333" stroke-width="1"'
TICK = 4


def draw_axes(
    canvas: Canvas,
    frame: Frame,
    xlabel: str,
    ylabel: str,
    size: float = 11,
    categories: list[str] | None = None,
    title: str = "",
) -> None:
    """Grid, frame, ticks with labels and axis labels of ``frame``; ``categories`` label the
    x positions 0, 1, 2, ... slanted (bars) instead of numeric ticks."""
    bottom, right = frame.top + frame.height, frame.left + frame.width
    tick_size = size - 2
    for value, label in frame.y.ticks():
        y = float(frame.ys(value))
        canvas.line(frame.left, y, right, y, GRID)
        canvas.line(frame.left - TICK, y, frame.left, y, INK)
        canvas.text(frame.left - TICK - 2, y + tick_size * 0.35, label, tick_size, "end")
    if categories is None:
        for value, label in _spaced(frame.x.ticks(), frame.width, tick_size):
            x = float(frame.xs(value))
            canvas.line(x, frame.top, x, bottom, GRID)
            canvas.line(x, bottom, x, bottom + TICK, INK)
            canvas.text(x, bottom + TICK + tick_size, label, tick_size)
    else:
        for position, label in enumerate(slanted(categories, tick_size)):
            x = float(frame.xs(position))
            canvas.line(x, bottom, x, bottom + TICK, INK)
            canvas.text(x + 3, bottom + TICK + tick_size * 0.8, label, tick_size, "end", -45)
    canvas.parts.append(
        f'<rect x="{_number(frame.left)}" y="{_number(frame.top)}" width="{_number(frame.width)}" '
        f'height="{_number(frame.height)}" fill="none" {INK}/>'
    )
    under = bottom + TICK + tick_size + 4 + size
    if categories is not None:
        under = bottom + TICK + slanted_height(slanted(categories, tick_size), tick_size) + 4 + size
    middle = frame.left + frame.width / 2
    canvas.text(middle, under, shortened(xlabel, frame.width, size), size)
    left = frame.left - TICK - 4 - frame.y.label_width(tick_size) - 4
    ylabel = shortened(ylabel, frame.height, size)
    canvas.text(left, frame.top + frame.height / 2, ylabel, size, rotate=-90)
    if title:
        title = shortened(title, frame.width, size)
        canvas.text(middle, frame.top - 5, title, size, bold=True)


def _spaced(ticks: list[tuple[float, str]], width: float, size: float):
    """Every other tick, again and again, until the labels fit side by side in ``width``."""
    while len(ticks) > 2 and sum(text_width(t, size) + 8 for _, t in ticks) > width:
        ticks = ticks[::2]
    return ticks


SLANTED_WIDTH = 150  # pixels a slanted category label may take before it is shortened


def slanted(labels: list[str], size: float) -> list[str]:
    """Category labels as drawn at 45 degrees: long ones shortened."""
    return [shortened(label, SLANTED_WIDTH, size) for label in labels]


def slanted_height(labels: list[str], size: float) -> float:
    """The height (and reach to the left of its tick) of ``labels`` drawn at 45 degrees."""
    return max((text_width(label, size) for label in labels), default=0.0) * 0.71 + size


LEGEND_TEXT = 260  # pixels a legend entry's name may take before it is shortened
LEGEND_MOST = len(PALETTE) * len(DASHES)  # 80 series named; past that styles repeat
MORE = -1  # the legend entry that counts the series left out


@dataclass(frozen=True)
class Legend:
    """Named entries laid out in rows across a width; each is a line, patch or point sample."""

    names: list[str]
    mark: str = "line"  # "line", "patch" or "point"
    opacity: float = 1.0  # a patch's, as the bars or areas it stands for
    size: float = 10
    row_height: float = 15

    def label(self, index: int) -> str:
        """Entry ``index``'s text; MORE (-1) is the note of the series left out."""
        if index == MORE:
            hidden = len(self.names) - LEGEND_MOST
            return f"and {hidden:,} more (colours and dashes repeat after {LEGEND_MOST})"
        return shortened(self.names[index], LEGEND_TEXT, self.size)

    def entries(self) -> list[int]:
        """The entries shown: every series up to LEGEND_MOST, then a note of the rest."""
        if len(self.names) <= LEGEND_MOST:
            return list(range(len(self.names)))
        return [*range(LEGEND_MOST), MORE]

    def rows(self, width: float) -> list[list[tuple[int, float]]]:
        """Entries (index, x offset) in rows that fit ``width``."""
        rows: list[list[tuple[int, float]]] = [[]]
        x = 0.0
        for index in self.entries():
            entry = 26 + text_width(self.label(index), self.size) + 12
            if rows[-1] and x + entry > width:
                rows.append([])
                x = 0.0
            rows[-1].append((index, x))
            x += entry
        return rows

    def height(self, width: float) -> float:
        return len(self.rows(width)) * self.row_height + 6 if len(self.names) > 1 else 0.0

    def draw(self, canvas: Canvas, left: float, top: float, width: float) -> None:
        if len(self.names) < 2:
            return
        for row, entries in enumerate(self.rows(width)):
            y = top + row * self.row_height + self.row_height / 2
            for index, x in entries:
                x += left
                style = series_style(index)
                baseline = y + self.size * 0.35
                if index == MORE:  # a note, no sample
                    canvas.text(x, baseline, self.label(index), self.size, "start")
                    continue
                if self.mark == "patch":
                    canvas.parts.append(
                        f'<rect x="{_number(x + 4)}" y="{_number(y - 5)}" width="14" height="10" '
                        f'fill="{style["color"]}" fill-opacity="{self.opacity}"/>'
                    )
                elif self.mark == "point":
                    canvas.parts.append(
                        f'<circle cx="{_number(x + 11)}" cy="{_number(y)}" r="3.5" '
                        f'fill="{style["color"]}"/>'
                    )
                else:
                    canvas.line(x, y, x + 22, y, stroke(style, 2))
                canvas.text(x + 26, baseline, self.label(index), self.size, "start")


def stroke(style: dict[str, str], width: float = 1.4) -> str:
    """SVG stroke attributes of a series style."""
    dash = f' stroke-dasharray="{style["dash"]}"' if style["dash"] else ""
    return f'stroke="{style["color"]}" stroke-width="{width}" fill="none"{dash}'


def finite_runs(xs: np.ndarray, ys: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The stretches of (x, y) pixel points where both are finite (a line breaks at gaps)."""
    good = np.isfinite(xs) & np.isfinite(ys)
    edges = np.flatnonzero(np.diff(good.astype(np.int8))) + 1
    runs = np.split(np.arange(len(xs)), edges)
    return [(xs[run], ys[run]) for run in runs if run.size and good[run[0]]]


def thinned(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points of a line with x increasing, keeping per pixel column its first, last, lowest
    and highest (the same picture from far fewer points)."""
    if len(xs) < 4 * max(1.0, float(xs[-1] - xs[0])) or np.any(np.diff(xs) < 0):
        return xs, ys
    column = np.floor(xs).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, np.diff(column) != 0])
    ends = np.r_[starts[1:], len(xs)]
    keep = set()
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        part = ys[start:end]
        keep.update((start, end - 1, start + int(np.argmin(part)), start + int(np.argmax(part))))
    index = np.array(sorted(keep))
    return xs[index], ys[index]


def points_text(xs: np.ndarray, ys: np.ndarray) -> str:
    pairs = zip(xs.tolist(), ys.tolist(), strict=True)
    return " ".join(f"{_number(x)},{_number(y)}" for x, y in pairs)
