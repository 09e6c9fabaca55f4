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
from kinterp.loading.deferredsize import deferred_parameter_bytes
from kinterp.loading.modelfile import read_config
from kinterp.loading.modelsize import parameter_bytes, walk
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
        **_attention_and_wrapped_models(keras),
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


def _attention_and_wrapped_models(keras) -> dict:
    """EinsumDense (with and without an ellipsis), attention, ConvLSTM and wrappers around
    layers and nested models."""
    layers = keras.layers
    tokens = keras.Input((8, 6))
    x = layers.EinsumDense("abc,cd->abd", output_shape=(8, 5), bias_axes="d")(tokens)
    x = layers.EinsumDense("...b,bc->...c", output_shape=4, bias_axes="c")(x)
    x = layers.EinsumDense("abc,cde->abde", output_shape=(8, 3, 2), bias_axes="de")(x)
    query, value = keras.Input((8, 6)), keras.Input((5, 7))
    a = layers.MultiHeadAttention(num_heads=3, key_dim=4, value_dim=2)(query, value)
    a = layers.MultiHeadAttention(num_heads=2, key_dim=3, output_shape=5, use_bias=False)(a, a)
    a = layers.GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)(a, a)
    frames, signal = keras.Input((3, 10, 10, 2)), keras.Input((3, 10, 2))
    c = layers.ConvLSTM2D(4, 3, return_sequences=True, padding="same")(frames)
    c = layers.Flatten()(layers.ConvLSTM2D(3, (3, 2), strides=2)(c))
    q = layers.Flatten()(layers.ConvLSTM1D(2, 3)(signal))
    inner = keras.Sequential([keras.Input((6,)), layers.Dense(5), layers.Dense(3)])
    steps = keras.Input((4, 6))
    w = layers.TimeDistributed(inner)(steps)
    w = layers.Bidirectional(layers.GRU(3, return_sequences=True))(w)
    backward = layers.LSTM(2, go_backwards=True)
    w = layers.Bidirectional(layers.LSTM(2), backward_layer=backward)(w)
    return {
        "einsum": keras.Model(tokens, layers.Flatten()(x)),
        "attention": keras.Model([query, value], a),
        "conv_lstm": keras.Model([frames, signal], [c, q]),
        "wrapped": keras.Model(steps, w),
    }


@pytest.mark.parametrize("suffix", ["keras", "h5"])
def test_the_estimate_is_keras_own_count(keras, tmp_path, suffix):
    """.keras configs record each layer's build shape; .h5 configs do not, so there every
    shape is propagated from the inputs."""
    for name, model in _models(keras).items():
        path = tmp_path / f"{name}.{suffix}"
        model.save(path)
        assert parameter_bytes(read_config(path, suffix)) == 4 * model.count_params(), name


def test_layers_the_walk_does_not_know_are_counted_by_a_deferred_build(keras, tmp_path):
    """RNN of a cell, RMSNormalization and SpectralNormalization are not in the config walk:
    Keras builds their structure with deferred variables and their shapes are counted."""
    layers = keras.layers
    steps = keras.Input((5, 6))
    x = layers.RNN(layers.LSTMCell(4), return_sequences=True)(steps)
    x = layers.SpectralNormalization(layers.Dense(3))(layers.RMSNormalization()(x))
    model = keras.Model(steps, layers.Dense(2)(layers.Flatten()(x)))
    model.save(tmp_path / "m.keras")
    config = read_config(tmp_path / "m.keras", "keras")
    assert walk(config).unknown == {"RNN", "RMSNormalization", "SpectralNormalization"}
    assert deferred_parameter_bytes("keras", config, None, True) == 4 * model.count_params()


def _edited(keras, tmp_path: Path, name: str, model, **settings) -> Path:
    """``model`` saved, then its layer ``big`` given ``settings`` in config.json (at any
    depth: wrapped and nested layers included)."""

    def edit(config):
        def visit(value):
            if isinstance(value, dict):
                if isinstance(value.get("config"), dict) and value["config"].get("name") == "big":
                    value["config"].update(settings)
                for item in value.values():
                    visit(item)
            elif isinstance(value, list):
                for item in value:
                    visit(item)

        visit(config)
        return config

    model.save(tmp_path / f"{name}.small.keras")
    return _rewrite_config(tmp_path / f"{name}.small.keras", tmp_path / f"{name}.keras", edit)


def _hostile_models(keras, tmp_path: Path) -> dict[str, Path]:
    """The review's files: core layers with huge settings in a 20 kB config, and a layer type
    the config walk does not know (counted by the deferred build)."""
    layers = keras.layers
    tokens = keras.Input((8, 8))
    einsum = layers.EinsumDense("abc,cd->abd", output_shape=(8, 4), name="big")(tokens)
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="big")(tokens, tokens)
    frames = keras.Input((2, 8, 8, 1))
    conv_lstm = layers.ConvLSTM2D(4, 3, name="big")(frames)
    inner = keras.Sequential([keras.Input((8,)), layers.Dense(4, name="big")], name="inner")
    nested = layers.TimeDistributed(inner)(tokens)
    cell = layers.RNN(layers.LSTMCell(4, name="big"))(tokens)
    return {
        "einsum": _edited(
            keras, tmp_path, "einsum", keras.Model(tokens, einsum), output_shape=[8, 140_000_000]
        ),
        "attention": _edited(
            keras, tmp_path, "mha", keras.Model(tokens, attention), key_dim=100_000_000
        ),
        "conv_lstm": _edited(
            keras, tmp_path, "convlstm", keras.Model(frames, conv_lstm), filters=30_000
        ),
        "nested": _edited(keras, tmp_path, "nested", keras.Model(tokens, nested), units=2 * 10**8),
        "unknown_to_the_walk": _edited(
            keras, tmp_path, "rnn", keras.Model(tokens, cell), units=30_000
        ),
    }


def test_huge_core_and_unknown_layers_are_refused_without_allocating(keras, tmp_path):
    """Each is refused with kinterp's numbers at a peak below 1 GiB (the one the config
    walk does not know after TensorFlow is imported, as loading any model imports it)."""
    for name, model in _hostile_models(keras, tmp_path).items():
        peak, _ = _assert_refused_for_size(model)
        assert peak < 1024 * 2**20, (name, peak / 2**20)


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
    peak, imported_tensorflow = _assert_refused_for_size(model)
    assert peak < 1024 * 2**20 and not imported_tensorflow


def _assert_refused_for_size(model: Path) -> tuple[int, bool]:
    """Check that ``kinterp inspect model``, run from a small parent, exits 2 with one line
    giving the parameter memory and kinterp's limit; its peak bytes and whether it imported
    TensorFlow."""
    assert model.stat().st_size < 100_000
    result = subprocess.run(
        from_small_parent([sys.executable, "-c", REFUSE, str(model)]),
        capture_output=True,
        text=True,
        check=True,
    )
    status, _, message = result.stdout.strip().partition("\n")
    code, peak, imported_tensorflow = status.split()
    assert int(code) == 2, f"{model}: {result.stdout}{result.stderr}"
    assert "building this model would allocate about" in message, message
    assert "TiB" in message or "GiB" in message, message
    assert "over kinterp's limit of" in message and len(message.splitlines()) == 1
    return int(peak), imported_tensorflow == "True"


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
