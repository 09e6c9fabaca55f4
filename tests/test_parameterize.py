"""The Fourier parameterisation: Lucid's unitary scale, checked with numpy's FFT, and --init
refused where it would be ignored (#23, item 2)."""

from __future__ import annotations

import numpy as np
import pytest

import kinterp
from kinterp.errors import KinterpError
from kinterp.toolkit.optimize import (
    Engine,
    Settings,
    class_targets,
    fourier,
    load_starts,
    objective,
    pixels,
)
from tests.conftest import assert_refused


def as_params(spectrum: np.ndarray) -> np.ndarray:
    """(H, W//2+1) complex -> the parameters of one grey image, (1, 1, H, W//2+1, 2)."""
    return np.stack([spectrum.real, spectrum.imag], axis=-1)[None, None].astype("float32")


def linear_image(shape: tuple[int, int], decay: float, params: np.ndarray) -> np.ndarray:
    """The parameterisation's image before its sigmoid and Lucid's / 4, (H, W)."""
    image = np.asarray(fourier((*shape, 1), decay).to_image(params), dtype="float64")[0, ..., 0]
    return 4.0 * np.log(image / (1.0 - image))


def frequency_weights(height: int, width: int, decay: float) -> np.ndarray:
    """Lucid's 1 / max(frequency, 1 / max(H, W)) ** decay on the rfft grid, written out."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.arange(width // 2 + 1)[None, :] / width
    return 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / max(height, width)) ** decay


@pytest.mark.parametrize("shape", [(28, 28), (96, 96), (17, 30)])
def test_a_unit_norm_spectrum_makes_a_unit_norm_image(shape):
    """Parseval: with flat frequency weights (decay 0) the transform is numpy's orthonormal
    inverse FFT, so the spectrum of a unit-norm image gives that image back, at any size
    (before the fix it came back sqrt(H*W) times smaller: 1/28 at 28x28, 1/96 at 96x96)."""
    rng = np.random.default_rng(0)
    picture = rng.standard_normal(shape)
    picture /= np.linalg.norm(picture)
    spectrum = np.fft.rfft2(picture, norm="ortho")  # a unit-norm (Hermitian) spectrum
    got = linear_image(shape, 0.0, as_params(spectrum))
    assert np.linalg.norm(got) == pytest.approx(1.0, abs=2e-3)
    assert np.abs(got - picture).max() < 1e-3 * np.abs(picture).max() + 1e-5


@pytest.mark.parametrize("shape", [(28, 28), (32, 24)])
def test_the_weighted_spectrum_goes_through_an_orthonormal_inverse_fft(shape):
    """With Lucid's 1/frequency weights the image is numpy's irfft2(weights * spectrum,
    norm="ortho"), i.e. Lucid's irfft2d(sqrt(H*W) * weights * spectrum)."""
    rng = np.random.default_rng(1)
    height, width = shape
    spectrum = 0.01 * (
        rng.standard_normal((height, width // 2 + 1))
        + 1j * rng.standard_normal((height, width // 2 + 1))
    )
    want = np.fft.irfft2(frequency_weights(height, width, 1.0) * spectrum, shape, norm="ortho")
    got = linear_image(shape, 1.0, as_params(spectrum))
    assert np.abs(got - want).max() < 1e-3 * np.abs(want).max()


@pytest.fixture(scope="module")
def cnn():
    return kinterp.load_model("mnist-cnn")


def final_logits(model, images: np.ndarray, classes: list[int]) -> np.ndarray:
    """Each image's logit of its class, computed by the model outside the optimiser."""
    logits = np.asarray(model.logits_model(model.to_input(images), training=False))
    return logits[np.arange(len(classes)), classes]


def test_fourier_climbs_a_logit_as_far_as_pixels_with_the_same_lr(cnn):
    """Same steps, same lr, same classes: the Fourier maps' logit gains are within a factor of
    3 of the pixel maps' (about half of them; before the fix about 1/50: 1.7 against 66)."""
    classes = [0, 3, 7]
    shape = cnn.require_image()
    goal = objective(cnn, class_targets(cnn, classes), classes)
    grey = np.full((len(classes), *shape), 0.5, "float32")
    start = final_logits(cnn, grey, classes)
    reached = {}
    for name, shape_of in (("pixels", pixels()), ("fourier", fourier(shape))):
        settings = Settings(steps=32, lr=0.05, chunk=32, parameterisation=shape_of)
        result = Engine(goal, settings).run(grey, frame_row=None, rng=np.random.default_rng(0))
        reached[name] = final_logits(cnn, result.images, classes)
    pixel_gain = reached["pixels"] - start
    fourier_gain = reached["fourier"] - start
    assert np.all(pixel_gain > 20)  # the yardstick itself climbs
    ratio = fourier_gain / pixel_gain
    assert np.all((ratio > 1 / 3) & (ratio < 3)), ratio


def test_init_is_refused_where_the_parameterisation_ignores_it(cnn):
    shape = cnn.require_image()
    with pytest.raises(KinterpError, match=r"--init zeros,half would be ignored"):
        load_starts(cnn, ["zeros", "half"], fourier(shape))
    assert load_starts(cnn, ["uniform"], fourier(shape)).names == ["uniform"]  # the default
    assert load_starts(cnn, ["zeros"], pixels()).names == ["zeros"]
    assert load_starts(cnn, ["zeros"]).names == ["zeros"]


def test_featurevis_refuses_init_under_fourier_in_one_line(runner, tmp_path):
    args = ["run", "featurevis", "mnist-cnn", "--parameterisation", "fourier", "--init", "zeros",
            "--layer", "conv1", "--units", "0", "--tv", "0.1", "--steps", "1", "--examples", "0",
            "--quiet"]  # fmt: skip
    assert_refused(
        runner,
        args,
        "--init zeros would be ignored: --parameterisation fourier starts from a small random "
        "spectrum, not from starting images; drop --init or use --parameterisation pixels",
        tmp_path / "out",
    )
