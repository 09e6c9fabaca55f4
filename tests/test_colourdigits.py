"""Colour digits: mnist-5k painted in seeded colours, deterministic, recoverable, registered."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kinterp.cli import app
from kinterp.data.colourdigits import (
    MIN_CONTRAST,
    MNIST_RGB,
    SEED,
    colour_pairs,
    colourise,
    load_mnist_rgb,
    luminance,
    pad,
    register_datasets,
)
from kinterp.data.datasets import DatasetSpec, load_mnist_5k
from kinterp.plugins import registry
from kinterp.registry import load_dataset


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    """The first 300 bundled mnist-5k training digits, (N, 28, 28, 1) in [0, 1]."""
    return load_mnist_5k().x_train[:300]


def _padded(digits: np.ndarray) -> np.ndarray:
    """The 28x28 digits in the middle of 32x32 zeros, built here without the module's pad."""
    return np.pad(digits[..., 0], ((0, 0), (2, 2), (2, 2)))


def _recovered(images: np.ndarray, background: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """|image - background| / |ink - background| in each image's highest-contrast channel."""
    channel = np.argmax(np.abs(ink - background), axis=1)
    rows = np.arange(len(images))
    plane = images[rows, :, :, channel]  # (N, 32, 32)
    bg, fg = background[rows, channel], ink[rows, channel]
    return np.abs(plane - bg[:, None, None]) / np.abs(fg - bg)[:, None, None]


def test_the_same_seed_gives_the_same_arrays(grey):
    first, again = colourise(grey, 7), colourise(grey, 7)
    for part in ("images", "background", "ink"):
        np.testing.assert_array_equal(getattr(first, part), getattr(again, part))
    other = colourise(grey, 8)
    assert not np.array_equal(first.background, other.background)
    assert not np.array_equal(first.images, other.images)


def test_images_are_32x32_rgb_in_the_unit_range(grey):
    images = colourise(grey, 1).images
    assert images.shape == (len(grey), 32, 32, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_every_pixel_is_ink_times_digit_plus_background_times_the_rest(grey):
    painted = colourise(grey, 3)
    digit = _padded(grey)[..., None]
    expected = painted.ink[:, None, None] * digit + painted.background[:, None, None] * (1 - digit)
    np.testing.assert_allclose(painted.images, expected, atol=1e-6)
    # the 2-pixel border is pure background
    np.testing.assert_allclose(painted.images[:, 0, 0], painted.background, atol=1e-6)


def test_the_grey_digit_is_recoverable_from_the_image_and_its_colours(grey):
    painted = colourise(grey, 5)
    recovered = _recovered(painted.images, painted.background, painted.ink)
    np.testing.assert_allclose(recovered, _padded(grey), atol=1e-5)


def test_every_pair_has_the_contrast_rule(grey):
    painted = colourise(grey, 11)
    for colours in (painted.background, painted.ink):
        assert colours.shape == (len(grey), 3)
        assert colours.min() >= 0.0 and colours.max() <= 1.0
    contrast = np.abs(luminance(painted.ink) - luminance(painted.background))
    assert contrast.min() >= MIN_CONTRAST
    assert (luminance(painted.ink) > luminance(painted.background)).any()  # both ways round
    assert (luminance(painted.ink) < luminance(painted.background)).any()


def test_luminance_is_bt601():
    assert luminance(np.array([1.0, 0.0, 0.0])) == pytest.approx(0.299)
    assert luminance(np.array([[1.0, 1.0, 1.0], [0.0, 1.0, 0.0]])) == pytest.approx([1.0, 0.587])


def test_a_stricter_contrast_is_kept_and_a_bad_one_refused():
    background, ink = colour_pairs(200, np.random.default_rng(0), min_contrast=0.7)
    assert (np.abs(luminance(ink) - luminance(background)) >= 0.7).all()
    with pytest.raises(ValueError, match="min_contrast"):
        colour_pairs(1, np.random.default_rng(0), min_contrast=1.0)


def test_pad_centres_and_refuses_digits_that_do_not_fit():
    digits = np.ones((2, 28, 28), dtype=np.float32)
    padded = pad(digits)
    assert padded.shape == (2, 32, 32) and padded.sum() == 2 * 28 * 28
    assert padded[:, 2:30, 2:30].min() == 1.0
    with pytest.raises(ValueError, match="do not fit"):
        pad(np.zeros((1, 33, 33)))
    with pytest.raises(ValueError, match="grey digits"):
        pad(np.zeros((1, 28, 28, 3)))


def test_mnist_rgb_is_mnist_5k_colourised_on_the_same_split():
    data, digits = load_mnist_rgb(), load_mnist_5k()
    assert data is load_mnist_rgb()  # cached in-process
    assert data.name == "mnist-rgb" and tuple(data.class_names) == tuple("0123456789")
    assert data.x_train.shape == (4000, 32, 32, 3) and data.x_test.shape == (1000, 32, 32, 3)
    assert data.x_train.dtype == np.float32
    assert data.x_train.min() >= 0.0 and data.x_test.max() <= 1.0
    np.testing.assert_array_equal(data.y_train, digits.y_train)
    np.testing.assert_array_equal(data.y_test, digits.y_test)
    assert "1,000" in data.split and "mnist-5k split" in data.split
    held_out = colourise(digits.x_test, [SEED, 1])
    np.testing.assert_array_equal(data.x_test, held_out.images)
    recovered = _recovered(data.x_test, held_out.background, held_out.ink)
    np.testing.assert_allclose(recovered, _padded(digits.x_test), atol=1e-5)


def test_mnist_rgb_is_registered_by_its_own_hook(runner):
    registered: list[DatasetSpec] = []
    register_datasets(registered.append)
    assert registered == [MNIST_RGB] and MNIST_RGB.name == "mnist-rgb"
    spec, record = registry().datasets["mnist-rgb"]
    assert spec is MNIST_RGB and record.name == "kinterp.data.colourdigits"
    assert record.status == "ok" and record.datasets == ["mnist-rgb"]
    assert load_dataset("mnist-rgb") is load_mnist_rgb()
    listed = runner.invoke(app, ["plugins", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["datasets"]["mnist-rgb"] == MNIST_RGB.summary
