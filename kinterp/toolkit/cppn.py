"""Fixed-topology compositional pattern-producing networks: a tiny network per genome, drawn
over the pixels.

Each pixel's (x, y, distance from centre, 1) goes through two hidden layers of ``HIDDEN`` (8)
units with sine, Gaussian, tanh and absolute-value activations (cycling by unit) and a sigmoid
output per channel: regular, symmetric patterns rather than pixel noise. A genome is only the
weights of this fixed 4-8-8 network; Nguyen et al. (2015) evolved CPPNs with NEAT, which also
adds nodes and connections and picks each node's activation, and that is not done here.
Many genomes are rendered at once with einsum, in
chunks whose working memory is bounded. A public module: its ``__all__`` is documented in
docs/plugins.md.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HIDDEN", "genome_size", "render", "render_bytes", "work_bytes"]

HIDDEN = 8
INPUTS = 4  # x, y, r, bias
WORK_COPIES = 8  # float32 copies of one hidden layer's values alive at once while rendering
CHUNK_BYTES = 64 * 2**20  # working memory of one rendered chunk of genomes


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


def work_bytes(shape: tuple[int, int, int], hidden: int = HIDDEN) -> int:
    """Peak working bytes of rendering one genome: float32 hidden values with their four
    activations, ``np.select``'s output and temporaries (measured: 7 copies), and the output."""
    height, width, channels = shape
    return 4 * height * width * (WORK_COPIES * hidden + 2 * channels)


def render_bytes(count: int, shape: tuple[int, int, int], hidden: int = HIDDEN) -> int:
    """Peak bytes :func:`render` needs for ``count`` genomes: their images plus the working
    memory of one chunk."""
    per_genome = work_bytes(shape, hidden)
    chunk = min(count, max(1, CHUNK_BYTES // per_genome))
    return 4 * count * int(np.prod(shape)) + chunk * per_genome


def render(genomes: np.ndarray, shape: tuple[int, int, int], hidden: int = HIDDEN) -> np.ndarray:
    """Images (..., H, W, C) in (0, 1) of genomes (..., genome_size), float32.

    Rendered in chunks of genomes whose working memory stays under ``CHUNK_BYTES``, so a
    large population needs little more than its images (:func:`render_bytes`).
    """
    height, width, channels = shape
    lead = genomes.shape[:-1]
    flat = genomes.reshape(-1, genomes.shape[-1])
    points = _coordinates(height, width).astype("float32")
    out = np.empty((len(flat), height * width, channels), dtype="float32")
    step = max(1, CHUNK_BYTES // work_bytes(shape, hidden))
    for start in range(0, len(flat), step):
        part = flat[start : start + step].astype("float32")
        out[start : start + step] = _render_flat(part, points, hidden, channels)
    return out.reshape(*lead, height, width, channels)


def _render_flat(flat: np.ndarray, points: np.ndarray, hidden: int, channels: int) -> np.ndarray:
    """(N, pixels, channels) outputs of N genomes (N, genome_size) at ``points``."""
    a = INPUTS * hidden
    b = a + hidden * hidden
    w1 = flat[:, :a].reshape(-1, INPUTS, hidden)
    w2 = flat[:, a:b].reshape(-1, hidden, hidden)
    w3 = flat[:, b:].reshape(-1, hidden, channels)
    h1 = _activate(np.einsum("pi,nik->npk", points, w1))
    h2 = _activate(np.einsum("npk,nkj->npj", h1, w2))
    return 1.0 / (1.0 + np.exp(-np.einsum("npj,njc->npc", h2, w3)))
