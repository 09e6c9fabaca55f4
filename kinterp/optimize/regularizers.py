"""Regularisers: objectives computed on the optimised image itself (in [0, 1] image units).

Each is a per-row mean, so weights do not depend on the image size. The engine subtracts the
penalty it is given from the maximised objective (and adds it to a minimised one).
"""

from __future__ import annotations

from kinterp.optimize.objectives import Objective


def tv() -> Objective:
    """Total variation: mean absolute difference between neighbouring pixels (0 for flat)."""

    def fn(image, view):
        import tensorflow as tf

        dy = tf.abs(image[:, 1:, :, :] - image[:, :-1, :, :])
        dx = tf.abs(image[:, :, 1:, :] - image[:, :, :-1, :])
        return tf.reduce_mean(dy, axis=[1, 2, 3]) + tf.reduce_mean(dx, axis=[1, 2, 3])

    return Objective(fn, "tv")


def lp(p: float) -> Objective:
    """Mean ``|x|^p`` of the image (0 = the bottom of the input range: black background)."""
    if p <= 0:
        raise ValueError(f"p must be positive, not {p}")

    def fn(image, view):
        import tensorflow as tf

        return tf.reduce_mean(tf.pow(tf.abs(image) + 1e-12, p), axis=[1, 2, 3])

    return Objective(fn, f"l{p:g}")


def l2() -> Objective:
    """Mean squared pixel value (the classic L2 decay of Simonyan et al.)."""

    def fn(image, view):
        import tensorflow as tf

        return tf.reduce_mean(tf.square(image), axis=[1, 2, 3])

    return Objective(fn, "l2")
