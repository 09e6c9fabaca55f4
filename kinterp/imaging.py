"""Arrays to pictures: PNG tiles, contact sheets, diverging colour maps, GIFs.

Matplotlib is used for colour maps and plots (headless Agg backend), Pillow for files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

VIEW_SIZE = 140  # tiles are upscaled (nearest) to about this many pixels for the HTML


def to_uint8(image: np.ndarray, vrange: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Scale an image from ``vrange`` into 0..255, clipping outside it."""
    lo, hi = vrange
    scaled = (np.asarray(image, dtype="float32") - lo) / max(hi - lo, 1e-12)
    return (np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype("uint8")


def diverging_rgb(image: np.ndarray) -> np.ndarray:
    """A signed map (H, W) as RGB: blue negative, white zero, red positive (symmetric)."""
    from matplotlib import colormaps

    limit = float(np.max(np.abs(image))) or 1.0
    normed = (np.asarray(image, dtype="float32") / limit + 1.0) / 2.0
    return (colormaps["RdBu_r"](normed)[..., :3] * 255).astype("uint8")


def render(image: np.ndarray, cmap: str = "gray", vrange: tuple[float, float] = (0.0, 1.0)):
    """One image (H, W), (H, W, 1) or (H, W, 3) -> a Pillow image, upscaled for viewing.

    ``cmap`` is ``gray`` (values in ``vrange``) or ``diverging`` (signed, centred on 0).
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if cmap == "diverging":
        if array.ndim == 3:
            array = array.mean(axis=-1)
        pixels = diverging_rgb(array)
    else:
        pixels = to_uint8(array[..., :3] if array.ndim == 3 else array, vrange)
    picture = Image.fromarray(pixels)
    scale = max(1, VIEW_SIZE // max(picture.size))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    return picture


def save_png(image: np.ndarray, path: Path, cmap: str = "gray", vrange=(0.0, 1.0)) -> None:
    """Write one image as PNG (see :func:`render`)."""
    render(image, cmap, vrange).save(path, format="PNG", optimize=True)


def save_gif(frames: list[np.ndarray], path: Path, vrange=(0.0, 1.0), ms: int = 80) -> None:
    """Write an animated GIF that loops over ``frames``."""
    pictures = [render(frame, "gray", vrange).convert("P") for frame in frames]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=ms, loop=0)


def save_line_plot(
    series: dict[str, list[float]], path: Path, xlabel: str, ylabel: str, title: str = ""
) -> None:
    """Write a line plot of named series (x is the index) as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    axes = figure.add_subplot()
    for label, values in series.items():
        axes.plot(values, label=label, linewidth=1.4)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    if 1 < len(series) <= 12:
        axes.legend(fontsize=7, ncol=2)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png")
