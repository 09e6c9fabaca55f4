"""Pixel statistics of image batches: value histograms and neighbour differences (variograms).

Shared by the techniques that describe a dataset (``datastats``) and those that want a prior of
what its images look like. Numpy only, vectorised over the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_batch(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) float64 from (N, H, W) or (N, H, W, C) images."""
    x = np.asarray(images, dtype="float64")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, H, W) or (N, H, W, C), got shape {x.shape}")
    return x


def lag_values(lags: int | Sequence[int]) -> np.ndarray:
    """The lags as an int array: ``n`` means 1..n."""
    values = np.arange(1, int(lags) + 1) if np.isscalar(lags) else np.asarray(lags, dtype="int64")
    if values.ndim != 1 or values.size == 0 or values.min() < 1:
        raise ValueError(f"lags must be positive integers, got {lags!r}")
    return values


def variogram(
    images: np.ndarray, lags: int | Sequence[int], per_image: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Mean absolute difference between pixels ``k`` apart, for each lag ``k``.

    Args:
        images: (N, H, W) or (N, H, W, C).
        lags: the lags ``k`` (an int ``n`` means 1..n); each must be smaller than H and W.
        per_image: return one value per image and lag instead of the batch mean.

    Returns:
        ``(rows, cols)``: along rows, ``|x[r, c + k] - x[r, c]|`` (horizontal neighbours);
        along columns, ``|x[r + k, c] - x[r, c]|`` (vertical neighbours); each averaged over
        positions and channels (and images unless ``per_image``). Shapes ``(L,)``, or
        ``(N, L)`` with ``per_image``.
    """
    x = _as_batch(images)
    ks = lag_values(lags)
    height, width = x.shape[1:3]
    if ks.max() >= min(height, width):
        raise ValueError(f"lag {ks.max()} does not fit {height}x{width} images")
    rows = np.stack([np.abs(x[:, :, k:] - x[:, :, :-k]).mean(axis=(1, 2, 3)) for k in ks], -1)
    cols = np.stack([np.abs(x[:, k:] - x[:, :-k]).mean(axis=(1, 2, 3)) for k in ks], -1)
    if per_image:
        return rows, cols
    return rows.mean(axis=0), cols.mean(axis=0)


def pixel_histogram(
    images: np.ndarray,
    bins: int | Sequence[float] = 32,
    value_range: tuple[float, float] = (0.0, 1.0),
    per_image: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The fraction of pixel values in each bin, and the bin edges.

    Args:
        images: (N, H, W) or (N, H, W, C).
        bins: a number of equal bins over ``value_range``, or the edges themselves.
        value_range: the span of the equal bins; values outside it go to the end bins.
        per_image: one histogram per image instead of one for the whole batch.

    Returns:
        ``(fractions, edges)``: fractions ``(B,)`` (or ``(N, B)``) summing to 1, edges ``(B+1,)``.
        Like numpy, every bin is half-open except the last, which holds its right edge.
    """
    x = _as_batch(images).reshape(len(images), -1)
    if np.isscalar(bins):
        edges = np.linspace(value_range[0], value_range[1], int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype="float64")
    count = len(edges) - 1
    if count < 1 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins must be a positive count or increasing edges, got {bins!r}")
    index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, count - 1)
    offsets = np.arange(len(x))[:, None] * count
    counts = np.bincount((index + offsets).ravel(), minlength=len(x) * count)
    counts = counts.reshape(len(x), count).astype("float64")
    if not per_image:
        counts = counts.sum(axis=0)
    total = counts.sum(axis=-1, keepdims=True)
    return np.divide(counts, total, out=np.zeros_like(counts), where=total > 0), edges
