"""The files a technique's params name (``--compare OTHER.keras``, ``--init image:PATH``).

A file param (``metadata["file"]``, see :mod:`kinterp.settings.params`) holds one reference
or a list of them; with a prefix, only the values that start with it are references. These
functions find every reference and replace them, keeping the rest of each value as it is:
the server maps uploads to stored files with them, a sweep makes a SPEC's relative paths
absolute, and the sweep and server transport sends the files and points the run at the
worker's copies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kinterp.settings.params import ParamSpec, convert, param_specs

Replace = Callable[[ParamSpec, str], "str | None"]


def map_file_refs(params_cls: type, params: dict[str, Any], replace: Replace) -> dict[str, Any]:
    """``params`` with each file reference ``ref`` of param ``spec`` replaced by
    ``replace(spec, ref)`` (None: kept); a replaced value keeps its prefix (``image:``).

    Raises:
        KinterpError: a badly typed value of a file param (the CLI's message), or what
            ``replace`` raises.
    """
    resolved = dict(params)
    for spec in param_specs(params_cls):
        if spec.file is None or spec.name not in params:
            continue
        value = convert(spec, params[spec.name])
        if value is None:
            continue
        items = [value] if isinstance(value, str) else value
        mapped = []
        for item in items:
            ref = spec.file_ref(item)
            new = None if ref is None else replace(spec, ref)
            mapped.append(item if new is None else spec.file_prefix + new)
        if mapped != items:
            resolved[spec.name] = mapped[0] if isinstance(value, str) else mapped
    return resolved


def file_refs(params_cls: type, params: dict[str, Any]) -> list[tuple[ParamSpec, str]]:
    """Every file reference in ``params``: (its param, the reference without the prefix)."""
    found: list[tuple[ParamSpec, str]] = []

    def note(spec: ParamSpec, ref: str) -> None:
        found.append((spec, ref))

    map_file_refs(params_cls, params, note)
    return found
