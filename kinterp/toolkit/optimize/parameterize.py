"""Image parameterisations: what the optimiser changes, and how that becomes an image.

``pixels`` optimises the image itself, clipped to [0, 1] after every step (HappyMap), or with
``clip=False`` left free (HappyMap's ``--range free``: a penalty must bound it). ``fourier``
optimises a scaled Fourier spectrum, decorrelated across colour channels for RGB, squashed by a
sigmoid into [0, 1] (Olah et al., Lucid's ``fft_image``): steps then change low frequencies
more than high ones, which favours structure over high-frequency noise.

As in Lucid, the inverse FFT is orthonormal (unitary: TensorFlow's ``irfft2d`` divides by
H*W, so the spectrum is multiplied by sqrt(H*W)): a spectrum of unit norm makes an image of
unit norm, so one ``--lr`` moves Fourier parameters about as far in the image as it moves
pixels, at any image size. Only the frequency weights ``1 / frequency**decay`` change the
balance, towards low frequencies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Lucid's colour correlation square root (ImageNet), columns normalised by the largest norm.
COLOR_CORRELATION_SVD_SQRT = np.asarray(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype="float32"
)
COLOR_CORRELATION = COLOR_CORRELATION_SVD_SQRT / np.max(
    np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0)
)
FOURIER_INIT_STD = 0.01


@dataclass(frozen=True)
class Parameterisation:
    """How parameters become images.

    Attributes:
        name: ``pixels`` or ``fourier``.
        start: (start images (N, H, W, C) in [0, 1], numpy generator) -> initial parameters.
        to_image: parameters -> images in [0, 1], inside the compiled graph.
        clip: project the parameters back into [0, 1] after every step (pixels only).
        uses_starts: False when ``start`` ignores the starting images (Fourier starts from a
            small random spectrum), so ``--init`` would be ignored and is refused.
    """

    name: str
    start: Callable[[np.ndarray, np.random.Generator], np.ndarray]
    to_image: Callable[[Any], Any]
    clip: bool
    uses_starts: bool = True


def pixels(clip: bool = True) -> Parameterisation:
    """The image itself, clipped to [0, 1] after every step (``clip=False``: never clipped)."""
    return Parameterisation(
        "pixels" if clip else "free pixels",
        lambda images, rng: np.asarray(images, "float32"),
        lambda x: x,
        clip,
    )


def spectrum_scale(height: int, width: int, decay: float = 1.0) -> np.ndarray:
    """(H, W//2+1) weights ``1 / frequency**decay`` that keep every frequency's energy equal
    (the lowest frequencies, the constant term included, get the weight of 1 / max(H, W)).

    They do not include the sqrt(H*W) that makes the inverse FFT unitary (see :func:`fourier`).
    """
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    frequency = np.sqrt(fx * fx + fy * fy)
    return (1.0 / np.maximum(frequency, 1.0 / max(height, width)) ** decay).astype("float32")


def fourier(shape: tuple[int, int, int], decay: float = 1.0) -> Parameterisation:
    """A scaled, colour-decorrelated Fourier spectrum per image, through a sigmoid.

    The starting images are not used: each row starts from a small random spectrum (a grey
    image with faint noise), as in Lucid. The weighted spectrum goes through an orthonormal
    inverse FFT (times sqrt(H*W), since ``irfft2d`` divides by H*W), as Lucid's ``fft_image``
    does, so a step of ``lr`` is about as large as a pixel step of ``lr`` at any image size;
    then, as in Lucid, divided by 4, colour-decorrelated for RGB and squashed by a sigmoid.
    """
    height, width, channels = shape
    scale = spectrum_scale(height, width, decay) * np.float32(np.sqrt(height * width))
    spectrum_shape = (channels, height, width // 2 + 1, 2)

    def start(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        size = (len(images), *spectrum_shape)
        return (rng.standard_normal(size) * FOURIER_INIT_STD).astype("float32")

    def to_image(params: Any) -> Any:
        import tensorflow as tf

        spectrum = tf.complex(params[..., 0], params[..., 1]) * tf.cast(scale, tf.complex64)
        image = tf.signal.irfft2d(spectrum, fft_length=[height, width])  # (N, C, H, W)
        image = tf.transpose(image, [0, 2, 3, 1]) / 4.0
        if channels == 3:
            image = tf.tensordot(image, tf.constant(COLOR_CORRELATION.T), axes=1)
        return tf.sigmoid(image)

    return Parameterisation("fourier", start, to_image, clip=False, uses_starts=False)


def parameterisation(name: str, shape: tuple[int, int, int]) -> Parameterisation:
    """``pixels`` or ``fourier`` for images of ``shape``."""
    if name == "fourier":
        return fourier(shape)
    if name == "pixels":
        return pixels()
    raise ValueError(f"unknown parameterisation {name!r}; use pixels or fourier")
