"""The report's plots as SVG files: lines, small multiples, grouped bars, histograms and
scatter plots, each with labelled axes and a legend naming every series
(drawn by :mod:`kinterp.reporting.svgplot`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kinterp.reporting.svgplot import (
    LARGEST,
    Axis,
    Canvas,
    Frame,
    Legend,
    draw_axes,
    finite_runs,
    points_text,
    series_style,
    slanted,
    slanted_height,
    stroke,
    text_width,
    thinned,
)

WIDTH, WIDE_WIDTH, HEIGHT = 640, 960, 380
PLOT_HEIGHT = 334  # the frame's height: HEIGHT in all with numeric x ticks and no legend
FONT_SIZE = 11
MARKERS_UP_TO = 60  # points of a series drawn with a dot each; more are a plain line


def _values(arrays) -> np.ndarray:
    arrays = [np.asarray(a, dtype="float64").ravel() for a in arrays]
    return np.concatenate(arrays) if arrays else np.zeros(0)


def _single(
    width: int,
    x: Axis,
    y: Axis,
    xlabel: str,
    ylabel: str,
    legend: Legend,
    categories: list[str] | None = None,
) -> tuple[Canvas, Frame]:
    """A canvas with one frame laid out around its tick labels, axis labels and legend."""
    tick = FONT_SIZE - 2
    left = 8 + FONT_SIZE + 6 + y.label_width(tick) + 8
    last_x_label = x.ticks()[-1][1] if categories is None else ""
    right = 10 + text_width(last_x_label, tick) / 2
    top = 8 + legend.height(width - 16)
    labels_height = tick
    if categories is not None:
        labels = slanted(categories, tick)
        labels_height = slanted_height(labels, tick)
        left = max(left, slanted_height(labels[:1], tick) + 8)  # the first label reaches left
    bottom = 4 + labels_height + 6 + FONT_SIZE + 8
    height = top + PLOT_HEIGHT + bottom  # a long legend or long labels make the picture taller
    canvas = Canvas(width, int(height))
    frame = Frame(left, top, width - left - right, height - top - bottom, x, y)
    legend.draw(canvas, 8, 6, width - 16)
    draw_axes(canvas, frame, xlabel, ylabel, FONT_SIZE, categories)
    return canvas, frame


def _draw_line(canvas: Canvas, frame: Frame, xs, ys, index: int, markers: bool, clip: str):
    """One series as lines broken at gaps, with a dot per point when ``markers`` (and the
    series is short), and always a dot for a point standing alone."""
    style = series_style(index)
    runs = finite_runs(frame.xs(xs), frame.ys(ys))
    for run_x, run_y in runs:
        thin_x, thin_y = thinned(run_x, run_y)
        canvas.parts.append(
            f'<polyline points="{points_text(thin_x, thin_y)}" {stroke(style)} {clip}/>'
        )
    if not (markers and len(xs) <= MARKERS_UP_TO):
        runs = [run for run in runs if len(run[0]) == 1]
    if runs:
        dots_x, dots_y = (np.concatenate(side) for side in zip(*runs, strict=True))
        canvas.dots(dots_x, dots_y, style["color"], 2.2, clip)


def save_line_plot(
    series: dict[str, list[float]],
    path: Path,
    xlabel: str,
    ylabel: str,
    x: list[float] | None = None,
    logx: bool = False,
    logy: bool = False,
) -> None:
    """Write a line plot of named series; ``x`` is shared (default: the index), and given x
    values are marked with a dot each."""
    xs = [np.asarray(range(len(v)) if x is None else x, "float64") for v in series.values()]
    ys = [np.asarray(v, dtype="float64") for v in series.values()]
    x_axis = Axis.fit(_values(xs), logx, integer=x is None)  # an index: whole steps
    y_axis = Axis.fit(_values(ys), logy)
    width = WIDE_WIDTH if len(series) > 6 else WIDTH
    canvas, frame = _single(width, x_axis, y_axis, xlabel, ylabel, Legend(list(series)))
    clip = canvas.clip(frame)
    for index, (line_x, line_y) in enumerate(zip(xs, ys, strict=True)):
        _draw_line(canvas, frame, line_x, line_y, index, x is not None, clip)
    canvas.save(path)


PANEL_COLUMNS = 4
PANEL_SIZE = (260, 200)


def save_panels(
    panels: dict[str, tuple[list[float], dict[str, list[float]], str]],
    path: Path,
    ylabel: str,
    ylim: tuple[float, float] | None = None,
    columns: int = PANEL_COLUMNS,
) -> None:
    """Write small multiples: a panel per title, each ``(x, series, xlabel)``, ``columns``
    panels a row, a series name keeping its colour in every panel, one legend above them."""
    names = list(dict.fromkeys(name for _, series, _ in panels.values() for name in series))
    count = len(panels)
    columns = min(columns, max(count, 1))
    rows = -(-count // columns)
    cell_w, cell_h = PANEL_SIZE
    legend = Legend(names, size=9)
    top = 4 + legend.height(cell_w * columns - 16)
    canvas = Canvas(cell_w * columns, int(top + cell_h * rows))
    legend.draw(canvas, 8, 4, cell_w * columns - 16)
    size, tick = 10, 8
    all_y = _values(v for _, series, _ in panels.values() for v in series.values())
    y_axis = Axis.fit(all_y, limits=ylim)
    for number, (title, (x, series, xlabel)) in enumerate(panels.items()):
        row, column = divmod(number, columns)
        x_axis = Axis.fit(np.asarray(x, dtype="float64"))
        left = column * cell_w + 8 + size + 4 + y_axis.label_width(tick) + 8
        right = column * cell_w + cell_w - 6 - text_width(x_axis.ticks()[-1][1], tick) / 2
        frame_top = top + row * cell_h + size + 10
        frame_bottom = top + (row + 1) * cell_h - (4 + tick + 6 + size + 6)
        frame = Frame(left, frame_top, right - left, frame_bottom - frame_top, x_axis, y_axis)
        draw_axes(canvas, frame, xlabel, ylabel if column == 0 else "", size, title=title)
        clip = canvas.clip(frame)
        for name, values in series.items():
            _draw_line(canvas, frame, x, values, names.index(name), True, clip)
    canvas.save(path)


def save_bar_plot(
    series: dict[str, list[float]], labels: list[str], path: Path, xlabel: str, ylabel: str
) -> None:
    """Write grouped bars: one group per label, one bar (a colour) per series."""
    values = [np.asarray(v, dtype="float64") for v in series.values()]
    x_axis = Axis(-0.6, len(labels) - 0.4)
    y_axis = Axis.fit(_values(values), zero=True)
    wide = len(labels) * max(len(series), 1) > 24
    legend = Legend(list(series), "patch")
    width = WIDE_WIDTH if wide else WIDTH
    canvas, frame = _single(width, x_axis, y_axis, xlabel, ylabel, legend, labels)
    clip = canvas.clip(frame)
    share = 0.8 / max(len(series), 1)
    base = float(frame.ys(0.0))
    for index, heights in enumerate(values):
        colour = series_style(index)["color"]
        centres = np.arange(len(labels)) + (index - (len(series) - 1) / 2) * share
        lefts = frame.xs(centres - share / 2)
        bar_width = float(frame.xs(share) - frame.xs(0.0))
        tops = frame.ys(heights)
        rects = "".join(
            f'<rect x="{x:.1f}" y="{min(y, base):.1f}" width="{bar_width:.1f}" '
            f'height="{abs(base - y):.1f}"/>'
            for x, y in zip(lefts.tolist(), tops.tolist(), strict=True)
            if np.isfinite(y)
        )
        canvas.parts.append(f'<g fill="{colour}" {clip}>{rects}</g>')
    canvas.save(path)


def _bin_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """numpy's bin edges, or ``bins`` even bins around values too close for that."""
    values = values[np.abs(values) <= LARGEST]
    try:
        return np.histogram_bin_edges(values if values.size else [0.0, 1.0], bins=bins)
    except ValueError:  # a range too narrow for finite-sized bins
        middle = float(values.mean())
        return np.linspace(middle - 0.5, middle + 0.5, bins + 1)


def save_histogram(
    groups: dict[str, np.ndarray], path: Path, xlabel: str, bins: int, logy: bool = False
) -> None:
    """Write overlaid histograms of named groups of values, one filled outline per group."""
    finite = [np.asarray(v, dtype="float64").ravel() for v in groups.values()]
    finite = [v[np.isfinite(v)] for v in finite]
    joined = np.concatenate(finite) if finite else np.zeros(0)
    edges = _bin_edges(joined, bins)
    counts = [np.histogram(values, bins=edges)[0].astype("float64") for values in finite]
    x_axis = Axis.fit(edges, margin=0.02)
    y_axis = Axis.fit(_values(counts), log=logy, zero=True, integer=True)
    names = list(groups) if any(groups) else []
    width = WIDE_WIDTH if len(groups) > 6 else WIDTH
    opacity = 0.85 if len(groups) == 1 else 0.5
    legend = Legend(names, "patch", opacity)
    canvas, frame = _single(width, x_axis, y_axis, xlabel, "count", legend)
    clip = canvas.clip(frame)
    base = frame.top + frame.height
    xs = frame.xs(edges)
    for index, heights in enumerate(counts):
        tops = np.minimum(frame.ys(np.where(heights > 0, heights, np.nan)), base)
        tops = np.where(np.isfinite(tops), tops, base)
        steps = [f"M{xs[0]:.1f},{base:.1f}"]
        for left, right, top in zip(xs[:-1].tolist(), xs[1:].tolist(), tops.tolist(), strict=True):
            steps.append(f"L{left:.1f},{top:.1f}L{right:.1f},{top:.1f}")
        steps.append(f"L{xs[-1]:.1f},{base:.1f}Z")
        colour = series_style(index)["color"]
        canvas.parts.append(
            f'<path d="{"".join(steps)}" fill="{colour}" fill-opacity="{opacity}" '
            f'stroke="{colour}" stroke-width="1" {clip}/>'
        )
    canvas.save(path)


def save_scatter(
    groups: dict[str, tuple[np.ndarray, np.ndarray]],
    path: Path,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
) -> None:
    """Write a scatter plot of named groups of (x, y) points, a colour per group."""
    x_axis = Axis.fit(_values(x for x, _ in groups.values()), logx)
    y_axis = Axis.fit(_values(y for _, y in groups.values()), logy)
    names = list(groups) if any(groups) else []
    width = WIDE_WIDTH if len(groups) > 6 else WIDTH
    canvas, frame = _single(width, x_axis, y_axis, xlabel, ylabel, Legend(names, "point"))
    clip = canvas.clip(frame)
    for index, (xs, ys) in enumerate(groups.values()):
        colour = series_style(index)["color"]
        canvas.dots(frame.xs(xs), frame.ys(ys), colour, 3.5, f'fill-opacity="0.8" {clip}')
    canvas.save(path)
