"""What a classifier says about a batch: class confidences, top-1, top-k, accuracy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Classification:
    """Class confidences of a batch, from :meth:`kinterp.LoadedModel.classify`.

    Attributes:
        probs: (N, K) float64 confidences: softmax probabilities for a softmax or linear
            output (a softmax is applied to linear outputs), the outputs themselves for sigmoid
            and unknown activations.
        class_names: the model's class names (K of them, or fewer if the card names fewer).
    """

    probs: np.ndarray
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.probs)

    @property
    def top1(self) -> np.ndarray:
        """(N,) the index of each row's most confident class."""
        return self.probs.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        """(N,) the confidence of each row's top-1 class."""
        return self.probs[np.arange(len(self.probs)), self.top1]

    def of(self, classes: int | np.ndarray) -> np.ndarray:
        """(N,) each row's confidence in ``classes`` (one index, or one per row)."""
        wanted = np.broadcast_to(np.asarray(classes, dtype="int64"), (len(self.probs),))
        return self.probs[np.arange(len(self.probs)), wanted]

    def topk(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, confidences), each (N, k), most confident first (k capped at K)."""
        k = max(1, min(int(k), self.probs.shape[1]))
        order = np.argsort(-self.probs, axis=1, kind="stable")[:, :k]
        return order, np.take_along_axis(self.probs, order, axis=1)

    def correct(self, labels: np.ndarray) -> np.ndarray:
        """(N,) whether each row's top-1 class is its label."""
        return self.top1 == np.asarray(labels)

    def accuracy(self, labels: np.ndarray) -> float:
        """The fraction of rows whose top-1 class is their label (nan for no rows)."""
        return float(np.mean(self.correct(labels))) if len(self.probs) else float("nan")

    def name(self, index: int) -> str:
        """The name of class ``index`` (its number when the model names fewer classes)."""
        return class_name(self.class_names, index)


def class_name(names: tuple[str, ...], index: int) -> str:
    """``names[index]``, or the index as text when there are fewer names."""
    index = int(index)
    return names[index] if 0 <= index < len(names) else str(index)


def softmax(outputs: np.ndarray) -> np.ndarray:
    """A numerically stable softmax over the last axis, in float64."""
    outputs = np.asarray(outputs, dtype="float64")
    shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
