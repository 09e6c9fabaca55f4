"""fooling on mnist-cnn: generations and seconds to 99.99%, and evaluation throughput.

All 10 classes, population 200, direct encoding, default settings otherwise. Reported:
generations and seconds until every class reaches the target; images evaluated per second
by the whole technique against (a) bare batched inference of the same model on batches of
the same size (a compiled ``tf.function``, the limit) and (b) a per-image evaluation loop
like the classic blog's (one ``model(x[None])`` call per image). Each contender runs after a
warm-up in the same process; the technique is run ROUNDS times and the median reported.

Run: .venv/bin/python benchmarks/bench_fooling.py [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings

import numpy as np

POPULATION = 200
PER_IMAGE_SAMPLE = 300  # images timed in the per-image loop (its rate is steady)


def main(rounds: int = 3) -> None:
    warnings.filterwarnings("ignore")
    import kinterp
    from kinterp.loading.models import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    from kinterp.runner import execute

    loaded = kinterp.load_model("mnist-cnn")
    spec = kinterp.RunSpec("fooling", "mnist-cnn", {"population": POPULATION})
    model = loaded.keras_model
    forward = tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)],
    )
    batch = np.random.default_rng(0).random((10 * POPULATION, 28, 28, 1), dtype="float32")

    def ours() -> kinterp.RunResult:
        with tempfile.TemporaryDirectory() as out:
            spec_here = kinterp.RunSpec.from_dict({**spec.as_dict(), "out": out})
            return execute(spec_here, model=loaded)

    def bare(batches: int) -> float:
        start = time.perf_counter()
        for _ in range(batches):
            forward(batch).numpy()
        return time.perf_counter() - start

    def per_image() -> float:
        start = time.perf_counter()
        for image in batch[:PER_IMAGE_SAMPLE]:
            np.asarray(model(image[None], training=False))
        return (time.perf_counter() - start) / PER_IMAGE_SAMPLE

    ours()
    bare(2)
    per_image()
    runs = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = ours()
        runs.append((time.perf_counter() - start, result))
    seconds, result = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    generations = result.metrics["median_generations"]
    evaluated = result.metrics["images_evaluated"]
    rows = next(s for s in result.report["sections"] if s["title"] == "Per class")["tables"][0]
    worst = max(r[2] or np.inf for r in rows["rows"])
    batches = max(1, evaluated // len(batch))
    bare_rate = batches * len(batch) / statistics.median(bare(batches) for _ in range(rounds))
    loop_rate = 1.0 / statistics.median(per_image() for _ in range(rounds))
    rate = evaluated / seconds
    print(f"mnist-cnn, 10 classes, population {POPULATION}, direct encoding, median of {rounds}")
    print(
        f"  reached {result.metrics['reached_fraction']:.0%} of classes; generations to "
        f"99.99%: median {generations:g}, slowest class {worst:g}; whole run {seconds:.1f} s"
    )
    print(
        f"  images evaluated per second: kinterp {rate:,.0f}, bare batched inference "
        f"{bare_rate:,.0f}, per-image loop {loop_rate:,.0f}"
    )
    print(
        f"  kinterp / bare: {rate / bare_rate:.2f} (goal >= 0.5); kinterp / per-image loop: "
        f"{rate / loop_rate:.0f}x (goal >= 20x)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
