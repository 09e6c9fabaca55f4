"""MNIST-C corruptions that draw lines: dotted line, zigzag, and canny edges.

Lines are the reference's soft strokes (``log(1 - d / 2.3) + 1`` at distance d from the
line, 2.3 px scaled with the frame), drawn for every image at once: each image's endpoints are
arrays over the batch, and a stroke is one broadcast over (N, H, W). Canny edges is
``skimage.feature.canny``'s algorithm (smoothing, Sobel gradients, non-maximum suppression
with interpolation, hysteresis) over the whole batch, written with scipy.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from kinterp.toolkit.corrupt_base import corruption, draw_ink, draws, frame_scale
from kinterp.toolkit.perturb import Digits

STROKE = 2.3  # px at 28x28: how far from a line its stroke reaches
DASH = 2  # px at 28x28: the dotted line's dash and gap
ZIGZAG = 2.0  # px at 28x28: the zigzag's half-period and amplitude


def strokes(
    shape: tuple[int, int], start: np.ndarray, end: np.ndarray, used: np.ndarray, reach: float
) -> np.ndarray:
    """(N, H, W) the sum of the reference's ``line_from_points`` over each image's segments:
    ink in [0, 1] along the line through ``start`` and ``end`` (N, S, 2) points (column,
    row), between their columns (``floor`` of the first, up to but not including ``ceil`` of
    the last); none for a segment whose columns are equal or that is not ``used`` (N, S).

    Only the few rows around the line in each column between the segment's ends are
    computed (the stroke's ink is 0 beyond ``reach (1 - 1/e)``), and summed into the frames
    with one ``bincount``.
    """
    height, width = shape
    n = len(start)
    c0, r0 = start[..., 0, None], start[..., 1, None]
    c1, r1 = end[..., 0, None], end[..., 1, None]
    first, stop = np.floor(c0), np.ceil(c1)
    span = max(int((stop - first).max(initial=0)), 0)
    cols = first + np.arange(span)  # (N, S, span): the columns each segment may ink
    run = np.where(c1 == c0, 1.0, c1 - c0)
    centre = (r1 - r0) / run * (cols - c0) + r0  # the line's row in each of those columns
    inside = (cols < stop) & (cols >= 0) & (cols < width) & (c1 != c0) & used[..., None]
    near = int(np.ceil(reach * (1 - 1 / np.e) + 0.5))
    rows = np.round(centre)[..., None] + np.arange(-near, near + 1)  # (N, S, span, K)
    distance = np.minimum(np.abs(rows - centre[..., None]), reach - 1e-10)
    ink = np.log(1 - distance / reach) + 1
    keep = inside[..., None] & (rows >= 0) & (rows < height) & (ink > 0)
    images = np.arange(n).reshape(n, 1, 1, 1)
    flat = (images * height + rows) * width + cols[..., None]
    total = np.bincount(
        flat[keep].astype(np.intp), weights=np.minimum(ink[keep], 1.0), minlength=n * height * width
    )
    return total.reshape(n, height, width)


@corruption(0)
def dotted_line(d: Digits, opacity: float) -> np.ndarray:
    """A dashed line from the left edge to the right, at random rows on each side (in the
    top ``H - 1`` rows), drawn in ink; ``opacity`` scales the stroke (1: the paper's)."""
    n, height, width = d.images.shape[:3]
    s = frame_scale(d.images)
    ends = np.floor(draws(d, 40, (2,)) * (height - 1))
    start = np.stack([np.zeros(n), ends[:, 0]], axis=1)
    end = np.stack([np.full(n, width - 1.0), ends[:, 1]], axis=1)
    line = strokes((height, width), start[:, None], end[:, None], np.ones((n, 1), bool), STROKE * s)
    dash = max(1, int(round(DASH * s)))
    line[:, :, (np.arange(width) // dash) % 2 == 0] = 0.0  # gap first, as the reference
    return draw_ink(d, opacity * line)


def zigzag_points(d: Digits, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, 2) each image's zigzag corners (column, row) and (N, K) which are used.

    As the reference: a zigzag of half-period and amplitude 2 px along a line from column 2 to
    25 (of 28) starting at a random row and ending up to 5 rows above or 4 below it, closed by
    the reference's own last corner."""
    s, wide = frame_scale(d.images), width / 28
    u = draws(d, 50, (2,))
    c0, c1 = 2 * wide, 25 * wide
    r0 = np.floor(u[:, 0] * (height - 1))
    r1 = r0 + (np.floor(u[:, 1] * 10) - 5) * s
    theta = np.arctan((r1 - r0) / (c1 - c0))
    length = (c1 - c0) / np.cos(theta)
    a = b = ZIGZAG * s
    teeth = ((length - a) // (2 * a)).astype(int) + 1
    count = int(teeth.max()) + 2
    along, across = np.zeros((len(u), count)), np.zeros((len(u), count))
    used = np.zeros((len(u), count), dtype=bool)
    used[:, 0] = True
    for i in range(count - 2):
        tooth = i < teeth
        along[:, i + 1], across[:, i + 1], used[:, i + 1] = (2 * i + 1) * a, (-1) ** i * b, tooth
    whole = (2 * a) * (length // (2 * a))
    last = (-1.0) ** (teeth - 1) * b
    with np.errstate(divide="ignore", invalid="ignore"):
        closing = np.where(length != whole, last / (2 * (length - whole)), 0.0)
    rows = np.arange(len(u))
    along[rows, teeth + 1], across[rows, teeth + 1] = length, closing
    used[rows, teeth + 1] = length != whole
    cos, sin = np.cos(theta)[:, None], np.sin(theta)[:, None]
    points = np.stack([cos * along - sin * across + c0, sin * along + cos * across + r0[:, None]])
    return np.moveaxis(points, 0, -1), used


@corruption(0)
def zigzag(d: Digits, opacity: float) -> np.ndarray:
    """The reference's zigzag across the digit, drawn in ink; ``opacity`` scales the stroke."""
    height, width = d.images.shape[1:3]
    points, used = zigzag_points(d, height, width)
    pairs = used[:, :-1] & used[:, 1:]
    reach = STROKE * frame_scale(d.images)
    line = strokes((height, width), points[:, :-1], points[:, 1:], pairs, reach)
    return draw_ink(d, opacity * line)


def _sobel(planes: np.ndarray, axis: int) -> np.ndarray:
    """scipy's Sobel of (N, H, W) along image ``axis`` (1: rows, 2: columns), each image on
    its own (``ndimage.sobel`` would also smooth across the batch)."""
    out = ndimage.correlate1d(planes, [-1, 0, 1], axis=axis, mode="reflect")
    return ndimage.correlate1d(out, [1, 2, 1], axis=3 - axis, mode="reflect")


# Per gradient sector (skimage's four, in its order): the neighbours (row, col offsets) ahead
# of and behind a pixel along its gradient, each a near one and a diagonal one to interpolate.
_AHEAD_NEAR = ((1, 0), (0, 1), (0, 1), (-1, 0))
_AHEAD_DIAGONAL = ((1, 1), (1, 1), (-1, 1), (-1, 1))
_BEHIND_NEAR = ((-1, 0), (0, -1), (0, -1), (1, 0))
_BEHIND_DIAGONAL = ((-1, -1), (-1, -1), (1, -1), (1, -1))


def _peaks(isobel, jsobel, magnitude: np.ndarray, low: float) -> np.ndarray:
    """skimage's non-maximum suppression: the pixels (away from the frame's edge) whose
    gradient magnitude is at least the magnitude interpolated on either side of them along
    the gradient; only those of magnitude at least ``low`` (> 0) are looked at, as no other
    can be an edge."""
    n, height, width = magnitude.shape
    inner = np.zeros((height, width), dtype=bool)
    inner[1:-1, 1:-1] = True
    where = np.flatnonzero(inner & (magnitude >= low) & (magnitude > 0))
    gi, gj = isobel.reshape(-1)[where], jsobel.reshape(-1)[where]
    m = magnitude.reshape(-1)[where]
    ai, aj = np.abs(gi), np.abs(gj)
    same, opposite = gi * gj >= 0, gi * gj <= 0
    # skimage assigns the sectors in turn, a later one winning on a shared boundary
    sector = np.where(
        opposite & (ai >= aj),
        3,
        np.where(opposite & (ai <= aj), 2, np.where(same & (ai <= aj), 1, 0)),
    )
    rows_major = (sector == 0) | (sector == 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(rows_major, aj / ai, ai / aj)
    flat = magnitude.reshape(-1)
    peak = np.ones(where.shape, dtype=bool)
    for near, diagonal in ((_AHEAD_NEAR, _AHEAD_DIAGONAL), (_BEHIND_NEAR, _BEHIND_DIAGONAL)):
        near_at = where + np.array([r * width + c for r, c in near])[sector]
        diagonal_at = where + np.array([r * width + c for r, c in diagonal])[sector]
        peak &= flat[diagonal_at] * w + flat[near_at] * (1 - w) <= m
    out = np.zeros(magnitude.shape, dtype=bool)
    out.reshape(-1)[where] = peak
    return out


def canny(grey: np.ndarray, sigma: float, low: float, high: float) -> np.ndarray:
    """(N, H, W) bool: skimage's ``feature.canny`` edges of each grey image (in its float
    type)."""
    height, width = grey.shape[1:]
    bleed = ndimage.gaussian_filter(np.ones((height, width), grey.dtype), sigma, mode="constant")
    smooth = ndimage.gaussian_filter(grey, (0, sigma, sigma), mode="constant")
    smooth = smooth / (bleed + np.finfo(grey.dtype).eps)
    isobel, jsobel = _sobel(smooth, 1), _sobel(smooth, 2)
    magnitude = np.hypot(isobel, jsobel)
    peaks = _peaks(isobel, jsobel, magnitude, low)
    strong = peaks & (magnitude >= high)
    weak = peaks & (magnitude >= low)
    within_image = np.zeros((3, 3, 3), dtype=bool)
    within_image[1] = True
    labels, count = ndimage.label(weak, structure=within_image)
    good = np.zeros(count + 1, dtype=bool)
    good[labels[strong]] = True
    good[0] = False
    return good[labels]


@corruption(0)
def canny_edges(d: Digits, amount: float) -> np.ndarray:
    """Blend towards the image's Canny edges (sigma 1 px at 28x28) drawn in ink on its
    background; 1 is the edges alone, as the paper's. Colour images are edged on their mean
    over channels."""
    s = frame_scale(d.images)
    grey = d.images.mean(axis=-1, dtype="float64")  # float32 breaks ties along straight edges
    edges = canny(grey, 1.0 * s, 0.1 / s, 0.2 / s)
    drawn = np.where(edges[..., None], d.ink, d.background)
    return (1 - amount) * d.images + amount * drawn
