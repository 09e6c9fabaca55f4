"""HappyMap engine vs tf-keras-vis ActivationMaximization vs a bare tf.function loop.

mnist-cnn, 10 classes x 256 steps x 1 init (the same uniform start for all three), Adam with
the same learning rate, no regularisers and no input modifiers, pre-softmax logits. The three
contenders run side by side in one process, alternating, after one warm-up each; the median
of ROUNDS rounds is reported with the two ratios and the final mean target logit of each.

Writes ``benchmarks/results/happymap.json`` (see ``results_file.py``).

Run: .venv/bin/python benchmarks/bench_happymap.py [ROUNDS] [--note TEXT] [--results PATH]
"""

from __future__ import annotations

import statistics
import warnings

import numpy as np
from results_file import Recorder, alternate, rounds_parser

WHAT = (
    "mnist-cnn happymap engine vs a bare tf.function loop vs tf-keras-vis "
    "ActivationMaximization: 10 classes x 256 steps x 1 init, Adam 0.05, pre-softmax logits"
)
STEPS = 256
LR = 0.05
CLASSES = list(range(10))


def main(rounds: int = 5, note: str = "", results: str = "") -> None:
    warnings.filterwarnings("ignore")
    import kinterp
    from kinterp.loading.models import quiet_tensorflow

    quiet_tensorflow()
    import keras
    import tensorflow as tf
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    from kinterp.toolkit.optimize import Engine, Settings, channel

    loaded = kinterp.load_model("mnist-cnn")
    logits_model = loaded.logits_model
    seed = np.random.default_rng(0).uniform(0, 1, (len(CLASSES), 28, 28, 1)).astype("float32")
    rows = np.arange(len(CLASSES))

    def final_logit(images: np.ndarray) -> float:
        logits = np.asarray(logits_model(tf.constant(images), training=False))
        return float(logits[rows, CLASSES].mean())

    # kinterp: the engine exactly as happymap drives it (chunks of ceil(256/24) steps, frames).
    objective = channel(logits_model, CLASSES, lambda view: view)
    engine = Engine(objective, Settings(steps=STEPS, lr=LR, chunk=11))

    def ours() -> np.ndarray:
        return engine.run(seed).images

    # the practical limit: a tf.function step (hand-written Adam, clip) in a Python loop
    targets = tf.constant(CLASSES, tf.int32)

    @tf.function
    def bare_step(x, m, v, t):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = logits_model(x, training=False)
            loss = tf.reduce_sum(tf.gather(out, targets, axis=1, batch_dims=1))
        g = tape.gradient(loss, x)
        t = t + 1.0
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * tf.square(g)
        update = LR * (m / (1 - 0.9**t)) / (tf.sqrt(v / (1 - 0.999**t)) + 1e-8)
        return tf.clip_by_value(x + update, 0.0, 1.0), m, v, t

    def bare() -> np.ndarray:
        x = tf.constant(seed)
        m, v, t = tf.zeros_like(x), tf.zeros_like(x), tf.constant(0.0)
        for _ in range(STEPS):
            x, m, v, t = bare_step(x, m, v, t)
        return x.numpy()

    # tf-keras-vis: fully eager; the same score, optimiser, range, no modifiers/regularisers.
    # Its ReplaceToLinear modifier reads model.output_names, which Keras 3 models lack, so it
    # gets the same pre-softmax view the others use (the identical computation).
    try:
        visualizer = ActivationMaximization(
            loaded.keras_model, model_modifier=ReplaceToLinear(), clone=True
        )
    except AttributeError:
        visualizer = ActivationMaximization(logits_model, model_modifier=None, clone=False)

    def tfkv() -> np.ndarray:
        return np.asarray(
            visualizer(
                CategoricalScore(CLASSES),
                seed_input=seed,
                input_range=(0.0, 1.0),
                input_modifiers=[],
                regularizers=[],
                steps=STEPS,
                optimizer=keras.optimizers.Adam(learning_rate=LR),
            )
        )

    contenders = {"kinterp": ours, "bare tf.function": bare, "tf-keras-vis": tfkv}
    settings = {"rounds": rounds, "steps": STEPS, "lr": LR, "classes": len(CLASSES)}
    recorder = Recorder("happymap", WHAT, settings, note, results)
    with recorder:
        times, logits = alternate(contenders, rounds, final_logit)
        medians = {name: statistics.median(values) for name, values in times.items()}
        recorder.figures = {
            "median_s": medians,
            "seconds": times,
            "final_mean_logit": logits,
            "ratio_kinterp_over_tfkv": medians["kinterp"] / medians["tf-keras-vis"],
            "ratio_kinterp_over_bare": medians["kinterp"] / medians["bare tf.function"],
            "goal_ratio_tfkv": 0.2,
            "goal_ratio_bare": 1.3,
        }

    print(f"mnist-cnn, {len(CLASSES)} classes x {STEPS} steps x 1 init, Adam lr {LR}, "
          f"median of {rounds} rounds")  # fmt: skip
    print(f"{'contender':<18} {'median s':>9} {'final mean logit':>17}")
    for name in contenders:
        print(f"{name:<18} {medians[name]:>9.3f} {logits[name]:>17.2f}")
    print(f"ratio kinterp / tf-keras-vis:     {medians['kinterp'] / medians['tf-keras-vis']:.3f}"
          "  (goal <= 0.2)")  # fmt: skip
    print(f"ratio kinterp / bare tf.function: "
          f"{medians['kinterp'] / medians['bare tf.function']:.3f}  (goal <= 1.3)")  # fmt: skip
    higher = logits["kinterp"] >= logits["tf-keras-vis"] - 1e-3
    print(f"kinterp final logits at least tf-keras-vis': {'yes' if higher else 'NO'}")


if __name__ == "__main__":
    args = rounds_parser(__doc__, 5).parse_args()
    main(args.rounds, args.note, args.results)
