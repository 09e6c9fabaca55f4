"""MNIST-C corruptions that smear the image: glass blur, motion blur, fog and spatter.

Each takes the reference's severity (1-5, its table of constants; 0 is the clean image) and
scales its pixel sizes with the frame. All images are done at once: glass blur's local shuffle
is one random gather per pass, motion blur a weighted sum of per-image shifted copies, fog a
diamond-square fractal per image computed for the whole batch, spatter Gaussian filters over
the batch.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from kinterp.toolkit.corrupt_base import corruption, draws, frame_scale, gather
from kinterp.toolkit.perturb import Digits

GLASS = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))
"""Glass blur per severity: blur sigma, largest pixel displacement, passes."""
MOTION = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))
"""Motion blur per severity: ImageMagick's kernel radius and sigma (px)."""
FOG = ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))
"""Fog per severity: thickness, and how fast the fractal's detail fades per octave."""
SPATTER = (
    (0.65, 0.3, 4, 0.69, 0.6),
    (0.65, 0.3, 3, 0.68, 0.6),
    (0.65, 0.3, 2, 0.68, 0.5),
    (0.65, 0.3, 1, 0.65, 1.5),
    (0.67, 0.4, 1, 0.65, 1.5),
)
"""Spatter per severity: liquid mean and spread, its blur, threshold, the mud's blur."""
MUD = 63 / 255  # the spatter's grey
SMALLEST_TAP = 1e-4  # motion-blur taps lighter than this share of the kernel are left out


def _blur(planes: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur over the two image axes of (N, H, W[, C]), edges repeated (skimage's)."""
    sigmas = (0, sigma, sigma, 0)[: planes.ndim]
    return gaussian_filter(planes, sigma=sigmas, mode="nearest")


@corruption(0)
def glass_blur(d: Digits, severity: float) -> np.ndarray:
    """Blur, shuffle pixels locally, blur again: each pass, every pixel more than ``delta``
    from the top and left edges and at least ``delta`` from the bottom and right ones (the
    reference's loop ranges) takes, with probability 1/2, the value of the pixel ``(dy, dx)``
    away, each drawn from ``-delta .. delta - 1`` (the reference swaps the two pixels, one
    pair after another, instead)."""
    sigma, delta, passes = GLASS[int(severity) - 1]
    s = frame_scale(d.images)
    delta = max(1, int(round(delta * s)))
    n, height, width = d.images.shape[:3]
    image = np.floor(_blur(d.images, sigma * s) * 255) / 255  # the reference's uint8 step
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    inner = (rows > delta) & (rows <= height - delta) & (cols > delta) & (cols <= width - delta)
    pixel = np.arange(n * height * width).reshape(n, height, width)
    u = d.uniform[..., 0] * np.float32(2)  # 24 random bits per pixel, spent as passes choose
    for _ in range(passes):
        move = u >= 1
        u -= move
        u *= 2 * delta
        dy = u.astype(np.int32)
        u -= dy
        u *= 2 * delta
        dx = u.astype(np.int32)
        u -= dx
        u *= 2
        step = ((dy - delta) * width + (dx - delta)) * (move & inner)
        image = gather(image, pixel + step)
    return np.clip(_blur(image, sigma * s), 0.0, 1.0)


@corruption(0)
def motion_blur(d: Digits, severity: float) -> np.ndarray:
    """ImageMagick's motion blur: each pixel the one-sided Gaussian-weighted mean of the
    pixels ahead of it along a line at a random angle in [-45, 45] degrees per image (tap i
    reads the pixel ``round(i cos a)`` columns right and ``round(i sin a)`` rows down)."""
    radius, sigma = MOTION[int(severity) - 1]
    s = frame_scale(d.images)
    taps = np.arange(2 * int(round(radius * s)) + 1)
    weight = np.exp(-(taps**2) / (2 * (sigma * s) ** 2))
    weight /= weight.sum()
    angle = np.deg2rad(draws(d, 20, (1,))[:, 0] * 90 - 45)
    height, width = d.images.shape[1:3]
    kept = taps[weight >= SMALLEST_TAP]
    right = np.ceil(kept * np.cos(angle)[:, None] - 0.5).astype(int)  # (N, taps)
    down = np.ceil(kept * np.sin(angle)[:, None] - 0.5).astype(int)
    pad = len(taps)
    padded = np.pad(d.images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    out = np.zeros(d.images.shape, dtype="float32")
    # images whose angles round to the same offsets are one group: each tap is then a slice
    patterns, group = np.unique(np.concatenate([right, down], 1), axis=0, return_inverse=True)
    for k, pattern in enumerate(patterns):
        members = np.flatnonzero(group.reshape(-1) == k)
        frames = padded[members]
        total = np.zeros((len(members), height, width, d.images.shape[3]), dtype="float32")
        for tap, dx, dy in zip(kept, pattern[: len(kept)], pattern[len(kept) :], strict=True):
            window = frames[:, pad + dy : pad + dy + height, pad + dx : pad + dx + width]
            total += np.float32(weight[tap]) * window
        out[members] = total
    return np.clip(out / weight[weight >= SMALLEST_TAP].sum(), 0.0, 1.0)


def plasma(d: Digits, size: int, decay: float) -> np.ndarray:
    """(N, size, size) diamond-square fractals in [0, 1], one per image (``size`` a power of
    two); each octave's random offsets are ``decay`` times smaller than the last's."""
    n = len(d.images)
    grid = np.zeros((n, size, size), dtype="float32")
    step, wibble, salt = size, 100.0, 30

    def wibbled(total: np.ndarray) -> np.ndarray:
        nonlocal salt
        salt += 1
        return total / 4 + wibble * wibble * (2 * draws(d, salt, total.shape[1:]) - 1)

    while step >= 2:
        half = step // 2
        corners = grid[:, ::step, ::step]
        square = corners + np.roll(corners, -1, axis=1)
        grid[:, half::step, half::step] = wibbled(square + np.roll(square, -1, axis=2))
        centres, corners = grid[:, half::step, half::step], grid[:, ::step, ::step]
        left = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        grid[:, ::step, half::step] = wibbled(left)
        top = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        grid[:, half::step, ::step] = wibbled(top)
        step, wibble = half, wibble / decay
    grid -= grid.min(axis=(1, 2), keepdims=True)
    return grid / grid.max(axis=(1, 2), keepdims=True)


@corruption(0)
def fog(d: Digits, severity: float) -> np.ndarray:
    """A plasma fractal times the thickness added, then the image rescaled to keep its
    brightest value: ``(x + t fractal) max / (max + t)``."""
    thickness, decay = FOG[int(severity) - 1]
    height, width = d.images.shape[1:3]
    size = 1 << int(np.ceil(np.log2(max(height, width, 2))))
    haze = plasma(d, size, decay)[:, :height, :width, None]
    brightest = d.images.max(axis=(1, 2, 3), keepdims=True)
    out = (d.images + thickness * haze) * brightest / (brightest + thickness)
    return np.clip(out, 0.0, 1.0)


@corruption(0)
def spatter(d: Digits, severity: float) -> np.ndarray:
    """Mud: a blurred normal field above a threshold, blurred again, where it reaches 0.8
    blended with grey."""
    mean, spread, sigma, threshold, mud_sigma = SPATTER[int(severity) - 1]
    s = frame_scale(d.images)
    liquid = _blur(np.float32(mean) + np.float32(spread) * d.field[..., 0], sigma * s)
    mask = _blur((liquid > threshold).astype("float32"), mud_sigma * s)
    mask[mask < 0.8] = 0.0
    mask = mask[..., None]
    return np.clip(d.images * (1 - mask) + MUD * mask, 0.0, 1.0)
