"""The two layers the analysed view adds to a model (see :mod:`kinterp.loading.view`).

Imports Keras: load it only where a view is built.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="kinterp")
class HeldInput(keras.layers.Layer):
    """A constant input: ``value`` repeated for every row of the (image) tensor it is called
    on. Stands in for the inputs a technique does not vary."""

    def __init__(self, value: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.value = np.asarray(value, dtype="float32")

    def call(self, image: Any) -> Any:
        batch = keras.ops.shape(image)[0]
        value = keras.ops.convert_to_tensor(self.value)
        return keras.ops.broadcast_to(value[None], (batch, *self.value.shape))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0], *self.value.shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value": self.value.tolist()}


@keras.saving.register_keras_serializable(package="kinterp")
class TwoClassLogits(keras.layers.Layer):
    """``z`` (N, 1) -> ``[-z/2, z/2]``: logits whose softmax is ``[1 - sigmoid(z), sigmoid(z)]``."""

    def call(self, logit: Any) -> Any:
        return keras.ops.concatenate([-0.5 * logit, 0.5 * logit], axis=-1)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (*input_shape[:-1], 2)
