"""Datasets as a technique sees them: shaped for the model, labels checked against its
classes, selectable by class."""

from __future__ import annotations

from typing import Any

import numpy as np

from kinterp.data.datasets import Dataset
from kinterp.errors import KinterpError
from kinterp.loading.models import LoadedModel

DEFAULT_DATASET = "mnist-5k"

Split = tuple[np.ndarray, "np.ndarray | None"]


def dataset_name(requested: str | None, model: LoadedModel) -> str:
    """The dataset a run reads: ``--data``, else the model card's, else mnist-5k."""
    return requested or (model.info.card or {}).get("dataset") or DEFAULT_DATASET


class ModelData:
    """A dataset whose images are converted to the model's input on the way out.

    Args:
        name: what the report calls it (a dataset name or path).
        dataset: the loaded :class:`~kinterp.data.datasets.Dataset`.
        model: the model the inputs are shaped for.

    Raises:
        KinterpError: the dataset's images do not have the model's image geometry, or a label
            is not one of the model's classes.
    """

    def __init__(self, name: str, dataset: Dataset, model: LoadedModel):
        want = model.require_image()
        have = tuple(dataset.x_test.shape[1:])
        if have != want:
            raise KinterpError(
                f"dataset {name} has {'x'.join(map(str, have))} images but the model wants "
                f"{'x'.join(map(str, want))}; pass --data with images of that shape"
            )
        check_labels(name, dataset, model)
        self.name = name
        self.dataset = dataset
        self.model = model
        self.used: dict[str, Any] | None = None

    @property
    def conversion(self) -> str | None:
        """What loading did to fit the images to the model (resized, letterboxed, grey/RGB
        converted), or None."""
        return self.dataset.conversion

    @property
    def class_names(self) -> tuple[str, ...]:
        """The dataset's class names."""
        return tuple(self.dataset.class_names)

    def test(
        self,
        limit: int | None = None,
        *,
        classes: list[int] | None = None,
        per_class: int | None = None,
    ) -> Split:
        """Held-out inputs (model-ready, float32) and int64 labels (None if unlabelled).

        Args:
            limit: keep ``limit`` examples, the classes taken in turn (after the class
                selection; see :func:`first_of_each_class`).
            classes: keep only examples of these classes.
            per_class: keep the first ``per_class`` examples of each class.

        Raises:
            KinterpError: classes or per_class asked of unlabelled data.
        """
        return self._split("test", limit, classes, per_class)

    def train(
        self,
        limit: int | None = None,
        *,
        classes: list[int] | None = None,
        per_class: int | None = None,
    ) -> Split:
        """Training inputs and labels; arguments as for :meth:`test`."""
        return self._split("train", limit, classes, per_class)

    def _split(
        self, split: str, limit: int | None, classes: list[int] | None, per_class: int | None
    ) -> Split:
        x, y = self.dataset.test() if split == "test" else self.dataset.train()
        keep = select(y, classes, per_class, self.name)
        if keep is not None:
            x, y = x[keep], y[keep]
        if limit is not None:
            keep = first_of_each_class(y, limit)
            x, y = x[keep], (None if y is None else y[keep])
        described = self.dataset.split if split == "test" else "train"
        self.used = {
            "name": self.name,
            "split": described,
            "count": int(len(x)),
            "conversion": self.conversion,
        }
        return self.model.to_input(x), y


def first_of_each_class(labels: np.ndarray | None, limit: int) -> np.ndarray | slice:
    """Which ``limit`` examples a limited run uses: taking the classes in turn (the first of
    each class, then the second of each...), in dataset order, so a split sorted by class
    (mnist-5k's held-out digits are) still gives every class; the first ``limit`` without
    labels."""
    if labels is None or limit >= len(labels):
        return slice(0, limit)
    labels = np.asarray(labels)
    rank = np.zeros(len(labels), dtype="int64")
    for value in np.unique(labels):
        members = labels == value
        rank[members] = np.arange(int(members.sum()))
    turn = np.lexsort((np.arange(len(labels)), rank))  # by rank, then dataset order
    return np.sort(turn[:limit])


def check_labels(name: str, dataset: Dataset, model: LoadedModel) -> None:
    """Refuse labels that are not class indices of ``model``, before anything is sized by them
    (a single sigmoid output has two classes, 0 and 1).

    Raises:
        KinterpError: naming the first such label and the model's class count.
    """
    classes = 2 if model.info.num_outputs == 1 else model.info.num_outputs
    for part, labels in (("test", dataset.y_test), ("training", dataset.y_train)):
        if labels is None or not labels.size:
            continue
        bad = np.flatnonzero((labels < 0) | (labels >= classes))
        if bad.size:
            raise KinterpError(
                f"dataset {name}: {part} label {int(labels[bad[0]]):,} (image {int(bad[0]):,}) "
                f"is not a class of {model.info.name}, which has {classes:,} classes "
                f"(0..{classes - 1}); pass --data labelled with this model's class indices"
            )


def select(
    labels: np.ndarray | None, classes: list[int] | None, per_class: int | None, name: str
) -> np.ndarray | None:
    """Indices of the examples of ``classes`` (first ``per_class`` of each); None: all."""
    if classes is None and per_class is None:
        return None
    if labels is None:
        raise KinterpError(f"dataset {name} has no labels, so it cannot be selected by class")
    wanted = np.unique(labels) if classes is None else np.asarray(sorted(set(classes)))
    picked = [np.flatnonzero(labels == c)[:per_class] for c in wanted]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype="int64")
