"""Model registry: formats, ModelInfo, the logits view, geometry and input range."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kinterp.cli import app
from kinterp.errors import KinterpError
from kinterp.loading.models import LoadOptions, load_model


@pytest.fixture(scope="module")
def mobilenet(keras, tmp_path_factory):
    """keras.applications.MobileNetV2 (random weights), saved as .keras."""
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10)
    path = tmp_path_factory.mktemp("apps") / "mobilenetv2.keras"
    model.save(path)
    return path


def test_inspect_keras_applications_architecture(runner, mobilenet):
    result = runner.invoke(app, ["inspect", str(mobilenet), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["kind"] == "conv"
    assert info["image_shape"] == [96, 96, 3]
    assert info["output_activation"] == "softmax"
    assert info["param_count"] > 2_000_000
    assert any(layer["type"] == "DepthwiseConv2D" for layer in info["layers"])


def test_inspect_legacy_h5(runner, tiny_h5):
    result = runner.invoke(app, ["inspect", str(tiny_h5), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["format"] == "h5" and info["kind"] == "conv"


def test_inspect_savedmodel_says_it_has_no_layers(runner, tiny_savedmodel):
    result = runner.invoke(app, ["inspect", str(tiny_savedmodel)])
    assert result.exit_code == 0, result.output
    assert "format: savedmodel" in result.stdout
    assert "(SavedModel: one opaque layer; layer-level techniques are not available)" in (
        result.stdout
    )


def test_savedmodel_predicts_like_a_model(tiny_savedmodel):
    loaded = load_model(str(tiny_savedmodel))
    out = loaded.predict(np.zeros((3, 28, 28, 1), "float32"))
    assert out.shape == (3, 10)
    with pytest.raises(KinterpError, match="SavedModel"):
        loaded.layer("dense")


def test_inspect_table_lists_layers(runner):
    result = runner.invoke(app, ["inspect", "mnist-cnn"])
    assert result.exit_code == 0, result.output
    assert "conv1" in result.stdout and "predictions" in result.stdout


def test_dense_model_is_flat_square_image(tiny_dense):
    info = load_model(str(tiny_dense)).info
    assert info.kind == "dense"
    assert info.input_shape == (784,)
    assert info.image_shape == (28, 28, 1)
    assert info.output_activation == "sigmoid"


def test_logits_view_is_pre_softmax(tiny_conv, digits):
    loaded = load_model(str(tiny_conv))
    x = loaded.to_input(digits[0][:5])
    logits = np.asarray(loaded.logits_model(x))
    probs = loaded.predict(x)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, probs, atol=1e-5)
    assert not np.allclose(logits.sum(axis=1), 1.0)


def test_zoo_card_sets_input_range_and_class_names():
    info = load_model("mnist-mlp").info
    assert info.input_range == (0.01, 1.0)
    assert info.card["name"] == "mnist-mlp"
    assert len(info.class_names) == 10


def test_input_range_and_image_shape_overrides(tiny_dense):
    options = LoadOptions(image_shape=(28, 28, 1), input_range=(-1.0, 1.0))
    loaded = load_model(str(tiny_dense), options)
    assert loaded.info.input_range == (-1.0, 1.0)
    x = loaded.to_input(np.ones((2, 28, 28, 1), "float32"))
    assert x.shape == (2, 784) and float(x.max()) == 1.0
    np.testing.assert_allclose(loaded.to_images(x), np.ones((2, 28, 28, 1)))


def test_non_image_input_is_a_one_line_error(runner, keras, tmp_path, occlusion_plugin):
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(3, activation="softmax")])
    path = tmp_path / "tabular.keras"
    model.save(path)
    result = runner.invoke(app, ["run", "occlusion", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "not image-like" in result.stderr and "--image-shape" in result.stderr
    assert not (tmp_path / "o").exists()


def test_wrong_image_shape_override(runner, tiny_dense):
    result = runner.invoke(app, ["inspect", str(tiny_dense), "--image-shape", "10,10,1"])
    assert result.exit_code == 2
    assert "--image-shape" in result.stderr


@pytest.mark.parametrize("value", ["a,b", "1", "28x28"])
def test_bad_geometry_values(runner, tiny_dense, value):
    result = runner.invoke(app, ["inspect", str(tiny_dense), "--image-shape", value])
    assert result.exit_code == 2
    assert "--image-shape expects 3" in result.stderr


def test_custom_objects_opt_in(runner, keras, tmp_path, monkeypatch):
    module = tmp_path / "mylayers.py"
    module.write_text(
        "import keras\n"
        "@keras.saving.register_keras_serializable(package='mine')\n"
        "class Doubler(keras.layers.Layer):\n"
        "    def call(self, x):\n"
        "        return x * 2.0\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import mylayers

    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            mylayers.Doubler(),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    path = tmp_path / "custom.keras"
    model.save(path)
    keras.saving.get_custom_objects().clear()
    result = runner.invoke(app, ["inspect", str(path), "--custom-objects", "mylayers:Doubler"])
    assert result.exit_code == 0, result.output
    bad = runner.invoke(app, ["inspect", str(path), "--custom-objects", "nomodule:Thing"])
    assert bad.exit_code == 2 and "cannot import custom object" in bad.stderr
