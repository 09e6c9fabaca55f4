"""Technique parameters as JSON Schema, for ``GET /techniques`` and the web UI's form.

A file param (see :mod:`kinterp.settings.params`) says so: ``x-file`` is the kind of file
(``model``, ``image``), ``x-file-prefix`` the prefix of the values that name one, and its
description what it takes over HTTP (an upload's sha256 or a zoo name, never a path).
"""

from __future__ import annotations

from typing import Any

from kinterp.serve.fileparams import accepted
from kinterp.settings.params import ParamSpec, param_specs
from kinterp.technique import Technique

_TYPES = {
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "str": "string",
    "choice": "string",
}


def _item_schema(spec: ParamSpec) -> dict[str, Any]:
    """The schema of one value (the whole value, or one item of a list)."""
    schema: dict[str, Any] = {"type": _TYPES[spec.item_kind]}
    if spec.choices:
        schema["enum"] = list(spec.choices)
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.maximum is not None:
        schema["maximum"] = spec.maximum
    return schema


def param_schema(spec: ParamSpec) -> dict[str, Any]:
    """One parameter: its type with bounds and choices, default, help and CLI option."""
    if spec.kind.startswith("list["):
        schema: dict[str, Any] = {"type": "array", "items": _item_schema(spec), "minItems": 1}
        if spec.max_items is not None:
            schema["maxItems"] = spec.max_items
    else:
        schema = _item_schema(spec)
    if spec.optional:
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:  # an optional choice: none of them is a value too
            schema["enum"] = [*schema["enum"], None]
    schema.update(default=spec.default, description=spec.help_text, **{"x-option": spec.option})
    if spec.file is not None:
        schema["x-file"] = spec.file
        if spec.file_prefix:
            schema["x-file-prefix"] = spec.file_prefix
        which = f"values starting with {spec.file_prefix} take" if spec.file_prefix else "it takes"
        schema["description"] += f" On this server {which} {accepted(spec)}, never a path."
    return schema


def params_schema(technique: Technique) -> dict[str, Any]:
    """A technique's ``Params`` as a JSON Schema object (no unknown names)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{technique.name} params",
        "type": "object",
        "properties": {s.name: param_schema(s) for s in param_specs(technique.Params)},
        "additionalProperties": False,
    }


def technique_info(technique: Technique) -> dict[str, Any]:
    """What ``GET /techniques`` says about one technique."""
    return {
        "name": technique.name,
        "summary": technique.summary,
        "reads_data": technique.reads_data,
        "params": params_schema(technique),
    }
