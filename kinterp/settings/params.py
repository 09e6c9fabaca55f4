"""Technique parameters: typed dataclass fields turned into options and parsed from text.

A technique's ``Params`` is a dataclass. Each field has a type (int, float, bool, str,
``Literal[...]`` choices, ``list[int]``/``list[float]``/``list[str]``, optionally ``| None``),
a default, and ``metadata`` with ``help`` and optional bounds: ``min`` / ``max`` (numbers and
the items of numeric lists), ``choices`` (the allowed values of a ``str`` or ``list[str]``
field) and ``max_items`` (lists). The CLI and the Python API both go through
:func:`parse_params`, so a bad value gets the same one-line error everywhere, and ``--help``
shows the bounds. Non-finite numbers (nan, inf) are always refused.

A ``str`` or ``list[str]`` field whose values name files declares it: ``metadata["file"]`` is
the kind of file (one of :data:`FILE_KINDS`), and ``metadata["file_prefix"]``, when only the
values starting with it name a file (``image:`` of ``--init image:PATH``). Locally a file param
takes a path; ``kinterp serve`` takes only uploads and zoo names there, never a server path.
"""

from __future__ import annotations

import dataclasses
import math
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
        "server",
        "input_name",
        "output_name",
        "input",  # --input and --output are the core's
        "output",
        "hold",
    }
)
"""Names the core's own options and ``kinterp.run`` arguments use; a Params field may not."""

FILE_KINDS = ("model", "image")
"""What a file param's values may name: a model (zoo name or path) or an image file."""


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
    minimum: float | None = None
    maximum: float | None = None
    max_items: int | None = None
    file: str | None = None
    file_prefix: str = ""

    def file_ref(self, value: str) -> str | None:
        """The file one value names (without the prefix), or None for a value that names
        none: every value of a file param without a prefix, else those starting with it (in any
        letter case, as the technique reads it)."""
        if self.file is None:
            return None
        text = value.strip()
        if not self.file_prefix:
            return text
        head, rest = text[: len(self.file_prefix)], text[len(self.file_prefix) :]
        return rest if head.lower() == self.file_prefix.lower() else None

    @property
    def item_kind(self) -> str:
        """The kind of one value: ``int`` for both ``int`` and ``list[int]``."""
        return self.kind[5:-1] if self.kind.startswith("list[") else self.kind

    @property
    def type_label(self) -> str:
        """The option's metavar: ``INT``, ``FLOAT``, ``TEXT``, ``a|b`` or ``INT,...``."""
        if self.choices:
            label = "|".join(self.choices)
        else:
            label = {"str": "TEXT", "choice": "TEXT"}.get(self.item_kind, self.item_kind.upper())
        return f"{label},..." if self.kind.startswith("list[") else label

    @property
    def bounds_text(self) -> str:
        """The bounds in words (``1 to 100,000``, ``at least 0``), or "" when unbounded."""
        lo, hi = (None if b is None else _number_text(b) for b in (self.minimum, self.maximum))
        text = ""
        if lo is not None and hi is not None:
            text = f"{lo} to {hi}"
        elif lo is not None:
            text = f"at least {lo}"
        elif hi is not None:
            text = f"at most {hi}"
        if self.max_items is not None:
            text = f"{text}; " if text else ""
            text += f"at most {self.max_items:,} values"
        return text

    @property
    def help_text(self) -> str:
        """The help line ``--help`` shows: the help, the default and the bounds."""
        default = self.default
        shown = ",".join(map(str, default)) if isinstance(default, list) else default
        parts = [] if default == "" else [f"default: {'all' if default is None else shown}"]
        if self.bounds_text:
            parts.append(self.bounds_text)
        return f"{self.help} ({'; '.join(parts)})".strip() if parts else self.help


def _number_text(value: float) -> str:
    """A bound as the help shows it: ``100,000``, ``0.5``, ``1e-05``."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:g}"


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
        spec = ParamSpec(
            name=f.name,
            option=option_name(f.name),
            kind=kind,
            optional=optional,
            default=default,
            help=f.metadata.get("help", ""),
            choices=choices or _metadata_choices(f, kind),
            minimum=f.metadata.get("min"),
            maximum=f.metadata.get("max"),
            max_items=f.metadata.get("max_items"),
            file=_metadata_file(f, kind),
            file_prefix=f.metadata.get("file_prefix", ""),
        )
        try:
            if default is not None:
                convert(spec, default)
        except KinterpError as exc:
            raise TypeError(f"parameter {f.name!r}: its default breaks its bounds: {exc}") from None
        specs.append(spec)
    return specs


def _metadata_choices(f: dataclasses.Field, kind: str) -> tuple[str, ...]:
    """``metadata["choices"]`` of a ``str`` or ``list[str]`` field."""
    choices = tuple(str(c) for c in f.metadata.get("choices", ()))
    if choices and kind not in ("str", "list[str]"):
        raise TypeError(f"parameter {f.name!r}: choices apply to str and list[str] fields only")
    return choices


def _metadata_file(f: dataclasses.Field, kind: str) -> str | None:
    """``metadata["file"]`` of a ``str`` or ``list[str]`` field, checked."""
    file = f.metadata.get("file")
    if file is None:
        if "file_prefix" in f.metadata:
            raise TypeError(f"parameter {f.name!r}: file_prefix needs file")
        return None
    if file not in FILE_KINDS:
        raise TypeError(f"parameter {f.name!r}: file must be one of {', '.join(FILE_KINDS)}")
    if kind not in ("str", "list[str]"):
        raise TypeError(f"parameter {f.name!r}: file applies to str and list[str] fields only")
    return file


def _scalar(spec: ParamSpec, kind: str, text: str) -> Any:
    text = text.strip()
    try:
        if kind == "int":
            return _checked(spec, int(text))
        if kind == "float":
            return _checked(spec, float(text))
    except ValueError:
        word = "an integer" if kind == "int" else "a number"
        raise KinterpError(f"{spec.option} expects {word}, got {text!r}") from None
    return _checked(spec, text)


def _checked(spec: ParamSpec, value: Any) -> Any:
    """``value`` if finite and inside the bounds and choices, else a one-line error."""
    if isinstance(value, str):
        if spec.choices and value not in spec.choices:
            raise KinterpError(
                f"{spec.option} must be one of {', '.join(spec.choices)}; got {value!r}"
            )
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise KinterpError(f"{spec.option} expects a finite number, got {value!r}")
    low, high = spec.minimum, spec.maximum
    wanted = None
    if low is not None and value < low:
        wanted = f"at least {_number_text(low)}"
    elif high is not None and value > high:
        wanted = f"at most {_number_text(high)}"
    if wanted is not None:
        raise KinterpError(f"{spec.option} must be {wanted}, got {value!r}")
    return value


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
        return _checked(spec, str(value))
    if spec.kind.startswith("list["):
        if isinstance(value, str):
            items = value.split(",")
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise KinterpError(f"{spec.option} expects a comma-separated list such as 0,3,5")
        items = [i for i in items if not (isinstance(i, str) and not i.strip())]
        if not items:
            raise KinterpError(f"{spec.option} expects a comma-separated list such as 0,3,5")
        if spec.max_items is not None and len(items) > spec.max_items:
            raise KinterpError(
                f"{spec.option} takes at most {spec.max_items:,} values, got {len(items):,}"
            )
        return [_one(spec, spec.item_kind, i) for i in items]
    return _one(spec, spec.kind, value)


def _one(spec: ParamSpec, kind: str, value: Any) -> Any:
    """One scalar value (text from the CLI, or a Python value from the API), checked."""
    if isinstance(value, str):
        return _scalar(spec, kind, value)
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _checked(spec, float(value))
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return _checked(spec, value)
    if kind == "str" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _checked(spec, str(value))
    return _scalar(spec, kind, str(value))


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
