"""Arrays to pictures: PNG tiles, contact sheets, diverging colour maps, GIFs.

Matplotlib supplies the colour maps, Pillow writes the files; plots are SVG
(:mod:`kinterp.reporting.charts`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

PNG_LEVEL = 1  # zlib level of tiles: tiny images, so speed matters more than bytes


def to_uint8(image: np.ndarray, vrange: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Scale an image from ``vrange`` into 0..255, clipping outside it (uint8 is kept)."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    lo, hi = vrange
    scaled = (np.asarray(image, dtype="float32") - lo) / max(hi - lo, 1e-12)
    return (np.clip(scaled, 0.0, 1.0) * 255.0 + 0.5).astype("uint8")


def colour_stops(name: str, count: int = 9) -> list[str]:
    """``count`` evenly spaced colours of the matplotlib colour map ``name``, as ``#rrggbb``
    (a page's colour bar draws them as a CSS gradient)."""
    from matplotlib import colormaps

    colours = colormaps[name](np.linspace(0.0, 1.0, count))[:, :3]
    return ["#" + "".join(f"{round(255 * c):02x}" for c in colour) for colour in colours]


def signed_limit(image: np.ndarray) -> float:
    """The largest |value| of a signed map: the end of its symmetric colour scale (1 when the
    map is all zero)."""
    return float(np.max(np.abs(image))) or 1.0


def diverging_batch(batch: np.ndarray) -> np.ndarray:
    """Signed maps (N, H, W) as RGB (N, H, W, 3): blue negative, white zero, red positive,
    each on its own symmetric scale (``signed_limit``)."""
    from matplotlib import colormaps

    batch = np.asarray(batch, dtype="float32")
    limits = np.abs(batch).reshape(len(batch), -1).max(axis=1, initial=0.0)
    limits[limits == 0] = 1.0  # an all-zero map: signed_limit's 1
    normed = (batch / limits[:, None, None] + 1.0) / 2.0
    return colormaps["RdBu_r"](normed, bytes=True)[..., :3]


def render(image: np.ndarray, cmap: str = "gray", vrange: tuple[float, float] = (0.0, 1.0)):
    """One image (H, W), (H, W, 1) or (H, W, 3) -> a Pillow image at its native size.

    ``cmap`` is ``gray`` or ``rgb`` (values in ``vrange``; uint8 images as they are) or
    ``diverging`` (signed, centred on 0; colour channels are averaged). Pages scale images
    up with ``image-rendering: pixelated``.
    """
    return Image.fromarray(to_pixels(np.asarray(image)[None], cmap, vrange)[0])


def to_pixels(batch: np.ndarray, cmap: str = "gray", vrange=(0.0, 1.0)) -> np.ndarray:
    """A batch (N, H, W[, C]) as uint8 pixels, (N, H, W) grey or (N, H, W, 3) RGB."""
    array = np.asarray(batch)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if cmap == "diverging":
        signed = array.mean(axis=-1) if array.ndim == 4 else array
        return diverging_batch(signed)
    return to_uint8(array[..., :3] if array.ndim == 4 else array, vrange)


def save_sheet(
    batch: np.ndarray, path: Path, cmap: str = "gray", vrange=(0.0, 1.0)
) -> list[tuple[int, int, int, int]]:
    """Write a batch as one PNG sprite sheet (a near-square grid of tiles at native size).

    Returns each image's box in the sheet, ``(x, y, width, height)``: one file per block
    instead of one per image, which is what makes large reports fast to write.
    """
    pixels = to_pixels(batch, cmap, vrange)
    count, height, width = pixels.shape[:3]
    columns = max(1, int(np.ceil(np.sqrt(count))))
    rows = -(-count // columns)
    padded = np.zeros((rows * columns, *pixels.shape[1:]), np.uint8)
    padded[:count] = pixels
    grid = padded.reshape(rows, columns, *pixels.shape[1:]).swapaxes(1, 2)
    sheet = grid.reshape(rows * height, columns * width, *pixels.shape[3:])
    Image.fromarray(sheet).save(path, format="PNG", compress_level=PNG_LEVEL)
    return [((i % columns) * width, (i // columns) * height, width, height) for i in range(count)]


GIF_SIDE = 196
"""An animation's shorter side is scaled up to at least this many pixels."""


def _film(frames: list[np.ndarray], vrange) -> np.ndarray:
    """Frames as uint8 pixels of one shape (N, H, W) or (N, H, W, 3): each converted on its
    own (its own dtype), grey ones made RGB if any is in colour, every frame resized (nearest)
    to the first one's size."""
    pictures = [to_pixels(np.asarray(frame)[None], "gray", vrange)[0] for frame in frames]
    if any(p.ndim == 3 for p in pictures):
        pictures = [p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2) for p in pictures]
    height, width = pictures[0].shape[:2]
    return np.stack(
        [
            p
            if p.shape[:2] == (height, width)
            else np.asarray(Image.fromarray(p).resize((width, height), Image.Resampling.NEAREST))
            for p in pictures
        ]
    )


def _paletted(pixels: np.ndarray) -> list[Image.Image]:
    """RGB frames (N, H, W, 3) as palette images sharing one palette: the film's own colours
    when there are at most 256 (it plays back exactly), else a fast octree's 256 (70x quicker
    than median cut)."""
    flat = pixels.reshape(-1, 3).astype(np.uint32)
    keys, index = np.unique(flat[:, 0] << 16 | flat[:, 1] << 8 | flat[:, 2], return_inverse=True)
    colours = np.stack([keys >> 16, keys >> 8 & 255, keys & 255], axis=1)
    if len(colours) > 256:
        film = Image.fromarray(pixels.reshape(-1, pixels.shape[2], 3))
        palette = film.quantize(256, method=Image.Quantize.FASTOCTREE)
        return [
            Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in pixels
        ]
    frames = []
    for frame in index.reshape(pixels.shape[:3]).astype(np.uint8):
        picture = Image.fromarray(frame, mode="P")
        picture.putpalette(colours.ravel().tolist())
        frames.append(picture)
    return frames


def save_gif(frames: list[np.ndarray], path: Path, vrange=(0.0, 1.0), ms: int = 80) -> None:
    """Write an animated GIF that loops over ``frames``, each scaled up by a whole factor
    (nearest neighbour, so pixels stay sharp) until its shorter side reaches GIF_SIDE: a
    28x28 map plays at 196x196, not as a thumbnail."""
    pixels = _film(frames, vrange)
    height, width = pixels.shape[1:3]
    scale = max(1, -(-GIF_SIDE // min(height, width)))
    size = (width * scale, height * scale)
    if pixels.ndim == 4:  # colour: one palette for the whole film, found at native size
        pictures = _paletted(pixels)
    else:  # grey frames go out as they are
        pictures = [Image.fromarray(frame) for frame in pixels]
    pictures = [picture.resize(size, Image.Resampling.NEAREST) for picture in pictures]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=ms, loop=0)
