"""The analysed view of a Keras model: one image input, one head, every layer addressable.

Models people bring are rarely the zoo's flat ``Sequential``: a transfer-learning model nests
its base as a sub-model, a model may take an image and a vector, or end in a class head and a
binary head. Techniques need a model from one image input to one output, with every layer on
the path reachable. :func:`analysed_view` builds it:

- nested ``Functional`` / ``Sequential`` sub-models are inlined (their layers are cloned with
  their weights into one flat graph, so each layer has exactly one call and
  ``layer.output`` / ``layer.input`` work as on a flat model); a layer is addressed by its
  path (``base/block_3_expand``), and by its bare name when that is unique;
- the inputs other than the image are held at fixed values (:class:`HeldInput`);
- a single-unit sigmoid head becomes a two-class softmax (class 1 is ``p``, class 0 is
  ``1 - p``; its logits are ``[-z/2, z/2]`` for the pre-sigmoid ``z``).

A model that needs none of this is used as it is (no copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

BINARY_LOGITS = "kinterp_two_class_logits"
BINARY_SOFTMAX = "kinterp_two_class"
HELD = "__held"  # suffix of a layer's clone that computes only from held inputs


@dataclass(frozen=True)
class LayerNode:
    """One layer of the model's tree: its path, Keras class and nested children."""

    path: str
    type: str
    children: tuple[LayerNode, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The node as JSON (children only for a nested model)."""
        node: dict[str, Any] = {"path": self.path, "type": self.type}
        if self.children:
            node["children"] = [child.as_dict() for child in self.children]
        return node


@dataclass(frozen=True)
class View:
    """The single-input single-output model techniques run, and how it was made.

    Attributes:
        model: the Keras model (the original when nothing had to change).
        names: layer path -> the name of that layer in ``model``, for every leaf layer.
        tree: the original model's layers, nested models with their children.
        binary: the head was a single sigmoid unit, now two classes.
    """

    model: Any
    names: dict[str, str]
    tree: tuple[LayerNode, ...]
    binary: bool


def is_nested_model(layer: Any) -> bool:
    """True for a layer that is itself a Keras model (Functional or Sequential)."""
    import keras

    return isinstance(layer, keras.Model)


def _leaf_layers(model: Any) -> list[Any]:
    """The model's own layers, without the InputLayers Keras lists for Functional models."""
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def layer_tree(model: Any, prefix: str = "") -> tuple[LayerNode, ...]:
    """The model's layers as a tree of paths (nested models have children)."""
    nodes = []
    for layer in _leaf_layers(model):
        path = prefix + layer.name
        children = layer_tree(layer, path + "/") if is_nested_model(layer) else ()
        nodes.append(LayerNode(path, type(layer).__name__, children))
    return tuple(nodes)


def leaf_paths(tree: tuple[LayerNode, ...]) -> list[str]:
    """Every non-model layer's path, depth first in layer order."""
    paths: list[str] = []
    for node in tree:
        paths.extend(leaf_paths(node.children) if node.children else [node.path])
    return paths


def activation_name(layer: Any) -> str:
    """A layer's activation as a name (``relu``, ``softmax``...), or "" if it has none."""
    kind = type(layer).__name__
    if kind == "Softmax":
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return ""
    return getattr(activation, "__name__", str(activation))


def output_layer(tensor: Any) -> Any:
    """The layer that produced a symbolic Keras tensor."""
    return tensor._keras_history.operation


def head_layer(tensor: Any) -> Any:
    """The layer that computed a symbolic Keras tensor: :func:`output_layer`, looked into
    when that is a nested model (a whole classifier wrapped as one layer)."""
    operation, _, index = tensor._keras_history
    while is_nested_model(operation):
        operation, _, index = operation.outputs[index]._keras_history
    return operation


BINARY_ACTIVATIONS = ("sigmoid", "linear", "")
"""A one-unit output with one of these is a two-class head: p = sigmoid(z), z the unit's
value (a linear unit is the logit of a model trained with ``from_logits=True``)."""


def is_binary_head(tensor: Any) -> bool:
    """A single-unit output: a sigmoid (a Dense/Conv activation or its own layer) or a bare
    logit."""
    return tensor.shape[-1] == 1 and activation_name(head_layer(tensor)) in BINARY_ACTIVATIONS


def analysed_view(
    model: Any, image_index: int, output_index: int, held: dict[int, np.ndarray]
) -> View:
    """The view of ``model`` from input ``image_index`` to output ``output_index``.

    Args:
        model: the loaded Keras model.
        image_index: which of ``model.inputs`` is the image.
        output_index: which of ``model.outputs`` is analysed.
        held: input index -> the value (one example, no batch axis) it is held at.
    """
    tree = layer_tree(model)
    paths = leaf_paths(tree)
    nested = any(node.children for node in tree)
    chosen = model.outputs[output_index]
    binary = _is_binary_output(chosen)
    single = len(model.inputs) == 1 and len(model.outputs) == 1
    if single and not nested and not binary:
        return View(model, {path: path for path in paths}, tree, binary=False)
    import keras

    bare = [path.rsplit("/", 1)[-1] for path in paths]
    names = {
        p: (b if bare.count(b) == 1 else p.replace("/", "__"))
        for p, b in zip(paths, bare, strict=True)
    }
    from kinterp.loading.viewlayers import HeldInput

    image = keras.Input(tuple(model.inputs[image_index].shape[1:]), name="image")
    feeds = [
        image if index == image_index else HeldInput(held[index], name=f"held_{index}")(image)
        for index in range(len(model.inputs))
    ]
    inliner = _Inliner(names, held=[feed for feed in feeds if feed is not image])
    outputs = keras.tree.flatten(inliner.call_model(model, feeds if len(feeds) > 1 else image, ""))
    output = outputs[output_index]
    if binary:
        output = _two_class(output)
    view = keras.Model(image, output, name=f"{model.name}_view")
    kept = {layer.name for layer in view.layers}
    names = {p: n if n in kept else n + HELD for p, n in names.items()}
    return View(view, {p: n for p, n in names.items() if n in kept}, tree, binary)


def _is_binary_output(output: Any) -> bool:
    """:func:`is_binary_head`, False for an output whose layer history Keras does not keep."""
    try:
        return is_binary_head(output)
    except AttributeError:
        return False


def _two_class(output: Any) -> Any:
    """Softmax over ``[-z/2, z/2]`` for the logit ``z`` of a one-unit output (the input of
    its sigmoid, or the unit itself when it has none)."""
    import keras

    from kinterp.loading.viewlayers import TwoClassLogits

    layer = output_layer(output)
    if activation_name(head_layer(output)) != "sigmoid":
        logit = output
    elif type(layer).__name__ == "Activation":
        logit = layer.input
    else:
        config = dict(layer.get_config(), activation="linear", name=f"{layer.name}_logit")
        linear = type(layer).from_config(config)
        logit = linear(layer.input)
        linear.set_weights(layer.get_weights())
    pair = TwoClassLogits(name=BINARY_LOGITS)(logit)
    return keras.layers.Softmax(name=BINARY_SOFTMAX)(pair)


class _Inliner:
    """Calls a model's graph on new tensors with every nested model's layers inlined, each
    layer replaced by a clone (same config, same weights) named by ``names``.

    A layer called both on the image's path and on held inputs only (a siamese base, the image
    on one side) gets a second clone, named with :data:`HELD`, for the held calls: the named
    clone then has one call, the image's, so its ``output`` is what the image makes of it.
    """

    def __init__(self, names: dict[str, str], held: list[Any]):
        self.names = names
        self.clones: dict[tuple[int, bool], Any] = {}
        self.constant = {id(tensor) for tensor in held}  # tensors the image does not reach

    def call_model(self, model: Any, inputs: Any, prefix: str) -> Any:
        """``model`` applied to symbolic ``inputs``, inlined."""
        import keras

        def call(layer: Any, *args: Any, **kwargs: Any) -> Any:
            return self.call_layer(layer, prefix + layer.name, args, kwargs)

        if isinstance(model, keras.Sequential):
            x = inputs
            for layer in _leaf_layers(model):
                x = call(layer, x)
            return x
        return model._run_through_graph(inputs, operation_fn=lambda op: op, call_fn=call)

    def call_layer(self, layer: Any, path: str, args: tuple, kwargs: dict) -> Any:
        """One layer call: a nested model is inlined, any other layer cloned and called."""
        if is_nested_model(layer):
            return self.call_model(layer, args[0] if len(args) == 1 else list(args), path + "/")
        import keras

        tensors = [
            t for t in keras.tree.flatten((args, kwargs)) if isinstance(t, keras.KerasTensor)
        ]
        held = bool(tensors) and all(id(t) in self.constant for t in tensors)
        clone = self.clones.get((id(layer), held))
        if clone is None:
            config = dict(layer.get_config(), name=self.names[path] + (HELD if held else ""))
            clone = type(layer).from_config(config)
            output = clone(*args, **kwargs)
            clone.set_weights(layer.get_weights())
            if hasattr(clone, "finalize_state"):
                # state kept outside its weights (an adapted Normalization's mean and variance)
                # is derived from them here, as Keras does when it loads a file
                clone.finalize_state()
            self.clones[(id(layer), held)] = clone
        else:
            output = clone(*args, **kwargs)
        if held:
            self.constant.update(id(t) for t in keras.tree.flatten(output))
        return output
