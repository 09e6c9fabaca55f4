"""The classic studies' zoo models: mnist-mlp-rot (the book's rotation augmentation) and
mnist-3v8 (a one-unit logistic 3-vs-8 model whose two HappyMaps are each other's complement)."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

import kinterp
from kinterp.data.datasets import load_mnist_3v8, load_mnist_5k
from tests.conftest import assert_valid_report, run_dirs

ZOO = importlib.resources.files("kinterp_zoo")


def card(name: str) -> dict:
    return json.loads((ZOO / f"{name}.json").read_text())


def keras_model(name: str):
    import keras

    with importlib.resources.as_file(ZOO / f"{name}.keras") as path:
        return keras.saving.load_model(path, safe_mode=True)


@pytest.mark.parametrize(
    ("name", "classes", "dataset"),
    [("mnist-mlp-rot", 10, "mnist-5k"), ("mnist-3v8", 2, "mnist-3v8")],
)
def test_card_describes_the_shipped_file(name, classes, dataset) -> None:
    info = card(name)
    assert info["name"] == name and info["file"] == f"{name}.keras"
    assert info["dataset"] == dataset and len(info["class_names"]) == classes
    data = (ZOO / info["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == info["sha256"]
    assert name in kinterp.zoo_models()


def test_mnist_3v8_scores_its_card_on_the_held_out_3s_and_8s() -> None:
    """One sigmoid unit, p(8): a digit is called 8 when p > 0.5; 200 held-out 3s and 8s."""
    info = card("mnist-3v8")
    assert info["class_names"] == ["3", "8"] and info["input_range"] == [0.0, 1.0]
    data = load_mnist_3v8()
    x, y = data.test()
    full_x, full_y = load_mnist_5k().test()
    keep = np.isin(full_y, [3, 8])
    np.testing.assert_array_equal(x, full_x[keep])
    np.testing.assert_array_equal(y, full_y[keep] == 8)
    model = keras_model("mnist-3v8")
    assert model.output_shape == (None, 1)
    p = model.predict(x, verbose=0)[:, 0]
    accuracy = float(np.mean((p > 0.5) == y))
    assert len(x) == info["heldout_count"] == 200
    assert accuracy == pytest.approx(info["heldout_accuracy"], abs=0.002) and accuracy >= 0.9
    loaded = kinterp.load_model("mnist-3v8")
    assert loaded.info.num_outputs == 2 and loaded.info.class_name(1) == "8"


def rotated_accuracy(model, x: np.ndarray, y: np.ndarray, degrees: float) -> float:
    """Accuracy of an mnist-mlp-shaped model on ``x`` rotated by ``degrees`` (scipy)."""
    turned = ndimage.rotate(x[..., 0], degrees, axes=(1, 2), reshape=False, order=1, cval=0.0)
    inputs = 0.01 + 0.99 * np.clip(turned, 0, 1).reshape(len(x), 784)
    return float(np.mean(np.argmax(model.predict(inputs, verbose=0), axis=1) == y))


def test_mnist_mlp_rot_beats_mnist_mlp_on_rotated_held_out_digits() -> None:
    x, y = load_mnist_5k().test()
    plain, rot = keras_model("mnist-mlp"), keras_model("mnist-mlp-rot")
    for degrees in (-20, -15, -10, 10, 15, 20):
        ahead = rotated_accuracy(rot, x, y, degrees) - rotated_accuracy(plain, x, y, degrees)
        assert ahead > 0.01, (degrees, ahead)
    assert card("mnist-mlp-rot")["heldout_accuracy"] > card("mnist-mlp")["heldout_accuracy"]


def test_robustness_compare_shows_mnist_mlp_rot_ahead_on_rotation(tmp_path) -> None:
    args = ["robustness", "mnist-mlp", "--compare", "mnist-mlp-rot", "--family", "rotate"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "kinterp",
            "run",
            *args,
            "--rotate",
            "0,15,20",
            "--limit",
            "300",
            "--sensitivity-images",
            "0",
            "--quiet",
            "--out",
            str(tmp_path),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (run_dir,) = run_dirs(tmp_path)
    report = assert_valid_report(run_dir)
    rotate = next(s for s in report["sections"] if s["title"].startswith("rotate"))
    table = rotate["tables"][0]
    model, level, accuracy = (table["columns"].index(c) for c in ("model", "level", "accuracy"))
    curve = {(row[model], row[level]): row[accuracy] for row in table["rows"]}
    for degrees in (15, 20):
        assert curve[("mnist-mlp-rot", degrees)] > curve[("mnist-mlp", degrees)]


def maps(out: Path, technique: str = "happymap", **params) -> np.ndarray:
    result = kinterp.run(technique, "mnist-3v8", out=out, classes=[0, 1], **params)
    assert_valid_report(result.path)
    return np.load(Path(result.path) / "arrays" / "maps-input.npy").reshape(2, 784)


def test_happymap_of_3_and_of_8_are_each_others_complement(tmp_path) -> None:
    """mnist-3v8 is logistic: z = w.x + b and kinterp's two-class logits are -z/2 ("3") and
    z/2 ("8"), so the gradient of "3" is minus that of "8" everywhere. Adam on a constant
    gradient g steps lr * sign(g), so from the grey start (0.5) the clipped map of "8" is 1
    where w > 0 and 0 where w < 0, and the map of "3" is its complement, 1 - map of "8".
    Unclipped from black (0) with the L2 penalty l2 * mean(x^2) and plain gradient steps, the
    maps are D (+-w / 2) / (2 l2): mirror images about 0."""
    w = keras_model("mnist-3v8").layers[-1].get_weights()[0][:, 0]
    clipped = maps(tmp_path / "clip", init=["half"], steps=32, lr=0.05)
    np.testing.assert_array_equal(clipped[1], (w > 0).astype("float32"))
    np.testing.assert_array_equal(clipped[0], 1.0 - clipped[1])
    l2 = 50.0
    free = maps(
        tmp_path / "free", init=["zeros"], range="free", l2=l2, optimizer="sgd", lr=1.0, steps=400
    )
    np.testing.assert_allclose(free[1], 784 * (w / 2) / (2 * l2), atol=1e-3)
    np.testing.assert_allclose(free[0], -free[1], atol=1e-5)
    sad = maps(tmp_path / "sad", "sadmap", init=["half"], steps=32, lr=0.05)
    np.testing.assert_array_equal(sad[::-1], clipped)  # sadmap of 3 is happymap of 8
