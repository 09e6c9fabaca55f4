"""Config values and parameter counts of single Keras 3 layers, for :mod:`kinterp.loading.modelsize`
(which walks a model): counts, shapes and windows read from a layer's config, and the
einsum, attention and convolutional-recurrent layers counted from their input shapes.

Each function mirrors what the layer's ``build`` creates: ``EinsumDense`` a kernel whose
axes come from its equation, ``MultiHeadAttention`` and ``GroupQueryAttention`` four such
projections, ``ConvLSTM1D/2D/3D`` an input and a recurrent kernel of four gates.
"""

from __future__ import annotations

import math
import re
from typing import Any

from kinterp.errors import KinterpError

Shape = tuple[int | None, ...]

UNKNOWN = -1
"""The parameter count of a layer whose weights the config walk cannot count."""
FIX = "re-save it with Keras 3 (model.save('model.keras')), or check that it is the model you meant"


def _int(value: Any, what: str) -> int:
    """A non-negative integer from the config, or a one-line refusal."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise KinterpError(f"the model config gives {what} as {value!r}, not a count; {FIX}")
    return value


def _ints(value: Any, rank: int, what: str) -> tuple[int, ...]:
    """``kernel_size``-style values: one integer for every axis, or a list of ``rank``."""
    values = value if isinstance(value, list | tuple) else [value] * rank
    return tuple(_int(v, what) for v in values)


def _channel_axis(config: dict, shape: Shape) -> int:
    return 1 if config.get("data_format") == "channels_first" else len(shape) - 1


def _dims(config: dict, shape: Shape) -> Shape:
    """The spatial dims of a shape (all but the batch and channel axes)."""
    axis = _channel_axis(config, shape)
    return tuple(d for i, d in enumerate(shape[1:], 1) if i != axis)


def _spatial(config: dict, shape: Shape, size: tuple[int, ...], strides: tuple[int, ...]) -> Shape:
    """Output spatial dims of a convolution or pooling window (``padding`` valid or same)."""
    dims = _dims(config, shape)
    dilation = _ints(config.get("dilation_rate", 1), len(dims), "dilation_rate")
    out = []
    for d, k, s, r in zip(dims, size, strides, dilation, strict=False):
        if d is None or s == 0:
            out.append(None)
        elif config.get("padding") == "same":
            out.append(-(-d // s))
        else:
            out.append(max(0, (d - (k - 1) * r - 1) // s + 1))
    return tuple(out)


EINSUMS = (
    (re.compile(r"^([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$"), False),
    (re.compile(r"^0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)$"), True),
    (re.compile(r"^([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0$"), False),
)
"""The equations ``EinsumDense`` accepts (``0`` for ``...``), and whether the ellipsis is
on the left."""


def einsum_dense(config: dict, shape: Shape) -> tuple[Shape | None, int]:
    """(output shape, parameters) of an ``EinsumDense`` on input ``shape``, as Keras'
    ``_analyze_split_string`` derives its kernel and bias; None and ``UNKNOWN`` parameters
    for an equation or shape it would refuse."""
    equation = str(config.get("equation", "")).replace("...", "0")
    found = [(m, left) for pattern, left in EINSUMS if (m := pattern.match(equation))]
    if not found:
        return None, UNKNOWN
    (match, left), *_ = found
    given, weight, out_spec = match[1], match[2], match[3]
    elided = len(shape) - len(given)
    wanted = config.get("output_shape")
    wanted = list(wanted) if isinstance(wanted, list | tuple) else [wanted]
    full = [shape[0], *(None if d is None else _int(d, "output_shape") for d in wanted)]
    if elided > 0 and left:
        full[1:1] = shape[1:elided]
    elif elided > 0:
        full.extend(shape[len(shape) - elided :])
    shift = elided if left else 0
    inputs = {c: i + elided - len(shape) if left else i for i, c in enumerate(given)}
    outputs = {c: i + shift for i, c in enumerate(out_spec)}
    try:
        kernel = [full[outputs[c]] if c in outputs else shape[inputs[c]] for c in weight]
        bias_axes = str(config.get("bias_axes") or "")
        first = min((out_spec.find(c) for c in bias_axes), default=len(out_spec))
        bias = [full[outputs[c]] if c in bias_axes else 1 for c in out_spec[first:]]
    except (KeyError, IndexError):
        return None, UNKNOWN
    if None in kernel or (bias_axes and None in bias):
        return tuple(full), UNKNOWN
    return tuple(full), math.prod(kernel) + (math.prod(bias) if bias_axes else 0)


def _build_shapes(layer: dict, names: tuple[str, ...]) -> list[Shape | None]:
    """The shapes a layer's ``build_config`` records under ``names`` (None where absent)."""
    build = layer.get("build_config") if isinstance(layer.get("build_config"), dict) else {}
    shapes = [build.get(name) for name in names]
    return [tuple(s) if isinstance(s, list) and s else None for s in shapes]


def attention(
    kind: str, layer: dict, config: dict, shapes: list[Shape]
) -> tuple[Shape | None, int]:
    """(output shape, parameters) of ``MultiHeadAttention`` or ``GroupQueryAttention``: the
    query, key and value projections and the output projection (the key's input defaults
    to the value's)."""
    recorded = _build_shapes(layer, ("query_shape", "value_shape", "key_shape"))
    query = recorded[0] or shapes[0]
    value = recorded[1] or (shapes[1] if len(shapes) > 1 else query)
    key = recorded[2] or value
    features = [s[-1] or 0 for s in (query, key, value)]
    bias = bool(config.get("use_bias", True))
    if kind == "MultiHeadAttention":
        heads = _int(config.get("num_heads", 0), "num_heads")
        key_dim = _int(config.get("key_dim", 0), "key_dim")
        value_dim = _int(config.get("value_dim") or key_dim, "value_dim")
        sizes = [heads * key_dim, heads * key_dim, heads * value_dim]
        wanted = config.get("output_shape") or features[0]
        out = list(wanted) if isinstance(wanted, list | tuple) else [wanted]
        outputs = math.prod(_int(d, "output_shape") for d in out)
        attended = heads * value_dim
    else:
        head_dim = _int(config.get("head_dim", 0), "head_dim")
        queries = _int(config.get("num_query_heads", 0), "num_query_heads")
        shared = _int(config.get("num_key_value_heads", 0), "num_key_value_heads")
        sizes = [queries * head_dim, shared * head_dim, shared * head_dim]
        out, outputs, attended = [features[0]], features[0], queries * head_dim
    params = sum(f * s + s * bias for f, s in zip(features, sizes, strict=True))
    params += attended * outputs + outputs * bias
    return (*query[:-1], *out), params


def conv_lstm(config: dict, shape: Shape) -> tuple[Shape | None, int]:
    """(output shape, parameters) of ``ConvLSTM1D/2D/3D`` on ``(batch, time, ...)``."""
    rank = len(shape) - 3
    if rank < 1:
        return None, UNKNOWN
    step = (shape[0], *shape[2:])
    first = config.get("data_format") == "channels_first"
    channels = step[1] if first else step[-1]
    filters = _int(config.get("filters", 0), "filters")
    kernel = math.prod(_ints(config.get("kernel_size", 1), rank, "kernel_size"))
    strides = _ints(config.get("strides", 1), rank, "strides")
    sizes = _ints(config.get("kernel_size", 1), rank, "kernel_size")
    spatial = _spatial(config, step, sizes, strides)
    per_step = (shape[0], filters, *spatial) if first else (shape[0], *spatial, filters)
    out = (per_step[0], shape[1], *per_step[1:]) if config.get("return_sequences") else per_step
    if channels is None:
        return out, UNKNOWN
    params = kernel * 4 * filters * (channels + filters) + 4 * filters * bool(
        config.get("use_bias", True)
    )
    return out, params
