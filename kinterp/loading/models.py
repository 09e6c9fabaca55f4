"""Model registry: resolve a zoo name or path, load it safely, and describe it.

Keras is imported only inside the functions that need it, so listing and help stay fast.
"""

from __future__ import annotations

import difflib
import importlib
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kinterp.errors import KinterpError
from kinterp.loading.deferredsize import check_deferred_memory
from kinterp.loading.graphscan import check_keras_config, check_savedmodel
from kinterp.loading.inputrange import infer_input_range
from kinterp.loading.modelfile import classify, read_config, sha256_of
from kinterp.loading.modelsize import check_parameter_memory
from kinterp.loading.view import (
    LayerNode,
    View,
    activation_name,
    analysed_view,
    head_layer,
    output_layer,
)
from kinterp.loading.zoo import zoo_models
from kinterp.toolkit.classification import Classification, class_name, softmax

CONV_TYPES = ("Conv", "DepthwiseConv", "SeparableConv")  # class-name prefixes of convolutions
DENSE_TYPES = {
    "Dense",
    "Flatten",
    "Dropout",
    "InputLayer",
    "Reshape",
    "Activation",
    "Softmax",
    "BatchNormalization",
    "Rescaling",
    "Normalization",
    "GaussianNoise",
    "LayerNormalization",
}


@dataclass(frozen=True)
class LoadOptions:
    """How to load a model: the opt-ins for code, and what the file cannot tell."""

    unsafe: bool = False
    custom_objects: tuple[str, ...] = ()
    image_shape: tuple[int, int, int] | None = None
    input_range: tuple[float, float] | None = None
    input: str | None = None
    output: str | None = None
    hold: str = "zeros"


HOLDS = ("zeros", "mean")
DEFAULT_RANGE_SOURCE = "default (no preprocessing layer at the input)"


@dataclass(frozen=True)
class Port:
    """One input or output of a model: its name, shape (no batch axis) and, for an output,
    the activation that produces it."""

    name: str
    shape: tuple[int | None, ...]
    activation: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The port as JSON."""
        port: dict[str, Any] = {"name": self.name, "shape": list(self.shape)}
        if self.activation:
            port["activation"] = self.activation
        return port

    def __str__(self) -> str:
        shape = "x".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} ({shape}{', ' + self.activation if self.activation else ''})"


@dataclass(frozen=True)
class LayerRow:
    """One row of the layer table."""

    name: str
    type: str
    output_shape: str
    activation: str
    size: str
    params: int

    @property
    def is_conv(self) -> bool:
        """True for a convolution layer (a class name starting with one of ``CONV_TYPES``)."""
        return self.type.startswith(CONV_TYPES)

    @property
    def is_dense(self) -> bool:
        """True for a ``Dense`` layer."""
        return self.type == "Dense"


@dataclass(frozen=True)
class ModelInfo:
    """What kinterp knows about a loaded model.

    Attributes:
        name: the zoo name, or the file name of a model path.
        path: the absolute path of the model file or SavedModel directory.
        sha256: the hash of that file (of the directory's files, for a SavedModel).
        format: ``keras``, ``h5`` or ``savedmodel``.
        kind: ``dense`` (Dense layers only), ``conv`` (has a convolution) or ``other``.
        input_shape: the model's input shape without the batch axis (None: any size).
        image_shape: (H, W, C) the input seen as an image, or None when it is not image-like.
        input_range: the (low, high) input values that stand for black and white.
        output_activation: ``softmax``, ``sigmoid``, ``linear`` or ``other`` (SavedModels and
            activations kinterp does not know).
        num_outputs: the number of output units (classes).
        class_names: names of the classes, from the model card (else "0", "1", ...).
        param_count: the number of weights.
        layers: the layer table (empty for a SavedModel); nested models' layers by path
            (``base/conv1``).
        card: the zoo model card, or None for a model file.
        inputs: every input of the model file.
        outputs: every output of the model file.
        image_input: the input techniques vary.
        output_name: the output (head) techniques analyse.
        held: (input, how) for each other input, held fixed (``zeros``, ``mean of N rows``).
        input_range_source: where ``input_range`` came from (option, card, layers, default).
        binary_head: the head is one unit (a sigmoid p, or a logit z with p = sigmoid(z)),
            analysed as two classes (1: p, 0: 1-p).
        tree: the layers as a tree, nested models with their children.
        choice_error: why no input/output can be chosen without --input/--output (None: one
            was); the model can be inspected but not analysed.
    """

    name: str
    path: str
    sha256: str
    format: str
    kind: str  # dense | conv | other
    input_shape: tuple[int | None, ...]
    image_shape: tuple[int, int, int] | None
    input_range: tuple[float, float]
    output_activation: str  # softmax | sigmoid | linear | other
    num_outputs: int
    class_names: tuple[str, ...]
    param_count: int
    layers: tuple[LayerRow, ...]
    card: dict[str, Any] | None = field(default=None, compare=False)
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    image_input: str = ""
    output_name: str = ""
    held: tuple[tuple[str, str], ...] = ()
    input_range_source: str = "default"
    binary_head: bool = False
    tree: tuple[LayerNode, ...] = field(default=(), compare=False)
    choice_error: str | None = None

    @property
    def has_layers(self) -> bool:
        """False for SavedModel directories, which load as one opaque layer."""
        return self.format != "savedmodel"

    def class_name(self, index: int) -> str:
        """The name of class ``index`` (its number when the card names fewer classes)."""
        return class_name(self.class_names, index)

    def summary(self) -> dict[str, Any]:
        """The model block of a report."""
        return {
            "name": self.name,
            "path": self.path,
            "sha256": self.sha256,
            "format": self.format,
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "image_shape": list(self.image_shape) if self.image_shape else None,
            "input_range": list(self.input_range),
            "output_activation": self.output_activation,
            "num_outputs": self.num_outputs,
            "param_count": self.param_count,
            "input_range_source": self.input_range_source,
            "inputs": [port.as_dict() for port in self.inputs],
            "outputs": [port.as_dict() for port in self.outputs],
            "image_input": self.image_input,
            "output": self.output_name,
            "held": dict(self.held),
            "binary_head": self.binary_head,
            **({"tree": [node.as_dict() for node in self.tree]} if self.nested else {}),
        }

    @property
    def nested(self) -> bool:
        """True when the model file nests models (its layers are addressed by path)."""
        return any(node.children for node in self.tree)


class LoadedModel:
    """A Keras model with its :class:`ModelInfo` and input conversions."""

    def __init__(self, keras_model: Any, info: ModelInfo, names: dict[str, str] | None = None):
        self.keras_model = keras_model
        self.info = info
        self._names = {row.name: row.name for row in info.layers} if names is None else names
        self._logits: Any = None
        self._features: dict[str, Any] = {}
        self._calls: dict[str | None, Any] = {}

    def require_image(self) -> tuple[int, int, int]:
        """The (H, W, C) image geometry, or a one-line error if the input is not image-like
        or the model's inputs/outputs need choosing (``--input`` / ``--output``)."""
        if self.info.choice_error:
            raise KinterpError(self.info.choice_error)
        if self.info.image_shape is None:
            raise KinterpError(
                f"model input {self.info.input_shape} is not image-like; "
                "pass --image-shape H,W,C if it is a flattened image"
            )
        return self.info.image_shape

    def to_input(self, images: np.ndarray) -> np.ndarray:
        """Images (N, H, W, C) in [0, 1] -> the model's input shape and value range."""
        lo, hi = self.info.input_range
        x = lo + (hi - lo) * np.asarray(images, dtype="float32")
        return x.reshape((len(x), *[d or -1 for d in self.info.input_shape]))

    def to_input_tensor(self, images: Any) -> Any:
        """:meth:`to_input` for a TensorFlow tensor (usable inside a compiled graph)."""
        import tensorflow as tf

        lo, hi = self.info.input_range
        return tf.reshape(lo + (hi - lo) * images, [-1, *[d or -1 for d in self.info.input_shape]])

    def to_images(self, inputs: np.ndarray) -> np.ndarray:
        """Model inputs -> images (N, H, W, C) in [0, 1]."""
        lo, hi = self.info.input_range
        x = (np.asarray(inputs, dtype="float32") - lo) / (hi - lo)
        return x.reshape((len(x), *self.require_image()))

    def predict(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Model outputs for a batch of model inputs, in compiled chunks of ``batch_size``.

        One ``tf.function`` (traced once, any batch size) instead of eager calls: on the
        zoo's CNNs eager calls spend as long in Python as in the model.
        """
        outs = _batched(self._compiled(None), inputs, batch_size)
        return np.concatenate(outs) if outs else np.zeros((0, self.info.num_outputs), "float32")

    def features(self, layer: str, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Layer ``layer``'s outputs for a batch of model inputs, compiled and batched like
        :meth:`predict`.

        Args:
            layer: a layer name (see :meth:`layer`).
            inputs: model inputs (N, *input_shape).
            batch_size: rows per compiled call.

        Returns:
            (N, *layer output shape) float32 activations (conv: (N, H, W, filters)).

        Raises:
            KinterpError: an unknown layer (naming close matches), or a SavedModel.
        """
        outs = _batched(self._compiled(layer), np.asarray(inputs, dtype="float32"), batch_size)
        if outs:
            return np.concatenate(outs)
        shape = self.layer(layer).output.shape[1:]
        return np.zeros((0, *[d or 0 for d in shape]), "float32")

    def _compiled(self, layer: str | None) -> Any:
        """One ``tf.function`` from the input to layer ``layer``'s output (None: the model's
        output), traced once for any batch size and cached."""
        if layer not in self._calls:
            import tensorflow as tf

            network = self.keras_model if layer is None else self.feature_model(layer)
            spec = tf.TensorSpec([None, *self.info.input_shape], tf.float32)
            self._calls[layer] = tf.function(
                lambda x: network(x, training=False), input_signature=[spec]
            )
        return self._calls[layer]

    @property
    def has_logits(self) -> bool:
        """True when the outputs have a known final activation that a logits view can undo."""
        return self.info.has_layers and self.info.output_activation != "other"

    def confidences(self, outputs: np.ndarray) -> np.ndarray:
        """Model outputs as class confidences: a softmax over linear outputs, else unchanged."""
        outputs = np.asarray(outputs, dtype="float64")
        return softmax(outputs) if self.info.output_activation == "linear" else outputs

    def classify(self, inputs: np.ndarray, batch_size: int = 256) -> Classification:
        """Class confidences, top-1 and top-k of a batch of model inputs.

        The one place that knows logits from probabilities: softmax and sigmoid outputs are
        taken as they are, linear outputs (logits) go through a softmax.
        """
        outputs = self.predict(np.asarray(inputs, dtype="float32"), batch_size)
        return Classification(self.confidences(outputs), self.info.class_names)

    def classify_images(self, images: np.ndarray, batch_size: int = 256) -> Classification:
        """:meth:`classify` for images (N, H, W, C) in [0, 1]."""
        return self.classify(self.to_input(images), batch_size)

    def logits(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """(N, K) pre-activation outputs (see :attr:`logits_model`) of model inputs."""
        model = self.logits_model
        outs = [
            np.asarray(model(inputs[i : i + batch_size], training=False), dtype="float64")
            for i in range(0, len(inputs), batch_size)
        ]
        return np.concatenate(outs) if outs else np.zeros((0, self.info.num_outputs))

    def feature_model(self, layer: str) -> Any:
        """A Keras model from the input to the output of layer ``layer`` (cached).

        Raises:
            KinterpError: an unknown layer (naming close matches), or a SavedModel.
        """
        if layer not in self._features:
            import keras

            output = self.layer(layer).output
            self._features[layer] = keras.Model(self.keras_model.inputs[0], output)
        return self._features[layer]

    def probability_model(self) -> Any:
        """A model whose outputs are class confidences (a softmax added to linear outputs)."""
        if self.info.output_activation != "linear":
            return self.keras_model
        import keras

        model = self.keras_model
        return keras.Model(model.inputs[0], keras.layers.Softmax()(model.outputs[0]))

    @property
    def logits_model(self) -> Any:
        """The same weights with the final activation made linear (pre-softmax logits)."""
        if self._logits is None:
            self._logits = logits_view(self.keras_model, self.info)
        return self._logits

    def layer(self, name: str) -> Any:
        """A layer by path (``base/conv1``) or by bare name when that is unique, or a one-line
        error naming the close matches."""
        return self.keras_model.get_layer(self._names[self.layer_path(name)])

    def layer_path(self, name: str) -> str:
        """The full path of the layer ``name`` names (see :meth:`layer`).

        Raises:
            KinterpError: a SavedModel, an unknown layer, or a bare name used in several
                nested models.
        """
        if not self.info.has_layers:
            raise KinterpError(
                f"{self.info.name} is a SavedModel: it loads as one opaque layer with no inner "
                "layers; use a .keras or .h5 file for layer-level analysis"
            )
        if name in self._names:
            return name
        paths = [path for path in self._names if path.rsplit("/", 1)[-1] == name]
        if len(paths) == 1:
            return paths[0]
        if paths:
            raise KinterpError(
                f"layer name {name!r} is in several nested models ({', '.join(paths)}); "
                "pass its path"
            )
        names = list(self._names)
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else f"layers: {', '.join(names)}"
        raise KinterpError(f"unknown layer {name!r}; {hint} (see: kinterp inspect MODEL)")


def _batched(call: Any, inputs: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """``call`` applied to ``inputs`` in chunks of ``batch_size`` rows, as numpy arrays."""
    return [np.asarray(call(inputs[i : i + batch_size])) for i in range(0, len(inputs), batch_size)]


def resolve(spec: str) -> tuple[str, Path, dict[str, Any] | None]:
    """A zoo name or a path -> (display name, path, model card or None).

    Raises:
        KinterpError: neither a zoo name nor an existing path.
    """
    zoo = zoo_models()
    if spec in zoo:
        return spec, zoo[spec].path, zoo[spec].card
    path = Path(spec).expanduser()
    if path.exists() or os.sep in spec or path.suffix:
        return path.name or spec, path, None
    close = difflib.get_close_matches(spec, list(zoo), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"zoo: {', '.join(zoo) or 'empty'}"
    raise KinterpError(f"unknown model {spec!r}: not a zoo name or a file; {hint}")


def quiet_tensorflow() -> None:
    """Import TensorFlow without its C++ start-up chatter (kept with ``KINTERP_DEBUG=1``).

    TensorFlow 2.21 logs through absl before ``TF_CPP_MIN_LOG_LEVEL`` can apply, so the
    stderr file descriptor is pointed at /dev/null for the duration of the import only.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ.get("KINTERP_DEBUG", "") not in ("", "0"):
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)


def load_model(
    spec: str, options: LoadOptions | None = None, hold_data: dict[str, np.ndarray] | None = None
) -> LoadedModel:
    """Load a zoo model or a model file safely and describe it.

    Args:
        spec: a zoo name (``mnist-cnn``) or a path to .keras, .h5 or a SavedModel directory.
        options: the opt-ins (``unsafe``, ``custom_objects``) and overrides.
        hold_data: arrays named after the model's inputs (rows of examples), for
            ``hold="mean"``.

    Raises:
        KinterpError: the file is missing, broken, not a model, or needs an opt-in.
    """
    options = options or LoadOptions()
    name, path, card = resolve(spec)
    fmt = classify(path)
    if fmt != "savedmodel":
        config = read_config(path, fmt)
        check_keras_config(config, path, options.unsafe)
        unknown = check_parameter_memory(path, fmt, config)
    quiet_tensorflow()
    if options.unsafe:
        print(
            f"WARNING: --unsafe: loading {path} may run arbitrary code stored in the model. "
            "Only do this for files you trust.",
            file=sys.stderr,
        )
    if fmt == "savedmodel":
        check_savedmodel(path, options.unsafe)
        model = _load_savedmodel(path)
    else:
        if unknown:
            _check_deferred(path, fmt, config, options, unknown)
        model = _load_keras(path, options)
    view, info = describe(model, name, path, fmt, card, options, hold_data or {})
    return LoadedModel(view.model, info, view.names)


def load_alongside(model: LoadedModel, specs: list[str], option: str) -> dict[str, LoadedModel]:
    """More models to run beside ``model`` (``--compare``, ``--also``), by name: each loaded in
    safe mode and checked to take the same images (a taken name is replaced by its spec).

    Raises:
        KinterpError: a model that does not load, takes images of another shape, or has
            another number of classes.
    """
    chosen: dict[str, LoadedModel] = {}
    for spec in specs:
        other = load_model(spec)
        if other.info.image_shape != model.info.image_shape:
            raise KinterpError(
                f"{option} {spec} takes {other.info.image_shape} images but {model.info.name} "
                f"takes {model.info.image_shape}; pick a model of the same data"
            )
        if other.info.num_outputs != model.info.num_outputs:
            raise KinterpError(
                f"{option} {spec} tells {other.info.num_outputs} classes apart but "
                f"{model.info.name} {model.info.num_outputs}; pick a model of the same classes"
            )
        taken = other.info.name in chosen or other.info.name == model.info.name
        chosen[spec if taken else other.info.name] = other
    return chosen


def _custom_objects(specs: tuple[str, ...]) -> dict[str, Any]:
    import keras

    objects = {}
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise KinterpError(f"--custom-objects expects module:attr, got {spec!r}")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise KinterpError(f"cannot import custom object {spec!r}: {exc}") from None
        objects[attr] = obj
        objects[keras.saving.get_registered_name(obj)] = obj
    return objects


def _check_deferred(
    path: Path, fmt: str, config: dict, options: LoadOptions, unknown: list[str]
) -> None:
    """Count the parameters the config walk could not (layer types ``unknown`` to it) by
    building the model's structure without weights; refuse it if they do not fit.

    Raises:
        KinterpError: over the cap, or the message a real load would give if Keras cannot
            build the model.
    """
    custom = _custom_objects(options.custom_objects)
    try:
        check_deferred_memory(path, fmt, config, custom or None, not options.unsafe, unknown)
    except KinterpError:
        raise
    except Exception as exc:
        raise KinterpError(_explain_load_error(path, exc)) from None


def _load_keras(path: Path, options: LoadOptions) -> Any:
    import keras

    custom = _custom_objects(options.custom_objects)
    try:
        return keras.saving.load_model(
            path, custom_objects=custom or None, compile=False, safe_mode=not options.unsafe
        )
    except Exception as exc:
        raise KinterpError(_explain_load_error(path, exc)) from None


def _explain_load_error(path: Path, exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if "safe_mode" in text or "arbitrary code" in text:
        return (
            f"{path} contains code (e.g. a Lambda layer) that safe mode refuses to run; "
            "if you trust the file, pass --unsafe"
        )
    for marker in (
        "Could not deserialize",
        "Could not locate",
        "Unknown layer",
        "could not be deserialized",
        "not a KerasSaveable",
    ):
        if marker in text:
            return (
                f"{path} names a class or module that is not a Keras layer ({text[:160]}); "
                "if it is your custom layer, pass --custom-objects module:attr"
            )
    return f"{path} could not be loaded by Keras ({type(exc).__name__}: {text[:200]})"


def _load_savedmodel(path: Path) -> Any:
    import keras
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise KinterpError(f"{path} is a broken SavedModel ({type(exc).__name__})") from None
    for endpoint in ("serve", "serving_default"):
        shape = _endpoint_input_shape(loaded, endpoint)
        if shape is not None:
            layer = keras.layers.TFSMLayer(str(path), call_endpoint=endpoint)
            inputs = keras.Input(shape[1:])
            outputs = layer(inputs)
            if isinstance(outputs, dict):
                outputs = next(iter(outputs.values()))
            return keras.Model(inputs, outputs, name=path.name)
    raise KinterpError(f"{path} has no 'serve' or 'serving_default' endpoint with one input")


def _endpoint_input_shape(loaded: Any, endpoint: str) -> tuple | None:
    if endpoint == "serving_default":
        fn = loaded.signatures.get(endpoint)
        specs = list(fn.structured_input_signature[1].values()) if fn is not None else []
    else:
        fn = getattr(loaded, endpoint, None)
        specs = list(getattr(fn, "input_signature", None) or [])
    if len(specs) != 1:
        return None
    return tuple(specs[0].shape)


def _image_geometry(
    shape: tuple[int | None, ...], override: tuple[int, int, int] | None
) -> tuple[int, int, int] | None:
    if any(d is None for d in shape):
        return None
    size = math.prod(shape)
    if override is not None:
        if math.prod(override) != size:
            raise KinterpError(
                f"--image-shape {'x'.join(map(str, override))} has {math.prod(override)} "
                f"values but the model input {shape} has {size}"
            )
        return override
    if len(shape) == 3 and shape[2] in (1, 3, 4):
        return (shape[0], shape[1], shape[2])
    if len(shape) == 2:
        return (shape[0], shape[1], 1)
    if len(shape) == 1 and math.isqrt(size) ** 2 == size:
        side = math.isqrt(size)
        return (side, side, 1)
    return None


def _layer_table(model: Any, names: dict[str, str]) -> tuple[LayerRow, ...]:
    """One row per layer path, read from the layer ``names`` gives it in ``model``."""
    rows = []
    for path, keras_name in names.items():
        layer = model.get_layer(keras_name)
        kind = type(layer).__name__
        try:
            out = str(tuple(layer.output.shape))
        except (AttributeError, ValueError):
            out = ""
        size = getattr(layer, "units", None) or getattr(layer, "filters", None) or ""
        rows.append(
            LayerRow(path, kind, out, activation_name(layer), str(size), layer.count_params())
        )
    return tuple(rows)


def _kind(layers: tuple[LayerRow, ...], fmt: str) -> str:
    if fmt == "savedmodel":
        return "other"
    if any(row.is_conv for row in layers):
        return "conv"
    return "dense" if {row.type for row in layers} <= DENSE_TYPES else "other"


def describe(
    model: Any,
    name: str,
    path: Path,
    fmt: str,
    card: dict[str, Any] | None,
    options: LoadOptions,
    hold_data: dict[str, np.ndarray] | None = None,
) -> tuple[View, ModelInfo]:
    """The analysed view of a loaded Keras model and its :class:`ModelInfo`.

    Raises:
        KinterpError: ``--input`` / ``--output`` / ``--hold`` that do not fit the model, or an
            input range that is not LO<HI.
    """
    inputs, outputs = _ports(model)
    choice_error = None
    try:
        image_index = choose_input(name, inputs, options)
        output_index = choose_output(name, outputs, options.output)
        held = held_values(inputs, image_index, options.hold, hold_data or {})
    except KinterpError as exc:
        if options.input or options.output or options.hold != "zeros":
            raise
        choice_error = str(exc)
        image_index, output_index = 0, 0
        held = {i: np.zeros([d or 1 for d in p.shape], "float32") for i, p in enumerate(inputs)}
    if fmt == "savedmodel":
        view = View(model, {}, (), binary=False)
    else:
        view = analysed_view(model, image_index, output_index, held)
    network = view.model
    input_shape = tuple(network.inputs[0].shape[1:])
    layers = _layer_table(network, view.names)
    activation = "softmax" if view.binary else outputs[output_index].activation
    if fmt == "savedmodel" or activation not in ("softmax", "sigmoid", "linear"):
        activation = "other"
    num_outputs = int(network.outputs[0].shape[-1])
    (lo, hi), range_source = _input_range(network, card, options)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise KinterpError(f"input range {lo:g},{hi:g} is not LO<HI; pass --input-range LO,HI")
    named = tuple((card or {}).get("class_names", ()))
    class_names = named if len(named) == num_outputs else tuple(map(str, range(num_outputs)))
    hold_text = held_descriptions(inputs, image_index, options.hold, hold_data or {})
    info = ModelInfo(
        name=name,
        path=str(path.resolve()),
        sha256=sha256_of(path),
        format=fmt,
        kind=_kind(layers, fmt),
        input_shape=input_shape,
        image_shape=_image_geometry(input_shape, options.image_shape),
        input_range=(lo, hi),
        output_activation=activation,
        num_outputs=num_outputs,
        class_names=class_names,
        param_count=int(model.count_params()),
        layers=layers,
        card=card,
        inputs=inputs,
        outputs=outputs,
        image_input=inputs[image_index].name,
        output_name=outputs[output_index].name,
        held=hold_text,
        input_range_source=range_source,
        binary_head=view.binary,
        tree=view.tree,
        choice_error=choice_error,
    )
    return view, info


def _ports(model: Any) -> tuple[tuple[Port, ...], tuple[Port, ...]]:
    """The model's inputs and outputs (an output's activation: that of the layer making it,
    inside a nested model if that is where)."""
    inputs = tuple(Port(t.name, tuple(t.shape[1:])) for t in model.inputs)
    names = getattr(model, "output_names", None) or [output_layer(t).name for t in model.outputs]
    outputs = tuple(
        Port(str(n), tuple(t.shape[1:]), activation_name(head_layer(t)) or "other")
        for n, t in zip(names, model.outputs, strict=True)
    )
    return inputs, outputs


def choose_input(name: str, inputs: tuple[Port, ...], options: LoadOptions) -> int:
    """The index of the image input: ``--input``, the only input, or the only image-like one.

    Raises:
        KinterpError: an unknown ``--input``, or several candidates and no ``--input``.
    """
    names = [port.name for port in inputs]
    listed = ", ".join(map(str, inputs))
    if options.input is not None:
        if options.input not in names:
            raise KinterpError(f"--input {options.input}: {name} has no such input ({listed})")
        return names.index(options.input)
    if len(inputs) == 1:
        return 0
    images = [
        i for i, port in enumerate(inputs) if len(port.shape) in (2, 3) and None not in port.shape
    ]
    if len(images) == 1:
        return images[0]
    raise KinterpError(
        f"{name} has {len(inputs)} inputs ({listed}); pass --input NAME for the image input "
        "(the others are held fixed, see --hold)"
    )


def choose_output(name: str, outputs: tuple[Port, ...], chosen: str | None) -> int:
    """The index of the analysed output: ``--output``, or the only one.

    Raises:
        KinterpError: an unknown ``--output``, or several outputs and no ``--output``.
    """
    names = [port.name for port in outputs]
    listed = ", ".join(map(str, outputs))
    if chosen is not None:
        if chosen not in names:
            raise KinterpError(f"--output {chosen}: {name} has no such output ({listed})")
        return names.index(chosen)
    if len(outputs) == 1:
        return 0
    raise KinterpError(f"{name} has {len(outputs)} outputs ({listed}); pass --output NAME")


def held_values(
    inputs: tuple[Port, ...], image: int, hold: str, data: dict[str, np.ndarray]
) -> dict[int, np.ndarray]:
    """The value each input but ``image`` is held at: zeros, or the mean of its rows in
    ``data`` (arrays named after the inputs).

    Raises:
        KinterpError: an unknown hold, an input of unknown size, or missing / misshapen data.
    """
    if hold not in HOLDS:
        raise KinterpError(f"--hold {hold}: expected one of {', '.join(HOLDS)}")
    held = {}
    for index, port in enumerate(inputs):
        if index == image:
            continue
        if None in port.shape:
            raise KinterpError(
                f"input {port} has a size the file does not fix, so kinterp cannot hold it; "
                "re-save the model with a fixed input shape"
            )
        if hold == "zeros":
            held[index] = np.zeros(port.shape, "float32")
            continue
        rows = data.get(port.name)
        if rows is None or tuple(np.shape(rows)[1:]) != port.shape or not len(rows):
            raise KinterpError(
                f"--hold mean needs an array {port.name!r} of shape (N, "
                f"{', '.join(map(str, port.shape))}) in the --data .npz; add it or pass "
                "--hold zeros"
            )
        held[index] = typical_value(np.asarray(rows))
    return held


def typical_value(rows: np.ndarray) -> np.ndarray:
    """What ``--hold mean`` holds an input at: the mean of its rows, or for integer rows
    (token ids, category codes, where a mean names nothing) each position's most frequent
    value."""
    if not np.issubdtype(rows.dtype, np.integer):
        return rows.astype("float64").mean(axis=0).astype("float32")
    flat = rows.reshape(len(rows), -1)
    modes = [np.bincount(column - column.min()).argmax() + column.min() for column in flat.T]
    return np.asarray(modes, dtype="float32").reshape(rows.shape[1:])


def held_descriptions(
    inputs: tuple[Port, ...], image: int, hold: str, data: dict[str, np.ndarray]
) -> tuple[tuple[str, str], ...]:
    """(input, how it is held) for every input but ``image``."""
    return tuple(
        (port.name, "zeros" if hold == "zeros" else _typical_text(np.asarray(data[port.name])))
        for index, port in enumerate(inputs)
        if index != image
    )


def _typical_text(rows: np.ndarray) -> str:
    kind = "most frequent value" if np.issubdtype(rows.dtype, np.integer) else "mean"
    return f"{kind} of {len(rows):,} rows"


def given_input_range(
    card: dict[str, Any] | None, options: LoadOptions
) -> tuple[tuple[float, float], str] | None:
    """The input range --input-range or else the model card gives, and which; None when
    neither does (it is then read from the layers)."""
    if options.input_range is not None:
        return options.input_range, "--input-range"
    if card and "input_range" in card:
        low, high = card["input_range"]
        return (float(low), float(high)), "model card"
    return None


def _input_range(
    network: Any, card: dict[str, Any] | None, options: LoadOptions
) -> tuple[tuple[float, float], str]:
    """(low, high) and where it came from: --input-range, the card, the layers, or 0-1."""
    given = given_input_range(card, options)
    if given is not None:
        return given
    inferred = infer_input_range(network)
    if inferred is not None:
        return (inferred.low, inferred.high), inferred.source
    return (0.0, 1.0), DEFAULT_RANGE_SOURCE


def logits_view(model: Any, info: ModelInfo) -> Any:
    """A model with the same weights whose last activation is linear.

    For a softmax output these are the pre-softmax logits; for a sigmoid, the pre-sigmoid
    values. A SavedModel has no inner layers: its outputs are returned as they are.
    """
    import keras

    if info.output_activation in ("linear", "other") or not info.has_layers:
        return model
    last = output_layer(model.outputs[0])
    if type(last).__name__ in ("Softmax", "Activation"):
        return keras.Model(model.inputs[0], last.input)
    config = dict(last.get_config(), activation="linear", name=f"{last.name}_logits")
    linear = type(last).from_config(config)
    outputs = linear(last.input)
    linear.set_weights(last.get_weights())
    return keras.Model(model.inputs[0], outputs)
