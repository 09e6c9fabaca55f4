"""Objectives: a per-row scalar of a batch of images, composable with ``+``, ``-`` and ``*``.

An objective is called inside the compiled graph with ``(image, view)``: ``image`` is the batch
being optimised (N, H, W, C) in [0, 1] (what regularisers look at) and ``view`` the same batch
after the transforms (what the network sees). It returns one value per row, shape (N,).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Fn = Callable[[Any, Any], Any]


class Objective:
    """A per-row objective; ``a - 0.01 * b`` is an objective too.

    Args:
        fn: ``fn(image, view) -> (N,)`` tensor, traced inside the engine's graph.
        name: a short description for reports.
    """

    __array_ufunc__ = None  # ``weights_array * objective`` calls __rmul__, not numpy

    def __init__(self, fn: Fn, name: str):
        self.fn = fn
        self.name = name

    def __call__(self, image: Any, view: Any) -> Any:
        return self.fn(image, view)

    def __add__(self, other: Objective | float) -> Objective:
        if not isinstance(other, Objective):
            return Objective(lambda i, v: self(i, v) + other, f"{self.name} + {other}")
        return Objective(lambda i, v: self(i, v) + other(i, v), f"{self.name} + {other.name}")

    __radd__ = __add__

    def __neg__(self) -> Objective:
        return Objective(lambda i, v: -self(i, v), f"-({self.name})")

    def __sub__(self, other: Objective | float) -> Objective:
        return self + (-other)

    def __rsub__(self, other: float) -> Objective:
        return (-self) + other

    def __mul__(self, weight: float | Sequence[float] | np.ndarray) -> Objective:
        """Scale by a number, or by one weight per batch row (a sweep axis of the batch)."""
        if isinstance(weight, Objective):
            return NotImplemented
        if np.ndim(weight) == 0:
            return Objective(lambda i, v: weight * self(i, v), f"{weight} * {self.name}")
        weights = np.asarray(weight, dtype="float32").reshape(-1)
        distinct = ", ".join(f"{w:g}" for w in dict.fromkeys(weights.tolist()))
        return Objective(
            lambda i, v: _constant(weights) * self(i, v), f"[{distinct}] * {self.name}"
        )

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"Objective({self.name})"


def _constant(values: np.ndarray) -> Any:
    """A float32 constant of the graph being traced."""
    import tensorflow as tf

    return tf.constant(values, tf.float32)


def channel(model: Any, targets: Sequence[int], to_input: Callable[[Any], Any]) -> Objective:
    """Row ``i`` maximises channel ``targets[i]`` of ``model``'s output.

    Outputs of rank 2 (classes, dense units) are gathered directly; for higher ranks (conv
    feature maps) the spatial mean of the channel is used.

    Args:
        model: a Keras model (or any callable) from model inputs to one output tensor.
        targets: one channel index per batch row.
        to_input: maps the image view (N, H, W, C) in [0, 1] to the model's input tensor.
    """
    index = [int(t) for t in targets]

    def fn(image: Any, view: Any) -> Any:
        import tensorflow as tf

        out = model(to_input(view), training=False)
        if isinstance(out, dict):
            out = next(iter(out.values()))
        out = tf.convert_to_tensor(out)
        if out.shape.rank > 2:
            out = tf.reduce_mean(out, axis=list(range(1, out.shape.rank - 1)))
        return tf.gather(out, tf.constant(index, tf.int32), axis=1, batch_dims=1)

    return Objective(fn, "channel")
