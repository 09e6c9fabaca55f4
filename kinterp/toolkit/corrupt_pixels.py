"""MNIST-C corruptions of single pixels and of the whole frame's geometry.

Shot noise, brightness and stripe change each pixel on its own; shear, scale, rotate and
translate resample the frame about its centre, as the reference's ``skimage`` warps do
(bilinear, the background outside the frame), through :func:`kinterp.toolkit.perturb.resample`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from kinterp.toolkit.corrupt_base import corruption, frame_scale, signs
from kinterp.toolkit.perturb import Digits, resample

EXACT_PHOTONS = 64  # up to this many photons per unit intensity, shot noise is exact Poisson


@corruption(0)
def shot_noise(d: Digits, inverse_photons: float) -> np.ndarray:
    """Poisson noise: each pixel becomes Poisson(x c) / c photons with c = 1 / level.

    Drawn by inverting the Poisson distribution at each pixel's uniform number (so the same
    pixel moves smoothly with the level); above ``EXACT_PHOTONS`` (faint noise), the normal
    approximation x + sqrt(x / c) z.
    """
    photons = 1.0 / inverse_photons
    mean = d.images.astype("float64") * photons
    if photons > EXACT_PHOTONS:
        noisy = mean + np.sqrt(mean) * ndtri(np.clip(d.uniform, 1e-12, 1 - 1e-12))
        return np.clip(noisy / photons, 0.0, 1.0)
    counts = np.zeros(mean.shape, dtype="float64")
    flat_counts = counts.reshape(-1)
    where = np.flatnonzero(mean > 0)
    lam = mean.reshape(-1)[where]
    u = d.uniform.reshape(-1)[where].astype("float64")
    pmf = np.exp(-lam)
    cdf = pmf.copy()
    k = 0
    while where.size:  # each pass settles the pixels whose count is k
        more = u > cdf
        where, lam, u, pmf, cdf = where[more], lam[more], u[more], pmf[more], cdf[more]
        k += 1
        flat_counts[where] = k
        pmf = pmf * lam / k
        cdf = cdf + pmf
        if k > 4 * EXACT_PHOTONS:  # float rounding left a cdf just under u
            break
    return np.clip(counts / photons, 0.0, 1.0)


@corruption(0)
def brightness(d: Digits, amount: float) -> np.ndarray:
    """HSV value raised by ``amount``: each pixel scaled so that its largest channel is
    min(V + amount, 1), hue and saturation kept (a black pixel turns grey)."""
    value = d.images.max(axis=-1, keepdims=True)
    raised = np.minimum(value + amount, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(value > 0, d.images * raised / value, raised)


@corruption(0)
def stripe(d: Digits, fraction: float) -> np.ndarray:
    """The left and right bands, each ``fraction`` of the width, inverted (1 - x)."""
    width = d.images.shape[2]
    band = int(round(fraction * width))
    out = d.images.copy()
    if band:
        out[:, :, :band] = 1.0 - out[:, :, :band]
        out[:, :, width - band :] = 1.0 - d.images[:, :, width - band :]
    return out


def _about_centre(d: Digits, matrix: np.ndarray) -> np.ndarray:
    """Each output pixel reads the input at ``matrix @ (p - centre) + centre`` (row, col)."""
    n, height, width = d.images.shape[:3]
    centre = np.broadcast_to([(height - 1) / 2, (width - 1) / 2], (n, 2))
    out = resample(d, matrix, np.asarray(centre, dtype="float64"), np.zeros((n, 2)))
    return np.clip(out, 0.0, 1.0)  # the background added back can round a hair past [0, 1]


@corruption(0)
def shear(d: Digits, amount: float) -> np.ndarray:
    """skimage's ``AffineTransform(shear=±amount)`` about the centre, the sign per image."""
    angle = amount * signs(d, 1, 1)[:, 0]
    matrix = np.zeros((len(angle), 2, 2))
    matrix[:, 0, 0], matrix[:, 1, 0], matrix[:, 1, 1] = np.cos(angle), -np.sin(angle), 1.0
    return _about_centre(d, matrix)


@corruption(1)
def scale(d: Digits, factor: float) -> np.ndarray:
    """The frame resized by ``factor`` about its centre (0.7: the digit at 70%)."""
    return _about_centre(d, np.broadcast_to(np.eye(2) / factor, (len(d.images), 2, 2)))


@corruption(0)
def rotate(d: Digits, radians: float) -> np.ndarray:
    """Rotated by ``radians`` about the centre, clockwise or anticlockwise per image."""
    angle = radians * signs(d, 2, 1)[:, 0]
    cos, sin = np.cos(angle), np.sin(angle)
    matrix = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], 1)
    return _about_centre(d, matrix)


@corruption(0)
def translate(d: Digits, pixels: float) -> np.ndarray:
    """Moved ``pixels`` (at 28x28; scaled with the frame, whole pixels) both down or up and
    left or right, each direction per image."""
    step = np.round(pixels * frame_scale(d.images))
    offset = step * signs(d, 3, 2)
    n = len(offset)
    out = resample(d, np.broadcast_to(np.eye(2), (n, 2, 2)), np.zeros((n, 2)), offset)
    return np.clip(out, 0.0, 1.0)
