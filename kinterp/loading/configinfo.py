"""A model's :class:`ModelInfo` read from its ``.keras`` config alone, without TensorFlow.

``kinterp inspect`` prints a table the config already holds; importing TensorFlow and
building the model to print it took seconds. This reads what the config settles exactly,
and only then: a flat ``Sequential`` or ``Functional`` model (no nested model), one input
and one output, no one-unit sigmoid head (kinterp analyses it through a two-class view), no
``Normalization`` at the input (its statistics are weights), default load options, and every
layer of a type whose output shape and parameter count the config walk of
:mod:`kinterp.loading.modelsize` knows. For anything else :func:`config_info` returns None
and the caller loads the model; tests check both ways give the same ModelInfo.
"""

from __future__ import annotations

import numpy as np

from kinterp.loading.graphscan import check_keras_config
from kinterp.loading.inputrange import PASSED, PREPROCESSING, affine_range, rescaling
from kinterp.loading.layersize import UNKNOWN, Shape
from kinterp.loading.modelfile import classify, read_config, sha256_of
from kinterp.loading.models import (
    DEFAULT_RANGE_SOURCE,
    LayerRow,
    LoadOptions,
    ModelInfo,
    Port,
    _image_geometry,
    _kind,
    given_input_range,
    resolve,
)
from kinterp.loading.modelsize import MODELS, check_parameter_memory, histories, layer_output
from kinterp.loading.view import LayerNode

Layer = tuple[str, str, dict, list[str]]  # name, class, config, the layers it is called on


def config_info(spec: str, options: LoadOptions | None = None) -> ModelInfo | None:
    """The ModelInfo of zoo name or path ``spec`` from its config, or None when loading the
    model is the only way to tell it exactly (see the module's docstring).

    Raises:
        KinterpError: what loading would refuse before building (a missing or broken file,
            an embedded SavedModel, parameters over the memory cap).
    """
    options = options or LoadOptions()
    if options != LoadOptions(image_shape=options.image_shape, input_range=options.input_range):
        return None  # unsafe, custom objects, --input/--output/--hold: load
    name, path, card = resolve(spec)
    fmt = classify(path)
    if fmt != "keras":
        return None
    config = read_config(path, fmt)
    check_keras_config(config, path, False)
    if check_parameter_memory(path, fmt, config):
        return None  # layer types the walk cannot count
    layers = _flat_layers(config)
    if layers is None:
        return None
    walked = _walk(layers)
    if walked is None:
        return None
    inputs, rows, shapes = walked
    (input_name, input_shape), output = inputs, rows[-1]
    out_shape = shapes[output.name]
    head = output.activation or "other"
    if out_shape[-1] == 1:
        return None  # a one-unit head is analysed as two classes through a view kinterp builds
    found = _input_range(layers, options, card)
    if found is None:
        return None
    (low, high), source = found
    num_outputs = int(out_shape[-1] or 0)
    named = tuple((card or {}).get("class_names", ()))
    return ModelInfo(
        name=name,
        path=str(path.resolve()),
        sha256=sha256_of(path),
        format=fmt,
        kind=_kind(tuple(rows), fmt),
        input_shape=input_shape,
        image_shape=_image_geometry(input_shape, options.image_shape),
        input_range=(low, high),
        output_activation=head if head in ("softmax", "sigmoid", "linear") else "other",
        num_outputs=num_outputs,
        class_names=named if len(named) == num_outputs else tuple(map(str, range(num_outputs))),
        param_count=sum(row.params for row in rows),
        layers=tuple(rows),
        card=card,
        inputs=(Port(input_name, input_shape),),
        outputs=(Port(output.name, tuple(out_shape[1:]), head),),
        image_input=input_name,
        output_name=output.name,
        input_range_source=source,
        tree=tuple(LayerNode(row.name, row.type) for row in rows),
    )


def _flat_layers(config: dict) -> list[Layer] | None:
    """The layers of a flat single-input single-output model, each with the names of the
    layers it is called on (None: nested, several inputs or outputs, shared layers)."""
    if config.get("class_name") not in MODELS or not _keras_own(config):
        return None
    body = config.get("config") or {}
    raw = [layer for layer in body.get("layers") or [] if isinstance(layer, dict)]
    layers: list[Layer] = []
    for index, layer in enumerate(raw):
        kind, own = str(layer.get("class_name", "")), layer.get("config") or {}
        if kind in MODELS or "layers" in own or not isinstance(own, dict):
            return None
        if not _keras_own(layer):
            return None  # a class from elsewhere: loading refuses or needs custom objects
        if config["class_name"] == "Sequential":
            called = [layers[-1][0]] if layers else []
        else:
            nodes = layer.get("inbound_nodes") or []
            if len(nodes) > 1:
                return None  # a layer called twice
            called = [n for n, _ in histories(nodes[0])] if nodes else []
        layers.append((str(own.get("name", layer.get("name", index))), kind, own, called))
    if not layers or layers[0][1] != "InputLayer":
        return None
    if sum(kind == "InputLayer" for _, kind, _, _ in layers) != 1:
        return None
    if config["class_name"] != "Sequential":
        outputs = list(histories(body.get("output_layers")))
        if len(outputs) != 1 or outputs[0][0] != layers[-1][0]:
            return None
    return layers


def _keras_own(layer: dict) -> bool:
    """True for a layer of Keras' own (its module is Keras', no registered custom name)."""
    module = str(layer.get("module", "keras.layers"))
    registered = layer.get("registered_name")
    return module.split(".")[0] == "keras" and registered in (None, layer.get("class_name"))


def _walk(layers: list[Layer]) -> tuple[tuple[str, Shape], list[LayerRow], dict] | None:
    """((input name, shape), the layer rows, output shape by layer name), or None when a
    layer's shape or parameters cannot be followed."""
    name, _, config, _ = layers[0]
    batch = config.get("batch_shape") or config.get("batch_input_shape")
    if not isinstance(batch, list) or not batch:
        return None
    shapes: dict[str, Shape] = {name: tuple(batch)}
    rows = []
    for layer, kind, own, called in layers[1:]:
        if not called or any(c not in shapes for c in called):
            return None
        shape, params = layer_output(kind, own, [shapes[c] for c in called])
        if shape is None or params == UNKNOWN:
            return None
        shapes[layer] = shape
        size = own.get("units") or own.get("filters") or ""
        rows.append(
            LayerRow(layer, kind, str(tuple(shape)), _activation(kind, own), str(size), params)
        )
    if not rows or any(row.activation is None for row in rows):
        return None
    return (name, tuple(batch[1:])), rows, shapes


def _activation(kind: str, config: dict) -> str | None:
    """The activation name Keras would report (None: a form the config cannot settle)."""
    if kind == "Softmax":
        return "softmax"
    activation = config.get("activation", "")
    return activation if isinstance(activation, str) else None


def _input_range(
    layers: list[Layer], options: LoadOptions, card: dict | None
) -> tuple[tuple[float, float], str] | None:
    """As :func:`kinterp.loading.models._input_range`: the option, the card, the leading
    Rescaling chain, else 0-1 (None: a Normalization, whose statistics are weights)."""
    given = given_input_range(card, options)
    if given is not None:
        return given
    scale, offset, used = np.ones(1), np.zeros(1), []
    current = layers[0][0]
    for name, kind, config, called in layers[1:]:
        if called != [current]:
            continue
        if kind in PASSED or kind.startswith("Random"):
            current = name
            continue
        if kind == "Normalization":
            return None
        if kind not in PREPROCESSING:
            break
        step = rescaling(config)
        scale, offset = scale * step[0], offset * step[0] + step[1]
        current = name
        used.append(f"{kind} {name!r}")
    inferred = affine_range(scale, offset, False, used)
    if inferred is not None:
        return (inferred.low, inferred.high), inferred.source
    return (0.0, 1.0), DEFAULT_RANGE_SOURCE
