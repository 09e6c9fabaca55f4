"""RunContext: everything a technique gets (model, data, seed, progress, report)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kinterp.modeldata import ModelData, open_data
from kinterp.models import LoadedModel
from kinterp.progress import Progress, progress_bar
from kinterp.report import ReportBuilder


@dataclass
class RunContext:
    """What a technique's ``run`` works with; it returns nothing but what it writes here.

    ``rng`` is a numpy generator seeded with the run's seed, shared across the run.
    """

    model: LoadedModel
    report: ReportBuilder
    seed: int = 0
    data_name: str | None = None
    quiet: bool = True
    _data: ModelData | None = field(default=None, init=False, repr=False)
    rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def data(self) -> ModelData:
        """The run's dataset (``--data``, else the model card's, else mnist-5k), model-ready."""
        if self._data is None:
            self._data = open_data(self.data_name, self.model)
        return self._data

    @property
    def data_used(self) -> dict[str, Any] | None:
        """Which dataset split the technique read, for the report (None if none)."""
        return self._data.used if self._data is not None else None

    def progress(self, total: int, description: str) -> AbstractContextManager[Progress]:
        """A progress bar for ``total`` units of work (quiet under --quiet or --json)."""
        return progress_bar(total, description, self.quiet)
