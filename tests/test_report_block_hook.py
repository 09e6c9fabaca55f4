"""The register_report_blocks hook: a plugin's block is validated, recorded and rendered.

A block registered here (a small plugin) is used by a technique registered here; the run's
report.json validates with the registered blocks and report.html shows the block through
its own macro. A broken registration marks only its plugin broken.
"""

from __future__ import annotations

import tempfile

import jsonschema
import pytest

import kinterp
from kinterp.plugins import register_plugin, registry, unregister_plugin
from kinterp.reporting.blocks import ReportBlock
from kinterp.reporting.report import ReportBuilder, report_schema, validate_report

RENDER_NOTHING = "{% macro render(data, section, sheets) %}{% endmacro %}"
SCORES = ReportBlock(
    name="scores",
    summary="named scores as a list of bars",
    schema={
        "type": "object",
        "required": ["scores"],
        "additionalProperties": False,
        "properties": {
            "scores": {"type": "object", "additionalProperties": {"type": "number"}},
            "note": {"type": "string"},
        },
    },
    macro=(
        "{% macro render(data, section, sheets) %}"
        '<ol class="scores" aria-label="{{ section.title }}">'
        "{% for name, score in data.scores.items() %}"
        '<li>{{ name }} <meter value="{{ score }}"></meter> {{ fmt(score, "pct") }}</li>'
        "{% endfor %}</ol>{% if data.note %}<p>{{ data.note }}</p>{% endif %}"
        "{% endmacro %}"
    ),
)


class Scored(kinterp.Technique):
    name = "scored"
    summary = "Writes a plugin's report block"
    reads_data = False

    def run(self, ctx: kinterp.RunContext, params) -> None:
        ctx.report.block("Scores", "scores", scores={"<cat>": 0.25, "dog": 0.75}, note="a & b")
        ctx.report.table("Scores", ["n"], [[1]])


class ScoresPlugin:
    @kinterp.hookimpl
    def register_report_blocks(self, register):
        register(SCORES)

    @kinterp.hookimpl
    def register_techniques(self, register):
        register(Scored())


@pytest.fixture
def scores_plugin():
    register_plugin(ScoresPlugin(), name="scores-plugin")
    yield {name: block for name, (block, _) in registry().report_blocks.items()}
    unregister_plugin("scores-plugin")


def test_a_plugin_block_is_recorded_validated_and_rendered(scores_plugin, tiny_conv):
    # Not under pytest's temporary root: the suite's final check validates every report
    # there with the built-in blocks only, and this one needs its plugin's block.
    with tempfile.TemporaryDirectory() as out:
        result = kinterp.run("scored", str(tiny_conv), out=out)
        html = (result.path / "report.html").read_text()
    report = result.report
    assert result.status == "ok", report["error"]
    validate_report(report, scores_plugin)
    (section,) = report["sections"]
    assert section["blocks"] == [
        {"kind": "scores", "data": {"scores": {"<cat>": 0.25, "dog": 0.75}, "note": "a & b"}}
    ]
    assert section["tables"][0]["rows"] == [[1]]
    assert '<ol class="scores" aria-label="Scores">' in html
    assert '<li>&lt;cat&gt; <meter value="0.25"></meter> 25.0%</li>' in html
    assert "<p>a &amp; b</p>" in html
    assert html.index("<table>") < html.index('<ol class="scores"')  # built-ins first
    with pytest.raises(jsonschema.ValidationError, match="unknown report block kind .*'scores'"):
        validate_report(report)  # without the plugin, its block is refused by name


def test_block_data_is_checked_when_added(tmp_path, scores_plugin):
    builder = ReportBuilder(tmp_path, scores_plugin)
    with pytest.raises(ValueError, match="scores block: scores/dog: 'high' is not of type"):
        builder.block("S", "scores", scores={"dog": "high"})
    with pytest.raises(ValueError, match="unknown report block kind 'score'; registered: "):
        builder.block("S", "score", scores={})
    builder.block("S", "tables", columns=["a"], rows=[[1]])  # built-ins by name too
    assert builder.sections[0]["tables"] == [{"columns": ["a"], "rows": [[1]]}]
    assert "blocks" not in builder.sections[0]


def test_the_schema_is_assembled_from_the_registered_blocks(scores_plugin):
    for schema in (report_schema(scores_plugin), report_schema()):
        jsonschema.Draft202012Validator.check_schema(schema)
    section = report_schema(scores_plugin)["properties"]["sections"]["items"]
    assert section["required"] == ["title", "text", "images", "tables", "plots"]
    assert section["properties"]["blocks"]["items"]["properties"]["kind"] == {"enum": ["scores"]}
    builtin = report_schema()["properties"]["sections"]["items"]["properties"]["blocks"]
    assert builtin["items"]["properties"]["kind"] == {"enum": []}


class BadMacroPlugin:
    @kinterp.hookimpl
    def register_report_blocks(self, register):
        register(ReportBlock("bad", "no render macro", {"type": "object"}, "{% macro x() %}"))

    @kinterp.hookimpl
    def register_techniques(self, register):
        register(Scored())


class NoRenderPlugin:
    @kinterp.hookimpl
    def register_report_blocks(self, register):
        register(ReportBlock("chart", "a macro of another name", {"type": "object"}, "x"))


class NotABlockPlugin:
    @kinterp.hookimpl
    def register_report_blocks(self, register):
        register({"name": "dict"})


@pytest.mark.parametrize(
    ("plugin", "reason"),
    [
        (BadMacroPlugin(), "bad: bad macro, line 1"),
        (NoRenderPlugin(), "chart: the macro source defines no 'render' macro"),
        (NotABlockPlugin(), "is not a kinterp.reporting.blocks.ReportBlock"),
    ],
)
def test_a_broken_block_registration_marks_only_its_plugin_broken(plugin, reason):
    register_plugin(plugin, name="broken-blocks")
    try:
        records = {record.name: record for record in registry().plugins}
        assert records["broken-blocks"].status == "broken"
        assert "register_report_blocks failed" in records["broken-blocks"].reason
        assert reason in records["broken-blocks"].reason
        assert all(r.status == "ok" for name, r in records.items() if name != "broken-blocks")
        assert list(registry().report_blocks) == ["images", "tables", "plots"]
        assert "scored" not in registry().techniques  # nothing of a broken plugin is used
    finally:
        unregister_plugin("broken-blocks")


def test_a_kind_another_plugin_took_marks_the_plugin_broken():
    taken = ReportBlock("tables", "a second tables", {"type": "object"}, RENDER_NOTHING)

    class Plugin:
        @kinterp.hookimpl
        def register_report_blocks(self, register):
            register(taken)

    register_plugin(Plugin(), name="taken-kind")
    try:
        record = next(r for r in registry().plugins if r.name == "taken-kind")
        assert record.status == "broken"
        assert "report block 'tables' is already registered by" in record.reason
        assert registry().report_blocks["tables"][0] is not taken
    finally:
        unregister_plugin("taken-kind")
