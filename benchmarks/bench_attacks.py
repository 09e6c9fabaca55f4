"""PGD through kinterp's pgd family vs a bare compiled PGD loop (and ART's, when installed).

mnist-cnn on the first 1,000 held-out mnist-5k images, L-infinity PGD of 10 steps of
2.5 x epsilon / 10 from a random start, at 5 epsilons (0.02, 0.05, 0.1, 0.2, 0.3), each
attacked batch then classified for its accuracy, as robustness does per level. The contenders
run side by side in one process, alternating, after a warm-up on 64 images each (tracing);
the median of ROUNDS rounds is reported.

- **kinterp**: ``kinterp.toolkit.ATTACKS["pgd"].apply`` (one compiled graph for the whole
  loop, the FGSM point as a candidate, each image's worst point kept, the FGSM fallback
  checked by classification) and ``classify_images``, batch 512.
- **bare**: the textbook loop written here: one ``tf.function`` taking 10 signed-gradient
  steps from the random start with projection and clipping, then a compiled forward pass and
  argmax, batch 512. No best-point bookkeeping and no FGSM candidate.
- **ART**: the Adversarial Robustness Toolbox's ``ProjectedGradientDescent`` (norm inf,
  ``num_random_init=1``) on a ``TensorFlowV2Classifier`` of the same logits model, batch 512,
  when ``art`` imports (``pip install adversarial-robustness-toolbox``; not a kinterp
  dependency). Foolbox was not tried.

Throughput is attacked images per second (images x epsilons); the ratio is bare's time over
kinterp's (goal >= 0.7). Writes ``benchmarks/results/attacks.json``.

Run: .venv/bin/python benchmarks/bench_attacks.py [ROUNDS] [--limit N] [--note TEXT]
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable

import numpy as np
from results_file import Recorder, rounds_parser

MODEL = "mnist-cnn"
BATCH = 512
STEPS = 10
RATIO = 2.5
EPSILONS = (0.02, 0.05, 0.1, 0.2, 0.3)
WARM_UP = 64
WHAT = (
    "PGD (10 steps, random start) on mnist-cnn at 5 epsilons, attack plus classification: "
    "kinterp's pgd family vs a bare compiled PGD loop (and ART's PGD), side by side"
)


def bare_attack(loaded, tf) -> Callable[[np.ndarray, np.ndarray, np.ndarray, float], float]:
    """The textbook compiled PGD loop and a compiled argmax; returns accuracy per call."""
    network = loaded.logits_model
    spec = tf.TensorSpec([None, 28, 28, 1], tf.float32)

    @tf.function(
        input_signature=[spec, tf.TensorSpec([None], tf.int32), spec, *[tf.TensorSpec([])] * 2]
    )
    def pgd(clean, labels, start, eps, step):
        x = tf.clip_by_value(clean + eps * start, 0.0, 1.0)
        for _ in tf.range(STEPS):
            with tf.GradientTape() as tape:
                tape.watch(x)
                logits = network(x, training=False)
                loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            x = x + step * tf.sign(tape.gradient(loss, x))
            x = tf.clip_by_value(tf.clip_by_value(x, clean - eps, clean + eps), 0.0, 1.0)
        return tf.argmax(network(x, training=False), axis=1, output_type=tf.int32)

    def run(images, labels, start, eps):
        step = RATIO * eps / STEPS
        top1 = [
            pgd(images[i : i + BATCH], labels[i : i + BATCH], start[i : i + BATCH], eps, step)
            for i in range(0, len(images), BATCH)
        ]
        return float(np.mean(np.concatenate(top1) == labels))

    return run


def art_attack(loaded, tf) -> Callable | None:
    """ART's PGD on the same logits model, or None when ART does not import."""
    try:
        from art.attacks.evasion import ProjectedGradientDescent
        from art.estimators.classification import TensorFlowV2Classifier
    except ImportError:
        return None
    classifier = TensorFlowV2Classifier(
        model=loaded.logits_model,
        nb_classes=10,
        input_shape=(28, 28, 1),
        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 1.0),
    )

    def run(images, labels, start, eps):
        attack = ProjectedGradientDescent(
            classifier,
            norm=np.inf,
            eps=eps,
            eps_step=RATIO * eps / STEPS,
            max_iter=STEPS,
            num_random_init=1,
            batch_size=BATCH,
            verbose=False,
        )
        adversarial = attack.generate(images, y=labels)
        return loaded.classify_images(adversarial, BATCH).accuracy(labels)

    return run


def main(rounds: int = 2, limit: int = 1000, note: str = "", results: str = "") -> None:
    warnings.filterwarnings("ignore")
    import kinterp
    from kinterp.loading.models import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    from kinterp.registry import load_dataset
    from kinterp.toolkit import ATTACKS, AttackTarget, Digits

    loaded = kinterp.load_model(MODEL)
    images, labels = load_dataset("mnist-5k").test()
    images, labels = images[:limit], labels[:limit].astype("int32")

    def kinterp_attack(x, y, digits, eps):
        adversarial = ATTACKS["pgd"].apply(digits, eps, AttackTarget(loaded, y, BATCH))
        return loaded.classify_images(adversarial, BATCH).accuracy(y)

    bare = bare_attack(loaded, tf)
    contenders = {"kinterp pgd": kinterp_attack, "bare compiled loop": bare}
    art = art_attack(loaded, tf)
    if art is not None:
        contenders["ART ProjectedGradientDescent"] = art

    def sweep(name, x, y):
        digits = Digits.of(x, seed=0)
        start = (2 * digits.uniform - 1).astype("float32")  # the same random start
        third = digits if name == "kinterp pgd" else start
        return [contenders[name](x, y, third, eps) for eps in EPSILONS]

    for name in contenders:
        sweep(name, images[:WARM_UP], labels[:WARM_UP])
    settings = {"rounds": rounds, "images": len(images), "epsilons": list(EPSILONS)}
    settings |= {"steps": STEPS, "step": f"{RATIO} x eps / {STEPS}", "batch": BATCH}
    count = len(images) * len(EPSILONS)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    accuracy: dict[str, list[float]] = {}
    recorder = Recorder("attacks", WHAT, settings, note, results)
    with recorder:
        for _ in range(rounds):
            for name in contenders:
                clock = time.perf_counter()
                accuracy[name] = sweep(name, images, labels)
                times[name].append(time.perf_counter() - clock)
                print(f"  {name:30s} {times[name][-1]:7.2f} s  accuracy {accuracy[name]}")
        medians = {name: statistics.median(t) for name, t in times.items()}
        ratio = medians["bare compiled loop"] / medians["kinterp pgd"]
        recorder.figures = {
            "attacked_images": count,
            "median_s": medians,
            "seconds": times,
            "images_per_s": {name: count / s for name, s in medians.items()},
            "accuracy": accuracy,
            "ratio_bare_over_kinterp": ratio,
            "goal_ratio": 0.7,
            "art": "installed" if art is not None else "not installed",
        }
    print(f"{MODEL}, {len(images):,} images x {len(EPSILONS)} epsilons, {STEPS} steps")
    for name, seconds in medians.items():
        print(f"  {name:30s} {seconds:7.2f} s  {count / seconds:9,.0f} images/s")
    print(f"bare / kinterp time: {ratio:.2f} (goal >= 0.70)")


if __name__ == "__main__":
    parser = rounds_parser(__doc__, 2)
    parser.add_argument("--limit", type=int, default=1000, help="first N test images")
    args = parser.parse_args()
    main(args.rounds, args.limit, args.note, args.results)
