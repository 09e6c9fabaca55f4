"""RunContext: everything a technique gets (model, data, seed, progress, report)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kinterp.data.modeldata import ModelData
from kinterp.errors import KinterpError
from kinterp.loading.models import LoadedModel
from kinterp.reporting.report import ReportBuilder
from kinterp.technique.progress import Progress, progress_bar

DataOpener = Callable[[], ModelData]


@dataclass
class RunContext:
    """What a technique's ``run`` works with; it returns nothing but what it writes here.

    Attributes:
        model: the model under analysis.
        report: where the technique writes its sections, metrics and arrays.
        seed: the run's seed (Python, numpy and TensorFlow are seeded with it before ``run``).
        quiet: True when progress bars are hidden.
        rng: a numpy generator seeded with ``seed``, shared across the run.
        data_given: the user named the dataset (``--data``), so it must fit the model.
        data_missing: why :meth:`optional_data` returned None ("" until it did).
    """

    model: LoadedModel
    report: ReportBuilder
    seed: int = 0
    quiet: bool = True
    open_data: DataOpener | None = field(default=None, repr=False)
    data_given: bool = False
    data_missing: str = field(default="", init=False)
    rng: np.random.Generator = field(init=False, repr=False)
    _data: ModelData | None = field(default=None, init=False, repr=False)
    _used: dict[str, Any] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def data(self) -> ModelData:
        """The run's dataset (``--data``, else the model card's, else mnist-5k), model-ready.

        Raises:
            KinterpError: the dataset is unknown, missing, or of another image geometry.
        """
        if self._data is None:
            if self.open_data is None:
                raise KinterpError("this run has no dataset; pass --data NAME|PATH")
            self._data = self.open_data()
        return self._data

    def optional_data(self) -> ModelData | None:
        """The run's dataset for a part of a technique that can do without it: None (the
        reason in :attr:`data_missing`) when no ``--data`` was given and the default dataset
        does not fit the model.

        Raises:
            KinterpError: ``--data`` was given and cannot be used.
        """
        try:
            return self.data()
        except KinterpError as exc:
            if self.data_given:
                raise
            self.data_missing = str(exc)
            return None

    def note_data(self, name: str, split: str, count: int) -> None:
        """Record data the technique read from elsewhere (say, the user's files), or which
        part of the run's dataset it read (it keeps that dataset's ``conversion``)."""
        self._used = {"name": name, "split": split, "count": int(count)}

    @property
    def data_opened(self) -> bool:
        """True once :meth:`data` has been called."""
        return self._data is not None

    @property
    def data_used(self) -> dict[str, Any] | None:
        """Which dataset split the technique read, for the report (None if none)."""
        if self._used is None:
            return self._data.used if self._data is not None else None
        if self._data is not None and self._used["name"] == self._data.name:
            return {**self._used, "conversion": self._data.conversion}
        return self._used

    def progress(self, total: int, description: str) -> AbstractContextManager[Progress]:
        """A progress bar for ``total`` units of work (quiet under --quiet or --json)."""
        return progress_bar(total, description, self.quiet)
