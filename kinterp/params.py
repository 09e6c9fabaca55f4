"""Technique parameters: typed dataclass fields turned into options and parsed from text.

A technique's ``Params`` is a dataclass. Each field has a type (int, float, bool, str,
``Literal[...]`` choices, ``list[int]``/``list[float]``/``list[str]``, optionally ``| None``),
a default, and ``metadata={"help": ...}``. The CLI and the Python API both go through
:func:`parse_params`, so a bad value gets the same one-line error everywhere.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from kinterp.errors import KinterpError

RESERVED = frozenset(
    {
        "model_spec",
        "data",
        "out",
        "seed",
        "as_json",
        "quiet",
        "unsafe",
        "custom_objects",
        "image_shape",
        "input_range",
        "technique",
        "model",
        "params",
        "load_options",
    }
)
"""Names the core's own options and ``kinterp.run`` arguments use; a Params field may not."""


@dataclass(frozen=True)
class ParamSpec:
    """One technique parameter as the CLI shows it."""

    name: str
    option: str
    kind: str  # int | float | bool | str | choice | list[int] | list[float] | list[str]
    optional: bool
    default: Any
    help: str
    choices: tuple[str, ...] = ()

    @property
    def type_label(self) -> str:
        """A short label such as ``INT`` or ``0,3,5`` for help text."""
        if self.kind == "choice":
            return "|".join(self.choices)
        if self.kind.startswith("list["):
            return f"{self.kind[5:-1].upper()},..."
        return self.kind.upper()


def option_name(field_name: str) -> str:
    """``border_px`` -> ``--border-px``."""
    return "--" + field_name.replace("_", "-")


def _describe(annotation: Any) -> tuple[str, bool, tuple[str, ...]]:
    optional = False
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        if len(args) != 1:
            raise TypeError(f"unsupported parameter type {annotation!r}")
        annotation = args[0]
        origin = get_origin(annotation)
    if origin is Literal:
        return "choice", optional, tuple(str(a) for a in get_args(annotation))
    if origin in (list, tuple):
        (item,) = get_args(annotation)[:1]
        if item not in (int, float, str):
            raise TypeError(f"unsupported list item type {item!r}")
        return f"list[{item.__name__}]", optional, ()
    if annotation in (int, float, bool, str):
        return annotation.__name__, optional, ()
    raise TypeError(f"unsupported parameter type {annotation!r}")


def param_specs(params_cls: type) -> list[ParamSpec]:
    """Describe every field of a Params dataclass.

    Raises:
        TypeError: a field has a type the CLI cannot express (a plugin bug).
    """
    if not dataclasses.is_dataclass(params_cls):
        raise TypeError(f"{params_cls!r} is not a dataclass")
    hints = typing.get_type_hints(params_cls)
    specs = []
    for f in dataclasses.fields(params_cls):
        if f.name in RESERVED:
            raise TypeError(f"parameter {f.name!r} uses a name reserved by the core")
        kind, optional, choices = _describe(hints[f.name])
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            raise TypeError(f"parameter {f.name!r} has no default")
        specs.append(
            ParamSpec(
                name=f.name,
                option=option_name(f.name),
                kind=kind,
                optional=optional,
                default=default,
                help=f.metadata.get("help", ""),
                choices=choices,
            )
        )
    return specs


def _scalar(spec: ParamSpec, kind: str, text: str) -> Any:
    text = text.strip()
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        word = "an integer" if kind == "int" else "a number"
        raise KinterpError(f"{spec.option} expects {word}, got {text!r}") from None
    return text


def convert(spec: ParamSpec, value: Any) -> Any:
    """Convert a CLI string (or a Python value from the API) to the field's type.

    Raises:
        KinterpError: the value does not fit, with a message naming the option.
    """
    if value is None:
        if spec.optional:
            return None
        raise KinterpError(f"{spec.option} needs a value")
    if spec.optional and isinstance(value, str) and value.strip().lower() in ("none", "all"):
        return None
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise KinterpError(f"{spec.option} expects true or false, got {value!r}")
    if spec.kind == "choice":
        if str(value) not in spec.choices:
            raise KinterpError(
                f"{spec.option} must be one of {', '.join(spec.choices)}; got {value!r}"
            )
        return str(value)
    if spec.kind.startswith("list["):
        item = spec.kind[5:-1]
        items = value.split(",") if isinstance(value, str) else list(value)
        items = [i for i in items if not (isinstance(i, str) and not i.strip())]
        if not items:
            raise KinterpError(f"{spec.option} expects a comma-separated list such as 0,3,5")
        return [_scalar(spec, item, str(i)) for i in items]
    if isinstance(value, str):
        return _scalar(spec, spec.kind, value)
    if spec.kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if spec.kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if spec.kind == "str":
        return str(value)
    return _scalar(spec, spec.kind, str(value))


def parse_params(params_cls: type, raw: dict[str, Any]) -> Any:
    """Build a Params instance from ``raw`` (field name -> value); unset fields keep defaults.

    Raises:
        KinterpError: an unknown name or a value of the wrong type.
    """
    specs = {s.name: s for s in param_specs(params_cls)}
    unknown = sorted(set(raw) - set(specs))
    if unknown:
        known = ", ".join(sorted(specs)) or "none"
        raise KinterpError(f"unknown parameter {unknown[0]!r}; this technique takes: {known}")
    values = {name: convert(specs[name], value) for name, value in raw.items()}
    return params_cls(**values)


def params_to_dict(params: Any) -> dict[str, Any]:
    """The values of a Params instance, JSON-ready."""
    return dataclasses.asdict(params)


@dataclass
class NoParams:
    """Params of a technique that takes none."""
