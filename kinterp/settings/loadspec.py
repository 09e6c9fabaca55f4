"""A run spec's ``load`` options, type-checked strictly, and the rule on unsafe loading.

``unsafe`` is a bool (the string ``"false"`` is refused, not taken as true), ``custom_objects``
a list of non-empty strings, ``image_shape`` three positive ints and ``input_range`` two
finite numbers (a bool is not a number). Loading a model that contains code, or importing
the modules ``custom_objects`` names, runs code: a spec read from a file, a sweep SPEC or a
server request may not ask for it. Only the command line (``--unsafe``,
``--custom-objects``), the server's ``--allow-unsafe`` or Python code grants it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from kinterp.errors import KinterpError
from kinterp.loading.models import HOLDS, LoadOptions

FIELDS = tuple(f.name for f in dataclasses.fields(LoadOptions))


def checked_load(raw: Any) -> LoadOptions:
    """``raw`` (a mapping of load fields, or :class:`LoadOptions`) as checked LoadOptions.

    Args:
        raw: a spec's ``load`` value; None means the defaults.

    Returns:
        LoadOptions with tuples for its sequences.

    Raises:
        KinterpError: not a mapping, an unknown field, or a value of the wrong type.
    """
    if raw is None:
        return LoadOptions()
    if isinstance(raw, LoadOptions):
        raw = {name: getattr(raw, name) for name in FIELDS}
    if not isinstance(raw, Mapping):
        raise KinterpError(f"run spec: load must be a mapping of {', '.join(FIELDS)}, got {raw!r}")
    unknown = sorted(str(k) for k in raw if k not in FIELDS)
    if unknown:
        raise KinterpError(f"run spec: unknown load option {unknown[0]!r}; known: {list(FIELDS)}")
    unsafe = raw.get("unsafe", False)
    if not isinstance(unsafe, bool):
        raise KinterpError(f"run spec: load.unsafe must be true or false, got {unsafe!r}")
    return LoadOptions(
        unsafe=unsafe,
        custom_objects=_custom_objects(raw.get("custom_objects")),
        image_shape=_image_shape(raw.get("image_shape")),
        input_range=_input_range(raw.get("input_range")),
        input=_name(raw.get("input"), "input"),
        output=_name(raw.get("output"), "output"),
        hold=_hold(raw.get("hold", "zeros")),
    )


def refuse_unsafe(load: LoadOptions) -> None:
    """Refuse load options that would run code, for a spec that came from a file or request.

    Raises:
        KinterpError: ``unsafe`` is true or ``custom_objects`` is not empty.
    """
    asked = "load.unsafe" if load.unsafe else "load.custom_objects" if load.custom_objects else ""
    if asked:
        raise KinterpError(
            f"the run spec asks for unsafe loading ({asked}), which kinterp only takes from "
            "the command line: pass --unsafe / --custom-objects yourself if you trust the model"
        )


def _sequence(value: Any, name: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise KinterpError(f"run spec: load.{name} must be a list, got {value!r}")
    return list(value)


def _custom_objects(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = _sequence(value, "custom_objects")
    if not all(isinstance(v, str) and v.strip() for v in items):
        raise KinterpError(
            f"run spec: load.custom_objects must be strings such as module:attr, got {value!r}"
        )
    return tuple(items)


def _image_shape(value: Any) -> tuple[int, int, int] | None:
    if value is None:
        return None
    items = _sequence(value, "image_shape")
    if len(items) != 3 or not all(_is_int(v) and v >= 1 for v in items):
        raise KinterpError(
            f"run spec: load.image_shape must be three positive integers H, W, C, got {value!r}"
        )
    return (items[0], items[1], items[2])


def _input_range(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    items = _sequence(value, "input_range")
    if len(items) != 2 or not all(_is_number(v) and math.isfinite(v) for v in items):
        raise KinterpError(
            f"run spec: load.input_range must be two finite numbers LO, HI, got {value!r}"
        )
    return (float(items[0]), float(items[1]))


def _name(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise KinterpError(f"run spec: load.{field} must be an input/output name, got {value!r}")
    return value


def _hold(value: Any) -> str:
    if value not in HOLDS:
        raise KinterpError(f"run spec: load.hold must be one of {list(HOLDS)}, got {value!r}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
