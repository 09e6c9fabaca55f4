"""Report blocks: what a section of a report can hold, each kind defined in one place.

A :class:`ReportBlock` is a kind of content (a table, a grid of images, a plugin's chart):
the JSON Schema of its data and the Jinja macro that renders it. Plugins register blocks
with the ``register_report_blocks`` hook, and the built-ins
(:mod:`kinterp.reporting.builtin_blocks`) register the same way; report.json's schema
(:func:`report_schema`) and report.html's macros are assembled from whatever is registered.

A plugin's block is recorded in its section's ``blocks`` list as ``{"kind": ..., "data":
...}``. The built-ins keep the lists report.json has had since schema 1.0 (``images``,
``tables``, ``plots``), one list each, holding the data itself.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

BLOCKS = "blocks"
"""The section list holding plugin blocks, each record tagged with its kind."""
OWN_LISTS = ("images", "tables", "plots")
"""Kinds whose records have a section list of their own (the built-ins, since schema 1.0)."""
MACRO = "render"
"""The macro a block's Jinja source defines: ``render(data, section, sheets)``."""
NAME = re.compile(r"[a-z][a-z0-9_-]*")


@dataclass(frozen=True, eq=False)
class ReportBlock:
    """One kind of report content: its data's schema and the macro that renders it.

    Attributes:
        name: the block's kind (``ctx.report.block(title, name, **data)``), lower case;
            report.json records it as the ``kind`` of each of its blocks.
        summary: one line saying what it shows.
        schema: the JSON Schema of its data (an object: the keyword arguments of ``block``).
        macro: Jinja source defining ``{% macro render(data, section, sheets) %}``:
            ``data`` is the block's data, ``section`` its section (``section.title``) and
            ``sheets`` embeds the run's files (``sheets.plot({"path": ...}).src`` is an
            image file as a ``data:`` URI). Autoescaped; ``fmt(value, format)`` formats
            numbers as the rest of the report does.
        own_list: records go in the section list named ``name`` rather than ``blocks``
            (only the built-ins ``images``, ``tables`` and ``plots``).

    Raises:
        ValueError: a bad name, a schema that is not a JSON Schema of an object, or a macro
            that does not parse or defines no ``render``.
    """

    name: str
    summary: str
    schema: dict[str, Any]
    macro: str
    own_list: bool = False

    def __post_init__(self) -> None:
        import jinja2
        import jsonschema

        if not isinstance(self.name, str) or not NAME.fullmatch(self.name) or self.name == BLOCKS:
            raise ValueError(f"bad report block name {self.name!r}: lower case, like 'bar-chart'")
        if self.own_list and self.name not in OWN_LISTS:
            raise ValueError(f"{self.name}: only {', '.join(OWN_LISTS)} have a list of their own")
        if not isinstance(self.schema, dict) or self.schema.get("type") != "object":
            raise ValueError(f"{self.name}: the schema must describe an object (type: object)")
        try:
            jsonschema.Draft202012Validator.check_schema(self.schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"{self.name}: bad schema: {exc.message}") from None
        try:
            parsed = jinja2.Environment().parse(self.macro)
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(f"{self.name}: bad macro, line {exc.lineno}: {exc.message}") from None
        if MACRO not in {m.name for m in parsed.find_all(jinja2.nodes.Macro)}:
            raise ValueError(f"{self.name}: the macro source defines no '{MACRO}' macro")

    def check(self, data: Any) -> None:
        """Check a block's data against its schema.

        Raises:
            ValueError: the data does not fit, with the path to the offending value.
        """
        import jsonschema

        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(self.schema).iter_errors(data)
        )
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "data"
            raise ValueError(f"{self.name} block: {where}: {error.message}")


Blocks = Mapping[str, ReportBlock]
"""Registered blocks by name (their kind)."""


def _envelope() -> dict[str, Any]:
    """The shipped schema: everything in a report except the blocks' own entries."""
    return json.loads((files("kinterp.reporting") / "schema" / "report.schema.json").read_text())


def report_schema(blocks: Blocks) -> dict[str, Any]:
    """The JSON Schema of a report that may hold ``blocks``.

    Each block's schema becomes its list's items (``images``, ``tables``, ``plots``) or, for
    plugin blocks, the ``data`` of the ``blocks`` records of its kind.
    """
    schema = copy.deepcopy(_envelope())
    section = schema["properties"]["sections"]["items"]
    tagged = [block for block in blocks.values() if not block.own_list]
    for block in blocks.values():
        if block.own_list:
            section["properties"][block.name] = {"type": "array", "items": block.schema}
            section["required"].append(block.name)
    record: dict[str, Any] = {
        "type": "object",
        "required": ["kind", "data"],
        "additionalProperties": False,
        "properties": {"kind": {"enum": [b.name for b in tagged]}, "data": {}},
    }
    if tagged:  # JSON Schema wants a non-empty allOf
        record["allOf"] = [
            {
                "if": {"properties": {"kind": {"const": b.name}}},
                "then": {"properties": {"data": b.schema}},
            }
            for b in tagged
        ]
    section["properties"][BLOCKS] = {"type": "array", "items": record}
    return schema


def unknown_kinds(report: dict[str, Any], blocks: Blocks) -> list[str]:
    """``section title: kind`` for every plugin block in ``report`` that is not in ``blocks``."""
    sections = [s for s in report.get("sections") or [] if isinstance(s, dict)]
    return [
        f"{section.get('title')!r}: {record.get('kind')!r}"
        for section in sections
        for record in section.get(BLOCKS) or []
        if isinstance(record, dict) and record.get("kind") not in blocks
    ]
