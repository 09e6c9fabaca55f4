"""fgsm and pgd: L-infinity attacks as robustness families, checked against the test's own
gradients and the Keras model's own classifications (#26)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kinterp
from kinterp.data.datasets import load_mnist_5k
from kinterp.toolkit import ATTACKS, PGD, AttackTarget, Digits
from kinterp.toolkit.attacks import compiled
from plugins.robustness import RobustnessParams, sweeps
from tests.conftest import assert_refused, assert_valid_report, limited, run_dirs

EPSILONS = (0.0, 0.05, 0.1, 0.2)
ULP = 1e-6  # x + eps rounds to float32


@pytest.fixture(scope="module", params=[1.0, 255.0], ids=["0-1", "0-255"])
def linear(keras, tmp_path_factory, request) -> tuple[Path, np.ndarray, np.ndarray]:
    """A saved 784 -> 10 softmax model with known weights (W, b): its input gradient is
    numpy. The 0-255 one takes 0-255 pixels and rescales them first, so on [0, 1] images both
    compute the same logits."""
    rng = np.random.default_rng(3)
    weights = rng.normal(0, 0.05, (784, 10)).astype("float32")
    bias = rng.normal(0, 0.1, 10).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / request.param),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    model.get_layer("out").set_weights([weights, bias])
    path = tmp_path_factory.mktemp(f"linear-{request.param:g}") / "linear.keras"
    model.save(path)
    return path, weights.astype("float64"), bias.astype("float64")


@pytest.fixture(scope="module")
def mnist() -> tuple[Digits, np.ndarray]:
    x, y = load_mnist_5k().test()
    return Digits.of(x[:128], seed=0), y[:128]


@pytest.fixture(scope="module")
def cnn() -> kinterp.LoadedModel:
    return kinterp.load_model("mnist-cnn")


def keras_top1(model: kinterp.LoadedModel, images: np.ndarray) -> np.ndarray:
    """Top-1 classes straight from the Keras model (no kinterp classification)."""
    return np.asarray(model.keras_model(model.to_input(images), training=False)).argmax(axis=1)


def test_fgsm_is_the_numpy_signed_gradient_on_a_linear_softmax(linear, mnist):
    path, w, b = linear
    model = kinterp.load_model(str(path))
    digits, labels = mnist
    x = digits.images.reshape(len(labels), -1).astype("float64")
    logits = x @ w + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    gradient = (p - np.eye(10)[labels]) @ w.T  # d cross-entropy / d x
    for eps in EPSILONS:
        want = np.clip(x + eps * np.sign(gradient), 0, 1).reshape(digits.images.shape)
        got = ATTACKS["fgsm"].apply(digits, eps, AttackTarget(model, labels, 64))
        assert np.allclose(got, want, atol=ULP), eps


def test_epsilon_is_also_given_in_a_0_255_models_own_units(linear, runner, tmp_path):
    from kinterp.cli import app

    path = linear[0]
    args = ["run", "robustness", str(path), "--family", "fgsm", "--levels", "fgsm=0,0.1"]
    args += ["--limit", "20", "--sensitivity-images", "0", "--quiet", "--out", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = section(assert_valid_report(run_dirs(tmp_path)[0]), "fgsm")["text"]
    if "255" in path.parent.name:
        assert kinterp.load_model(str(path)).info.input_range == (0.0, 255.0)
        assert "own input units (0 to 255): 0, 25.5." in text
    else:
        assert "own input units" not in text


def test_pgd_never_does_worse_than_fgsm_per_image(cnn, mnist):
    digits, labels = mnist
    target = AttackTarget(cnn, labels, 512)
    clean = keras_top1(cnn, digits.images) == labels
    accuracy = {}
    for eps in EPSILONS:
        first = ATTACKS["fgsm"].apply(digits, eps, target)
        worst = ATTACKS["pgd"].apply(digits, eps, target)
        for images in (first, worst):
            assert np.abs(images - digits.images).max() <= eps + ULP
            assert images.min() >= 0 and images.max() <= 1
        fgsm_right = keras_top1(cnn, first) == labels
        pgd_right = keras_top1(cnn, worst) == labels
        assert not np.any(pgd_right & ~fgsm_right), eps  # every image FGSM fools, PGD fools
        accuracy[eps] = (fgsm_right.mean(), pgd_right.mean())
        if eps == 0:
            assert np.array_equal(first, digits.images) and np.array_equal(worst, digits.images)
            assert fgsm_right.mean() == pgd_right.mean() == clean.mean()
    # the attacks bite: PGD strictly beats FGSM somewhere, and accuracy falls with epsilon
    assert any(p < f for f, p in accuracy.values())
    assert accuracy[0.2][1] < accuracy[0.05][1] < accuracy[0.0][1]
    fgsm_call, pgd_call = compiled(cnn)  # one graph each, whatever the epsilon
    assert fgsm_call.experimental_get_tracing_count() == 1
    assert pgd_call.experimental_get_tracing_count() == 1


def test_pgd_keeps_the_fgsm_point_when_its_own_steps_fail(cnn, mnist):
    """With a step too small to leave the clean image's neighbourhood, PGD's own points
    rarely fool the model: the images it returns are then FGSM's where FGSM fools it."""
    digits, labels = mnist
    target = AttackTarget(cnn, labels, 512)
    first = ATTACKS["fgsm"].apply(digits, 0.2, target)
    timid = PGD(steps=1, step_ratio=0.01, random_start=False)(digits, 0.2, target)
    fooled = keras_top1(cnn, first) != labels
    assert fooled.sum() > 50
    assert np.all(keras_top1(cnn, timid)[fooled] != labels[fooled])
    assert np.array_equal(timid[fooled], first[fooled])


def test_random_start_follows_the_seed(cnn, mnist):
    digits, labels = mnist
    images, target = digits.images[:16], AttackTarget(cnn, labels[:16], 16)
    once, again, other = (PGD(steps=2)(Digits.of(images, s), 0.1, target) for s in (0, 0, 1))
    assert np.array_equal(once, again)
    assert not np.array_equal(once, other)


def test_pgd_params_reach_the_attack():
    plan = sweeps(
        RobustnessParams(family=["pgd"], pgd_steps=3, pgd_step=1.5, pgd_random_start=False),
        (28, 28, 1),
    )
    assert plan[0].family.apply == PGD(steps=3, step_ratio=1.5, random_start=False)
    assert plan[0].levels == list(ATTACKS["pgd"].levels)


def test_attacks_are_not_in_the_default_sweep():
    assert not {"fgsm", "pgd"} & set(RobustnessParams().family)
    assert {"fgsm", "pgd"} <= set(kinterp.perturbation_families())


def section(report: dict, prefix: str) -> dict:
    return next(s for s in report["sections"] if s["title"].startswith(prefix))


def test_each_compared_model_faces_its_own_attack(runner, tmp_path):
    """--compare: mnist-mlp's FGSM curve is its accuracy on FGSM through its own gradients
    (recomputed here with TensorFlow), not on the images made for mnist-cnn."""
    import tensorflow as tf

    from kinterp.cli import app

    args = ["run", "robustness", "mnist-cnn", "--compare", "mnist-mlp", "--family", "fgsm"]
    args += ["--levels", "fgsm=0,0.1", "--limit", "100", "--sensitivity-images", "0"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    report = assert_valid_report(run_dirs(tmp_path)[0])
    rows = {(r[0], r[1]): r[2] for r in section(report, "fgsm")["tables"][0]["rows"]}
    x, y = load_mnist_5k().test()
    keep = limited(y, 100)  # --limit 100 takes the classes in turn
    x, y = x[keep], y[keep]
    for name in ("mnist-cnn", "mnist-mlp"):
        model = kinterp.load_model(name)
        images = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(images)
            logits = model.logits_model(model.to_input_tensor(images))
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(y.astype("int32"), logits)
        adversarial = np.clip(x + 0.1 * np.sign(tape.gradient(loss, images).numpy()), 0, 1)
        assert rows[(name, 0.1)] == pytest.approx(np.mean(keras_top1(model, adversarial) == y))
        assert rows[(name, 0.0)] == report["metrics"]["clean_accuracy_by_model"][name]
    text = section(report, "fgsm")["text"]
    assert "each model is attacked through its own gradients" in text
    assert "mnist-mlp's own input units (0.01 to 1): 0, 0.099" in text


def test_cli_fgsm_and_pgd_in_a_subprocess(tmp_path):
    levels = "fgsm=0,0.05,0.15,pgd=0,0.05,0.15"
    command = [sys.executable, "-m", "kinterp", "run", "robustness", "mnist-cnn"]
    command += ["--family", "fgsm,pgd", "--levels", levels, "--limit", "100"]
    command += ["--sensitivity-images", "0", "--pgd-steps", "5", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((run_dirs(tmp_path)[0] / "report.json").read_text())
    metrics = report["metrics"]
    fgsm, pgd = metrics["fgsm_accuracy"], metrics["pgd_accuracy"]
    assert fgsm["0 eps"] == pgd["0 eps"] == metrics["clean_accuracy"]
    assert all(pgd[level] <= fgsm[level] for level in fgsm)
    assert pgd["0.15 eps"] < fgsm["0.15 eps"]
    assert "PGD: 5 steps of 2.5 x epsilon / 5" in section(report, "pgd")["text"]
    # the examples are mnist-cnn's adversarial images: within epsilon of the clean test image,
    # framed red exactly where the Keras model gets them wrong
    model = kinterp.load_model("mnist-cnn")
    x, y = load_mnist_5k().test()
    keep = limited(y, 100)
    x, y = x[keep], y[keep]
    strips = section(report, "pgd")["images"]
    assert strips
    for strip in strips:
        index = int(Path(strip["array"]).stem.rsplit("-", 1)[1])
        images = np.load(run_dirs(tmp_path)[0] / strip["array"])
        change = np.abs(images - x[index]).reshape(3, -1).max(axis=1)
        assert np.all(change <= np.array([0, 0.05, 0.15]) + ULP)
        wrong = keras_top1(model, images) != y[index]
        assert [t["wrong"] for t in strip["tiles"]] == wrong.tolist()
        assert wrong[-1] and not wrong[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--levels", "pgd=0,1.5"], "--levels pgd=1.5 must be at most 1"),
        (["--levels", "fgsm=-0.1"], "--levels fgsm=-0.1 must be at least 0"),
        (["--pgd-steps", "0"], "--pgd-steps"),
        (["--pgd-step", "0"], "--pgd-step"),
    ],
)
def test_bad_attack_params_are_one_line(runner, tmp_path, extra, message):
    args = ["run", "robustness", "mnist-cnn", "--family", "fgsm,pgd", "--limit", "10", *extra]
    assert_refused(runner, args, message, tmp_path / "out")


def test_a_plugin_registers_the_documented_attack(runner, tmp_path, cnn, mnist):
    """docs/plugins.md's attack sketch: a working Family (on mnist-cnn it gives the built-in
    fgsm's images) that a plugin registers; robustness then attacks each model with it."""
    from kinterp.cli import app
    from kinterp.plugins import register_plugin, unregister_plugin

    doc = (Path(__file__).resolve().parents[1] / "docs" / "plugins.md").read_text()
    source = doc.split("#### An attack family", 1)[1].split("```python\n", 1)[1].split("```")[0]
    namespace: dict = {}
    exec(compile(source, "plugins.md", "exec"), namespace)
    family = namespace["SIGN_STEP"]
    assert family.attack and not family.by_default
    digits, labels = mnist
    few, target = digits.take(np.arange(32)), AttackTarget(cnn, labels[:32], 32)
    got = family.apply(few, 0.1, target)
    want = ATTACKS["fgsm"].apply(few, 0.1, target)
    assert np.mean(np.isclose(got, want, atol=ULP)) > 0.999  # a sign may differ at a zero

    class Plugin:
        @kinterp.hookimpl
        def register_perturbation_families(self, register):
            register(family)

    register_plugin(Plugin(), name="sign-step-plugin")
    try:
        args = ["run", "robustness", "mnist-cnn", "--family", "sign-step", "--limit", "50"]
        args += ["--compare", "mnist-mlp", "--sensitivity-images", "0", "--quiet"]
        result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    finally:
        unregister_plugin("sign-step-plugin")
    assert result.exit_code == 0, result.output
    report = assert_valid_report(run_dirs(tmp_path)[0])
    rows = {(r[0], r[1]): r[2] for r in section(report, "sign-step")["tables"][0]["rows"]}
    x, y = load_mnist_5k().test()
    keep = limited(y, 50)
    x, y = x[keep], y[keep]
    for name in ("mnist-cnn", "mnist-mlp"):
        model = kinterp.load_model(name)
        own = family.apply(Digits.of(x, 0), 0.1, AttackTarget(model, y, 50))
        assert rows[(name, 0.1)] == pytest.approx(np.mean(keras_top1(model, own) == y))
    assert "attacked through its own gradients" in section(report, "sign-step")["text"]


def test_the_compiled_attacks_go_with_their_model():
    import gc

    from kinterp.toolkit.attacks import _COMPILED

    model = kinterp.load_model("mnist-mlp")
    x, y = load_mnist_5k().test()
    digits = Digits.of(x[:8], seed=0)
    ATTACKS["pgd"].apply(digits, 0.1, AttackTarget(model, y[:8], 8))
    assert model in _COMPILED
    count = len(_COMPILED)
    del model
    gc.collect()
    assert len(_COMPILED) == count - 1
