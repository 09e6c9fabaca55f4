"""The run index over real run directories: one row per experiment, linked, with the params
as they ran (#24)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kinterp.cli import app

HAPPYMAP = ["happymap", "mnist-mlp", "--classes", "0", "--steps", "4"]
ROBUSTNESS = ["robustness", "mnist-cnn", "--limit", "100", "--family", "noise"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """The same happymap run twice, another with other params, and a robustness run of one
    family, in one folder, indexed by ``kinterp report``."""
    from typer.testing import CliRunner

    out, runner = tmp_path_factory.mktemp("index-runs"), CliRunner()
    for args in (HAPPYMAP, HAPPYMAP, [*HAPPYMAP[:-1], "5"], ROBUSTNESS):
        result = runner.invoke(app, ["run", *args, "--out", str(out), "--quiet"])
        assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    return out


def _rows(index: str) -> list[str]:
    return re.findall(r"<tr data-technique=.*?</tr>", index, re.DOTALL)


def test_same_settings_are_one_row_linking_the_earlier_run(runs):
    index = (runs / "index.html").read_text()
    happy = sorted(runs.glob("*-happymap-*"))
    assert len(happy) == 3 and len(_rows(index)) == 3
    (twice,) = [r for r in _rows(index) if "steps 4" in r]
    older, newer = [p for p in happy if f"{p.name}/report.html" in twice]  # names sort by time
    links = re.findall(r'href="([^"]+)"', twice)
    assert links.count(f"{newer.name}/report.html") == 3  # date, technique, model
    assert links.count(f"{older.name}/report.html") == 1 and "1 earlier" in twice
    assert "(and 1 earlier run(s) of the same settings)" in index


def test_technique_and_model_cells_link_the_report(runs):
    for row in _rows((runs / "index.html").read_text()):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
        technique, model = cells[1], cells[2]
        assert technique.startswith("<a href=") and model.startswith("<a href="), row


def test_key_params_are_those_that_ran(runs):
    (row,) = [r for r in _rows((runs / "index.html").read_text()) if "robustness" in r]
    params = re.search(r'class="params-cell"[^>]*>(.*?)</td>', row).group(1)
    assert params.startswith("family noise · limit 100 · noise 0, 0.1"), params
    for family in ("edge", "scale", "shift", "rotate", "blur", "invert"):
        assert f"{family} " not in params and f"{family} " not in row, family


def test_runs_started_in_the_same_second_order_by_their_folder_suffix():
    from kinterp.reporting.html import _latest_of_each

    def row(name: str) -> dict:
        return {"key": "same", "started": "2026-11-29T10:00:00", "link": f"{name}/report.html"}

    first = "20261129-100000-happymap-mnist-mlp"
    second, third = f"{first}-2", f"{first}-3"
    (latest,) = _latest_of_each([row(second), row(first), row(third)])
    assert latest["link"] == f"{third}/report.html"
    assert [r["link"] for r in latest["earlier"]] == [
        f"{second}/report.html",
        f"{first}/report.html",
    ]
