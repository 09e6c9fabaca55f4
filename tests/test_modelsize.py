"""A model's parameter memory is estimated from its config before Keras builds anything:
exactly for the layers kinterp follows (checked against Keras' own count), and a config
that declares more than fits is refused at once, without allocating."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kinterp.cli import app
from kinterp.loading.modelfile import read_config
from kinterp.loading.modelsize import parameter_bytes
from tests.measured import from_small_parent
from tests.test_bad_models import _rewrite_config


def _models(keras) -> dict:
    """Real models covering the layers the estimate follows."""
    layers = keras.layers
    base = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(8, 3, name="stem"),
            layers.BatchNormalization(),
            layers.DepthwiseConv2D(3, depth_multiplier=2),
            layers.SeparableConv2D(6, 3, padding="same"),
            layers.GlobalAveragePooling2D(),
        ],
        name="base",
    )
    side_in = keras.Input((32, 32, 3))
    side = layers.Conv2D(4, 5, strides=2, padding="same")(side_in)
    side = layers.Flatten()(layers.MaxPooling2D()(side))
    side_base = keras.Model(side_in, side, name="side_base")
    image = keras.Input((32, 32, 3))
    x = layers.Rescaling(1 / 255)(image)
    x = layers.Concatenate()([base(x), side_base(x)])
    x = layers.LayerNormalization()(layers.Dropout(0.1)(x))
    transfer = keras.Model(image, layers.Dense(5, activation="softmax")(x))
    return {
        "dense": keras.Sequential([keras.Input((784,)), layers.Dense(64), layers.Dense(10)]),
        "conv": keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                layers.Conv2D(8, 3, activation="relu"),
                layers.MaxPooling2D(),
                layers.Conv2D(16, 3, padding="same", use_bias=False),
                layers.Conv2DTranspose(4, 3, strides=2),
                layers.Flatten(),
                layers.Dense(10),
            ]
        ),
        "transfer_rgb": transfer,
        "sequence": keras.Sequential(
            [
                keras.Input((20,), dtype="int32"),
                layers.Embedding(100, 8),
                layers.Bidirectional(layers.LSTM(6, return_sequences=True)),
                layers.GRU(5),
                layers.Dense(3),
            ]
        ),
        "reshaping": keras.Sequential(
            [
                keras.Input((16, 16, 3)),
                layers.ZeroPadding2D(1),
                layers.Conv2D(4, 3),
                layers.UpSampling2D(),
                layers.Reshape((-1, 4)),
                layers.Permute((2, 1)),
                layers.Dense(7),
                layers.PReLU(),
                layers.GlobalMaxPooling1D(),
                layers.RepeatVector(3),
                layers.SimpleRNN(2),
                layers.BatchNormalization(),
                layers.Dense(2),
            ]
        ),
    }


@pytest.mark.parametrize("suffix", ["keras", "h5"])
def test_the_estimate_is_keras_own_count(keras, tmp_path, suffix):
    """.keras configs record each layer's build shape; .h5 configs do not, so there every
    shape is propagated from the inputs."""
    for name, model in _models(keras).items():
        path = tmp_path / f"{name}.{suffix}"
        model.save(path)
        assert parameter_bytes(read_config(path, suffix)) == 4 * model.count_params(), name


def _huge(config: dict) -> dict:
    """tiny_dense with hidden layers of 2,000,000 units (terabytes of weights)."""
    layers = config["config"]["layers"]
    hidden = next(layer for layer in layers if layer["class_name"] == "Dense")
    hidden["config"]["units"] = 2_000_000
    twice = json.loads(json.dumps(hidden))
    twice["config"]["name"] = twice["name"] = "hidden_2"
    twice["build_config"] = {"input_shape": [None, 2_000_000]}
    layers.insert(layers.index(hidden) + 1, twice)
    return config


def _unbuilt(config: dict) -> dict:
    """The same with no build_config: every shape comes from propagation."""
    for layer in config["config"]["layers"]:
        layer.pop("build_config", None)
    return config


REFUSE = """
import resource, sys
from typer.testing import CliRunner
from kinterp.cli import app
result = CliRunner().invoke(app, ["inspect", sys.argv[1]])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(result.exit_code, peak, "tensorflow" in sys.modules)
print(result.stderr.strip())
"""


@pytest.mark.parametrize("edit", [_huge, lambda c: _unbuilt(_huge(c))], ids=["built", "unbuilt"])
def test_a_tiny_file_declaring_huge_layers_is_refused_without_allocating(
    tiny_dense, tmp_path, edit
):
    model = _rewrite_config(tiny_dense, tmp_path / "huge.keras", edit)
    assert model.stat().st_size < 100_000
    result = subprocess.run(
        from_small_parent([sys.executable, "-c", REFUSE, str(model)]),
        capture_output=True,
        text=True,
        check=True,
    )
    status, message = result.stdout.strip().split("\n", 1)
    code, peak, imported_tensorflow = status.split()
    assert int(code) == 2, result.stdout + result.stderr
    assert "building this model would allocate about" in message
    assert "TiB" in message or "GiB" in message, message
    assert "over kinterp's limit of" in message and len(message.splitlines()) == 1
    assert int(peak) < 1024 * 2**20 and imported_tensorflow == "False"


def test_an_h5_model_config_declaring_huge_layers_is_refused(runner, tiny_h5, tmp_path):
    import h5py

    model = tmp_path / "huge.h5"
    model.write_bytes(tiny_h5.read_bytes())
    with h5py.File(model, "a") as h5:
        config = json.loads(h5.attrs["model_config"])
        dense = [layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense"]
        dense[-1]["config"]["units"] = 3_000_000_000
        h5.attrs["model_config"] = json.dumps(config)
    result = runner.invoke(app, ["inspect", str(model)])
    assert result.exit_code == 2, result.output
    assert "building this model would allocate about" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_weighted_layer_whose_input_cannot_be_derived_is_refused(runner, keras, tmp_path):
    """Discretization is a layer the estimate does not follow: a Dense after it is counted
    from its build_config, and refused without one."""
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Discretization([0.0, 1.0]), keras.layers.Dense(3)]
    )
    model.save(tmp_path / "ok.keras")
    assert parameter_bytes(read_config(tmp_path / "ok.keras", "keras")) == 4 * 15
    assert runner.invoke(app, ["inspect", str(tmp_path / "ok.keras")]).exit_code == 0
    unbuilt = _rewrite_config(tmp_path / "ok.keras", tmp_path / "unbuilt.keras", _unbuilt)
    result = runner.invoke(app, ["inspect", str(unbuilt)])
    assert result.exit_code == 2, result.output
    assert "cannot estimate the memory of layer" in result.stderr and "Dense" in result.stderr


def test_a_config_with_a_non_count_is_refused(runner, tiny_dense, tmp_path):
    def negative(config):
        config["config"]["layers"][-1]["config"]["units"] = -5
        return config

    result = runner.invoke(
        app, ["inspect", str(_rewrite_config(tiny_dense, tmp_path / "n.keras", negative))]
    )
    assert result.exit_code == 2, result.output
    assert "gives units as -5, not a count" in result.stderr


def test_the_stored_weights_count_when_the_config_says_less(tiny_dense):
    from kinterp.loading.modelsize import stored_weight_bytes

    with zipfile.ZipFile(tiny_dense) as archive:
        declared = archive.getinfo("model.weights.h5").file_size
    assert stored_weight_bytes(Path(tiny_dense), "keras") == declared
