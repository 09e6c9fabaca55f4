"""The input range a model expects, read from the preprocessing layers at its input.

A model that starts with ``Rescaling(1/255)`` expects pixel values 0-255, one that starts with
``Rescaling(1/127.5, offset=-1)`` also 0-255 (mapped to [-1, 1]), one that starts with
``Normalization(mean, variance)`` the range its statistics were taken in. The leading chain of
``Rescaling`` / ``Normalization`` layers (after any augmentation layers, identity at inference)
is composed into one affine map ``a * x + b`` and the range is the one that map sends to what
the network after it was trained on:

- ends with ``Rescaling``: pixels start at 0 (black), so the candidates are [0, 1], [0, 255]
  and [0, 65535]; an offset beyond 2 in size (``offset=-mean`` of 0-255 data) means 0-255,
  otherwise the candidate the map sends to a span nearest 1.5 (a width of 1 for [0, 1], 2 for
  [-1, 1]) is taken;
- ends with ``Normalization``: [0, 255] when the raw data's mean or standard deviation that the
  statistics imply is above 1, else [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

PREPROCESSING = ("Rescaling", "Normalization")
SKIPPED = ("InputLayer", "HeldInput")  # read nothing of the image's values
# identity at inference (augmentation, noise, dropout) or moving pixels without changing their
# values: the preprocessing after them still reads the raw range
PASSED = (
    "Resizing",
    "CenterCrop",
    "Reshape",
    "AugMix",
    "RandAugment",
    "CutMix",
    "MixUp",
    "GaussianNoise",
    "GaussianDropout",
    "Dropout",
)


@dataclass(frozen=True)
class InferredRange:
    """A range read from the model, and the layers it was read from."""

    low: float
    high: float
    source: str


def infer_input_range(model: Any) -> InferredRange | None:
    """The input range implied by ``model``'s leading preprocessing layers (None: there are
    none, or they are not an increasing affine map kinterp can read)."""
    scale, offset = np.ones(1), np.zeros(1)
    current, used, ends_normalised = model.inputs[0], [], False
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in SKIPPED or not _reads(layer, current):
            continue
        if kind in PASSED or kind.startswith("Random"):
            current = layer.output
            continue
        if kind not in PREPROCESSING:
            break
        step = _affine(layer)
        if step is None:
            break
        scale, offset = scale * step[0], offset * step[0] + step[1]
        current, ends_normalised = layer.output, kind == "Normalization"
        used.append(f"{kind} {layer.name!r}")
    return affine_range(scale, offset, ends_normalised, used)


def affine_range(
    scale: np.ndarray, offset: np.ndarray, ends_normalised: bool, used: list[str]
) -> InferredRange | None:
    """The range that the composed ``scale * x + offset`` of the layers ``used`` was made
    for (None: no layer, or a map that is not increasing)."""
    if not used or np.any(scale <= 0):
        return None
    a, b = float(np.mean(scale)), float(np.mean(offset))
    if ends_normalised:
        mean, std = -b / a, 1 / a
        low, high = (0.0, 255.0) if max(mean, std) > 1.0 else (0.0, 1.0)
    else:
        low, high = 0.0, _rescaled_high(a, b)
    return InferredRange(_tidy(low), _tidy(high), "inferred from " + " + ".join(used))


WHITES = (1.0, 255.0, 65535.0)  # the white of float, 8-bit and 16-bit images


def _rescaled_high(scale: float, offset: float) -> float:
    """The white level of raw pixels that a ``scale * x + offset`` rescaling was made for."""
    if abs(offset) > 2.0:
        return 255.0
    return min(WHITES, key=lambda white: abs(np.log(scale * white / 1.5)))


def _reads(layer: Any, tensor: Any) -> bool:
    """True when ``layer`` is called on ``tensor`` (False for a layer called more than once)."""
    import keras

    try:
        inputs = keras.tree.flatten(layer.input)
    except (AttributeError, ValueError):
        return False
    return any(x is tensor for x in inputs)


def rescaling(config: dict) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset) per channel of a Rescaling layer's config."""
    scale = np.atleast_1d(np.asarray(config.get("scale", 1.0), dtype="float64"))
    offset = np.atleast_1d(np.asarray(config.get("offset", 0.0), dtype="float64"))
    return scale.ravel(), offset.ravel()


def _affine(layer: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, offset) per channel of a Rescaling or (non-inverted) Normalization layer."""
    config = layer.get_config()
    if type(layer).__name__ == "Rescaling":
        return rescaling(config)
    if config.get("invert"):
        return None
    mean = getattr(layer, "mean", None)
    variance = getattr(layer, "variance", None)
    if mean is None or variance is None:
        return None
    mean = np.asarray(mean, dtype="float64").ravel()
    std = np.sqrt(np.maximum(np.asarray(variance, dtype="float64").ravel(), 1e-12))
    return 1.0 / std, -mean / std


def _tidy(value: float) -> float:
    """``value`` to 6 significant digits (1/(1/255) in float32 is 255.00001)."""
    return float(f"{value:.6g}")
