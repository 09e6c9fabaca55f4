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
from kinterp.loading.modelfile import classify, read_config, sha256_of
from kinterp.loading.modelsize import check_parameter_memory
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
        layers: the layer table (empty for a SavedModel).
        card: the zoo model card, or None for a model file.
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
        }


class LoadedModel:
    """A Keras model with its :class:`ModelInfo` and input conversions."""

    def __init__(self, keras_model: Any, info: ModelInfo):
        self.keras_model = keras_model
        self.info = info
        self._logits: Any = None
        self._features: dict[str, Any] = {}
        self._calls: dict[str | None, Any] = {}

    def require_image(self) -> tuple[int, int, int]:
        """The (H, W, C) image geometry, or a one-line error if the input is not image-like."""
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
        """A layer by name, or a one-line error naming the close matches."""
        if not self.info.has_layers:
            raise KinterpError(
                f"{self.info.name} is a SavedModel: it loads as one opaque layer with no inner "
                "layers; use a .keras or .h5 file for layer-level analysis"
            )
        names = [row.name for row in self.info.layers]
        if name not in names:
            close = difflib.get_close_matches(name, names, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else f"layers: {', '.join(names)}"
            raise KinterpError(f"unknown layer {name!r}; {hint} (see: kinterp inspect MODEL)")
        return self.keras_model.get_layer(name)


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


def load_model(spec: str, options: LoadOptions | None = None) -> LoadedModel:
    """Load a zoo model or a model file safely and describe it.

    Args:
        spec: a zoo name (``mnist-cnn``) or a path to .keras, .h5 or a SavedModel directory.
        options: the opt-ins (``unsafe``, ``custom_objects``) and overrides.

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
    info = describe(model, name=name, path=path, fmt=fmt, card=card, options=options)
    return LoadedModel(model, info)


def load_alongside(model: LoadedModel, specs: list[str], option: str) -> dict[str, LoadedModel]:
    """More models to run beside ``model`` (``--compare``, ``--also``), by name: each loaded in
    safe mode and checked to take the same images (a taken name is replaced by its spec).

    Raises:
        KinterpError: a model that does not load, or takes images of another shape.
    """
    chosen: dict[str, LoadedModel] = {}
    for spec in specs:
        other = load_model(spec)
        if other.info.image_shape != model.info.image_shape:
            raise KinterpError(
                f"{option} {spec} takes {other.info.image_shape} images but {model.info.name} "
                f"takes {model.info.image_shape}; pick a model of the same data"
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


def activation_name(layer: Any) -> str:
    """A layer's activation as a name (``relu``, ``softmax``...), or "" if it has none."""
    kind = type(layer).__name__
    if kind == "Softmax":
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return ""
    return getattr(activation, "__name__", str(activation))


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


def _layer_table(model: Any) -> tuple[LayerRow, ...]:
    rows = []
    for layer in model.layers:
        kind = type(layer).__name__
        try:
            out = str(tuple(layer.output.shape))
        except (AttributeError, ValueError):
            out = ""
        size = getattr(layer, "units", None) or getattr(layer, "filters", None) or ""
        rows.append(
            LayerRow(layer.name, kind, out, activation_name(layer), str(size), layer.count_params())
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
) -> ModelInfo:
    """Build the :class:`ModelInfo` of a loaded Keras model."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise KinterpError(
            f"{name} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
            "kinterp analyses models with one image input and one output"
        )
    input_shape = tuple(model.inputs[0].shape[1:])
    layers = _layer_table(model) if fmt != "savedmodel" else ()
    activation = activation_name(model.layers[-1]) if fmt != "savedmodel" else "other"
    if activation not in ("softmax", "sigmoid", "linear"):
        activation = "other"
    num_outputs = int(model.outputs[0].shape[-1])
    input_range = options.input_range or tuple((card or {}).get("input_range", (0.0, 1.0)))
    lo, hi = (float(v) for v in input_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise KinterpError(f"input range {lo:g},{hi:g} is not LO<HI; pass --input-range LO,HI")
    class_names = tuple((card or {}).get("class_names", [str(i) for i in range(num_outputs)]))
    return ModelInfo(
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
    )


def logits_view(model: Any, info: ModelInfo) -> Any:
    """A model with the same weights whose last activation is linear.

    For a softmax output these are the pre-softmax logits; for a sigmoid, the pre-sigmoid
    values. A SavedModel has no inner layers: its outputs are returned as they are.
    """
    import keras

    if info.output_activation in ("linear", "other") or not info.has_layers:
        return model
    last = model.layers[-1]
    if type(last).__name__ in ("Softmax", "Activation"):
        return keras.Model(model.inputs[0], last.input)
    config = dict(last.get_config(), activation="linear", name=f"{last.name}_logits")
    linear = type(last).from_config(config)
    outputs = linear(last.input)
    linear.set_weights(last.get_weights())
    return keras.Model(model.inputs[0], outputs)
