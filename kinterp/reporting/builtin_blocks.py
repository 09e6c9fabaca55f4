"""The built-in report blocks (images, tables, plots), registered like any plugin's.

Each block is its data's JSON Schema and its report.html macro, here side by side; the
``ReportBuilder`` methods that record them are ``images``/``grid``/``strip`` (images),
``table`` (tables) and ``line_plot``/``bar_plot``/``histogram``/``scatter``/``gif`` (plots). A core
plugin: its ``register_report_blocks`` hook registers them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from kinterp.hookspecs import hookimpl
from kinterp.reporting.blocks import Blocks, ReportBlock
from kinterp.reporting.formatting import FORMATS

_STRINGS = {"type": "array", "items": {"type": "string"}}

IMAGES_SCHEMA = {
    "type": "object",
    "required": ["tiles", "array"],
    "properties": {
        "tiles": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "caption"],
                "properties": {
                    "path": {"type": "string"},
                    "caption": {"type": "string"},
                    "wrong": {"type": "boolean"},
                    "bars": {
                        "type": "array",
                        "description": "named scores in [0, 1] drawn as small bars under the tile",
                        "items": {
                            "type": "object",
                            "required": ["label", "value"],
                            "properties": {
                                "label": {"type": "string"},
                                "value": {"type": "number"},
                            },
                        },
                    },
                    "box": {
                        "type": "array",
                        "description": "where the tile lies in the sprite sheet at path: x, y, "
                        "width, height in pixels (schema 1.2; without it the file is the tile)",
                        "items": {"type": "integer", "minimum": 0},
                        "minItems": 4,
                        "maxItems": 4,
                    },
                },
            },
        },
        "columns": {"type": ["integer", "null"]},
        "array": {"type": "string"},
        "cmap": {"enum": ["gray", "diverging", "rgb"]},
        "kind": {"enum": ["tiles", "grid", "strip"]},
        "row_labels": _STRINGS,
        "column_labels": _STRINGS,
        "levels": _STRINGS,
        "colourbar": {
            "type": "object",
            "description": "the colour scale of heat or signed images: colours from low to high, "
            "the texts at its ends and what it measures (schema 1.4)",
            "required": ["colours", "low", "high", "label"],
            "properties": {
                "colours": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "low": {"type": "string"},
                "high": {"type": "string"},
                "label": {"type": "string"},
            },
        },
    },
    "allOf": [
        {
            "if": {"properties": {"kind": {"const": "grid"}}, "required": ["kind"]},
            "then": {"required": ["row_labels", "column_labels", "columns"]},
        },
        {
            "if": {"properties": {"kind": {"const": "strip"}}, "required": ["kind"]},
            "then": {"required": ["levels"]},
        },
    ],
}

IMAGES_MACRO = """\
{% macro tile(t, sheets, shared, label=None) %}
<figure class="tile{% if t.wrong %} wrong{% endif %}{% if sheets.wide(t) %} wide{% endif %}"><div class="pic" role="img" aria-label="{{ label or t.caption }}" style="{{ sheets.tile_style(t, shared) }}"></div>
<figcaption>{% if label %}<b>{{ label }}</b>{% endif %}{{ t.caption }}</figcaption>
{% if t.bars %}<div class="bars">{% for b in t.bars %}<div class="bar"><span>{{ b.label }}</span><i style="width:{{ '%.1f'|format([[b.value, 0]|max, 1]|min * 100) }}%"></i><span>{{ fmt(b.value, "prob") }}</span></div>{% endfor %}</div>{% endif %}
</figure>
{% endmacro %}

{% macro render(b, section, sheets) %}
{% set shared = sheets.block_style(b) %}
{% if b.kind == "grid" and b.columns > 1 %}
<div class="scroll"><div class="groups" style="{{ shared }};grid-template-columns:repeat(auto-fill, minmax(min(100%, {{ b.columns * 148 }}px), 1fr))">
{% for row in b.tiles|batch(b.columns) %}<div class="group"><div class="rowlabel">{{ b.row_labels[loop.index0] }}</div>
<div class="cells" style="grid-template-columns:repeat({{ b.columns }}, minmax(96px, 1fr))">{% for c in b.column_labels %}<div class="collabel">{{ c }}</div>{% endfor %}
{% for t in row %}{{ tile(t, sheets, shared) }}{% endfor %}</div></div>
{% endfor %}</div></div>
{% else %}
<div class="tiles{% if b.tiles|length == 1 %} single{% endif %}" style="{{ shared }}">
{% for t in b.tiles %}{{ tile(t, sheets, shared, b.row_labels[loop.index0] if b.kind == "grid" else None) }}{% endfor %}
</div>
{% endif %}

{% if b.colourbar %}<div class="colourbar"><span>{{ b.colourbar.low }}</span><i style="background:linear-gradient(to right,{{ b.colourbar.colours|join(',') }})"></i><span>{{ b.colourbar.high }}</span><div class="sub">{{ b.colourbar.label }}</div></div>{% endif %}
<div class="raw">raw values: {{ b.array }}</div>
{% endmacro %}
"""  # noqa: E501 (HTML lines)

TABLES_SCHEMA = {
    "type": "object",
    "required": ["columns", "rows"],
    "properties": {
        "columns": _STRINGS,
        "rows": {"type": "array", "items": {"type": "array"}},
        "formats": {"type": "array", "items": {"enum": [None, *FORMATS]}},
    },
}

TABLES_MACRO = """\
{% macro render(table, section, sheets) %}
<div class="scroll"><table><tr>{% for c in table.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in table.rows %}<tr>{% for cell in row %}<td{% if cell is number %} class="num"{% endif %}>{{ fmt(cell, (table.formats or [])[loop.index0]) }}</td>{% endfor %}</tr>
{% endfor %}</table></div>
{% endmacro %}
"""  # noqa: E501 (HTML lines)

PLOTS_SCHEMA = {
    "type": "object",
    "required": ["path", "caption"],
    "properties": {
        "path": {"type": "string"},
        "narrow": {
            "type": "string",
            "description": "the same plot laid out for screens up to 600 px wide (schema 1.5)",
        },
        "caption": {"type": "string"},
        "kind": {"enum": ["line", "bar", "histogram", "scatter", "animation"]},
    },
}

PLOTS_MACRO = """\
{% macro render(p, section, sheets) %}
{% set picture = sheets.plot(p) %}<figure class="plot"><picture>{% if p.narrow %}{% set narrow = sheets.plot({"path": p.narrow}) %}<source media="(max-width: 600px)" srcset="{{ narrow.src }}"{% if narrow.width %} width="{{ narrow.width }}" height="{{ narrow.height }}"{% endif %}>{% endif %}<img src="{{ picture.src }}"{% if picture.width %} width="{{ picture.width }}" height="{{ picture.height }}"{% endif %} alt="{{ p.caption or section.title }}"></picture><figcaption class="sub">{{ p.caption }}</figcaption></figure>
{% endmacro %}
"""  # noqa: E501 (HTML lines)


@lru_cache(maxsize=1)
def builtin_blocks() -> Blocks:
    """The built-in blocks by name, in the order a section shows them."""
    blocks = (
        ReportBlock(
            "images",
            "tiles, labelled grids and strips of images",
            IMAGES_SCHEMA,
            IMAGES_MACRO,
            own_list=True,
        ),
        ReportBlock(
            "tables", "a table with number formats", TABLES_SCHEMA, TABLES_MACRO, own_list=True
        ),
        ReportBlock(
            "plots",
            "a line plot, bar chart, histogram, scatter plot or animation",
            PLOTS_SCHEMA,
            PLOTS_MACRO,
            own_list=True,
        ),
    )
    return {block.name: block for block in blocks}


@hookimpl
def register_report_blocks(register: Callable[[ReportBlock], None]) -> None:
    """Register the built-in report blocks."""
    for block in builtin_blocks().values():
        register(block)
