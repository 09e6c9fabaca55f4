"""What a batch row optimises: an output class, a dense unit or a conv filter of a layer.

Target selection is checked against the model here, once, with one-line errors that name
the valid range or the close layer names; :func:`objective` turns the chosen targets into
the per-row objective the engine maximises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from kinterp.errors import KinterpError
from kinterp.loading.models import LoadedModel
from kinterp.toolkit.optimize.objectives import Objective, channel

MAX_DEFAULT_UNITS = 64  # a layer (or output) with more units needs an explicit selection

Source = Literal["logit", "probability"]


@dataclass(frozen=True)
class Targets:
    """The targets of a batch.

    Attributes:
        indices: class, unit or filter indices, in the order chosen.
        labels: one label per target, for reports ("class 3", "conv2 filter 5").
        layer: the layer whose units are optimised; None for output classes.
        kind: ``class``, ``unit`` (a dense unit) or ``filter`` (a conv channel).
    """

    indices: list[int]
    labels: list[str]
    layer: str | None
    kind: str

    @property
    def is_class(self) -> bool:
        """True when the targets are output classes."""
        return self.layer is None


def check_indices(
    values: Sequence[int] | None, count: int, what: str, option: str = ""
) -> list[int]:
    """``values`` without duplicates, in order (all of 0..count-1 if None).

    The one check of class, unit and filter indices.

    Args:
        values: the indices asked for, or None for all.
        count: how many there are.
        what: what they index, plural, e.g. "classes of mnist-cnn".
        option: the option that gave them (e.g. "--classes"), named in the error.

    Returns:
        The indices, duplicates dropped.

    Raises:
        KinterpError: a value outside 0..count-1, naming the option, ``what`` and the range.
    """
    if values is None:
        return list(range(count))
    for value in values:
        if not 0 <= value < count:
            given = f"{option} {value}" if option else str(value)
            raise KinterpError(f"{given} is out of range: there are {count} {what} (0-{count - 1})")
    return list(dict.fromkeys(values))


def layer_units(model: LoadedModel, layer: str) -> tuple[int, str]:
    """(how many units, ``unit`` or ``filter``) of a named layer.

    Raises:
        KinterpError: an unknown layer (with "did you mean") or a SavedModel.
    """
    shape = model.layer(layer).output.shape
    return int(shape[-1]), ("filter" if len(shape) > 2 else "unit")


def class_targets(
    model: LoadedModel,
    classes: Sequence[int] | None,
    source: Source = "logit",
    option: str = "--classes",
    most: int = MAX_DEFAULT_UNITS,
) -> Targets:
    """Output classes to optimise (all when None, up to ``most``).

    Raises:
        KinterpError: an index out of range, too many classes to take all, or no logits.
    """
    info = model.info
    if source == "logit" and not model.has_logits:
        raise KinterpError(
            f"{info.name} has no logits to optimise (its final activation is unknown); "
            "use --objective probability"
        )
    if classes is None and info.num_outputs > most:
        raise KinterpError(
            f"{info.name} has {info.num_outputs} classes; pick some with {option} 0,5,7"
        )
    chosen = check_indices(classes, info.num_outputs, f"classes of {info.name}", option)
    return Targets(chosen, [f"class {info.class_name(c)}" for c in chosen], None, "class")


def layer_targets(
    model: LoadedModel,
    layer: str,
    units: Sequence[int] | None,
    option: str = "--units",
    most: int | None = MAX_DEFAULT_UNITS,
) -> Targets:
    """Dense units or conv filters of ``layer`` (all when None, up to ``most`` unless None).

    Raises:
        KinterpError: an unknown layer, an index out of range, or too many units to take all.
    """
    count, kind = layer_units(model, layer)
    chosen = check_indices(units, count, f"{kind}s of layer {layer}", option)
    if units is None and most is not None and count > most:
        raise KinterpError(f"layer {layer} has {count} {kind}s; pick some with {option} 0,5,7")
    return Targets(chosen, [f"{layer} {kind} {u}" for u in chosen], layer, kind)


def objective(
    model: LoadedModel, targets: Targets, row_target: Sequence[int], source: Source = "logit"
) -> Objective:
    """Row ``i`` maximises target ``row_target[i]``: a logit, a probability or a unit's mean.

    Conv filters use the spatial mean of their channel; dense units their output.
    """
    if targets.layer is not None:
        network = model.feature_model(targets.layer)
    elif source == "probability":
        network = model.probability_model()
    else:
        network = model.logits_model
    return channel(network, np.asarray(row_target), model.to_input_tensor)


def unit_objective(
    model: LoadedModel, layer: str, row_unit: Sequence[int], neuron: str = "mean"
) -> Objective:
    """Row ``i`` maximises unit ``row_unit[i]`` of ``layer`` (feature visualisation).

    A Dense unit is scored before its activation (a saturated or dead relu still has a
    gradient there); a conv filter by the mean of its activated channel over space, or with
    ``neuron="centre"`` by its centre position. Other layers use their output.
    """
    keras_layer = model.layer(layer)
    index = np.asarray(row_unit, dtype="int64")
    _, kind = layer_units(model, layer)
    if kind == "unit" and type(keras_layer).__name__ == "Dense":
        return _dense_preactivation(model, keras_layer, index)
    if kind == "filter" and _sliceable(keras_layer):
        return _conv_slice(model, keras_layer, index, neuron)
    if kind == "filter" and neuron == "centre":
        return _centre(model, model.feature_model(layer), index)
    return channel(model.feature_model(layer), index, model.to_input_tensor)


def _dense_preactivation(model: LoadedModel, layer, index: np.ndarray) -> Objective:
    import keras

    below = keras.Model(model.keras_model.inputs[0], layer.input)
    kernel, *bias = layer.get_weights()
    columns = kernel[:, index].T.astype("float32")  # (rows, inputs)
    offset = (bias[0][index] if bias else np.zeros(len(index))).astype("float32")

    def fn(image, view):
        import tensorflow as tf

        hidden = tf.reshape(below(model.to_input_tensor(view), training=False), [len(index), -1])
        return tf.reduce_sum(hidden * columns, axis=1) + offset

    return Objective(fn, "pre-activation")


def _centre(model: LoadedModel, network, index: np.ndarray) -> Objective:
    def fn(image, view):
        import tensorflow as tf

        out = network(model.to_input_tensor(view), training=False)
        middle = out[:, out.shape[1] // 2, out.shape[2] // 2, :]
        return tf.gather(middle, tf.constant(index, tf.int32), axis=1, batch_dims=1)

    return Objective(fn, "centre neuron")


def _sliceable(layer) -> bool:
    """A plain channels-last Conv2D: its filters can be evaluated one per row."""
    if type(layer).__name__ != "Conv2D":
        return False
    config = layer.get_config()
    return (
        config.get("data_format", "channels_last") == "channels_last"
        and config.get("groups", 1) == 1
    )


def _conv_slice(model: LoadedModel, layer, index: np.ndarray, neuron: str) -> Objective:
    """Row ``i`` computes only filter ``index[i]`` of a Conv2D (its weights times the image
    patches under it), not all of the layer's filters: the same value as the layer's output
    channel, at a fraction of the work when a layer has many filters."""
    import keras

    below = keras.Model(model.keras_model.inputs[0], layer.input)
    kernel, *bias = layer.get_weights()
    config = layer.get_config()
    rows, cols = config["kernel_size"]
    offset = (bias[0][index] if bias else np.zeros(len(index))).astype("float32")
    strides = [1, *config["strides"], 1]
    rates = [1, *config["dilation_rate"], 1]
    padding = config["padding"].upper()
    activation = keras.activations.get(config["activation"])

    filters = kernel[..., index]  # (k, k, c, rows)
    depthwise = np.transpose(filters, (0, 1, 3, 2)).reshape(rows, cols, -1, 1).astype("float32")

    def fn(image, view):
        import tensorflow as tf

        hidden = below(model.to_input_tensor(view), training=False)  # (n, h, w, c)
        n, h, w, c = (tf.shape(hidden)[i] for i in range(4))
        # Each row's own filter: the batch becomes channels of one depthwise convolution.
        stacked = tf.reshape(tf.transpose(hidden, [1, 2, 0, 3]), [1, h, w, n * c])
        out = tf.nn.depthwise_conv2d(stacked, depthwise, strides, padding, dilations=rates[1:3])
        out = tf.reduce_sum(tf.reshape(out, [tf.shape(out)[1], tf.shape(out)[2], n, c]), -1)
        out = activation(tf.transpose(out, [2, 0, 1]) + offset[:, None, None])
        if neuron == "centre":
            return out[:, out.shape[1] // 2, out.shape[2] // 2]
        return tf.reduce_mean(out, axis=[1, 2])

    return Objective(fn, "filter")
