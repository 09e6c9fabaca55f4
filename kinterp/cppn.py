"""Compositional pattern-producing networks: a tiny network per genome, drawn over the pixels.

Each pixel's (x, y, distance from centre, 1) goes through two hidden layers with periodic,
Gaussian and sigmoidal activations and a sigmoid output: regular, symmetric patterns rather
than pixel noise (Nguyen et al. 2015). Many genomes are rendered at once with einsum.
"""

from __future__ import annotations

import numpy as np

HIDDEN = 8
INPUTS = 4  # x, y, r, bias


def genome_size(channels: int, hidden: int = HIDDEN) -> int:
    """Weights of one network: inputs -> hidden -> hidden -> channels."""
    return INPUTS * hidden + hidden * hidden + hidden * channels


def _coordinates(height: int, width: int) -> np.ndarray:
    y, x = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    r = np.sqrt(x * x + y * y)
    return np.stack([x, y, r, np.ones_like(x)], axis=-1).reshape(-1, INPUTS)


def _activate(h: np.ndarray) -> np.ndarray:
    """Unit k of a hidden layer uses sin, Gaussian, tanh or |x|, cycling."""
    kinds = np.arange(h.shape[-1]) % 4
    return np.select(
        [kinds == 0, kinds == 1, kinds == 2],
        [np.sin(h), np.exp(-h * h), np.tanh(h)],
        np.abs(h),
    )


def render(genomes: np.ndarray, shape: tuple[int, int, int], hidden: int = HIDDEN) -> np.ndarray:
    """Images (..., H, W, C) in (0, 1) of genomes (..., genome_size)."""
    height, width, channels = shape
    lead = genomes.shape[:-1]
    flat = genomes.reshape(-1, genomes.shape[-1]).astype("float32")
    a = INPUTS * hidden
    b = a + hidden * hidden
    w1 = flat[:, :a].reshape(-1, INPUTS, hidden)
    w2 = flat[:, a:b].reshape(-1, hidden, hidden)
    w3 = flat[:, b:].reshape(-1, hidden, channels)
    points = _coordinates(height, width).astype("float32")
    h1 = _activate(np.einsum("pi,nik->npk", points, w1))
    h2 = _activate(np.einsum("npk,nkj->npj", h1, w2))
    out = 1.0 / (1.0 + np.exp(-np.einsum("npj,njc->npc", h2, w3)))
    return out.reshape(*lead, height, width, channels)
