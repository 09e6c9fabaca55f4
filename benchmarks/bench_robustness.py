"""robustness vs bare batched inference on the same perturbed images.

fashion-cnn on the 10,000 Fashion-MNIST test images (Debian's dataset-fashion-mnist), every
family at its default levels, no sensitivity map. The two contenders run side by side in one
process, alternating, after one warm-up each; the median of ROUNDS rounds is reported.

- **kinterp**: the whole technique through ``kinterp.execute`` with the model already loaded:
  data, every perturbation, every classification, the strips, plots, tables and report files.
- **bare**: a compiled ``tf.function`` forward pass plus argmax over the same perturbed images
  (made beforehand, not timed) at the same batch size: the limit for evaluation-bound work.

Throughput is images classified per second (10,000 x the number of levels); the ratio is
kinterp's over bare's. Run: .venv/bin/python benchmarks/bench_robustness.py [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import replace

MODEL = "fashion-cnn"
BATCH = 512


def main(rounds: int = 3) -> None:
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
    images, _ = load_dataset("fashion-mnist").test()
    defaults = RobustnessParams()
    digits = Digits.of(images, seed=0)
    batches = [
        loaded.to_input(FAMILIES[f].apply(digits, level))
        for f in defaults.family
        for level in getattr(defaults, f)
    ]
    count = len(images) * len(batches)
    spec = kinterp.RunSpec("robustness", MODEL, {"sensitivity_images": 0, "batch_size": BATCH})
    model = loaded.keras_model
    forward = tf.function(
        lambda x: tf.argmax(model(x, training=False), axis=1),
        input_signature=[tf.TensorSpec([None, *loaded.info.input_shape], tf.float32)],
    )

    def ours() -> None:
        with tempfile.TemporaryDirectory() as out:
            execute(replace(spec, out=out), model=loaded)

    def bare() -> None:
        for batch in batches:
            for i in range(0, len(batch), BATCH):
                forward(batch[i : i + BATCH]).numpy()

    times: dict[str, list[float]] = {"kinterp robustness": [], "bare tf.function": []}
    contenders = {"kinterp robustness": ours, "bare tf.function": bare}
    for run in contenders.values():
        run()  # warm-up: traces, caches
    for _ in range(rounds):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    print(
        f"{MODEL}, {len(images):,} images x {len(batches)} levels = {count:,} classifications, "
        f"batch {BATCH}, median of {rounds} rounds"
    )
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, seconds in medians.items():
        print(f"  {name:22s} {seconds:7.2f} s  {count / seconds:9,.0f} images/s")
    ratio = medians["bare tf.function"] / medians["kinterp robustness"]
    print(f"throughput ratio kinterp / bare: {ratio:.2f} (goal >= 0.70)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
