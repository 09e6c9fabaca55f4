"""Transforms applied to the image the network sees, inside the graph, never written back.

A transform is ``fn(images, step) -> images`` on (N, H, W, C) tensors; ``step`` is the int64
step counter, used to derive stateless random numbers so runs are reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kinterp.errors import KinterpError

Transform = Callable[[Any, Any], Any]


def jitter(pixels: int, seed: int = 0) -> Transform:
    """Roll the whole batch by a random offset of up to ``pixels`` in each direction."""

    def fn(images: Any, step: Any) -> Any:
        import tensorflow as tf

        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)])
        shift = tf.random.stateless_uniform(
            [2], key, minval=-pixels, maxval=pixels + 1, dtype=tf.int32
        )
        return tf.roll(images, shift=shift, axis=[1, 2])

    return fn


def blur(sigma: float, channels: int) -> Transform:
    """Gaussian blur with standard deviation ``sigma`` pixels (edges padded by reflection)."""
    radius = max(1, math.ceil(2 * sigma))
    weights = [math.exp(-(i * i) / (2 * sigma * sigma)) for i in range(-radius, radius + 1)]
    total = sum(weights)
    taps = [w / total for w in weights]

    def fn(images: Any, step: Any) -> Any:
        import tensorflow as tf

        kernel_1d = tf.constant(taps, tf.float32)
        kernel = tf.tensordot(kernel_1d, kernel_1d, axes=0)[:, :, None, None]
        kernel = tf.tile(kernel, [1, 1, channels, 1])
        padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT")
        return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")

    return fn


def rotate_scale(
    max_degrees: float, max_scale: float, shape: tuple[int, int, int], seed: int = 0
) -> Transform:
    """Rotate by up to ``max_degrees`` and scale by up to ``1 +- max_scale`` about the centre,
    a new random draw every step (bilinear, edges reflected)."""
    height, width = shape[:2]
    cy, cx = (height - 1) / 2, (width - 1) / 2

    def fn(images: Any, step: Any) -> Any:
        import tensorflow as tf

        key = tf.stack([tf.constant(seed + 1, tf.int64), tf.cast(step, tf.int64)])
        draw = tf.random.stateless_uniform([2], key, minval=-1.0, maxval=1.0)
        angle = draw[0] * (max_degrees * math.pi / 180.0)
        zoom = 1.0 + draw[1] * max_scale
        cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
        # output (x, y) reads input (cos*x' - sin*y' + cx, sin*x' + cos*y' + cy), x' = x - cx
        matrix = tf.stack(
            [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0]
        )
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=matrix[None, :],
            output_shape=tf.constant([height, width]),
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="REFLECT",
        )

    return fn


def view_transforms(
    jitter_px: int, blur_sigma: float, shape: tuple[int, int, int], seed: int
) -> tuple[Transform, ...]:
    """The ``--jitter`` and ``--blur`` transforms of what the network sees (none if both 0).

    Raises:
        KinterpError: a blur or jitter too wide for the image.
    """
    chosen = []
    side = min(shape[:2])
    if jitter_px:
        if jitter_px >= side:
            raise KinterpError(
                f"--jitter {jitter_px} is too wide for {shape[0]}x{shape[1]} images; "
                f"use less than {side}"
            )
        chosen.append(jitter(jitter_px, seed))
    if blur_sigma:
        if math.ceil(2 * blur_sigma) >= side:
            raise KinterpError(
                f"--blur {blur_sigma:g} is too wide for {shape[0]}x{shape[1]} images; "
                f"use less than {side / 2:g}"
            )
        chosen.append(blur(blur_sigma, shape[-1]))
    return tuple(chosen)
