"""What the MNIST-C corruptions share: the frame's scale, per-image random numbers, ink.

The reference corruptions (Mu & Gilmer, 2019) assume 28x28 grey digits. Pixel sizes here are
scaled by :func:`frame_scale`, random numbers are drawn per image from that image's own seed
(so a batch and each of its images alone get the same corruption, which lets a batch be split
over threads), and lines are drawn in each image's ink over its own background.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import wraps
from math import prod

import numpy as np

from kinterp.toolkit.perturb import Digits

REFERENCE_SIDE = 28  # the frame the paper's constants are for
MAX_THREADS = 4  # threads one corruption uses at most
MIN_PART = 256  # images per thread at least
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def frame_scale(images: np.ndarray) -> float:
    """How much larger than 28 px the frame's shorter side is (1 for MNIST)."""
    return min(images.shape[1:3]) / REFERENCE_SIDE


def draws(d: Digits, salt: int, shape: tuple[int, ...]) -> np.ndarray:
    """(N, *shape) float32 uniform numbers in (0, 1) on a grid of 2**-16, a stream per image
    and ``salt``.

    Each image's stream is keyed by its own random ``spot`` (drawn from the run's seed by
    :meth:`Digits.of`) and counted through the splitmix64 mixer, all images at once (each
    64-bit hash gives four numbers): the same image gets the same numbers in any batch.
    """
    key = np.ascontiguousarray(d.spot, dtype="float64").view(np.uint64)
    seed = (key[:, 0] * _MIX1) ^ key[:, 1] ^ np.uint64((salt * 0x9E3779B1) % 2**64)
    count = prod(shape)
    z = seed[:, None] + np.arange(1, -(-count // 4) + 1, dtype=np.uint64)[None, :] * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    chunks = z.view(np.uint16)[:, :count].astype("float32")
    return ((chunks + 0.5) * np.float32(2.0**-16)).reshape(len(key), *shape)


def signs(d: Digits, salt: int, count: int) -> np.ndarray:
    """(N, count) of -1 or +1, each with probability 1/2 (a random direction per image)."""
    return np.where(draws(d, salt, (count,)) < 0.5, -1.0, 1.0)


def gather(images: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``images`` (N, H, W, C) read at flat pixel numbers ``index`` (any shape; image i's
    pixel (r, c) is number ``(i H + r) W + c``): ``index.shape + (C,)``, each output pixel the
    channels of the pixel it names."""
    channels = images.shape[-1]
    flat = np.take(images.reshape(-1, channels), index.reshape(-1), axis=0)
    return flat.reshape(*index.shape, channels)


def draw_ink(d: Digits, strength: np.ndarray) -> np.ndarray:
    """Add ink with ``strength`` (N, H, W) >= 0: towards each image's ink colour by strength
    times the background-to-ink distance, clipped to [0, 1] (on a black background, ``x +
    strength``, as the paper's white lines)."""
    step = (d.ink - d.background) * strength[..., None]
    return np.clip(d.images + step, 0.0, 1.0).astype("float32")


def threads() -> int:
    """How many threads a corruption splits a batch over: the cores this process may use
    (at most ``MAX_THREADS``)."""
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(1)
    return max(1, min(len(usable), MAX_THREADS))


def corruption(identity: float) -> Callable:
    """Decorate an ``apply(digits, level)``: the clean images at ``identity``; otherwise the
    batch split into contiguous parts of at least ``MIN_PART`` images, one per thread (numpy
    and scipy release the GIL in their loops, so a corruption runs on every core while the
    result stays that of the whole batch: each image's randomness is its own)."""

    def wrap(apply: Callable[[Digits, float], np.ndarray]) -> Callable:
        @wraps(apply)
        def guarded(d: Digits, level: float) -> np.ndarray:
            if level == identity:
                return d.images.copy()
            n = len(d.images)
            parts = min(threads(), max(1, n // MIN_PART))
            if parts == 1:
                return np.asarray(apply(d, level), dtype="float32")
            bounds = np.linspace(0, n, parts + 1).astype(int)
            pieces = [d.take(slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
            with ThreadPoolExecutor(parts) as pool:
                done = list(pool.map(lambda piece: apply(piece, level), pieces))
            return np.concatenate(done).astype("float32", copy=False)

        return guarded

    return wrap
