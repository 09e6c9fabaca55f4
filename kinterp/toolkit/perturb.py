"""Image perturbations as sweeps of levels, each applied to a whole batch at once.

Every family maps a batch of images (N, H, W, C) in [0, 1] and one level to the perturbed
batch, vectorised over the batch (no per-image Python loop). What varies per image (the
direction of a shift, a noise field, where a patch goes) is drawn once from the seed, so one
image changes smoothly from level to level. Geometric families resample with
TensorFlow's batched projective transform (bilinear) and fill what enters the frame with the
background value.

A family is a :class:`Family`. The built-in ones (:data:`FAMILIES`) are registered through the
``register_perturbation_families`` hook, this module being a core plugin; a third-party plugin
registers its own the same way, and robustness sweeps every registered family. A family can
also be an attack (``Family.attack``): it then gets an :class:`AttackTarget`, the model under
test and the true labels, and robustness calls it once per compared model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from kinterp.hookspecs import hookimpl

if TYPE_CHECKING:
    from kinterp.loading.models import LoadedModel

CHUNK = 4096  # images resampled per call (bounds the memory of one transform)


@dataclass(frozen=True)
class Digits:
    """Clean images and what each perturbation needs to know about them.

    Attributes:
        images: (N, H, W, C) float32 in [0, 1].
        background: (N, 1, 1, C) each image's empty-frame colour: the per-channel median of
            its outermost pixel ring (black for MNIST, the paper's colour for a coloured
            digit); it broadcasts against ``images``.
        centre: (N, 2) the centre (row, col) of each image's ink bounding box.
        half_box: (N, 2) half the height and width of that box (0 for a blank image).
        direction: (N, 2) a unit compass direction per image, for shifts.
        field: (N, H, W, C) standard normal noise per image.
        uniform: (N, H, W, C) uniform [0, 1) per pixel, for salt and pepper.
        spot: (N, 2) where in its box each image is occluded, as a fraction in [0, 1).
    """

    images: np.ndarray
    background: np.ndarray
    centre: np.ndarray
    half_box: np.ndarray
    direction: np.ndarray
    field: np.ndarray
    uniform: np.ndarray
    spot: np.ndarray

    @classmethod
    def of(cls, images: np.ndarray, seed: int) -> Digits:
        """Measure ``images`` and draw their per-image randomness from ``seed``."""
        images = np.asarray(images, dtype="float32")
        n, height, width, _ = images.shape
        background = np.median(ring(images, 1), axis=1)[:, None, None, :].astype("float32")
        ink = ink_mask(images, background)
        rows, cols = ink.any(axis=2), ink.any(axis=1)
        top, bottom = _first(rows), height - 1 - _first(rows[:, ::-1])
        left, right = _first(cols), width - 1 - _first(cols[:, ::-1])
        blank = ~rows.any(axis=1)
        centre = np.stack([(top + bottom) / 2, (left + right) / 2], axis=1)
        centre[blank] = ((height - 1) / 2, (width - 1) / 2)
        half_box = np.stack([(bottom - top) / 2, (right - left) / 2], axis=1)
        half_box[blank] = 0.0
        rng = np.random.default_rng(seed)
        angle = rng.integers(0, 8, size=n) * (np.pi / 4)
        return cls(
            images=images,
            background=background,
            centre=centre,
            half_box=half_box,
            direction=np.stack([np.sin(angle), np.cos(angle)], axis=1),
            field=rng.standard_normal(images.shape).astype("float32"),
            uniform=rng.random(images.shape, dtype="float32"),
            spot=rng.random((n, 2)),
        )

    @property
    def ink(self) -> np.ndarray:
        """(N, 1, 1, 1) the value of a pen stroke: the opposite end of [0, 1] from each
        image's background (by its mean over channels)."""
        return np.where(self.background.mean(axis=-1, keepdims=True) < 0.5, 1.0, 0.0).astype(
            "float32"
        )

    @cached_property
    def stroke(self) -> np.ndarray:
        """(N, H, W) True on each image's ink, faint edges included: the pixels of the ink
        mask (more than 0.1 from the background, what the ink box is measured from) and every
        pixel joined to them through pixels more than FAINT_INK of the image's contrast (and
        MIN_FAINT_INK) from its background (hysteresis, as Canny's edges): a stroke's
        anti-aliased rim is ink, a stray faint pixel away from the digit is not. A digit of
        contrast 0.1 or less has no ink."""
        distance = np.abs(self.images - self.background).max(axis=-1)
        contrast = distance.reshape(len(distance), -1).max(axis=1, initial=0.0)
        faint = distance > np.maximum(FAINT_INK * contrast, MIN_FAINT_INK)[:, None, None]
        within_an_image = np.zeros((3, 3, 3), bool)
        within_an_image[1] = True  # 8-connected in the plane, never across images
        strong = distance > INK_DISTANCE
        return ndimage.binary_propagation(strong, structure=within_an_image, mask=faint | strong)

    def take(self, index: np.ndarray) -> Digits:
        """The same measurements for a subset of the images."""
        return Digits(
            self.images[index],
            self.background[index],
            self.centre[index],
            self.half_box[index],
            self.direction[index],
            self.field[index],
            self.uniform[index],
            self.spot[index],
        )


INK_DISTANCE = 0.1  # from the background, in some channel: certainly ink
FAINT_INK = 0.03  # of an image's contrast: ink when joined to certain ink (a stroke's rim)
MIN_FAINT_INK = 2 / 255  # and more than two grey levels, whatever the contrast


def ink_mask(images: np.ndarray, background: np.ndarray) -> np.ndarray:
    """(N, H, W) True where a pixel is more than INK_DISTANCE from its image's background
    colour in some channel."""
    return np.abs(images - background).max(axis=-1) > INK_DISTANCE


def _first(mask: np.ndarray) -> np.ndarray:
    """Per row of ``mask``, the index of its first True (0 when there is none)."""
    return mask.argmax(axis=1).astype("float64")


def border_mask(shape: tuple[int, ...], width: int) -> np.ndarray:
    """(H, W) True on the outer ``width``-pixel ring of a frame of ``shape`` (H, W, ...)."""
    mask = np.zeros(shape[:2], dtype=bool)
    if width > 0:
        mask[:width], mask[-width:], mask[:, :width], mask[:, -width:] = True, True, True, True
    return mask


def ring(images: np.ndarray, width: int) -> np.ndarray:
    """(N, P, C) the P pixels of the outer ``width``-pixel ring of every image."""
    return images[:, border_mask(images.shape[1:3], width)]


def resample(d: Digits, matrix: np.ndarray, centre: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Each output pixel p of image i reads the input at ``centre_i + matrix_i @ (p -
    centre_i) - offset_i`` (row, col order), bilinearly; outside the frame reads the image's
    background (the images less their background are transformed with a fill of 0, and the
    background added back: a colour per image and channel, where TensorFlow fills with one
    number). One transform per image, through TensorFlow's batched, multi-threaded
    ``ImageProjectiveTransformV3`` (scipy's map_coordinates needs 4-D coordinates for that and
    ran about 20x slower)."""
    import tensorflow as tf

    n, height, width, _ = d.images.shape
    m = np.asarray(matrix, dtype="float64")
    c_r, c_c = centre[:, 0], centre[:, 1]
    o_r, o_c = offset[:, 0], offset[:, 1]
    # TF maps output (x=col, y=row) to input (a0 x + a1 y + a2, b0 x + b1 y + b2).
    transforms = np.stack(
        [
            m[:, 1, 1],
            m[:, 1, 0],
            c_c - m[:, 1, 0] * c_r - m[:, 1, 1] * c_c - o_c,
            m[:, 0, 1],
            m[:, 0, 0],
            c_r - m[:, 0, 0] * c_r - m[:, 0, 1] * c_c - o_r,
            np.zeros(n),
            np.zeros(n),
        ],
        axis=1,
    ).astype("float32")
    out = np.empty_like(d.images)
    for start in range(0, n, CHUNK):
        part = slice(start, start + CHUNK)
        out[part] = (
            d.background[part]
            + tf.raw_ops.ImageProjectiveTransformV3(
                images=d.images[part] - d.background[part],
                transforms=transforms[part],
                output_shape=tf.constant([height, width]),
                fill_value=tf.constant(0.0, tf.float32),
                interpolation="BILINEAR",
                fill_mode="CONSTANT",
            ).numpy()
        )
    return out


def _identity(n: int) -> np.ndarray:
    return np.broadcast_to(np.eye(2), (n, 2, 2))


def edge(d: Digits, width: float) -> np.ndarray:
    """Mask a border ring ``width`` px wide with the background."""
    mask = border_mask(d.images.shape[1:3], int(width))
    return np.where(mask[None, :, :, None], d.background, d.images)


def fit_factor(d: Digits) -> np.ndarray:
    """(N,) the enlargement at which each image's ink box touches the frame."""
    height, width = d.images.shape[1:3]
    room = np.minimum(d.centre, np.array([height - 1, width - 1]) - d.centre)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(d.half_box > 0, (room + 0.5) / (d.half_box + 0.5), np.inf)
    return factor.min(axis=1)


def scale(d: Digits, factor: float) -> np.ndarray:
    """Resize the ink about its box centre by ``factor``; an enlargement stops where the box
    touches the frame (the digit "drawn to the edge")."""
    per_image = np.minimum(factor, fit_factor(d)) if factor > 1 else np.full(len(d.images), factor)
    matrix = _identity(len(per_image)) / per_image[:, None, None]
    return resample(d, matrix, d.centre, np.zeros_like(d.centre))


def shift(d: Digits, pixels: float) -> np.ndarray:
    """Move each image ``pixels`` px in its own compass direction (whole pixels)."""
    offset = np.round(d.direction * pixels)
    return resample(d, _identity(len(offset)), d.centre, offset)


def rotate(d: Digits, degrees: float) -> np.ndarray:
    """Rotate anticlockwise by ``degrees`` about the frame's centre."""
    theta = np.deg2rad(-degrees)  # rows grow downwards: a negative angle turns anticlockwise
    cos, sin = np.cos(theta), np.sin(theta)
    n, height, width = d.images.shape[:3]
    matrix = np.broadcast_to(np.array([[cos, -sin], [sin, cos]]), (n, 2, 2))
    centre = np.broadcast_to([(height - 1) / 2, (width - 1) / 2], (n, 2))
    return resample(d, matrix, np.asarray(centre), np.zeros((n, 2)))


def noise(d: Digits, sigma: float) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``sigma`` (the same field at every level)."""
    return np.clip(d.images + sigma * d.field, 0.0, 1.0)


def bgnoise(d: Digits, amount: float) -> np.ndarray:
    """Blend the background (every pixel but the ink, :attr:`Digits.stroke`, faint rims
    included) towards uniform random noise by ``amount`` (1: a scrambled background); the ink
    pixels stay exactly as they are. Per channel, so an RGB background gets coloured noise."""
    scrambled = (1 - amount) * d.images + amount * d.uniform
    return np.where(d.stroke[..., None], d.images, np.clip(scrambled, 0.0, 1.0))


def saltpepper(d: Digits, amount: float) -> np.ndarray:
    """Set a fraction ``amount`` of the pixels to 0 or 1 (half each)."""
    out = d.images.copy()
    out[d.uniform < amount / 2] = 0.0
    out[d.uniform > 1 - amount / 2] = 1.0
    return out


def occlude(d: Digits, size: float) -> np.ndarray:
    """Cover a ``size`` px square, placed at random within each image's ink box, with the
    background (chopping a stroke out of the digit)."""
    out, side = d.images.copy(), int(size)
    if side <= 0:
        return out
    height, width = out.shape[1:3]
    low = d.centre - d.half_box
    centre = low + d.spot * (2 * d.half_box + 1)
    top = np.clip(np.round(centre[:, 0] - side / 2), 0, max(height - side, 0)).astype(int)
    left = np.clip(np.round(centre[:, 1] - side / 2), 0, max(width - side, 0)).astype(int)
    rows = np.arange(height)[None, :, None]
    cols = np.arange(width)[None, None, :]
    inside = (
        (rows >= top[:, None, None])
        & (rows < top[:, None, None] + side)
        & (cols >= left[:, None, None])
        & (cols < left[:, None, None] + side)
    )
    return np.where(inside[..., None], d.background, out)


def blur(d: Digits, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` px."""
    from scipy.ndimage import gaussian_filter

    if sigma <= 0:
        return d.images.copy()
    return gaussian_filter(d.images, sigma=(0, sigma, sigma, 0), mode="nearest")


def invert(d: Digits, amount: float) -> np.ndarray:
    """Blend towards the negative: 0 is the image, 1 its inverse (light background)."""
    return (1 - amount) * d.images + amount * (1 - d.images)


NAME = re.compile(r"[a-z][a-z0-9_-]*")
"""What a family may be called: it is a word of ``--family`` and ``--levels NAME=...``."""


@dataclass(frozen=True)
class AttackTarget:
    """What an attack family attacks: the model under test and each image's true class.

    Attributes:
        model: the :class:`~kinterp.LoadedModel` whose gradients the attack follows.
        labels: (N,) the true class of each of the ``Digits`` images.
        batch_size: rows per model call; robustness classifies the attacked images in calls
            of the same size.
    """

    model: LoadedModel
    labels: np.ndarray
    batch_size: int = 256


@dataclass(frozen=True)
class Family:
    """A perturbation family: a sweep of levels applied to a whole batch at once.

    Attributes:
        name: what ``--family`` and ``--levels NAME=...`` call it (lower-case letters, digits,
            ``-`` and ``_``, starting with a letter).
        summary: what a level does, in a phrase (the report's section title).
        apply: ``apply(digits, level)`` -> the perturbed batch, ``(N, H, W, C)`` float in
            [0, 1], computed for the whole batch at once; what varies per image comes from
            ``digits`` (drawn once from the seed), so an image changes smoothly with the level.
            An attack's is ``apply(digits, level, target)`` (see ``attack``).
        identity: the level that leaves every image unchanged.
        levels: the levels swept when the run names none.
        low, high: the inclusive bounds of any level.
        unit: a level's unit, for captions and metric keys (``px``, ``degrees``).
        whole: levels are whole numbers (pixels).
        most: the largest level images of a given ``(H, W, C)`` can take, when that is less than
            ``high`` (a border wider than half the frame), or None.
        block: the name of a registered report block that robustness adds to the family's
            section, filled with ``levels`` (each level as text, with its unit) and ``values``
            (the run's model's accuracy at each level, in [0, 1]); None: none.
        attack: the family is a white-box attack: ``apply`` also gets an
            :class:`AttackTarget` (the model and the true labels), and robustness calls it once
            per compared model, each attacked through its own gradients.
        by_default: robustness sweeps the family when ``--family`` is not given (the attacks
            are left out: they cost many model calls per level).

    Raises:
        ValueError: a bad name, no default levels, or a default or identity level that breaks
            the family's own bounds (a plugin bug: the plugin is then marked broken).
    """

    name: str
    summary: str
    apply: Callable[..., np.ndarray]
    identity: float
    levels: tuple[float, ...]
    low: float
    high: float
    unit: str
    whole: bool = False
    most: Callable[[tuple[int, int, int]], float] | None = None
    block: str | None = None
    attack: bool = False
    by_default: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise ValueError(
                f"family name {self.name!r} must be lower-case letters, digits, - or _"
            )
        if not self.summary:
            raise ValueError(f"family {self.name!r} needs a one-line summary")
        if not self.levels:
            raise ValueError(f"family {self.name!r} needs default levels")
        for level in (self.identity, *self.levels):
            problem = self.problem(level)
            if problem:
                raise ValueError(f"family {self.name!r}: level {level!r} {problem}")

    def problem(self, level: float, shape: tuple[int, int, int] | None = None) -> str | None:
        """Why ``level`` cannot be swept (on images of ``shape`` (H, W, C), when given), as
        the end of a sentence that starts with the level, or None when it can."""
        if not math.isfinite(level):
            return "is not a finite number"
        if self.whole and level != int(level):
            return "must be a whole number"
        if level < self.low:
            return f"must be at least {self.low:g}"
        if level > self.high:
            return f"must be at most {self.high:g}"
        if shape is not None and self.most is not None and level > self.most(shape):
            return (
                f"is too large for {shape[0]}x{shape[1]} images; use at most {self.most(shape):g}"
            )
        return None

    def level_text(self, level: float) -> str:
        """A level with its unit, e.g. ``2 px`` or ``45 degrees``."""
        return f"{level:g} {self.unit}"


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "edge",
            "border ring of this width masked with the background",
            edge,
            identity=0,
            levels=(0, 1, 2, 3, 4, 5, 6, 8),
            low=0,
            high=512,
            unit="px",
            whole=True,
            most=lambda shape: min(shape[:2]) // 2,
        ),
        Family(
            "scale",
            "digit resized about its centre, at most to the frame",
            scale,
            identity=1,
            levels=(0.5, 0.7, 0.85, 1.0, 1.2, 1.4, 2.0),
            low=0.05,
            high=8,
            unit="x",
        ),
        Family(
            "shift",
            "digit moved this far in a random compass direction",
            shift,
            identity=0,
            levels=(0, 2, 4, 6, 8),
            low=0,
            high=512,
            unit="px",
            whole=True,
            most=lambda shape: max(shape[:2]),
        ),
        Family(
            "rotate",
            "image rotated anticlockwise",
            rotate,
            identity=0,
            levels=(0, 15, 30, 45, 60, 75, 90),
            low=-360,
            high=360,
            unit="degrees",
        ),
        Family(
            "noise",
            "Gaussian noise added",
            noise,
            identity=0,
            levels=(0, 0.1, 0.2, 0.3, 0.5, 0.8),
            low=0,
            high=10,
            unit="sigma",
        ),
        Family(
            "bgnoise",
            "background (not the ink) blended towards random noise",
            bgnoise,
            identity=0,
            levels=(0, 0.1, 0.25, 0.5, 0.75, 1),
            low=0,
            high=1,
            unit="fraction",
        ),
        Family(
            "saltpepper",
            "pixels set to black or white",
            saltpepper,
            identity=0,
            levels=(0, 0.02, 0.05, 0.1, 0.2, 0.4),
            low=0,
            high=1,
            unit="fraction",
        ),
        Family(
            "occlude",
            "a square of this side blanked within the digit",
            occlude,
            identity=0,
            levels=(0, 4, 6, 8, 10, 12),
            low=0,
            high=512,
            unit="px",
            whole=True,
            most=lambda shape: min(shape[:2]),
        ),
        Family(
            "blur",
            "Gaussian blur",
            blur,
            identity=0,
            levels=(0, 0.5, 1, 1.5, 2, 3),
            low=0,
            high=64,
            unit="sigma px",
        ),
        Family(
            "invert",
            "blend towards the negative image",
            invert,
            identity=0,
            levels=(0, 0.25, 0.5, 0.75, 1),
            low=0,
            high=1,
            unit="fraction",
        ),
    )
}
"""The built-in families by name. A run sweeps the registered ones: these, registered below
through ``register_perturbation_families``, and any a plugin registers."""


def stamp(d: Digits, row: int, col: int, size: int) -> np.ndarray:
    """Every image with a ``size`` px square blob of ink whose top-left corner is (row, col)."""
    out = d.images.copy()
    out[:, row : row + size, col : col + size] = d.ink
    return out


@hookimpl
def register_perturbation_families(register: Callable[[Family], None]) -> None:
    """Register the built-in families."""
    for family in FAMILIES.values():
        register(family)
