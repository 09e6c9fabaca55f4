"""robustness vs a bare numpy/TensorFlow script doing the same perturbations and classifications.

fashion-cnn on the Fashion-MNIST test images (Debian's dataset-fashion-mnist; all 10,000
unless ``--limit``), every built-in family at its default levels, no sensitivity map. The two
contenders run side by side in one process, alternating, after one warm-up each; the median of
ROUNDS rounds is reported.

- **kinterp**: the whole technique through ``kinterp.execute`` with the model already loaded:
  data, measuring the images, every perturbation, every classification, the strips, plots,
  tables and report files.
- **bare**: the same work written directly, with no kinterp code: measure each image (its
  background, ink box and centre), draw the same per-image randomness from the same seed,
  make every family's perturbed batch at every level with numpy and TensorFlow (the geometric
  families through ``ImageProjectiveTransformV3``, blur as a separable convolution), classify
  each with a compiled ``tf.function`` forward pass plus argmax at the same batch size, and
  compute each level's accuracy. Before timing, its batches are compared with kinterp's own
  (``kinterp.toolkit.perturb``) and the largest difference is recorded, so both do the same
  perturbation work.

Throughput is images classified per second (images x the number of levels); the ratio is
kinterp's over bare's. Writes ``benchmarks/results/robustness.json`` (see ``results_file.py``).

Run: .venv/bin/python benchmarks/bench_robustness.py [ROUNDS] [--limit N] [--note TEXT]
"""

from __future__ import annotations

import statistics
import tempfile
import warnings
from dataclasses import replace

import numpy as np
from results_file import Recorder, alternate, rounds_parser

MODEL = "fashion-cnn"
BATCH = 512
SEED = 0  # RunSpec's default seed: kinterp draws its per-image randomness from it
WHAT = (
    "robustness on fashion-cnn, every family at its default levels, no sensitivity map: the "
    "whole technique vs a bare numpy/TensorFlow script making the same perturbed images and "
    "classifying them with a compiled forward pass"
)


class Bare:
    """The same perturbations as kinterp's robustness, written directly with numpy and TF."""

    def __init__(self, images: np.ndarray, seed: int) -> None:
        import tensorflow as tf

        self.tf = tf
        self.x = x = np.asarray(images, dtype="float32")
        n, height, width, _ = x.shape
        self.height, self.width = height, width
        ring = np.zeros((height, width), bool)
        ring[0], ring[-1], ring[:, 0], ring[:, -1] = True, True, True, True
        self.ring = ring
        self.bg = np.median(x[:, ring], axis=1)[:, None, None, :].astype("float32")
        ink = np.abs(x - self.bg).max(axis=-1) > 0.1
        rows, cols = ink.any(axis=2), ink.any(axis=1)
        top = rows.argmax(axis=1).astype("float64")
        bottom = height - 1 - rows[:, ::-1].argmax(axis=1)
        left = cols.argmax(axis=1).astype("float64")
        right = width - 1 - cols[:, ::-1].argmax(axis=1)
        blank = ~rows.any(axis=1)
        self.centre = np.stack([(top + bottom) / 2, (left + right) / 2], axis=1)
        self.centre[blank] = ((height - 1) / 2, (width - 1) / 2)
        self.half = np.stack([(bottom - top) / 2, (right - left) / 2], axis=1)
        self.half[blank] = 0.0
        rng = np.random.default_rng(seed)  # drawn in the same order as kinterp's Digits.of
        angle = rng.integers(0, 8, size=n) * (np.pi / 4)
        self.direction = np.stack([np.sin(angle), np.cos(angle)], axis=1)
        self.field = rng.standard_normal(x.shape).astype("float32")
        self.uniform = rng.random(x.shape, dtype="float32")
        self.spot = rng.random((n, 2))

    def _warp(self, a0, a1, a2, b0, b1, b2) -> np.ndarray:
        """Output (row r, col c) reads input (b0 c + b1 r + b2, a0 c + a1 r + a2), bilinearly,
        the background outside the frame."""
        tf, n = self.tf, len(self.x)
        parts = [np.broadcast_to(np.asarray(v, "float64"), (n,)) for v in (a0, a1, a2, b0, b1, b2)]
        transforms = np.stack([*parts, np.zeros(n), np.zeros(n)], axis=1).astype("float32")
        moved = tf.raw_ops.ImageProjectiveTransformV3(
            images=self.x - self.bg,
            transforms=transforms,
            output_shape=tf.constant([self.height, self.width]),
            fill_value=tf.constant(0.0),
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        )
        return self.bg + moved.numpy()

    def edge(self, width: float) -> np.ndarray:
        w = int(width)
        mask = np.zeros((self.height, self.width), bool)
        if w > 0:
            mask[:w], mask[-w:], mask[:, :w], mask[:, -w:] = True, True, True, True
        return np.where(mask[None, :, :, None], self.bg, self.x)

    def scale(self, factor: float) -> np.ndarray:
        if factor > 1:  # an enlargement stops where the ink box touches the frame
            room = np.minimum(self.centre, [self.height - 1, self.width - 1] - self.centre)
            with np.errstate(divide="ignore", invalid="ignore"):
                fit = np.where(self.half > 0, (room + 0.5) / (self.half + 0.5), np.inf)
            factor = np.minimum(factor, fit.min(axis=1))
        inverse = 1.0 / np.broadcast_to(factor, (len(self.x),))
        c_r, c_c = self.centre[:, 0], self.centre[:, 1]
        return self._warp(inverse, 0, c_c - inverse * c_c, 0, inverse, c_r - inverse * c_r)

    def shift(self, pixels: float) -> np.ndarray:
        o_r, o_c = np.round(self.direction * pixels).T
        return self._warp(1, 0, -o_c, 0, 1, -o_r)

    def rotate(self, degrees: float) -> np.ndarray:
        theta = np.deg2rad(-degrees)
        cos, sin = np.cos(theta), np.sin(theta)
        c_r, c_c = (self.height - 1) / 2, (self.width - 1) / 2
        return self._warp(
            cos, sin, c_c - sin * c_r - cos * c_c, -sin, cos, c_r - cos * c_r + sin * c_c
        )

    def noise(self, sigma: float) -> np.ndarray:
        return np.clip(self.x + sigma * self.field, 0.0, 1.0)

    def saltpepper(self, amount: float) -> np.ndarray:
        out = self.x.copy()
        out[self.uniform < amount / 2] = 0.0
        out[self.uniform > 1 - amount / 2] = 1.0
        return out

    def occlude(self, size: float) -> np.ndarray:
        side = int(size)
        if side <= 0:
            return self.x.copy()
        centre = self.centre - self.half + self.spot * (2 * self.half + 1)
        top = np.clip(np.round(centre[:, 0] - side / 2), 0, max(self.height - side, 0))
        left = np.clip(np.round(centre[:, 1] - side / 2), 0, max(self.width - side, 0))
        rows = np.arange(self.height)[None, :, None]
        cols = np.arange(self.width)[None, None, :]
        top, left = top[:, None, None], left[:, None, None]
        inside = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
        return np.where(inside[..., None], self.bg, self.x)

    def blur(self, sigma: float) -> np.ndarray:
        """Separable Gaussian (radius 4 sigma, edge pixels repeated), as a depthwise conv."""
        tf = self.tf
        if sigma <= 0:
            return self.x.copy()
        radius = int(4.0 * sigma + 0.5)
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        taps = (taps / taps.sum()).astype("float32")
        channels = self.x.shape[-1]
        padded = np.pad(self.x, ((0, 0), (radius, radius), (radius, radius), (0, 0)), "edge")
        down = np.tile(taps[:, None, None, None], (1, 1, channels, 1))
        across = np.tile(taps[None, :, None, None], (1, 1, channels, 1))
        out = tf.nn.depthwise_conv2d(padded, down, [1, 1, 1, 1], "VALID")
        return tf.nn.depthwise_conv2d(out, across, [1, 1, 1, 1], "VALID").numpy()

    def bgnoise(self, amount: float) -> np.ndarray:
        """The background (pixels within 0.1 of it) blended towards the uniform field."""
        ink = np.abs(self.x - self.bg).max(axis=-1, keepdims=True) > 0.1
        return np.where(ink, self.x, np.clip((1 - amount) * self.x + amount * self.uniform, 0, 1))

    def invert(self, amount: float) -> np.ndarray:
        return (1 - amount) * self.x + amount * (1 - self.x)


def main(rounds: int = 3, limit: int = 0, note: str = "", results: str = "") -> None:
    warnings.filterwarnings("ignore")
    import kinterp
    from kinterp.loading.models import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf
    from kinterp_plugins.robustness import RobustnessParams

    from kinterp.registry import load_dataset
    from kinterp.runner import execute
    from kinterp.toolkit.perturb import FAMILIES, Digits

    loaded = kinterp.load_model(MODEL)
    images, labels = load_dataset("fashion-mnist").test()
    if limit:
        images, labels = images[:limit], labels[:limit]
    defaults = RobustnessParams()
    plan = [(f, list(getattr(defaults, f))) for f in defaults.family]
    levels = sum(len(lv) for _, lv in plan)
    count = len(images) * levels
    params = {"sensitivity_images": 0, "batch_size": BATCH, "limit": limit}
    spec = kinterp.RunSpec("robustness", MODEL, params, seed=SEED)
    model = loaded.keras_model
    lo, hi = loaded.info.input_range
    forward = tf.function(
        lambda x: tf.argmax(model(lo + (hi - lo) * x, training=False), axis=1),
        input_signature=[tf.TensorSpec([None, *loaded.info.input_shape], tf.float32)],
    )

    def bare() -> dict[str, list[float]]:
        start = Bare(images, SEED)
        accuracy = {}
        for family, family_levels in plan:
            accuracy[family] = []
            for level in family_levels:
                batch = getattr(start, family)(level)
                top1 = np.concatenate(
                    [forward(batch[i : i + BATCH]).numpy() for i in range(0, len(batch), BATCH)]
                )
                accuracy[family].append(float((top1 == labels).mean()))
        return accuracy

    # the same work: the bare batches against kinterp's own perturbations (untimed)
    check, digits, largest = Bare(images, SEED), Digits.of(images, SEED), 0.0
    for family, family_levels in plan:
        for level in family_levels:
            ours = FAMILIES[family].apply(digits, level)
            largest = max(largest, float(np.abs(getattr(check, family)(level) - ours).max()))
    print(f"largest difference between the bare and kinterp perturbed images: {largest:.2g}")
    assert largest < 1e-3, largest
    del check, digits

    def ours() -> kinterp.RunResult:
        with tempfile.TemporaryDirectory() as out:
            return execute(replace(spec, out=out), model=loaded)

    settings = {"rounds": rounds, "images": len(images), "levels": levels, "batch": BATCH}
    settings["families"] = {family: family_levels for family, family_levels in plan}
    recorder = Recorder("robustness", WHAT, settings, note, results)
    with recorder:
        times, _ = alternate({"kinterp robustness": ours, "bare": bare}, rounds)
        medians = {name: statistics.median(t) for name, t in times.items()}
        ratio = medians["bare"] / medians["kinterp robustness"]
        recorder.figures = {
            "classifications": count,
            "median_s": medians,
            "seconds": times,
            "images_per_s": {name: count / s for name, s in medians.items()},
            "ratio_kinterp_over_bare": ratio,
            "goal_ratio": 0.7,
            "largest_perturbation_difference": largest,
        }
    print(
        f"{MODEL}, {len(images):,} images x {levels} levels = {count:,} classifications, "
        f"batch {BATCH}, median of {rounds} rounds"
    )
    for name, seconds in medians.items():
        print(f"  {name:22s} {seconds:7.2f} s  {count / seconds:9,.0f} images/s")
    print(f"throughput ratio kinterp / bare: {ratio:.2f} (goal >= 0.70)")


if __name__ == "__main__":
    parser = rounds_parser(__doc__, 3)
    parser.add_argument("--limit", type=int, default=0, help="first N test images (0: all)")
    args = parser.parse_args()
    main(args.rounds, args.limit, args.note, args.results)
