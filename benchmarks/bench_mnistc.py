"""The MNIST-C suite's corrupt-and-classify vs a compiled forward pass over the same images.

fashion-cnn on the Fashion-MNIST test images (Debian's dataset-fashion-mnist; all 10,000
unless ``--limit``), the 15 corruptions of ``--suite mnist-c`` at their default levels (the
clean image and the paper's severity, as robustness sweeps them). The two contenders run side
by side in one process, alternating, after one warm-up each; the median of ROUNDS rounds is
reported.

- **kinterp suite**: what robustness does per level: measure the images (``Digits.of``), then
  for every corruption and level make the corrupted batch (``Family.apply``) and classify it
  (``LoadedModel.classify_images``: probabilities, top-1, accuracy).
- **forward only**: the same corrupted batches, made beforehand, through a compiled
  ``tf.function`` forward pass plus argmax at the same batch size, and each level's accuracy.

The ratio is forward-only time over the suite's time: 1 would mean corrupting costs nothing.
Also recorded: the seconds each corruption's non-identity level takes to make (from the last
round). Writes ``benchmarks/results/mnistc.json`` (see ``results_file.py``).

Run: .venv/bin/python benchmarks/bench_mnistc.py [ROUNDS] [--limit N] [--note TEXT]
"""

from __future__ import annotations

import statistics
import time
import warnings

import numpy as np
from results_file import Recorder, alternate, rounds_parser

MODEL = "fashion-cnn"
BATCH = 512
SEED = 0
WHAT = (
    "the MNIST-C suite on fashion-cnn over the Fashion-MNIST test set, 15 corruptions at their "
    "default levels: corrupting and classifying each batch as robustness does vs a compiled "
    "forward pass alone over the same corrupted images"
)


def main(rounds: int = 3, limit: int = 0, note: str = "", results: str = "") -> None:
    warnings.filterwarnings("ignore")
    import kinterp
    from kinterp.loading.models import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    from kinterp.registry import load_dataset
    from kinterp.toolkit import SUITES, Digits

    families = kinterp.perturbation_families()
    plan = [(families[name], list(families[name].levels)) for name in SUITES["mnist-c"]]
    loaded = kinterp.load_model(MODEL)
    images, labels = load_dataset("fashion-mnist").test()
    if limit:
        images, labels = images[:limit], labels[:limit]
    images = loaded.to_images(images)
    levels = sum(len(lv) for _, lv in plan)
    count = len(images) * levels
    model = loaded.keras_model
    lo, hi = loaded.info.input_range
    forward = tf.function(
        lambda x: tf.argmax(model(lo + (hi - lo) * x, training=False), axis=1),
        input_signature=[tf.TensorSpec([None, *loaded.info.input_shape], tf.float32)],
    )
    making: dict[str, float] = {}

    def suite() -> dict[str, list[float]]:
        digits = Digits.of(images, SEED)
        accuracy = {}
        for family, family_levels in plan:
            accuracy[family.name] = []
            for level in family_levels:
                clock = time.perf_counter()
                batch = family.apply(digits, level)
                if level != family.identity:
                    making[family.name] = time.perf_counter() - clock
                result = loaded.classify_images(batch, BATCH)
                accuracy[family.name].append(result.accuracy(labels))
        return accuracy

    digits = Digits.of(images, SEED)  # the same batches, made once for the forward pass
    batches = [(f.name, f.apply(digits, level)) for f, lv in plan for level in lv]
    del digits

    def forward_only() -> dict[str, list[float]]:
        accuracy: dict[str, list[float]] = {}
        for name, batch in batches:
            top1 = np.concatenate(
                [forward(batch[i : i + BATCH]).numpy() for i in range(0, len(batch), BATCH)]
            )
            accuracy.setdefault(name, []).append(float((top1 == labels).mean()))
        return accuracy

    settings = {"rounds": rounds, "images": len(images), "levels": levels, "batch": BATCH}
    settings["families"] = {f.name: lv for f, lv in plan}
    recorder = Recorder("mnistc", WHAT, settings, note, results)
    with recorder:
        contenders = {"kinterp suite": suite, "forward only": forward_only}
        times, accuracy = alternate(contenders, rounds, measure=lambda a: a)
        same = accuracy["kinterp suite"] == accuracy["forward only"]
        medians = {name: statistics.median(t) for name, t in times.items()}
        ratio = medians["forward only"] / medians["kinterp suite"]
        recorder.figures = {
            "classifications": count,
            "median_s": medians,
            "seconds": times,
            "images_per_s": {name: count / s for name, s in medians.items()},
            "ratio_forward_over_suite": ratio,
            "goal_ratio": 0.7,
            "same_accuracies": same,
            "corruption_s": making,
            "accuracy": {name: values[-1] for name, values in accuracy["kinterp suite"].items()},
        }
    print(
        f"{MODEL}, {len(images):,} images x {levels} levels = {count:,} classifications, "
        f"batch {BATCH}, median of {rounds} rounds; same accuracies: {same}"
    )
    for name, seconds in medians.items():
        print(f"  {name:16s} {seconds:7.2f} s  {count / seconds:9,.0f} images/s")
    for name, seconds in sorted(making.items(), key=lambda kv: -kv[1]):
        print(f"    {name:16s} {seconds:6.2f} s to corrupt")
    print(f"ratio forward-only / suite: {ratio:.2f} (goal >= 0.70)")


if __name__ == "__main__":
    parser = rounds_parser(__doc__, 3)
    parser.add_argument("--limit", type=int, default=0, help="first N test images (0: all)")
    args = parser.parse_args()
    main(args.rounds, args.limit, args.note, args.results)
