"""Prepare a user's own image files (say, photos of handwriting) for a model.

Pillow and numpy only: nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import stat
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 50_000_000
INK_CONTRAST = 32  # grey levels between background and the brightest pixel to count as ink


class BadImage(Exception):
    """A file that cannot be used as an image; ``str()`` is the one-line reason."""


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """An image file prepared for a model, plus what was done to it.

    Attributes:
        original: the file as RGB uint8 ``(H, W, 3)``, alpha composited onto white.
        pixels: float32 ``(height, width, channels)`` in [0, 1], ready to scale to the model's
            input range; grey images have light ink on a black background, as in MNIST.
        steps: a short description of each step applied, in order.
    """

    original: np.ndarray
    pixels: np.ndarray
    steps: tuple[str, ...]


def open_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open and fully decode an image file, refusing anything over 50 megapixels.

    Raises:
        BadImage: missing, not a regular file, empty, not an image, too large, or truncated.
    """
    try:
        status = os.stat(path)
    except OSError as exc:
        raise BadImage("no such file") from exc
    if not stat.S_ISREG(status.st_mode):
        raise BadImage("not a regular file (a pipe, device or socket)")
    if status.st_size == 0:
        raise BadImage("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise BadImage("over 50 megapixels") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise BadImage("not an image") from exc
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise BadImage(f"over 50 megapixels ({width} x {height})")
    if width == 0 or height == 0:
        image.close()
        raise BadImage("empty image (0 pixels)")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        image.close()
        raise BadImage("truncated image") from exc
    return image


def flatten_alpha(image: Image.Image) -> tuple[Image.Image, bool]:
    """Return the image as RGB, any transparency composited onto white, and whether it had any."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if not has_alpha:
        return image.convert("RGB"), False
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB"), True


def prepare_image(
    path: str | os.PathLike[str], height: int, width: int, channels: int, mnistify: bool
) -> PreparedImage:
    """Turn an image file into pixels of the model's geometry.

    Args:
        path: a PNG, JPEG, BMP or any other image Pillow reads.
        height: the model's input height.
        width: the model's input width.
        channels: 1 (grey: converted, and inverted when the background is light) or 3 (RGB).
        mnistify: crop to the ink, fit it into 20x20 and centre it by centre of mass in 28x28,
            as the original MNIST digits were (scaled proportionally for other sizes);
            otherwise a plain resize.

    Returns:
        The prepared image with the list of steps taken.

    Raises:
        BadImage: the file is not a usable image.
        ValueError: ``channels`` is neither 1 nor 3.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    with open_image(path) as image:
        rgb, had_alpha = flatten_alpha(image)
    steps = ["alpha composited onto white"] if had_alpha else []
    original = np.asarray(rgb, dtype=np.uint8)
    if channels == 1:
        pixels = np.asarray(rgb.convert("L"), dtype=np.float32)[..., None]
        steps.append("converted to grey")
        if _border_median(pixels) > 127:
            pixels = 255.0 - pixels
            steps.append("inverted (light background)")
    else:
        pixels = original.astype(np.float32)
    if mnistify:
        pixels = _mnistify(pixels, height, width, steps)
    else:
        pixels = _resize(pixels, height, width)
        steps.append(f"resized to {height}x{width}")
    return PreparedImage(original=original, pixels=pixels / 255.0, steps=tuple(steps))


def _border_median(pixels: np.ndarray) -> float:
    """Median grey level of the outermost rows and columns."""
    grey = pixels.mean(axis=-1)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return float(np.median(border))


def _resize(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize float (H, W, C) pixels in [0, 255] with antialiasing."""
    array = np.clip(pixels, 0, 255).round().astype(np.uint8)
    image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    resized = np.asarray(image.resize((width, height), Image.Resampling.LANCZOS), dtype=np.float32)
    return resized.reshape(height, width, pixels.shape[-1])


def _mnistify(pixels: np.ndarray, height: int, width: int, steps: list[str]) -> np.ndarray:
    """Crop to the ink, fit it into a 20/28 box and centre it by centre of mass."""
    frame = np.zeros((height, width, pixels.shape[-1]), dtype=np.float32)
    grey = pixels.mean(axis=-1)
    background = _border_median(pixels)
    peak = float(grey.max())
    if peak - background < INK_CONTRAST:
        steps.append("no ink found")
        return frame
    pixels = np.clip((pixels - background) * (255.0 / (peak - background)), 0.0, 255.0)
    steps.append("background set to black")
    rows, cols = np.nonzero(grey > background + (peak - background) / 2)
    ink = pixels[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    steps.append("cropped to ink")
    box_h, box_w = max(1, round(height * 20 / 28)), max(1, round(width * 20 / 28))
    scale = min(box_h / ink.shape[0], box_w / ink.shape[1])
    fit_h = min(box_h, max(1, round(ink.shape[0] * scale)))
    fit_w = min(box_w, max(1, round(ink.shape[1] * scale)))
    ink = _resize(ink, fit_h, fit_w)
    steps.append(f"fitted into {box_h}x{box_w}")
    weight = ink.mean(axis=-1)
    total = float(weight.sum())
    if total > 0:
        com_y = float((weight.sum(axis=1) * np.arange(fit_h)).sum()) / total
        com_x = float((weight.sum(axis=0) * np.arange(fit_w)).sum()) / total
    else:
        com_y, com_x = (fit_h - 1) / 2, (fit_w - 1) / 2
    top = min(max(round((height - 1) / 2 - com_y), 0), height - fit_h)
    left = min(max(round((width - 1) / 2 - com_x), 0), width - fit_w)
    frame[top : top + fit_h, left : left + fit_w] = ink
    steps.append(f"centred by centre of mass in {height}x{width}")
    return frame
