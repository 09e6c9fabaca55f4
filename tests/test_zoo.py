"""The shipped zoo: every model loads safely and still scores what its model card says."""

from __future__ import annotations

import hashlib
import importlib.resources
import json

import numpy as np
import pytest

from kinterp.datasets import BUILTIN_DATASETS
from kinterp.errors import KinterpError

THRESHOLDS = {"mnist-cnn": 0.975, "mnist-mlp": 0.92, "fashion-cnn": 0.90}
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
