"""bgnoise: the background blended towards noise, the digit's ink kept bit for bit (#26)."""

from __future__ import annotations

import numpy as np
import pytest

import kinterp
from kinterp.data.colourdigits import load_mnist_rgb
from kinterp.data.datasets import load_mnist_5k
from kinterp.toolkit import FAMILIES, Digits

LEVELS = (0, 0.1, 0.25, 0.5, 0.75, 1)


def ink_of(images: np.ndarray) -> np.ndarray:
    """(N, H, W) the test's own ink mask: more than 0.1 from the median of the outer ring."""
    ring = np.concatenate(
        [images[:, 0], images[:, -1], images[:, 1:-1, 0], images[:, 1:-1, -1]], axis=1
    )
    background = np.median(ring, axis=1)[:, None, None, :]
    return np.abs(images - background).max(axis=-1) > 0.1


@pytest.mark.parametrize("dataset", ["mnist-5k", "mnist-rgb"])
def test_ink_stays_and_the_background_turns_to_noise(dataset):
    x = (load_mnist_5k if dataset == "mnist-5k" else load_mnist_rgb)().x_test[:64]
    digits = Digits.of(x, seed=0)
    ink = ink_of(x)
    assert 0.05 < ink.mean() < 0.5  # digits, not blank frames or all-ink
    change = []
    for level in LEVELS:
        out = FAMILIES["bgnoise"].apply(digits, level)
        assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
        assert np.array_equal(out[ink], x[ink])  # the ink, bit for bit
        want = (1 - level) * x + level * digits.uniform  # the seeded per-pixel noise
        assert np.allclose(out[~ink], want[~ink], atol=1e-6)
        change.append(np.abs(out - x)[~ink].mean())
    assert change[0] == 0 and np.all(np.diff(change) > 0)
    # fully scrambled: the background is uniform noise (mean 1/2), coloured per channel
    assert abs(FAMILIES["bgnoise"].apply(digits, 1)[~ink].mean() - 0.5) < 0.01


def test_scrambled_backgrounds_lower_mnist_cnn_accuracy():
    model = kinterp.load_model("mnist-cnn")
    x, y = load_mnist_5k().test()
    digits = Digits.of(x[:300], seed=0)
    accuracy = [
        np.mean(
            np.asarray(model.keras_model(FAMILIES["bgnoise"].apply(digits, v))).argmax(1) == y[:300]
        )
        for v in (0, 0.5, 1)
    ]
    assert accuracy[0] > 0.95 and accuracy[2] < accuracy[1] < accuracy[0]
