"""Colour digits: the bundled mnist-5k digits as 32x32 RGB images, colourised deterministically.

Each grey digit (28x28, ink 1 on 0) is padded to 32x32 and painted with a background colour
and an ink colour drawn for it from a seeded generator, as ``ink * digit + background * (1 -
digit)``: the digit is recoverable from any image as ``|image - background| / |ink -
background|`` in any channel where the two colours differ. A pair is kept only when its
luminances (ITU-R BT.601, 0.299R + 0.587G + 0.114B) differ by at least :data:`MIN_CONTRAST`,
so every digit stays visible. The result is the named dataset ``mnist-rgb`` (same 4,000 /
1,000 split as mnist-5k), the data of the zoo's RGB model. This module is a core plugin.
Numpy only: nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from kinterp.data.datasets import Dataset, DatasetSpec, load_mnist_5k
from kinterp.hookspecs import hookimpl

SIZE = 32
"""Height and width of a colour digit: the 28x28 digit with 2 background pixels on each side."""
MIN_CONTRAST = 0.4
"""Smallest luminance difference between a digit's ink and its background."""
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)
"""ITU-R BT.601 luma weights of R, G and B."""
SEED = 20250122
"""The seed of the ``mnist-rgb`` colours; the training and held-out parts draw from it apart."""


@dataclass(frozen=True, eq=False)
class ColourDigits:
    """Colourised digits and the colours each was painted with.

    Attributes:
        images: float32 ``(N, 32, 32, 3)`` in [0, 1].
        background: float64 ``(N, 3)``, each image's background colour in [0, 1].
        ink: float64 ``(N, 3)``, each image's ink colour in [0, 1].
    """

    images: np.ndarray
    background: np.ndarray
    ink: np.ndarray


def luminance(colours: np.ndarray) -> np.ndarray:
    """BT.601 luminance of RGB colours in [0, 1], shaped ``(..., 3)`` -> ``(...)``."""
    return np.asarray(colours, dtype=np.float64) @ LUMA


def colour_pairs(
    count: int, rng: np.random.Generator, min_contrast: float = MIN_CONTRAST
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` (background, ink) pairs, uniform in the RGB cube, with enough contrast.

    Pairs whose luminances differ by less than ``min_contrast`` are drawn again (about one in
    seven passes at 0.4), so the result depends only on ``count``, ``rng``'s state and
    ``min_contrast``.
    """
    if not 0.0 <= min_contrast < 1.0:
        raise ValueError(f"min_contrast must be in [0, 1), not {min_contrast}")
    background = np.empty((count, 3))
    ink = np.empty((count, 3))
    todo = np.arange(count)
    while len(todo):
        drawn = rng.random((2, len(todo), 3))
        good = np.abs(luminance(drawn[1]) - luminance(drawn[0])) >= min_contrast
        background[todo[good]], ink[todo[good]] = drawn[0, good], drawn[1, good]
        todo = todo[~good]
    return background, ink


def pad(digits: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Grey digits ``(N, H, W)`` or ``(N, H, W, 1)`` centred in ``size`` x ``size``, zero-padded.

    Returns float32 ``(N, size, size)``.
    """
    grey = np.asarray(digits, dtype=np.float32)
    if grey.ndim == 4 and grey.shape[-1] == 1:
        grey = grey[..., 0]
    if grey.ndim != 3:
        raise ValueError(f"expected grey digits (N, H, W) or (N, H, W, 1), not {digits.shape}")
    height, width = grey.shape[1:]
    if height > size or width > size:
        raise ValueError(f"digits of {height}x{width} do not fit in {size}x{size}")
    top, left = (size - height) // 2, (size - width) // 2
    out = np.zeros((len(grey), size, size), dtype=np.float32)
    out[:, top : top + height, left : left + width] = grey
    return out


def colourise(
    digits: np.ndarray, seed: int | list[int], min_contrast: float = MIN_CONTRAST
) -> ColourDigits:
    """Pad grey digits in [0, 1] to 32x32 and paint each with its own seeded colour pair.

    Args:
        digits: ``(N, H, W)`` or ``(N, H, W, 1)`` grey digits in [0, 1], H and W at most 32.
        seed: anything :func:`numpy.random.default_rng` takes; the same seed and digits give
            the same images.
        min_contrast: smallest luminance difference between ink and background.
    """
    grey = pad(digits)[..., None]
    background, ink = colour_pairs(len(grey), np.random.default_rng(seed), min_contrast)
    images = ink[:, None, None, :] * grey + background[:, None, None, :] * (1.0 - grey)
    return ColourDigits(np.clip(images, 0.0, 1.0).astype(np.float32), background, ink)


@functools.cache
def load_mnist_rgb() -> Dataset:
    """mnist-5k colourised: 4,000 training and 1,000 held-out 32x32 RGB digits (cached)."""
    grey = load_mnist_5k()
    test = colourise(grey.x_test, [SEED, 1])
    return replace(
        grey,
        name="mnist-rgb",
        x_train=colourise(grey.x_train, [SEED, 0]).images,
        x_test=test.images,
        split=f"held-out {len(test.images):,} of mnist-rgb (the mnist-5k split, colourised)",
    )


MNIST_RGB = DatasetSpec(
    "mnist-rgb",
    "mnist-5k colourised: 32x32 RGB, a random ink and background colour per digit"
    " (4,000 train / 1,000 held out)",
    load_mnist_rgb,
)


@hookimpl
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register ``mnist-rgb``."""
    register(MNIST_RGB)
