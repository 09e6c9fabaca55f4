"""The SVG plots: what each mark shows is read back from the file through its own tick labels
and compared with the data (numpy computes histograms independently); ticks, gaps, log axes,
long series and hostile labels."""

from __future__ import annotations

import math
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kinterp.reporting import charts
from kinterp.reporting.embed import picture_size
from kinterp.reporting.svgplot import Axis

SVG = "{http://www.w3.org/2000/svg}"
TICK_FONT = "9"  # tick labels are drawn 2 px smaller than the 11 px axis labels


def _svg(path: Path) -> ElementTree.Element:
    return ElementTree.parse(path).getroot()


def _floats(text: str) -> float:
    return float(text.replace("\u2212", "-"))


def _tick_map(svg: ElementTree.Element, axis: str, log: bool = False):
    """A function from pixels to data along ``axis``, fitted through the tick marks and their
    labels as drawn (tick marks are 4 px lines outside the frame)."""
    lines = list(svg.iter(f"{SVG}line"))
    if axis == "y":
        marks = [float(e.get("y1")) for e in lines if float(e.get("x2")) - float(e.get("x1")) == 4]
        anchor = "end"
    else:
        marks = [float(e.get("x1")) for e in lines if float(e.get("y2")) - float(e.get("y1")) == 4]
        anchor = "middle"
    texts = [
        t.text
        for t in svg.iter(f"{SVG}text")
        if t.get("font-size") == TICK_FONT
        and t.get("text-anchor") == anchor
        and t.get("transform") is None
    ]
    assert len(marks) == len(texts) >= 2, (marks, texts)
    values = np.array([_floats(t) for t in texts])
    values = np.log10(values) if log else values
    slope, offset = np.polyfit(np.array(marks), values, 1)
    residual = np.abs(np.array(marks) * slope + offset - values).max()
    assert residual < abs(slope) * 0.2, "tick labels are not where their values are"
    if log:
        return lambda pixels: 10 ** (np.asarray(pixels) * slope + offset)
    return lambda pixels: np.asarray(pixels) * slope + offset


def _polylines(svg: ElementTree.Element) -> list[np.ndarray]:
    return [
        np.array([[float(v) for v in pair.split(",")] for pair in p.get("points").split()])
        for p in svg.iter(f"{SVG}polyline")
    ]


def test_a_line_plot_draws_every_point_where_its_ticks_say(tmp_path):
    x = [0.0, 0.5, 2.0, 7.5, 10.0]
    series = {"accuracy": [0.98, 0.91, 0.5, 0.12, 0.1], "baseline": [0.3, 0.31, 0.4, 0.45, 0.2]}
    path = tmp_path / "line.svg"
    charts.save_line_plot(series, path, "level (px)", "accuracy", x=x)
    svg = _svg(path)
    to_x, to_y = _tick_map(svg, "x"), _tick_map(svg, "y")
    lines = _polylines(svg)
    assert len(lines) == 2
    for line, values in zip(lines, series.values(), strict=True):
        np.testing.assert_allclose(to_x(line[:, 0]), x, atol=0.05)
        np.testing.assert_allclose(to_y(line[:, 1]), values, atol=0.005)
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert {"level (px)", "accuracy", "baseline"} <= set(texts)  # axis labels and legend


def test_log_axis_ticks_are_powers_of_ten_and_gaps_break_the_line(tmp_path):
    values = [1.0, 0.1, 0.01, float("nan"), 1e-4, 1e-5, 0.0]
    path = tmp_path / "loss.svg"
    charts.save_line_plot({"loss": values}, path, "step", "loss", logy=True)
    svg = _svg(path)
    labels = [
        _floats(t.text)
        for t in svg.iter(f"{SVG}text")
        if t.get("text-anchor") == "end" and t.get("font-size") == TICK_FONT
    ]
    assert all(math.log10(v) == round(math.log10(v)) for v in labels), labels
    to_x, to_y = _tick_map(svg, "x"), _tick_map(svg, "y", log=True)
    first, second = _polylines(svg)  # NaN splits it; 0 cannot be drawn on a log axis
    np.testing.assert_allclose(to_x(first[:, 0]), [0, 1, 2], atol=0.01)
    np.testing.assert_allclose(to_y(first[:, 1]), [1.0, 0.1, 0.01], rtol=0.01)
    np.testing.assert_allclose(to_y(second[:, 1]), [1e-4, 1e-5], rtol=0.01)


def test_histogram_heights_are_numpys_counts(tmp_path):
    rng = np.random.default_rng(3)
    groups = {"correct": rng.normal(size=500), "wrong": rng.normal(1.0, 0.4, size=80)}
    path = tmp_path / "hist.svg"
    charts.save_histogram(groups, path, "confidence", bins=12)
    svg = _svg(path)
    to_x, to_y = _tick_map(svg, "x"), _tick_map(svg, "y")
    edges = np.histogram_bin_edges(np.concatenate(list(groups.values())), bins=12)
    outlines = [p.get("d") for p in svg.iter(f"{SVG}path")]
    assert len(outlines) == 2
    for outline, values in zip(outlines, groups.values(), strict=True):
        points = np.array(
            [[float(v) for v in step.split(",")] for step in outline[1:-1].split("L")]
        )
        tops = points[1:-1:2]  # each bin: its left and right corner at the count
        np.testing.assert_allclose(to_x(tops[:, 0]), edges[:-1], atol=0.02)
        counts = np.histogram(values, bins=edges)[0]
        np.testing.assert_allclose(to_y(tops[:, 1]), counts, atol=0.25)


def test_bars_have_their_values_and_category_labels(tmp_path):
    series = {"mnist-cnn": [0.1, 0.5, 0.02], "mnist-mlp": [0.3, 0.9, 0.0]}
    labels = ["c-shot-noise", "c-fog", "c-identity"]
    path = tmp_path / "bars.svg"
    charts.save_bar_plot(series, labels, path, "corruption", "error rate")
    svg = _svg(path)
    to_y = _tick_map(svg, "y")
    groups = [g for g in svg.iter(f"{SVG}g") if g.findall(f"{SVG}rect")]
    assert len(groups) == 2
    for group, values in zip(groups, series.values(), strict=True):
        tops = [float(r.get("y")) for r in group.findall(f"{SVG}rect")]
        bottoms = [float(r.get("y")) + float(r.get("height")) for r in group.findall(f"{SVG}rect")]
        np.testing.assert_allclose(to_y(tops), values, atol=0.005)
        np.testing.assert_allclose(to_y(bottoms), 0.0, atol=0.005)
    slanted = [t.text for t in svg.iter(f"{SVG}text") if "rotate(-45" in (t.get("transform") or "")]
    assert slanted == labels


def test_scatter_points_are_where_the_data_is(tmp_path):
    rng = np.random.default_rng(0)
    groups = {str(d): (rng.normal(size=20), rng.normal(size=20) * 3) for d in range(3)}
    path = tmp_path / "scatter.svg"
    charts.save_scatter(groups, path, "pc 1", "pc 2")
    svg = _svg(path)
    to_x, to_y = _tick_map(svg, "x"), _tick_map(svg, "y")
    clouds = [g for g in svg.iter(f"{SVG}g") if g.findall(f"{SVG}circle")]
    for cloud, (xs, ys) in zip(clouds, groups.values(), strict=True):
        dots = [(float(c.get("cx")), float(c.get("cy"))) for c in cloud.findall(f"{SVG}circle")]
        np.testing.assert_allclose(to_x([d[0] for d in dots]), xs, atol=0.01)
        np.testing.assert_allclose(to_y([d[1] for d in dots]), ys, atol=0.03)


def test_a_long_series_is_thinned_to_its_own_points_keeping_its_extremes(tmp_path):
    walk = np.cumsum(np.random.default_rng(1).normal(size=50_000))
    path = tmp_path / "walk.svg"
    charts.save_line_plot({"objective": list(walk)}, path, "step", "logit")
    assert path.stat().st_size < 150_000
    svg = _svg(path)
    to_x, to_y = _tick_map(svg, "x"), _tick_map(svg, "y")
    (line,) = _polylines(svg)
    steps = np.rint(to_x(line[:, 0])).astype(int)
    slack = int(np.ceil(len(walk) / 500 * 0.1)) + 1  # x is written to 0.1 px of ~500
    assert len(line) < 5_000 and abs(steps[0]) <= slack and abs(steps[-1] - len(walk)) <= slack
    tolerance = np.ptp(walk) * 0.002
    plotted = to_y(line[:, 1])
    for step, value in zip(steps, plotted, strict=True):
        window = walk[max(0, step - slack) : step + slack + 1]
        assert window.min() - tolerance <= value <= window.max() + tolerance
    assert plotted.max() == pytest.approx(walk.max(), abs=tolerance)
    assert plotted.min() == pytest.approx(walk.min(), abs=tolerance)


def test_labels_are_text_not_markup(tmp_path):
    name = '<script>alert("x")</script> & more'
    path = tmp_path / "hostile.svg"
    charts.save_line_plot({name: [1, 2], "b": [2, 1]}, path, "<b>x</b>", "y & z")
    svg = _svg(path)  # parses: everything was escaped
    assert not list(svg.iter(f"{SVG}script"))
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert name in texts and "<b>x</b>" in texts and "y & z" in texts


def test_every_one_of_many_series_is_in_the_legend(tmp_path):
    series = {f"unit {i}": [i, i + 1.0] for i in range(40)}
    path = tmp_path / "many.svg"
    charts.save_line_plot(series, path, "step", "activation")
    texts = [t.text for t in _svg(path).iter(f"{SVG}text")]
    assert all(texts.count(name) == 1 for name in series)
    assert picture_size(path)[0] == charts.WIDE_WIDTH


def test_the_report_page_embeds_plots_at_their_size(tmp_path):
    from kinterp.reporting.html import Sheets
    from kinterp.reporting.report import ReportBuilder

    builder = ReportBuilder(tmp_path)
    builder.histogram("Confidence", np.linspace(0, 1, 50), "p")
    (record,) = builder.as_dict()["sections"][0]["plots"]
    picture = Sheets(tmp_path).plot(record)
    assert (picture["width"], picture["height"]) == (charts.WIDTH, charts.HEIGHT)
    assert picture["src"].startswith("data:image/svg+xml;base64,")


@settings(max_examples=300, deadline=None)
@given(
    st.floats(-1e9, 1e9, allow_nan=False),
    st.floats(1e-6, 1e9, allow_nan=False),
)
def test_ticks_are_round_evenly_spaced_and_labelled_with_their_values(low, span):
    assume(span >= abs(low) * 1e-6)  # a range of a millionth of its values or more
    axis = Axis.fit(np.array([low, low + span]))
    ticks = axis.ticks()
    values = np.array([v for v, _ in ticks])
    assert 3 <= len(ticks) <= 13
    assert axis.low <= values.min() and values.max() <= axis.high
    steps = np.diff(values)
    np.testing.assert_allclose(steps, steps[0], rtol=1e-6)
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]) + 1e-9)
    assert min(abs(mantissa - m) for m in (1, 2, 2.5, 5, 10)) < 1e-6
    for value, label in ticks:
        assert _floats(label) == pytest.approx(value, rel=2e-3, abs=steps[0] * 1e-3)


values = st.lists(
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**12), 10**12)),
    min_size=0,
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.text(max_size=12), values, max_size=4),
    st.booleans(),
    st.booleans(),
)
def test_any_values_make_a_well_formed_plot(tmp_path_factory, series, logx, logy):
    """Empty, constant, infinite, NaN, negative-on-log and huge values: every plot kind is
    still written, and parses as SVG."""
    folder = tmp_path_factory.mktemp("plots")
    charts.save_line_plot(series, folder / "line.svg", "x", "y", logx=logx, logy=logy)
    arrays = {name: np.asarray(v, dtype="float64") for name, v in series.items()}
    charts.save_histogram(arrays, folder / "hist.svg", "x", bins=7, logy=logy)
    points = {name: (v, v[::-1]) for name, v in arrays.items()}
    charts.save_scatter(points, folder / "dots.svg", "x", "y", logx, logy)
    length = max((len(v) for v in series.values()), default=0)
    padded = {name: list(v) + [0.0] * (length - len(v)) for name, v in series.items()}
    charts.save_bar_plot(padded, [f"c{i}" for i in range(length)], folder / "bars.svg", "c", "v")
    if length:
        panels = {"p": (list(range(length)), padded, "x")}
        charts.save_panels(panels, folder / "panels.svg", "y")
    for path in folder.iterdir():
        assert _svg(path).tag == f"{SVG}svg", path


def _frame(svg: ElementTree.Element) -> dict[str, float]:
    (rect,) = [e for e in svg.iter(f"{SVG}rect") if e.get("fill") == "none"]
    return {k: float(rect.get(k)) for k in ("x", "y", "width", "height")}


def test_a_long_legend_makes_the_picture_taller_not_the_plot_smaller(tmp_path):
    """Review of #24: 200 series squeezed the plot to a negative height; now the frame keeps
    its height, the canvas grows and the legend above it names the first 80 series (as many
    as there are distinct styles) and counts the rest."""
    series = {f"n{i:08d}_name": [1.0, 2.0] for i in range(200)}
    path = tmp_path / "many.svg"
    charts.save_line_plot(series, path, "k", "d")
    svg = _svg(path)
    frame = _frame(svg)
    assert frame["height"] == charts.PLOT_HEIGHT
    assert frame["y"] + frame["height"] < float(svg.get("height"))
    legend = [t for t in svg.iter(f"{SVG}text") if float(t.get("y")) < frame["y"]]
    assert [t.text for t in legend[:80]] == list(series)[:80]
    assert legend[80].text.startswith("and 120 more") and len(legend) == 81


def test_text_stays_on_the_canvas_long_labels_are_shortened(tmp_path):
    """Review of #24: a 150-character series name, 180-character axis labels and a long first
    bar label ran off the canvas; now each is cut with an ellipsis to fit."""
    from kinterp.reporting.svgplot import text_width

    path = tmp_path / "long.svg"
    charts.save_line_plot({"x" * 150: [1, 2], "b": [2, 1]}, path, "epoch " * 30, "loss " * 30)
    bars = tmp_path / "bars.svg"
    labels = ["gaussian_noise_severity_five_of_five_levels"] + [f"c{i}" for i in range(9)]
    charts.save_bar_plot({"m1": [0.1] * 10, "m2": [0.9] * 10}, labels, bars, "corruption", "acc")
    for svg in (_svg(path), _svg(bars)):
        width, height = float(svg.get("width")), float(svg.get("height"))
        for text in svg.iter(f"{SVG}text"):
            x, y, size = float(text.get("x")), float(text.get("y")), float(text.get("font-size"))
            extent = text_width(text.text, size)
            turn = text.get("transform") or ""
            if "rotate(-90" in turn:  # the y label: its extent runs up and down from y
                assert y - extent / 2 >= 0 and y + extent / 2 <= height, text.text
            elif "rotate(-45" in turn:  # slanted: it reaches left and down from its end
                assert x - extent * 0.71 >= 0 and y + extent * 0.71 <= height, text.text
            else:
                start = {"start": x, "middle": x - extent / 2, "end": x - extent}
                left = start[text.get("text-anchor")]
                assert left >= 0 and left + extent <= width, text.text
    texts = [t.text for t in _svg(path).iter(f"{SVG}text")]
    assert "x" * 150 not in texts
    assert any(t.startswith("xxx") and t.endswith("\u2026") for t in texts)


def test_text_width_is_an_upper_estimate_of_dejavu_sans():
    """Layout relies on it: every printable character, and some labels, measured with the
    font file matplotlib ships (the one browsers here fall back to)."""
    import os
    import string

    import matplotlib
    from PIL import ImageFont

    from kinterp.reporting.svgplot import text_width

    font = ImageFont.truetype(
        os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"), 100
    )
    samples = list(string.printable.strip()) + ["\u2212", "\u2026", "WWWW", "series 001"]
    samples += ["mnist-cnn (compared)", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "\u00c5ngstr\u00f6m"]
    for text in samples:
        assert font.getlength(text) <= text_width(text, 100), text


def test_crowded_ticks_are_thinned_until_their_labels_fit(tmp_path):
    """Review of #24: a 200 px panel's tick labels overlapped on an unusual range."""
    from kinterp.reporting.svgplot import text_width

    path = tmp_path / "narrow.svg"
    x = list(np.linspace(-0.0088, -0.00705, 5))
    charts.save_panels({"p": (x, {"a": [1, 2, 3, 4, 5]}, "level")}, path, "y")
    labels = [
        t
        for t in _svg(path).iter(f"{SVG}text")
        if t.get("font-size") == "8" and t.get("text-anchor") == "middle"
    ]
    halves = [(float(t.get("x")), text_width(t.text, 8) / 2) for t in labels]
    spans = sorted((x - half, x + half) for x, half in halves)
    assert len(spans) >= 2
    assert all(left[1] <= right[0] for left, right in zip(spans, spans[1:], strict=False))


def test_whole_number_axes_empty_counts_and_lone_points(tmp_path):
    """Review of #24: an index axis is ticked at whole numbers, an empty histogram's counts
    run 0 to 1 (no negative counts), and a point between gaps is drawn as a dot."""
    path = tmp_path / "index.svg"
    charts.save_line_plot({"lone": [1.0, float("nan"), 2.0, 3.0]}, path, "step", "v")
    svg = _svg(path)
    steps = [
        _floats(t.text)
        for t in svg.iter(f"{SVG}text")
        if t.get("font-size") == TICK_FONT and t.get("text-anchor") == "middle"
    ]
    assert steps == [0, 1, 2, 3]
    (dots,) = [g for g in svg.iter(f"{SVG}g") if g.findall(f"{SVG}circle")]
    (dot,) = dots.findall(f"{SVG}circle")
    assert _tick_map(svg, "x")(float(dot.get("cx"))) == pytest.approx(0, abs=0.01)
    empty = tmp_path / "empty.svg"
    charts.save_histogram({"a": np.array([np.nan])}, empty, "v", 10)
    counts = [
        _floats(t.text)
        for t in _svg(empty).iter(f"{SVG}text")
        if t.get("text-anchor") == "end" and t.get("font-size") == TICK_FONT
    ]
    assert min(counts) == 0 and max(counts) == 1 and all(c == int(c) for c in counts)


def test_legend_patches_look_like_what_they_name(tmp_path):
    """Each legend patch has its group's colour and opacity (bars solid, overlaid
    histograms half transparent)."""
    rng = np.random.default_rng(4)
    hist, bars = tmp_path / "hist.svg", tmp_path / "bars.svg"
    charts.save_histogram({"a": rng.normal(size=50), "b": rng.normal(size=50)}, hist, "v", 8)
    charts.save_bar_plot({"a": [1.0, 2.0], "b": [2.0, 1.0]}, ["x", "y"], bars, "c", "v")
    areas = [(p.get("fill"), p.get("fill-opacity")) for p in _svg(hist).iter(f"{SVG}path")]
    solid = [(g.get("fill"), "1.0") for g in _svg(bars).iter(f"{SVG}g") if g.get("fill")]
    for path, marks in ((hist, areas), (bars, solid)):
        patches = [
            (r.get("fill"), r.get("fill-opacity"))
            for r in _svg(path).iter(f"{SVG}rect")
            if r.get("fill-opacity") is not None
        ]
        assert patches == marks, path
