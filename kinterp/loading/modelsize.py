"""Estimate a model's parameter memory from its config, before Keras builds anything.

A config of a few kilobytes can declare layers whose weights fill gigabytes, and building
the model allocates them all (weights the file does not hold included). Each layer is
counted from the input shape it is built with: its ``build_config`` (what Keras builds it
with first), and the shape propagated through the config from the model's inputs (what a
layer without one is built with); when both are known the larger counts. Layers without
weights only pass shapes on; a layer kinterp cannot follow leaves its output unknown, and a
weighted layer after it without a ``build_config`` cannot be estimated, so it is refused.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kinterp.errors import KinterpError
from kinterp.loading.layersize import (
    FIX,
    UNKNOWN,
    Shape,
    _channel_axis,
    _dims,
    _int,
    _ints,
    _spatial,
    attention,
    conv_lstm,
    einsum_dense,
)
from kinterp.loading.limits import parameter_cap, size_text

MODELS = ("Functional", "Model", "Sequential")
SAME_SHAPE = frozenset(
    [
        "Activation",
        "ActivityRegularization",
        "AlphaDropout",
        "BatchNormalization",
        "Dropout",
        "ELU",
        "GaussianDropout",
        "GaussianNoise",
        "GroupNormalization",
        "Identity",
        "LayerNormalization",
        "LeakyReLU",
        "Masking",
        "Normalization",
        "PReLU",
        "RandomBrightness",
        "RandomContrast",
        "RandomFlip",
        "RandomRotation",
        "RandomTranslation",
        "RandomZoom",
        "ReLU",
        "Rescaling",
        "Softmax",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "UnitNormalization",
    ]
)
"""Layers whose output has their input's shape."""
MERGES = frozenset(["Add", "Average", "Maximum", "Minimum", "Multiply", "Subtract"])
ITEM_BYTES = {"float16": 2, "bfloat16": 2, "float64": 8}
"""Bytes of a variable by the layer's dtype policy (mixed policies keep float32 weights)."""
ATTENTION = ("MultiHeadAttention", "GroupQueryAttention", "GroupedQueryAttention")


def _shape(value: Any) -> Shape | None:
    """A shape from the config (None entries stay None), or None if it is not one."""
    if not isinstance(value, list | tuple) or not value:
        return None
    if any(
        d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 0) for d in value
    ):
        return None
    return tuple(value)


def _transposed(
    config: dict, shape: Shape, size: tuple[int, ...], strides: tuple[int, ...]
) -> Shape:
    """Output spatial dims of a transposed convolution (output padding left out)."""
    same = config.get("padding") == "same"
    return tuple(
        None if d is None else d * s if same else (d - 1) * s + k
        for d, k, s in zip(_dims(config, shape), size, strides, strict=False)
    )


def _with_channels(config: dict, shape: Shape, spatial: Shape, channels: int | None) -> Shape:
    if _channel_axis(config, shape) == 1:
        return (shape[0], channels, *spatial)
    return (shape[0], *spatial, channels)


def _conv(kind: str, config: dict, shape: Shape) -> tuple[Shape, int]:
    """(output shape, parameters) of a Conv, Conv*Transpose, DepthwiseConv or SeparableConv."""
    rank = len(shape) - 2
    kernel = _ints(config.get("kernel_size", 1), rank, "kernel_size")
    strides = _ints(config.get("strides", 1), rank, "strides")
    channels = shape[_channel_axis(config, shape)]
    bias = bool(config.get("use_bias", True))
    multiplier = _int(config.get("depth_multiplier", 1), "depth_multiplier")
    filters = _int(config.get("filters", 0) or 0, "filters")
    if kind.startswith("Depthwise"):
        filters = (channels or 0) * multiplier
    window = math.prod(kernel)
    window_shape = _transposed if "Transpose" in kind else _spatial
    spatial = window_shape(config, shape, kernel, strides)
    out = _with_channels(config, shape, spatial, filters)
    if channels is None:
        return out, 0
    groups = _int(config.get("groups", 1), "groups") or 1
    if kind.startswith("Depthwise"):
        weights = window * channels * multiplier
    elif kind.startswith("Separable"):
        weights = window * channels * multiplier + channels * multiplier * filters
    else:
        weights = window * channels // groups * filters
    return out, weights + filters * bias


def _pool(kind: str, config: dict, shape: Shape) -> Shape:
    rank = len(shape) - 2
    axis = _channel_axis(config, shape)
    if kind.startswith("Global"):
        kept = [1 if i and i != axis else d for i, d in enumerate(shape)]
        return tuple(kept) if config.get("keepdims") else (shape[0], shape[axis])
    size = _ints(config.get("pool_size", 2), rank, "pool_size")
    strides = _ints(config.get("strides") or size, rank, "strides")
    return _with_channels(config, shape, _spatial(config, shape, size, strides), shape[axis])


def _recurrent(kind: str, config: dict, shape: Shape) -> tuple[Shape, int]:
    units = _int(config.get("units", 0), "units")
    features = shape[-1] or 0
    gates = {"LSTM": 4, "GRU": 3}.get(kind, 1)
    bias = units * gates * (2 if kind == "GRU" and config.get("reset_after", True) else 1)
    params = gates * (features * units + units * units) + bias * bool(config.get("use_bias", True))
    out = (shape[0], shape[1], units) if config.get("return_sequences") else (shape[0], units)
    return out, params


def _normalised(config: dict, shape: Shape) -> int:
    """The features a normalisation layer keeps statistics or weights for (its ``axis``)."""
    axes = config.get("axis", -1)
    axes = axes if isinstance(axes, list) else [axes]
    return math.prod(
        shape[a] or 0 for a in axes if isinstance(a, int) and -len(shape) <= a < len(shape)
    )


def _weights(kind: str, config: dict, shape: Shape) -> int:
    """Parameters of a layer that keeps its input's shape (0 for most of them)."""
    if kind == "BatchNormalization":
        flags = 2 + bool(config.get("scale", True)) + bool(config.get("center", True))
        return flags * _normalised(config, shape)
    if kind in ("LayerNormalization", "GroupNormalization"):
        flags = bool(config.get("scale", True)) + bool(config.get("center", True))
        return flags * _normalised(config, shape)
    if kind == "Normalization":
        return 2 * _normalised(config, shape) + 1
    if kind == "PReLU":
        shared = config.get("shared_axes") or []
        return math.prod(d or 0 for i, d in enumerate(shape) if i and i not in shared)
    return 0


def _reshape(config: dict, shape: Shape) -> Shape:
    target = [_int(d, "target_shape") if d != -1 else -1 for d in config.get("target_shape", [])]
    size = math.prod(d or 0 for d in shape[1:]) if None not in shape[1:] else None
    known = math.prod(d for d in target if d != -1)
    filled = [
        (size // known if size is not None and known else None) if d == -1 else d for d in target
    ]
    return (shape[0], *filled)


def layer_output(kind: str, config: dict, shapes: list[Shape]) -> tuple[Shape | None, int]:
    """(output shape, parameters) of a layer on its input shapes; None: cannot follow it;
    ``UNKNOWN`` parameters: a layer kinterp cannot count (see :func:`check_parameter_memory`)."""
    shape = shapes[0]
    if kind in MERGES:
        return shape, 0
    if kind == "Concatenate":
        axis = config.get("axis", -1)
        dims = [s[axis] for s in shapes]
        joined = None if None in dims else sum(dims)
        return tuple(joined if i == axis % len(shape) else d for i, d in enumerate(shape)), 0
    if kind in SAME_SHAPE:
        return shape, _weights(kind, config, shape)
    if kind == "Dense":
        units = _int(config.get("units", 0), "units")
        bias = units * bool(config.get("use_bias", True))
        return (*shape[:-1], units), (shape[-1] or 0) * units + bias
    if kind == "EinsumDense":
        return einsum_dense(config, shape)
    if kind.startswith("ConvLSTM"):
        return conv_lstm(config, shape)
    if kind == "Embedding":
        count = _int(config.get("input_dim", 0), "input_dim")
        dims = _int(config.get("output_dim", 0), "output_dim")
        return (*shape, dims), count * dims
    if kind.startswith(("Conv", "DepthwiseConv", "SeparableConv")) and len(shape) >= 3:
        return _conv(kind, config, shape)
    if "Pooling" in kind and len(shape) >= 3:
        return _pool(kind, config, shape), 0
    if kind in ("SimpleRNN", "LSTM", "GRU") and len(shape) == 3:
        return _recurrent(kind, config, shape)
    if _weightless(kind):
        return _reshaping(kind, config, shape), 0
    return None, UNKNOWN


def _reshaping(kind: str, config: dict, shape: Shape) -> Shape | None:
    """Output shape of a layer without weights that moves values around (None: unknown)."""
    if kind == "Flatten":
        return (shape[0], None if None in shape[1:] else math.prod(shape[1:]))
    if kind == "Reshape":
        return _reshape(config, shape)
    if kind == "RepeatVector":
        return (shape[0], _int(config.get("n", 0), "n"), *shape[1:])
    if kind == "Permute":
        return (shape[0], *(shape[d] for d in config.get("dims", []) if isinstance(d, int)))
    if kind in ("Resizing", "CenterCrop", "RandomCrop"):
        height, width = _int(config.get("height"), "height"), _int(config.get("width"), "width")
        return (shape[0], height, width, shape[-1])
    if kind.startswith(("ZeroPadding", "Cropping")):
        return _padded(kind, config, shape)
    if kind.startswith("UpSampling"):
        size = _ints(config.get("size", 2), len(shape) - 2, "size")
        return (
            shape[0],
            *(None if d is None else d * s for d, s in zip(shape[1:-1], size, strict=False)),
            shape[-1],
        )
    return None


def _padded(kind: str, config: dict, shape: Shape) -> Shape:
    """Output shape of ZeroPadding and Cropping: each spatial dim grows or shrinks by its
    two amounts (``padding`` or ``cropping``: one int, one a dim, or a pair a dim)."""
    dims = _dims(config, shape)
    amounts = config.get("padding" if kind.startswith("Zero") else "cropping", 1)
    amounts = amounts if isinstance(amounts, list) else [amounts] * len(dims)
    sign = 1 if kind.startswith("Zero") else -1
    spatial = tuple(
        None if d is None else max(0, d + sign * sum(_ints(a, 2, "padding")))
        for d, a in zip(dims, amounts, strict=False)
    )
    return _with_channels(config, shape, spatial, shape[_channel_axis(config, shape)])


class Estimate:
    """Walks a model config, counting each layer's parameter bytes once (by layer path)."""

    def __init__(self) -> None:
        self.bytes: dict[str, int] = {}
        self.unknown: set[str] = set()
        """The layer types met whose weights the walk could not count."""

    def model(self, config: dict, path: str, given: list[Shape] | None) -> Shape | None:
        """Count a (nested) model's layers; its output shape (None: unknown).

        Args:
            config: the model's ``config`` (with ``layers``).
            path: where the model sits, naming its layers uniquely.
            given: the input shapes it is called on, when its config does not say.
        """
        layers = [layer for layer in config.get("layers", []) if isinstance(layer, dict)]
        if "input_layers" not in config and "output_layers" not in config:
            shape = _shape(config.get("build_input_shape")) or (given or [None])[0]
            for layer in layers:
                shape = self.layer(layer, path, [shape] if shape else None)
            return shape
        outputs: dict[tuple[str, int], Shape | None] = {}
        for layer in layers:
            for index, names in enumerate(_inbound(layer) or [[]]):
                shapes = [outputs.get(name) for name in names]
                known = None if not names or None in shapes else shapes
                outputs[(_name(layer), index)] = self.layer(layer, path, known)
        ends = [outputs.get(name) for name in histories(config.get("output_layers"))]
        return ends[0] if len(ends) == 1 else None

    def layer(self, layer: dict, path: str, shapes: list[Shape] | None) -> Shape | None:
        """Count one layer (a nested model recursively) on input ``shapes``; its output."""
        kind = str(layer.get("class_name", ""))
        config = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        name = f"{path}/{_name(layer)}"
        if kind == "InputLayer":
            return _shape(config.get("batch_shape") or config.get("batch_input_shape"))
        build = layer.get("build_config") if isinstance(layer.get("build_config"), dict) else {}
        built = _shape(build.get("input_shape") or build.get("query_shape"))
        if kind in MODELS or "layers" in config:
            return self.model(config, name, shapes or ([built] if built else None))
        given, rest = (shapes[0], shapes[1:]) if shapes else (None, [])
        output, most = None, 0
        for shape in dict.fromkeys(s for s in (given, built) if s):
            if kind in ("Bidirectional", "TimeDistributed"):
                out, params = self.wrapped(kind, config, name, shape), 0
            elif kind in ATTENTION:
                out, params = attention(kind, layer, config, [shape, *rest])
            else:
                out, params = layer_output(kind, config, [shape, *rest])
            if params == UNKNOWN:
                self.unknown.add(kind)
            output, most = output or out, max(most, params)
        if given is None and built is None and not _weightless(kind):
            raise KinterpError(
                f"cannot estimate the memory of layer {name.lstrip('/')} ({kind}): its input "
                f"shape is neither in the config nor derivable from the layers before it; {FIX}"
            )
        bytes_ = most * ITEM_BYTES.get(_dtype(config), 4)
        self.bytes[name] = max(self.bytes.get(name, 0), bytes_)
        return output

    def wrapped(self, kind: str, config: dict, path: str, shape: Shape) -> Shape | None:
        """Count a ``TimeDistributed`` layer (its layer on each time step) or a
        ``Bidirectional`` one (its forward and backward layers), whatever they wrap."""
        inner = config.get("layer") if isinstance(config.get("layer"), dict) else {}
        if kind == "TimeDistributed":
            out = self.layer(inner, path, [(shape[0], *shape[2:])])
            return None if out is None else (shape[0], shape[1], *out[1:])
        backward = config.get("backward_layer")
        out = self.layer(inner, f"{path}/forward", [shape])
        self.layer(backward if isinstance(backward, dict) else inner, f"{path}/backward", [shape])
        if out is not None and config.get("merge_mode", "concat") == "concat" and out[-1]:
            out = (*out[:-1], 2 * out[-1])
        return out


def _weightless(kind: str) -> bool:
    """True for the layers known to have no weights (their input shape is not needed)."""
    if kind in SAME_SHAPE:
        return _weights(kind, {}, (None, 1)) == 0
    moving = (
        "Flatten",
        "Reshape",
        "RepeatVector",
        "Permute",
        "Resizing",
        "CenterCrop",
        "RandomCrop",
        "Concatenate",
    )
    resampling = ("UpSampling", "ZeroPadding", "Cropping")
    return kind in MERGES or kind in moving or "Pooling" in kind or kind.startswith(resampling)


def _dtype(config: dict) -> str:
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name")
    return str(dtype)


def _name(layer: dict) -> str:
    return str(layer.get("name") or (layer.get("config") or {}).get("name", ""))


def histories(value: Any) -> Iterator[tuple[str, int]]:
    """The (layer, node index) pairs a Keras 3 ``keras_history``, a Keras 2 inbound entry
    or an ``output_layers`` value names, at any depth."""
    if isinstance(value, dict):
        history = (value.get("config") or {}).get("keras_history")
        if value.get("class_name") == "__keras_tensor__" and isinstance(history, list):
            yield from histories(history)
            return
        for item in value.values():
            yield from histories(item)
    elif isinstance(value, list):
        if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
            yield (value[0], value[1])
            return
        for item in value:
            yield from histories(item)


def _inbound(layer: dict) -> list[list[tuple[str, int]]]:
    """The layers and node indices each call (node) of a functional layer takes."""
    return [list(histories(node)) for node in layer.get("inbound_nodes") or []]


def parameter_bytes(config: dict) -> int:
    """Estimated bytes of a model's parameters from its Keras config (float32: 4 a weight).

    Raises:
        KinterpError: a config value is not a count or is malformed, or a weighted layer's
            input size cannot be derived.
    """
    return sum(walk(config).bytes.values())


def walk(config: dict) -> Estimate:
    """Walk a Keras model config, counting each layer's parameter bytes (see
    :func:`parameter_bytes`); the result also names the layer types it could not count.

    Raises:
        KinterpError: as :func:`parameter_bytes`.
    """
    estimate = Estimate()
    try:
        estimate.layer(config, "", None)
    except (TypeError, ValueError, IndexError, AttributeError, RecursionError) as exc:
        raise KinterpError(f"the model config is malformed ({type(exc).__name__}); {FIX}") from None
    return estimate


def stored_weight_bytes(path: Path, fmt: str) -> int:
    """The declared (uncompressed) size of a ``.keras`` file's weights, or an ``.h5`` file's
    size: what the model's genuine weights take, whatever its config says."""
    if fmt == "h5":
        return path.stat().st_size
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist() if info.filename.endswith(".h5"))


def check_parameter_memory(path: Path, fmt: str, config: dict) -> list[str]:
    """Refuse a ``.keras`` or ``.h5`` model whose parameters would not fit, before building.

    The estimate is the larger of :func:`parameter_bytes` and the stored weights' size.

    Returns:
        The layer types whose weights the walk could not count (for
        :func:`kinterp.loading.deferredsize.check_deferred_memory` to count); empty: all counted.

    Raises:
        KinterpError: one line with the estimate, the cap and the fix.
    """
    try:
        estimate = walk(config)
        need = max(sum(estimate.bytes.values()), stored_weight_bytes(path, fmt))
    except KinterpError as exc:
        raise KinterpError(f"{path}: {exc}") from None
    refuse_over_cap(path, need, "estimated from its config")
    return sorted(estimate.unknown)


def refuse_over_cap(path: Path, need: int, how: str) -> None:
    """Refuse ``path`` if ``need`` bytes of parameters are over kinterp's cap.

    Raises:
        KinterpError: one line with the estimate (found ``how``), the cap and the fix.
    """
    cap, source = parameter_cap()
    if need > cap:
        raise KinterpError(
            f"{path}: building this model would allocate about {size_text(need)} of "
            f"parameters ({how}), over kinterp's limit of "
            f"{size_text(cap)} ({source}); use a smaller model or a machine with more memory"
        )
