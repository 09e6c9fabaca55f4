"""Scores of optimised images: how the model classifies them, pixel correlation across
restarts, and the border test."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kinterp.loading.models import LoadedModel
from kinterp.toolkit.optimize.grid import BatchGrid
from kinterp.toolkit.optimize.objectives import Objective
from kinterp.toolkit.optimize.targets import Targets


def mean_pairwise_correlation(maps: np.ndarray) -> float:
    """Mean Pearson correlation over every pair of rows (flattened maps); 1.0 for constants.

    nan for fewer than two maps.
    """
    flat = np.asarray(maps, dtype="float64").reshape(len(maps), -1)
    if len(flat) < 2:
        return float("nan")
    centred = flat - flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    unit = np.divide(centred, norms[:, None], out=np.zeros_like(centred), where=norms[:, None] > 0)
    corr = unit @ unit.T
    flat_rows = norms == 0
    # Two constant maps are the same map; a constant and a varying one share nothing.
    corr[np.ix_(flat_rows, flat_rows)] = 1.0
    upper = np.triu_indices(len(flat), k=1)
    return float(np.mean(corr[upper]))


def zero_border(images: np.ndarray, width: int, value: float = 0.0) -> np.ndarray:
    """A copy of (N, H, W, C) images with the outer ``width`` pixel rings set to ``value``."""
    out = np.array(images, copy=True)
    if width <= 0:
        return out
    out[:, :width] = value
    out[:, -width:] = value
    out[:, :, :width] = value
    out[:, :, -width:] = value
    return out


Scores = dict[str, np.ndarray]  # one array per score, one value per batch row


def score_maps(
    model: LoadedModel,
    targets: Targets,
    row_target: Sequence[int],
    goal: Objective,
    maps: np.ndarray,
) -> Scores:
    """Score optimised maps, one value per row.

    Returns:
        ``value`` (the objective), ``top1`` / ``top1_name`` / ``top1_p`` (how the model
        classifies the map), ``score`` (what tables show: the target's confidence for classes,
        else the objective), and for class targets ``target``, ``logit`` and ``confidence``
        (nan for units).
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(maps, tf.float32)
    classified = model.classify_images(maps)
    rows, top1 = np.arange(len(maps)), classified.top1
    out = {
        "value": np.asarray(goal(x, x), dtype="float64"),
        "top1": top1,
        "top1_name": np.array([classified.name(c) for c in top1]),
        "top1_p": classified.confidence,
        "confidence": np.full(len(maps), np.nan),
    }
    if targets.is_class:
        target = np.asarray(row_target)
        out["target"] = target
        out["logit"] = model.logits(model.to_input(maps))[rows, target]
        out["confidence"] = classified.of(target)
    out["score"] = out["confidence"] if targets.is_class else out["value"]
    return out


def restart_pixel_correlation(
    grid: BatchGrid, images: np.ndarray, by: str = "target"
) -> list[float]:
    """Per value of axis ``by``: the mean pairwise Pearson correlation of the pixels of maps
    that differ only by restart (``restart`` must be the grid's last axis), averaged over the
    other axes."""
    restarts = len(grid.axis("restart"))
    grouped = grid.group(np.asarray(images), by=by)
    return [
        float(
            np.mean(
                [mean_pairwise_correlation(g) for g in maps.reshape(-1, restarts, *maps.shape[1:])]
            )
        )
        for maps in grouped
    ]
