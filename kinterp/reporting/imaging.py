"""Arrays to pictures: PNG tiles, contact sheets, diverging colour maps, GIFs.

Matplotlib is used for colour maps and plots (headless Agg backend), Pillow for files.
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


def diverging_rgb(image: np.ndarray) -> np.ndarray:
    """A signed map (H, W) as RGB: blue negative, white zero, red positive (symmetric)."""
    from matplotlib import colormaps

    limit = signed_limit(image)
    normed = (np.asarray(image, dtype="float32") / limit + 1.0) / 2.0
    return (colormaps["RdBu_r"](normed)[..., :3] * 255).astype("uint8")


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
        return np.stack([diverging_rgb(image) for image in signed])
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


def save_gif(frames: list[np.ndarray], path: Path, vrange=(0.0, 1.0), ms: int = 80) -> None:
    """Write an animated GIF that loops over ``frames``, each scaled up by a whole factor
    (nearest neighbour, so pixels stay sharp) until its shorter side reaches GIF_SIDE: a
    28x28 map plays at 196x196, not as a thumbnail."""
    height, width = np.asarray(frames[0]).shape[:2]
    scale = max(1, -(-GIF_SIDE // min(height, width)))
    size = (width * scale, height * scale)
    pictures = [
        render(frame, "gray", vrange).resize(size, Image.Resampling.NEAREST).convert("P")
        for frame in frames
    ]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=ms, loop=0)


LINE_STYLES = ("-", "--", ":", "-.")
MAX_LEGEND_ROWS = 24


def _figure(wide: bool = False):
    """A headless matplotlib figure and its axes."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9.6 if wide else 6.4, 3.8), dpi=100)
    return figure, figure.add_subplot()


def _finish(figure, axes, path: Path, xlabel: str, ylabel: str, logx: bool, logy: bool) -> None:
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if logx:
        axes.set_xscale("log")
    if logy:
        axes.set_yscale("log")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, format="png", pil_kwargs={"compress_level": PNG_LEVEL})


def _legend(figure, axes, count: int) -> None:
    """Every series in the legend: inside for a few, beside the axes for many."""
    if count < 2:
        return
    if count <= 6:
        axes.legend(fontsize=7)
        return
    columns = -(-count // MAX_LEGEND_ROWS)
    axes.legend(fontsize=6, ncol=columns, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def series_style(index: int) -> dict[str, str]:
    """A distinct colour and line style for the ``index``-th series (80 before repeating)."""
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors + colormaps["tab20"].colors[1::2]  # 10 + 10 lighter
    colour = palette[index % len(palette)]
    return {"color": colour, "linestyle": LINE_STYLES[(index // len(palette)) % 4]}


def save_line_plot(
    series: dict[str, list[float]],
    path: Path,
    xlabel: str,
    ylabel: str,
    x: list[float] | None = None,
    logx: bool = False,
    logy: bool = False,
) -> None:
    """Write a line plot of named series as PNG; ``x`` is shared (default: the index)."""
    figure, axes = _figure(wide=len(series) > 6)
    for i, (label, values) in enumerate(series.items()):
        xs = x if x is not None else range(len(values))
        marker = "." if x is not None else None
        axes.plot(xs, values, label=label, linewidth=1.4, marker=marker, **series_style(i))
    _legend(figure, axes, len(series))
    _finish(figure, axes, path, xlabel, ylabel, logx, logy)


PANEL_COLUMNS = 4
PANEL_INCHES = (2.6, 2.0)


def save_panels(
    panels: dict[str, tuple[list[float], dict[str, list[float]], str]],
    path: Path,
    ylabel: str,
    ylim: tuple[float, float] | None = None,
) -> None:
    """Write small multiples as one PNG: a panel per title, each ``(x, series, xlabel)`` with
    the same series names in the same colours (one legend above the panels)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    count = len(panels)
    columns = min(PANEL_COLUMNS, count)
    rows = -(-count // columns)
    width, height = PANEL_INCHES
    figure = Figure(figsize=(width * columns, height * rows + 0.5), dpi=100)
    grid = figure.subplots(rows, columns, squeeze=False)
    names: list[str] = []
    for axes, (title, (x, series, xlabel)) in zip(grid.flat, panels.items(), strict=False):
        for label, values in series.items():
            if label not in names:
                names.append(label)
            style = series_style(names.index(label))
            axes.plot(x, values, marker=".", linewidth=1.3, label=label, **style)
        axes.set_title(title, fontsize=8)
        axes.set_xlabel(xlabel, fontsize=7)
        axes.tick_params(labelsize=6)
        axes.grid(alpha=0.3)
        if ylim is not None:
            axes.set_ylim(*ylim)
    for axes in grid.flat[count:]:
        axes.set_visible(False)
    for axes in grid[:, 0]:
        axes.set_ylabel(ylabel, fontsize=7)
    handles, labels = grid.flat[0].get_legend_handles_labels()
    if len(names) > 1:
        figure.legend(handles, labels, loc="upper center", ncol=min(len(names), 4), fontsize=7)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (height * rows + 0.5)))
    figure.savefig(path, format="png", pil_kwargs={"compress_level": PNG_LEVEL})


def save_bar_plot(
    series: dict[str, list[float]], labels: list[str], path: Path, xlabel: str, ylabel: str
) -> None:
    """Write grouped bars as PNG: one group per label, one bar (a colour) per series."""
    figure, axes = _figure(wide=len(labels) * max(len(series), 1) > 24)
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        xs = np.arange(len(labels)) + (i - (len(series) - 1) / 2) * width
        axes.bar(xs, values, width=width, label=name, color=series_style(i)["color"])
    axes.set_xticks(np.arange(len(labels)), labels, rotation=45, ha="right", fontsize=7)
    _legend(figure, axes, len(series))
    _finish(figure, axes, path, xlabel, ylabel, False, False)


def save_histogram(
    groups: dict[str, np.ndarray], path: Path, xlabel: str, bins: int, logy: bool = False
) -> None:
    """Write overlaid histograms of named groups of values as PNG."""
    figure, axes = _figure()
    finite = [np.asarray(v, dtype="float64") for v in groups.values()]
    finite = [v[np.isfinite(v)] for v in finite]
    joined = np.concatenate(finite) if finite else np.zeros(0)
    edges = np.histogram_bin_edges(joined if joined.size else [0.0, 1.0], bins=bins)
    alpha = 0.85 if len(groups) == 1 else 0.5
    for i, (label, values) in enumerate(zip(groups, finite, strict=True)):
        counts, _ = np.histogram(values, bins=edges)  # one outline per group, not a bar per bin
        colour = series_style(i)["color"]
        axes.stairs(counts, edges, label=label, fill=True, alpha=alpha, color=colour)
    _legend(figure, axes, len(groups))
    _finish(figure, axes, path, xlabel, "count", False, logy)


def save_scatter(
    groups: dict[str, tuple[np.ndarray, np.ndarray]],
    path: Path,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
) -> None:
    """Write a scatter plot of named groups of (x, y) points as PNG."""
    figure, axes = _figure(wide=len(groups) > 6)
    for i, (label, (xs, ys)) in enumerate(groups.items()):
        axes.scatter(xs, ys, s=14, label=label, color=series_style(i)["color"], alpha=0.8)
    _legend(figure, axes, len(groups))
    _finish(figure, axes, path, xlabel, ylabel, logx, logy)
