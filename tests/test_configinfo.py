"""``kinterp inspect`` reads a flat model's config without TensorFlow (#24): the ModelInfo it
builds must equal the one loading the model gives, field for field, and anything the config
cannot settle falls back to loading."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from kinterp.loading.configinfo import config_info
from kinterp.loading.models import LoadOptions, load_model
from kinterp.loading.zoo import zoo_models


def _same(spec: str, options: LoadOptions | None = None) -> None:
    quick, full = config_info(spec, options), load_model(spec, options).info
    assert quick is not None, spec
    for field in dataclasses.fields(full):
        assert getattr(quick, field.name) == getattr(full, field.name), field.name


def _flat_zoo() -> list[str]:
    return [n for n in zoo_models() if n not in ("mnist-rgb-cnn", "mnist-3v8")]


@pytest.mark.parametrize("name", _flat_zoo())
def test_the_flat_zoo_models_read_from_their_config_equal_loading_them(name):
    _same(name)


def test_options_that_the_config_settles(tmp_path):
    _same("mnist-cnn", LoadOptions(input_range=(0.0, 255.0)))
    _same("mnist-mlp", LoadOptions(image_shape=(28, 28, 1)))


@pytest.fixture(scope="module")
def shapes_users_bring(keras, tmp_path_factory):
    """Flat models of other shapes: a functional 32x48 RGB model with Rescaling, a branch
    and an Add; a 0-255 model mapped to [-1, 1]; a Sequential MLP with Dropout."""
    folder = tmp_path_factory.mktemp("configinfo")
    layers = keras.layers
    image = keras.Input((32, 48, 3), name="photo")
    x = layers.Rescaling(1 / 255, name="scale")(image)
    a = layers.Conv2D(8, 3, padding="same", activation="relu", name="a")(x)
    b = layers.Conv2D(8, 1, name="b")(x)
    x = layers.Add(name="add")([a, b])
    x = layers.MaxPooling2D(name="pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(5, activation="softmax", name="head")(x)
    keras.Model(image, out).save(folder / "branch.keras")
    signed = keras.Sequential(
        [
            keras.Input((20, 20, 1)),
            layers.Rescaling(1 / 127.5, offset=-1, name="signed"),
            layers.Flatten(),
            layers.Dense(3),
        ]
    )
    signed.save(folder / "signed.keras")
    mlp = keras.Sequential(
        [keras.Input((64,)), layers.Dense(16, activation="tanh"), layers.Dropout(0.2)]
        + [layers.Dense(4, activation="sigmoid")]
    )
    mlp.save(folder / "mlp.keras")
    return folder


@pytest.mark.parametrize("file", ["branch.keras", "signed.keras", "mlp.keras"])
def test_flat_models_of_other_shapes(shapes_users_bring, file):
    _same(str(shapes_users_bring / file))


def test_what_the_config_cannot_settle_falls_back_to_loading(keras, tmp_path):
    layers = keras.layers
    norm = layers.Normalization(mean=0.5, variance=0.04, name="norm")
    keras.Sequential([keras.Input((4,)), norm, layers.Dense(2)]).save(tmp_path / "norm.keras")
    binary = keras.Sequential([keras.Input((4,)), layers.Dense(1, activation="sigmoid")])
    binary.save(tmp_path / "binary.keras")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    two = keras.Model([a, b], layers.Dense(2)(layers.Concatenate()([a, b])))
    two.save(tmp_path / "two.keras")
    for file in ("norm.keras", "binary.keras", "two.keras"):
        assert config_info(str(tmp_path / file)) is None, file
    assert config_info("mnist-rgb-cnn") is None  # nested base
    assert config_info("mnist-cnn", LoadOptions(unsafe=True)) is None


def test_inspect_prints_a_flat_model_without_importing_tensorflow():
    code = (
        "import sys; from kinterp.cli import app\n"
        "try:\n    app(['inspect', 'mnist-cnn', '--json'])\nexcept SystemExit:\n    pass\n"
        "print('TF' if 'tensorflow' in sys.modules else 'no TF')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    *printed, last = done.stdout.strip().splitlines()
    assert last == "no TF"
    shown = json.loads("\n".join(printed))
    assert shown["param_count"] == load_model("mnist-cnn").info.param_count
    assert [row["name"] for row in shown["layers"]][:2] == ["conv1", "conv2"]
