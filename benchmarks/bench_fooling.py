"""fooling on mnist-cnn: generations and seconds to 99.99%, and evaluation throughput.

All 10 classes, population 200, direct encoding, default settings otherwise. Reported:
generations and seconds until every class reaches the target; images evaluated per second
by the whole technique against (a) bare batched inference of the same model on batches of
the same size (a compiled ``tf.function``, the limit) and (b) a per-image evaluation loop
like the classic blog's (one ``model(x[None])`` call per image). Each contender runs after a
warm-up in the same process; the technique is run ROUNDS times and the median reported.

Writes ``benchmarks/results/fooling.json`` (see ``results_file.py``).

Run: .venv/bin/python benchmarks/bench_fooling.py [ROUNDS] [--note TEXT] [--results PATH]
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings

import numpy as np
from results_file import Recorder, rounds_parser

WHAT = (
    "fooling on mnist-cnn, 10 classes, population 200, direct encoding: generations and seconds "
    "to 99.99%, images evaluated per second vs bare batched inference and a per-image loop"
)
POPULATION = 200
PER_IMAGE_SAMPLE = 300  # images timed in the per-image loop (its rate is steady)


def main(rounds: int = 3, note: str = "", results: str = "") -> None:
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

    settings = {"rounds": rounds, "population": POPULATION, "per_image_sample": PER_IMAGE_SAMPLE}
    recorder = Recorder("fooling", WHAT, settings, note, results)
    with recorder:
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
        table = next(s for s in result.report["sections"] if s["title"] == "Per class")["tables"][0]
        column = table["columns"].index("median generations")  # None: a class never reached
        worst = max(np.inf if r[column] is None else r[column] for r in table["rows"])
        batches = max(1, evaluated // len(batch))
        bare_rate = batches * len(batch) / statistics.median(bare(batches) for _ in range(rounds))
        loop_rate = 1.0 / statistics.median(per_image() for _ in range(rounds))
        rate = evaluated / seconds
        recorder.figures = {
            "reached_fraction": result.metrics["reached_fraction"],
            "median_generations": generations,
            "slowest_class_generations": worst if np.isfinite(worst) else None,
            "whole_run_s": seconds,
            "run_seconds": [r[0] for r in runs],
            "images_evaluated": evaluated,
            "images_per_s": {
                "kinterp": rate,
                "bare batched": bare_rate,
                "per-image loop": loop_rate,
            },
            "ratio_kinterp_over_bare": rate / bare_rate,
            "ratio_kinterp_over_per_image": rate / loop_rate,
            "goal_ratio_bare": 0.5,
            "goal_ratio_per_image": 20,
        }
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
    args = rounds_parser(__doc__, 3).parse_args()
    main(args.rounds, args.note, args.results)
