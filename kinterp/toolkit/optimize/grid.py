"""The rows of an optimisation batch: the product of named axes (targets x inits x ...).

Every row of one batch is optimised at once; a sweep (over TV weights, say) is one more
axis. ``BatchGrid`` says which value of each axis a row has, in row-major order (the last
axis varies fastest), so techniques never do the index arithmetic themselves.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class BatchGrid:
    """Named axes whose product is the batch; ``BatchGrid.of(target=[3, 5], restart=range(2))``.

    Attributes:
        axes: (name, values) pairs, the first axis slowest.
    """

    axes: tuple[tuple[str, tuple[Any, ...]], ...]

    @classmethod
    def of(cls, **axes: Sequence[Any]) -> BatchGrid:
        """A grid from keyword axes, in the order given.

        Raises:
            ValueError: an axis has no values.
        """
        for name, values in axes.items():
            if len(values) == 0:
                raise ValueError(f"axis {name!r} has no values")
        return cls(tuple((name, tuple(values)) for name, values in axes.items()))

    @property
    def names(self) -> tuple[str, ...]:
        """The axis names, slowest first."""
        return tuple(name for name, _ in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """The length of each axis."""
        return tuple(len(values) for _, values in self.axes)

    def __len__(self) -> int:
        return math.prod(self.shape)

    def axis(self, name: str) -> tuple[Any, ...]:
        """The values of one axis."""
        return self.axes[self.names.index(name)][1]

    def index(self, name: str) -> np.ndarray:
        """(rows,) each row's position along axis ``name``."""
        position = self.names.index(name)
        return np.indices(self.shape).reshape(len(self.shape), -1)[position]

    def values(self, name: str) -> list[Any]:
        """Each row's value of axis ``name``."""
        values = self.axis(name)
        return [values[i] for i in self.index(name)]

    def rows(self) -> Iterator[dict[str, Any]]:
        """Each row as ``{axis name: value}``, in batch order."""
        columns = [self.values(name) for name in self.names]
        for row in zip(*columns, strict=True):
            yield dict(zip(self.names, row, strict=True))

    def group(self, values: np.ndarray, by: str) -> np.ndarray:
        """Per-row ``values`` (rows, ...) regrouped as (len(axis ``by``), rows per value, ...)."""
        values = np.asarray(values)
        order = np.argsort(self.index(by), kind="stable")
        return values[order].reshape(len(self.axis(by)), -1, *values.shape[1:])
