"""Regularisers: objectives computed on the optimised image itself (in [0, 1] image units).

Each is a per-row mean, so weights do not depend on the image size. The engine subtracts the
penalty it is given from the maximised objective (and adds it to a minimised one).
"""

from __future__ import annotations

import numpy as np

from kinterp.errors import KinterpError
from kinterp.toolkit.optimize.objectives import Objective


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


Weight = float | np.ndarray  # one weight for the batch, or one per row


def parse_lp(text: str) -> tuple[float, float] | None:
    """``"1:0.5"`` -> (p=1, weight=0.5); "" -> None (off).

    Raises:
        KinterpError: not P:W with a finite P > 0 and a finite W >= 0.
    """
    if not text.strip():
        return None
    p, sep, w = text.partition(":")
    try:
        power, weight = float(p), float(w)
    except ValueError:
        power = weight = -1.0
    if not sep or not (0 < power < 1e3) or not (0 <= weight < 1e9):
        raise KinterpError(f"--lp expects P:W such as 1:0.5 (P > 0, W >= 0), got {text!r}")
    return power, weight


def penalty(
    tv_weight: Weight = 0.0, l2_weight: Weight = 0.0, lp_term: tuple | None = None
) -> tuple[Objective | None, str]:
    """The sum of the TV, L2 and Lp penalties that are on, and its name; (None, "none") if off.

    Weights are numbers, or arrays with one weight per batch row: a sweep over penalty
    weights is then one more axis of the same batch, optimised in the same compiled call.
    """
    terms = []
    if np.any(np.asarray(tv_weight) != 0):
        terms.append(tv_weight * tv())
    if np.any(np.asarray(l2_weight) != 0):
        terms.append(l2_weight * l2())
    if lp_term is not None and lp_term[1]:
        power, weight = lp_term
        terms.append(weight * lp(power))
    if not terms:
        return None, "none"
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total, total.name
