"""The shipped zoo: every model loads safely and still scores what its model card says."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import subprocess
import sys
from importlib.resources import files

import numpy as np
import pytest

from kinterp.data.datasets import BUILTIN_DATASETS
from kinterp.errors import KinterpError

THRESHOLDS = {"mnist-cnn": 0.975, "mnist-mlp": 0.92, "mnist-mlp-rot": 0.92, "fashion-cnn": 0.90}
CARD_KEYS = {
    "name",
    "summary",
    "dataset",
    "split",
    "heldout_accuracy",
    "heldout_count",
    "input_range",
    "class_names",
    "recipe",
    "seed",
    "keras_version",
    "tensorflow_version",
    "sha256",
    "file",
}


def card(name: str) -> dict:
    """The model card shipped next to the model."""
    return json.loads((importlib.resources.files("kinterp_zoo") / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(THRESHOLDS))
def test_card_describes_the_shipped_file(name: str) -> None:
    info = card(name)
    assert set(info) == CARD_KEYS
    assert info["name"] == name and info["file"] == f"{name}.keras"
    data = (importlib.resources.files("kinterp_zoo") / info["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == info["sha256"]
    assert len(info["class_names"]) == 10


@pytest.mark.parametrize("name", sorted(THRESHOLDS))
def test_model_reaches_its_card_accuracy_on_held_out_data(name: str) -> None:
    import keras

    info = card(name)
    spec = next(spec for spec in BUILTIN_DATASETS if spec.name == info["dataset"])
    try:
        data = spec.load()
    except KinterpError:
        if spec.name != "fashion-mnist":
            raise
        pytest.skip("Debian package dataset-fashion-mnist not installed")
    with importlib.resources.as_file(
        importlib.resources.files("kinterp_zoo") / info["file"]
    ) as path:
        model = keras.saving.load_model(path, safe_mode=True)
    x, y = data.test()
    low, high = info["input_range"]
    x = (x * (high - low) + low).reshape((len(x), *model.input_shape[1:]))
    predictions = model.predict(x, batch_size=500, verbose=0)
    accuracy = float(np.mean(np.argmax(predictions, axis=-1) == y))
    assert len(x) == info["heldout_count"]
    assert accuracy == pytest.approx(info["heldout_accuracy"], abs=0.002)
    assert accuracy >= THRESHOLDS[name]
    assert model.layers[-1].name == "predictions"


def test_split_regenerates_exactly_from_its_seed():
    """The stored mnist-5k split is what the training script's fixed seed produces."""
    from kinterp_zoo.train import HELD_OUT_PER_CLASS, SPLIT_SEED, make_split

    data = files("kinterp.data")
    with np.load(str(data / "mnist_5k.npz")) as archive:
        labels = archive["y"]
    with np.load(str(data / "mnist_5k_split.npz")) as archive:
        train_idx, test_idx = archive["train_idx"], archive["test_idx"]
    again = make_split(labels, HELD_OUT_PER_CLASS, SPLIT_SEED)
    np.testing.assert_array_equal(again[0], train_idx)
    np.testing.assert_array_equal(again[1], test_idx)


def test_training_script_reproduces_the_mlp_card(tmp_path):
    """Retrain mnist-mlp from scratch (about 15 s) and compare with the shipped card."""
    done = subprocess.run(
        [sys.executable, "-m", "kinterp_zoo.train", "mnist-mlp", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    fresh = json.loads((tmp_path / "mnist-mlp.json").read_text())
    shipped = json.loads((files("kinterp_zoo") / "mnist-mlp.json").read_text())
    assert fresh["heldout_accuracy"] >= 0.92
    assert abs(fresh["heldout_accuracy"] - shipped["heldout_accuracy"]) <= 0.01
    assert fresh["recipe"] == shipped["recipe"] and fresh["seed"] == shipped["seed"]
