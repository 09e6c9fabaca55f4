"""The zoo's RGB model: a nested conv base behind Rescaling(1/255), scoring what its card says."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib.resources import as_file, files

import numpy as np
import pytest

from kinterp.data.colourdigits import load_mnist_rgb
from tests.test_zoo import CARD_KEYS as ZOO_CARD_KEYS

NAME = "mnist-rgb-cnn"
CARD_KEYS = ZOO_CARD_KEYS - {"input_range"} | {"input_range_note"}
"""The zoo's card keys, with a note for the range kinterp reads from the Rescaling layer."""


@pytest.fixture(scope="module")
def card() -> dict:
    """The model card shipped next to the model."""
    return json.loads((files("kinterp_zoo") / f"{NAME}.json").read_text())


@pytest.fixture(scope="module")
def model():
    """The shipped model, loaded in safe mode."""
    import keras

    with as_file(files("kinterp_zoo") / f"{NAME}.keras") as path:
        return keras.saving.load_model(path, safe_mode=True)


def test_card_describes_the_shipped_file_and_leaves_the_range_to_the_model(card):
    assert set(card) == CARD_KEYS
    assert card["input_range_note"] == "0-255, inferred from the Rescaling(1/255) layer"
    assert card["name"] == NAME and card["file"] == f"{NAME}.keras"
    assert card["dataset"] == "mnist-rgb" and card["heldout_count"] == 1000
    data = (files("kinterp_zoo") / card["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == card["sha256"]
    assert len(data) < 1.5e6


def test_card_recipe_is_the_training_script_recipe(card):
    from kinterp_zoo.train import RECIPES, SEED

    assert card["recipe"] == RECIPES[NAME].description and card["seed"] == SEED


def test_model_is_transfer_shaped(model):
    import keras

    rescaling, base, pooling, head = model.layers
    assert isinstance(rescaling, keras.layers.Rescaling)
    assert rescaling.scale == pytest.approx(1 / 255)
    assert isinstance(base, keras.Model) and base.name == "digit_base"
    convs = [layer.name for layer in base.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [f"block{i}_conv" for i in range(1, 5)]
    assert isinstance(pooling, keras.layers.GlobalAveragePooling2D)
    assert head.name == "predictions" and head.get_config()["activation"] == "softmax"
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)
    assert model.count_params() < 100_000


def test_model_reaches_its_card_accuracy_on_0_255_pixels(model, card):
    x, y = load_mnist_rgb().test()
    predictions = model.predict(x * 255.0, batch_size=500, verbose=0)
    accuracy = float(np.mean(np.argmax(predictions, axis=-1) == y))
    assert accuracy == pytest.approx(card["heldout_accuracy"], abs=0.002)
    assert accuracy >= 0.95


def test_build_writes_the_note_instead_of_an_input_range(tmp_path, capsys):
    """The card path of the training script, with an untrained model in place of training."""
    from kinterp_zoo.train import RECIPES, build, digit_base

    def untrained(data):
        import keras

        return keras.Sequential(
            [
                keras.Input((32, 32, 3)),
                keras.layers.Rescaling(1 / 255),
                digit_base((4,)),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(10, activation="softmax", name="predictions"),
            ]
        )

    written = build(dataclasses.replace(RECIPES[NAME], train=untrained), tmp_path)
    assert set(written) == CARD_KEYS
    assert json.loads((tmp_path / f"{NAME}.json").read_text()) == written
    assert f"{NAME}: held-out accuracy" in capsys.readouterr().out
