"""Report blocks for techniques: labelled grids, strips, formatted tables, plots, JSON data.

Each block is written by a real run of a small technique (a plugin registered for the
test), validated against the shipped schema and rendered into report.html offline.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass

import jsonschema
import numpy as np
import pytest

import kinterp
from kinterp.reporting.formatting import format_number
from kinterp.reporting.report import ReportBuilder, validate_report
from kinterp.reporting.svgplot import series_style
from tests.conftest import assert_valid_report


@dataclass(frozen=True)
class BlocksParams:
    series: int = 12


class Blocks(kinterp.Technique):
    """A technique that uses every report block once."""

    name = "blocks"
    summary = "Every report block"
    Params = BlocksParams

    def run(self, ctx: kinterp.RunContext, params: BlocksParams) -> None:
        report, rng = ctx.report, np.random.default_rng(ctx.seed)
        report.grid(
            "Grid",
            rng.uniform(size=(6, 8, 8, 1)),
            rows=["class 0", "class 1"],
            columns=["tv 0.01", "tv 0.1", "tv 1"],
            captions=[f"cell {i}" for i in range(6)],
        )
        report.strip(
            "Strip",
            rng.uniform(size=(4, 8, 8)),
            levels=[0, 2.5, 5, 10],
            predictions=["7 (0.99)", "7 (0.80)", "1 (0.52)", "1 (0.97)"],
            wrong=[False, False, True, True],
        )
        report.images("RGB", rng.uniform(size=(2, 8, 8, 3)))
        report.images(
            "Scored",
            rng.uniform(size=(2, 8, 8)),
            captions=["right", "wrong"],
            wrong=[False, True],
            bars=[{"7": 0.9, "1": 0.1}, {"1": 0.6, "7": 0.4}],
        )
        report.verdict("1/2 scored images right", tone="warn")
        report.key("Strip")
        report.table(
            "Table",
            ["name", "count", "accuracy", "p", "tiny", "weight"],
            [["a", 1199882, 0.8823, 0.999999, 1.28e-34, 1e-3], ["b", 3, 0.5, 0.00001, 2.0, 10.0]],
            formats=["text", "int", "pct", "prob", "sci", "float"],
        )
        curves = {f"series {i}": rng.uniform(size=5).tolist() for i in range(params.series)}
        report.line_plot("Plots", curves, "level", "accuracy", x=[0, 1, 2, 4, 8], logy=True)
        report.histogram(
            "Plots", {"trained": rng.normal(size=50), "random": rng.normal(size=50)}, "value"
        )
        report.scatter(
            "Plots",
            rng.uniform(size=20),
            rng.uniform(size=20),
            "x",
            "y",
            groups=["even", "odd"] * 10,
        )
        report.json("records", [{"file": "a.png", "p": np.float32(0.5)}])
        warnings.warn("a third-party library complains", UserWarning, stacklevel=1)


class BlocksPlugin:
    @kinterp.hookimpl
    def register_techniques(self, register):
        register(Blocks())


@pytest.fixture(scope="module")
def blocks_report(tmp_path_factory, tiny_conv):
    from kinterp.plugins import register_plugin, unregister_plugin

    out = tmp_path_factory.mktemp("blocks")
    register_plugin(BlocksPlugin(), name="blocks")
    try:
        result = kinterp.run("blocks", str(tiny_conv), out=str(out))
    finally:
        unregister_plugin("blocks")
    return result.path, assert_valid_report(result.path)


def _section(report: dict, title: str) -> dict:
    return next(s for s in report["sections"] if s["title"] == title)


def test_grid_records_row_and_column_labels(blocks_report):
    run_dir, report = blocks_report
    block = _section(report, "Grid")["images"][0]
    assert block["kind"] == "grid" and block["columns"] == 3
    assert block["row_labels"] == ["class 0", "class 1"]
    assert block["column_labels"] == ["tv 0.01", "tv 0.1", "tv 1"]
    assert np.load(run_dir / block["array"]).shape == (6, 8, 8, 1)
    html = (run_dir / "report.html").read_text()
    assert html.index("class 0") < html.index("tv 0.01") < html.index("cell 0")


def test_strip_marks_wrong_predictions(blocks_report):
    run_dir, report = blocks_report
    block = _section(report, "Strip")["images"][0]
    assert block["kind"] == "strip" and block["levels"] == ["0", "2.5", "5", "10"]
    assert [t["wrong"] for t in block["tiles"]] == [False, False, True, True]
    assert block["tiles"][2]["caption"] == "5\n1 (0.52)"
    html = (run_dir / "report.html").read_text()
    assert html.count('class="tile wrong"') == 3  # two in the strip, one in "Scored"


def test_rgb_batches_are_recorded_as_rgb(blocks_report):
    _, report = blocks_report
    assert _section(report, "RGB")["images"][0]["cmap"] == "rgb"


def test_table_keeps_raw_values_and_renders_formatted(blocks_report):
    run_dir, report = blocks_report
    table = _section(report, "Table")["tables"][0]
    assert table["rows"][0][1] == 1199882 and table["formats"][2] == "pct"
    html = (run_dir / "report.html").read_text()
    for shown in ("1,199,882", "88.2%", "&gt;0.9999", "&lt;0.0001", "1.280e-34", "0.001"):
        assert shown in html, shown


def test_plots_json_and_log(blocks_report):
    run_dir, report = blocks_report
    kinds = [p["kind"] for p in _section(report, "Plots")["plots"]]
    assert kinds == ["line", "histogram", "scatter"]
    (data,) = [a for a in report["artifacts"] if a["kind"] == "json"]
    assert json.loads((run_dir / data["path"]).read_text()) == [{"file": "a.png", "p": 0.5}]
    assert any("a third-party library complains" in line for line in report["log"])
    html = (run_dir / "report.html").read_text()
    assert "<details" in html and "a third-party library complains" in html


def test_report_html_is_offline_self_contained_and_has_a_viewport(blocks_report):
    run_dir, report = blocks_report
    html = (run_dir / "report.html").read_text()
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert 'name="viewport"' in html
    sources = re.findall(r'<img src="([^"]+)"', html)
    blocks = [b for s in report["sections"] for b in s["images"]]
    plots = sum(len(s["plots"]) for s in report["sections"])
    assert len(sources) == plots
    assert all(src.startswith("data:image/svg+xml;base64,") for src in sources)  # plots
    assert html.count('class="pic"') == sum(len(b["tiles"]) for b in blocks)
    assert html.count("--sheet:url(data:image/png;base64,") == len(blocks)  # once per block


def test_verdict_and_key_section_come_first(blocks_report):
    run_dir, report = blocks_report
    summary = {"verdict": "1/2 scored images right", "tone": "warn", "key": "Strip"}
    assert report["summary"] == summary
    html = (run_dir / "report.html").read_text()
    verdict = html.index('class="verdict tone-warn">1/2 scored images right')
    assert verdict < html.index("<h2>Strip</h2>") < html.index("<h2>Grid</h2>")
    assert html.index("<h2>Plots</h2>") < html.index("Provenance and every metric")
    assert html.index("<details") > html.index("<h2>Scored</h2>")


def test_tiles_carry_marks_and_bars(blocks_report):
    _, report = blocks_report
    tiles = _section(report, "Scored")["images"][0]["tiles"]
    assert [t["wrong"] for t in tiles] == [False, True]
    assert tiles[1]["bars"] == [{"label": "1", "value": 0.6}, {"label": "7", "value": 0.4}]


def test_a_block_is_one_sprite_sheet_of_native_size_tiles(blocks_report):
    from PIL import Image

    run_dir, report = blocks_report
    tiles = _section(report, "Grid")["images"][0]["tiles"]
    assert len({t["path"] for t in tiles}) == 1
    with Image.open(run_dir / tiles[0]["path"]) as sheet:
        pixels = np.asarray(sheet)
    grid = np.load(run_dir / _section(report, "Grid")["images"][0]["array"])
    for tile, image in zip(tiles, grid, strict=True):
        x, y, width, height = tile["box"]
        assert (width, height) == (8, 8)
        expected = (np.clip(image[..., 0], 0, 1) * 255 + 0.5).astype(np.uint8)
        assert np.array_equal(pixels[y : y + height, x : x + width], expected)


def test_a_run_without_a_verdict_gets_its_key_metric(runner, occlusion_plugin, tiny_conv, tmp_path):
    result = kinterp.run("occlusion", str(tiny_conv), out=str(tmp_path), count=1)
    assert result.report["summary"]["verdict"].startswith("mean_drop ")
    assert result.report["summary"]["key"] is None


def test_schema_rejects_a_grid_without_labels(blocks_report):
    _, report = blocks_report
    broken = json.loads(json.dumps(report))
    del _section(broken, "Grid")["images"][0]["row_labels"]
    with pytest.raises(jsonschema.ValidationError):
        validate_report(broken)


def test_bad_block_arguments_are_refused(tmp_path):
    builder = ReportBuilder(tmp_path)
    image = np.zeros((5, 4, 4))
    with pytest.raises(ValueError, match="5 images for a 2 x 2 grid"):
        builder.grid("g", image, rows=["a", "b"], columns=["x", "y"])
    with pytest.raises(ValueError, match="unknown table format"):
        builder.table("t", ["a"], [[1]], formats=["percent"])
    with pytest.raises(ValueError, match="one per x"):
        builder.line_plot("l", {"a": [1.0, 2.0]}, "x", "y", x=[1, 2, 3])
    with pytest.raises(ValueError, match="levels"):
        builder.strip("s", image, levels=[1, 2])
    with pytest.raises(ValueError, match="2 wrong for 5 images"):
        builder.images("i", image, wrong=[True, False])
    with pytest.raises(ValueError, match="unknown tone"):
        builder.verdict("fine", tone="great")


def test_every_series_gets_a_distinct_style():
    styles = {(series_style(i)["color"], series_style(i)["dash"]) for i in range(80)}
    assert len(styles) == 80


@pytest.mark.parametrize(
    ("value", "fmt", "shown"),
    [
        (1199882, None, "1,199,882"),
        (1.0, None, "1"),
        (1.28e-34, None, "1.28e-34"),
        (0.91234, "prob", "0.9123"),
        (1.0, "prob", ">0.9999"),
        (0.0, "prob", "0.0000"),
        (0.882, "pct", "88.2%"),
        (2.6e6, "int", "2,600,000"),
        ("class 3", "float", "class 3"),
        (None, "float", ""),
        (float("nan"), None, ""),
        (True, None, "yes"),
    ],
)
def test_format_number(value, fmt, shown):
    assert format_number(value, fmt) == shown
