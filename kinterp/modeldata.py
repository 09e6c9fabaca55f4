"""Datasets as a technique sees them: looked up by name or path, shaped for the model."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import numpy as np

from kinterp.errors import KinterpError
from kinterp.models import LoadedModel

DEFAULT_DATASET = "mnist-5k"


def load_dataset(name_or_path: str, size: tuple[int, int] | None = None) -> Any:
    """A registered dataset by name, or a dataset file/folder by path.

    ``size`` (height, width) resizes the images of an image folder, which may hold any sizes.

    Raises:
        KinterpError: unknown name, or a path that is not a dataset.
    """
    from kinterp.datasets import dataset_from_path
    from kinterp.plugins import registry

    datasets = registry().datasets
    if name_or_path in datasets:
        return datasets[name_or_path][0].load()
    if Path(name_or_path).exists():
        return dataset_from_path(Path(name_or_path), size=size)
    close = difflib.get_close_matches(name_or_path, list(datasets), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(datasets)}"
    raise KinterpError(f"unknown dataset {name_or_path!r}, and no such path; {hint}")


class ModelData:
    """A dataset whose images are converted to the model's input on the way out."""

    def __init__(self, name: str, dataset: Any, model: LoadedModel):
        self.name = name
        self.dataset = dataset
        self.model = model
        self.used: dict[str, Any] | None = None

    @property
    def class_names(self) -> tuple[str, ...]:
        """The dataset's class names."""
        return tuple(self.dataset.class_names)

    def _split(self, split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray | None]:
        x, y = self.dataset.test() if split == "test" else self.dataset.train()
        if limit is not None:
            x, y = x[:limit], (None if y is None else y[:limit])
        described = self.dataset.split if split == "test" else "train"
        self.used = {"name": self.name, "split": described, "count": int(len(x))}
        return self.model.to_input(x), y

    def test(self, limit: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Held-out inputs (model-ready) and labels; ``limit`` takes the first N."""
        return self._split("test", limit)

    def train(self, limit: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Training inputs (model-ready) and labels."""
        return self._split("train", limit)


def open_data(name: str | None, model: LoadedModel) -> ModelData:
    """The dataset for a run, checked against the model's image geometry."""
    card = model.info.card or {}
    name = name or card.get("dataset") or DEFAULT_DATASET
    want = model.require_image()
    dataset = load_dataset(name, size=want[:2])
    have = tuple(dataset.x_test.shape[1:])
    if have != want:
        raise KinterpError(
            f"dataset {name} has {'x'.join(map(str, have))} images but the model wants "
            f"{'x'.join(map(str, want))}; pass --data with images of that shape"
        )
    return ModelData(name, dataset, model)
