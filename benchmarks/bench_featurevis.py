"""featurevis vs tf-keras-vis ActivationMaximization: all 64 filters of mnist-cnn's conv2.

64 filters x 256 steps from one shared uniform start, Adam lr 0.05, values kept in [0, 1], no
regularisers or input modifiers; each filter's score is the mean of its channel over space.
Both get the same feature model (input -> conv2); tf-keras-vis gets all 64 filters as one
batch (a score that reads row i's filter i), as far as its API batches. They run side by side
in one process, alternating, after one warm-up each; the median of ROUNDS rounds is reported
with the ratio and the mean filter activation each reaches.

Writes ``benchmarks/results/featurevis.json`` (see ``results_file.py``).

Run: .venv/bin/python benchmarks/bench_featurevis.py [ROUNDS] [--note TEXT] [--results PATH]
"""

from __future__ import annotations

import statistics
import warnings

import numpy as np
from results_file import Recorder, alternate, rounds_parser

WHAT = (
    "featurevis vs tf-keras-vis ActivationMaximization: all 64 filters of mnist-cnn's conv2 "
    "x 256 steps from one uniform start, Adam 0.05, same feature model"
)
STEPS = 256
LR = 0.05
LAYER = "conv2"


def main(rounds: int = 3, note: str = "", results: str = "") -> None:
    warnings.filterwarnings("ignore")
    import kinterp
    from kinterp.loading.models import quiet_tensorflow

    quiet_tensorflow()
    import keras
    import tensorflow as tf
    from tf_keras_vis.activation_maximization import ActivationMaximization

    from kinterp.toolkit.optimize import Engine, Settings
    from kinterp.toolkit.optimize.targets import unit_objective

    loaded = kinterp.load_model("mnist-cnn")
    features = loaded.feature_model(LAYER)
    filters = int(features.output.shape[-1])
    seed = np.random.default_rng(0).uniform(0, 1, (filters, 28, 28, 1)).astype("float32")
    rows = np.arange(filters)

    def reached(images: np.ndarray) -> float:
        out = np.asarray(features(images, training=False)).mean(axis=(1, 2))
        return float(out[rows, rows].mean())

    # kinterp: the engine exactly as featurevis drives it (steps // 8 steps per call).
    goal = unit_objective(loaded, LAYER, rows)
    engine = Engine(goal, Settings(steps=STEPS, lr=LR, chunk=STEPS // 8))

    def ours() -> np.ndarray:
        return engine.run(seed, frame_row=None).images

    visualizer = ActivationMaximization(features, model_modifier=None, clone=False)

    def score(output):
        return tf.linalg.diag_part(tf.reduce_mean(output, axis=[1, 2]))

    def tfkv() -> np.ndarray:
        return np.asarray(
            visualizer(
                score,
                seed_input=seed,
                input_range=(0.0, 1.0),
                input_modifiers=[],
                regularizers=[],
                steps=STEPS,
                optimizer=keras.optimizers.Adam(learning_rate=LR),
            )
        )

    contenders = {"kinterp featurevis": ours, "tf-keras-vis": tfkv}
    settings = {"rounds": rounds, "steps": STEPS, "lr": LR, "layer": LAYER, "filters": filters}
    recorder = Recorder("featurevis", WHAT, settings, note, results)
    with recorder:
        times, values = alternate(contenders, rounds, reached)
        medians = {name: statistics.median(t) for name, t in times.items()}
        ratio = medians["kinterp featurevis"] / medians["tf-keras-vis"]
        recorder.figures = {
            "median_s": medians,
            "seconds": times,
            "mean_activation": values,
            "ratio_kinterp_over_tfkv": ratio,
            "goal_ratio": 0.2,
        }
    print(f"mnist-cnn {LAYER}: {filters} filters x {STEPS} steps, Adam lr {LR}, "
          f"median of {rounds} rounds")  # fmt: skip
    for name in contenders:
        print(f"  {name:<20} {medians[name]:8.3f} s   mean activation {values[name]:.3f}")
    print(f"ratio kinterp / tf-keras-vis: {ratio:.3f}  (goal <= 0.2)")


if __name__ == "__main__":
    args = rounds_parser(__doc__, 3).parse_args()
    main(args.rounds, args.note, args.results)
