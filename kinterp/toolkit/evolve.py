"""Genetic operators on whole populations at once: selection, uniform crossover, mutation.

A population is an array (G, P, ...): G independent groups (one per class and run) of P
genomes each, evolved side by side; every operator works on all groups in one numpy call,
so a generation costs one batched model evaluation plus a few array operations. Fitness is
(G, P), higher is better.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SELECTIONS = ("elite", "truncation", "tournament")
TRUNCATION = 0.2  # truncation selection breeds from the best fifth
TOURNAMENT = 3  # tournament selection: the best of three at random
CROSSOVER_BYTES = 17  # per float32 gene: both parents, float64 coin flips, their mask
MUTATE_BYTES = 5  # per float32 gene, besides the draw: the children and the mutation mask
ROW_BYTES = 64  # per genome: sort orders, parent indices
Draw = Callable[[np.ndarray], np.ndarray]  # genomes -> proposed new values, same shape


def parents(
    fitness: np.ndarray, selection: str, elite: int, rng: np.random.Generator, count: int
) -> np.ndarray:
    """(G, count, 2) indices of the two parents of each child, per group.

    ``elite``: both parents from the ``elite`` best (the classic blog version);
    ``truncation``: from the best 20%; ``tournament``: each the best of 3 drawn at random.
    """
    groups, size = fitness.shape
    order = np.argsort(-fitness, axis=1, kind="stable")
    if selection == "tournament":
        draws = rng.integers(0, size, size=(groups, count, 2, TOURNAMENT))
        scores = np.take_along_axis(fitness[:, None, None, :], draws, axis=3)
        return np.take_along_axis(draws, scores.argmax(axis=3)[..., None], axis=3)[..., 0]
    pool = elite if selection == "elite" else max(2, int(round(TRUNCATION * size)))
    picks = rng.integers(0, min(pool, size), size=(groups, count, 2))
    return np.take_along_axis(order[:, :, None], picks.reshape(groups, -1, 1), axis=1).reshape(
        groups, count, 2
    )


def crossover(genomes: np.ndarray, pairs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Children (G, C, ...) taking each gene from one of their two parents at random."""
    groups = np.arange(len(genomes))[:, None]
    mother = genomes[groups, pairs[..., 0]]
    father = genomes[groups, pairs[..., 1]]
    return np.where(rng.random(mother.shape) < 0.5, mother, father)


def mutate(
    genomes: np.ndarray,
    rate: np.ndarray,
    rng: np.random.Generator,
    draw: Draw,
) -> np.ndarray:
    """Change each gene with probability ``rate`` (one rate per group, (G,)) to what ``draw``
    proposes for it (a fresh value, or the old one plus noise)."""
    shape = genomes.shape
    chance = np.asarray(rate, dtype="float64").reshape(-1, *([1] * (len(shape) - 1)))
    hit = rng.random(shape) < chance
    return np.where(hit, draw(genomes), genomes)


def breeding_bytes(count: int, genes: int, draw_bytes: int) -> int:
    """Peak working bytes of :func:`next_generation` for ``count`` float32 genomes of ``genes``
    genes, when ``draw`` needs ``draw_bytes`` per gene (the genomes themselves not counted).

    Crossover holds both parents, float64 coin flips and their mask; mutation the children,
    its mask and what ``draw`` builds.
    """
    per_gene = max(CROSSOVER_BYTES, MUTATE_BYTES + draw_bytes)
    return count * (genes * per_gene + ROW_BYTES)


def next_generation(
    genomes: np.ndarray,
    fitness: np.ndarray,
    selection: str,
    elite: int,
    rate: np.ndarray,
    rng: np.random.Generator,
    draw: Draw,
) -> np.ndarray:
    """The ``elite`` best genomes of each group unchanged, the rest bred and mutated."""
    groups, size = fitness.shape
    keep = min(elite, size)
    order = np.argsort(-fitness, axis=1, kind="stable")[:, :keep]
    kept = genomes[np.arange(groups)[:, None], order]
    pairs = parents(fitness, selection, elite, rng, size - keep)
    children = mutate(crossover(genomes, pairs, rng), rate, rng, draw)
    return np.concatenate([kept, children], axis=1)
