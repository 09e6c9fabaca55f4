"""backquery: the book's back query reproduced, the run on the zoo MLP, and the refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from kinterp_plugins.backquery import (
    Backquery,
    backquery,
    backquery_trace,
    dense_chain,
    plan_chain,
)
from typer.testing import CliRunner

import kinterp
from kinterp.cli import app
from kinterp.reporting.report import report_schema

keras = pytest.importorskip("keras")


def logit(x: np.ndarray) -> np.ndarray:
    return np.log(x / (1.0 - x))


def book_backquery(wih: np.ndarray, who: np.ndarray, targets_list) -> np.ndarray:
    """Tariq Rashid's neuralNetwork.backquery, line for line (weights in (out, in) layout)."""
    final_outputs = np.array(targets_list, ndmin=2).T
    final_inputs = logit(final_outputs)
    hidden_outputs = np.dot(who.T, final_inputs)
    hidden_outputs -= np.min(hidden_outputs)
    hidden_outputs /= np.max(hidden_outputs)
    hidden_outputs *= 0.98
    hidden_outputs += 0.01
    hidden_inputs = logit(hidden_outputs)
    inputs = np.dot(wih.T, hidden_inputs)
    inputs -= np.min(inputs)
    inputs /= np.max(inputs)
    inputs *= 0.98
    inputs += 0.01
    return inputs


def dense_model(*layers, inputs: int = 784, **kwargs):
    return keras.Sequential([keras.Input((inputs,)), *layers], **kwargs)


@pytest.fixture(scope="module")
def book_net():
    """A no-bias 784-200-10 sigmoid network with the book's random initial weights."""
    rng = np.random.default_rng(7)
    model = dense_model(
        keras.layers.Dense(200, activation="sigmoid", use_bias=False),
        keras.layers.Dense(10, activation="sigmoid", use_bias=False),
    )
    wih = rng.normal(0.0, 784**-0.5, (200, 784))
    who = rng.normal(0.0, 200**-0.5, (10, 200))
    model.set_weights([wih.T, who.T])  # Keras kernels are (in, out)
    return model


def test_transpose_reproduces_the_books_backquery(book_net) -> None:
    wih, who = (np.asarray(w, dtype="float64").T for w in book_net.get_weights())
    chain = dense_chain(book_net)
    assert [(k.shape, b, a) for k, b, a in chain] == [
        ((784, 200), None, "sigmoid"),
        ((200, 10), None, "sigmoid"),
    ]
    targets = np.full((10, 10), 0.01) + np.eye(10) * 0.98
    batch = backquery(chain, targets)
    for label in range(10):
        expected = book_backquery(wih, who, targets[label])[:, 0]
        got = backquery(chain, targets[label])
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
        np.testing.assert_allclose(batch[label], expected, atol=1e-6, rtol=0)
    assert batch.min() == pytest.approx(0.01) and batch.max() == pytest.approx(0.99)


def test_pinv_inverts_a_linear_layer() -> None:
    rng = np.random.default_rng(3)
    model = dense_model(keras.layers.Dense(10, activation="linear", use_bias=False))
    model.set_weights([rng.normal(0.0, 0.05, (784, 10))])
    target = rng.normal(0.0, 1.0, 10)
    trace = backquery_trace(dense_chain(model), target, method="pinv")
    forward = np.asarray(model(trace.raw[None, :].astype("float32")))[0]
    np.testing.assert_allclose(forward, target, atol=1e-4)
    assert trace.inputs.min() == pytest.approx(0.01) and trace.inputs.max() == pytest.approx(0.99)


def test_tanh_softmax_and_biases() -> None:
    rng = np.random.default_rng(5)
    model = dense_model(
        keras.layers.Dense(6, activation="tanh"),
        keras.layers.Dense(4),
        keras.layers.Softmax(),
        inputs=9,
    )
    model.set_weights([rng.normal(0.0, 0.5, w.shape) for w in model.get_weights()])
    chain = dense_chain(model)
    assert [a for _, _, a in chain] == ["tanh", "softmax"]
    (k1, b1, _), (k2, b2, _) = chain
    target = np.array([0.7, 0.1, 0.1, 0.1])
    trace = backquery_trace(chain, target)
    hidden = trace.signals[1]
    assert hidden.min() == pytest.approx(-0.99) and hidden.max() == pytest.approx(0.99)
    np.testing.assert_allclose(hidden, _rescale(k2 @ (np.log(target) - b2), -0.99, 0.99))
    np.testing.assert_allclose(trace.raw, k1 @ (np.arctanh(hidden) - b1))


def _rescale(v, lo, hi):
    return lo + (hi - lo) * (v - v.min()) / (v - v.min()).max()


def test_plan_chain_folds_activations_and_refuses_relu() -> None:
    rows = [("in", "InputLayer", ""), ("f", "Flatten", ""), ("d", "Dense", "linear")]
    assert plan_chain([*rows, ("a", "Activation", "sigmoid")]) == [("d", "sigmoid")]
    with pytest.raises(kinterp.KinterpError, match="'r' \\(ReLU\\).*happymap"):
        plan_chain([*rows, ("r", "ReLU", "")])
    assert Backquery.demo[0].model == "mnist-mlp" and Backquery.key_metric == "forward_match"


def test_run_on_the_zoo_mlp(tmp_path: Path) -> None:
    result = kinterp.run("backquery", "mnist-mlp", out=str(tmp_path))
    assert result.status == "ok"
    report = json.loads((result.path / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    sections = {s["title"]: s for s in report["sections"]}
    tiles = sections["Back-queried images"]["images"][0]["tiles"]
    assert len(tiles) == 10 and all((result.path / t["path"]).is_file() for t in tiles)
    assert "bias" in sections["Back query"]["text"]
    assert len(sections["Forward check"]["tables"][0]["rows"]) == 10
    images = result.arrays["backquery"]
    assert images.shape == (10, 28, 28, 1) and images.min() >= 0.0 and images.max() <= 1.0
    # The figures, recomputed here from the model's weights as the module documents them.
    inputs, outputs = zoo_mlp_by_hand()
    assert np.allclose(result.arrays["backquery-inputs"].reshape(10, 784), inputs, atol=1e-6)
    top = outputs.argmax(axis=1)
    assert result.metrics["forward_match"] == np.mean(top == np.arange(10)) == 0.6
    assert result.metrics["forward_class"] == {str(i): str(c) for i, c in enumerate(top)}
    confidences = result.metrics["forward_confidence"]
    assert set(confidences) == {str(i) for i in range(10)}
    for label in range(10):
        assert confidences[str(label)] == pytest.approx(outputs[label, label], abs=1e-4)


def zoo_mlp_by_hand() -> tuple[np.ndarray, np.ndarray]:
    """The transpose back query of mnist-mlp (784 -> 200 sigmoid -> 10 sigmoid, biased) for
    targets 0.99 on the label and 0.01 elsewhere, in numpy: logit of the target minus the
    bias, times the transposed weights, rescaled onto (0.01, 0.99), and again down to the input
    (its range [0.01, 1] takes the book's (0.01, 0.99)); then each input fed forward.

    Returns: (10, 784) inputs and (10, 10) outputs.
    """
    (k1, b1), (k2, b2) = (
        [np.asarray(w, dtype="float64") for w in layer.get_weights()]
        for layer in kinterp.load_model("mnist-mlp").keras_model.layers
        if layer.get_weights()
    )

    def onto_book_range(v: np.ndarray) -> np.ndarray:
        v = v - v.min(axis=1, keepdims=True)
        return 0.98 * v / v.max(axis=1, keepdims=True) + 0.01

    def sigmoid(z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-z))

    targets = np.full((10, 10), 0.01) + 0.98 * np.eye(10)
    hidden = onto_book_range((logit(targets) - b2) @ k2.T)
    inputs = onto_book_range((logit(hidden) - b1) @ k1.T)
    return inputs, sigmoid(sigmoid(inputs @ k1 + b1) @ k2 + b2)


def test_cli_both_methods_side_by_side(tmp_path: Path) -> None:
    args = ["run", "backquery", "mnist-mlp", "--out", str(tmp_path), "--method", "both"]
    result = CliRunner().invoke(app, [*args, "--labels", "3,8", "--quiet"])
    assert result.exit_code == 0, result.output
    (run_dir,) = tmp_path.iterdir()
    report = json.loads((run_dir / "report.json").read_text())
    block = next(s for s in report["sections"] if s["title"] == "Back-queried images")["images"][0]
    assert block["columns"] == 2 and len(block["tiles"]) == 4
    assert set(report["metrics"]["forward_confidence"]) == {
        "3/transpose",
        "3/pinv",
        "8/transpose",
        "8/pinv",
    }
    assert "forward_match_pinv" in report["metrics"]
    rows = next(s for s in report["sections"] if s["title"] == "Forward check")["tables"][0]["rows"]
    pinv_rows = [row for row in rows if row[1] == "pinv"]
    # before its display rescale, the pseudo-inverse input gets exactly the label asked for
    assert [row[0] for row in pinv_rows] == [row[-1] for row in pinv_rows] == ["3", "8"]


def _refused(tmp_path: Path, model_path: Path, *extra: str) -> str:
    out = tmp_path / "out"
    args = ["run", "backquery", str(model_path), "--out", str(out), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())
    return message


def test_relu_and_conv_models_are_refused(tmp_path: Path) -> None:
    relu = dense_model(keras.layers.Dense(8, activation="relu", name="hid"), keras.layers.Dense(3))
    relu.save(tmp_path / "relu.keras")
    message = _refused(tmp_path, tmp_path / "relu.keras")
    assert "'hid'" in message and "relu" in message and "happymap" in message

    conv = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(2, 3, name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    conv.save(tmp_path / "conv.keras")
    with pytest.raises(kinterp.KinterpError, match="'conv'.*happymap"):
        kinterp.run("backquery", str(tmp_path / "conv.keras"), out=str(tmp_path / "conv-out"))
    assert not (tmp_path / "conv-out").exists()


def test_bad_labels_and_targets_are_refused(tmp_path: Path) -> None:
    model = Path(str(kinterp.load_model("mnist-mlp").info.path))
    message = _refused(tmp_path, model, "--labels", "3,10")
    assert "--labels 10 is out of range: there are 10 classes" in message and "(0-9)" in message
    with pytest.raises(kinterp.KinterpError, match="10 outputs"):
        kinterp.run("backquery", "mnist-mlp", out=str(tmp_path / "o"), target=[0.5, 0.5])
    with pytest.raises(kinterp.KinterpError, match="open range"):
        kinterp.run("backquery", "mnist-mlp", out=str(tmp_path / "o"), target_high=1.0)


def test_module_import_stays_tensorflow_free() -> None:
    code = (
        "import sys, kinterp_plugins.backquery; "
        "assert not {'tensorflow', 'keras'} & set(sys.modules), 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
