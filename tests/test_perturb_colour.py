"""Perturbations of coloured images fill with each image's own background colour (#22): an
image that is all background is unchanged by every family that moves or masks pixels, and a
border mask writes exactly that colour, computed here independently with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from kinterp.toolkit import FAMILIES, Digits

RNG = np.random.default_rng(5)
MOVES_OR_MASKS = ["edge", "scale", "shift", "rotate", "occlude"]


def _painted(n: int = 6, height: int = 20, width: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Images of a per-image background colour with a bright-ish square of ink in the middle."""
    colours = RNG.uniform(0.1, 0.9, (n, 1, 1, 3)).astype("float32")
    images = np.broadcast_to(colours, (n, height, width, 3)).copy()
    images[:, 7:13, 9:15] = 1.0 - colours[:, 0, 0]
    return images, colours


@pytest.mark.parametrize("family", MOVES_OR_MASKS)
def test_an_image_of_pure_background_is_unchanged(family):
    _, colours = _painted()
    blank = np.broadcast_to(colours, (len(colours), 20, 24, 3)).copy()
    digits = Digits.of(blank, seed=0)
    level = max(FAMILIES[family].levels)
    out = FAMILIES[family].apply(digits, level)
    np.testing.assert_allclose(out, blank, atol=1e-5)


def test_the_border_is_masked_with_each_images_own_colour():
    images, colours = _painted()
    digits = Digits.of(images, seed=0)
    np.testing.assert_allclose(digits.background, colours, atol=1e-6)
    out = FAMILIES["edge"].apply(digits, 4)
    ring = np.ones((20, 24), bool)
    ring[4:-4, 4:-4] = False
    expected = np.where(ring[None, :, :, None], colours, images)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_what_rotation_brings_into_the_frame_is_the_background():
    images, colours = _painted()
    out = FAMILIES["rotate"].apply(Digits.of(images, seed=0), 45)
    corners = out[:, [0, 0, -1, -1], [0, -1, 0, -1]]  # (N, 4, 3)
    np.testing.assert_allclose(corners, np.broadcast_to(colours[:, 0], corners.shape), atol=1e-5)
