"""SavedModels are scanned before TensorFlow runs them: only pure tensor ops, unless --unsafe."""

from __future__ import annotations

from pathlib import Path

import pytest

from kinterp.cli import app
from kinterp.loading.graphscan import CHECKPOINT_OPS, SERVING_OPS, read_saved_model, unsafe_ops
from tests.conftest import all_entries


def _module_savedmodel(path: Path, body, through=None, options=None) -> Path:
    """Save a tf.Module whose serving signature runs ``body(x)`` before a softmax head (on
    ``through(x)``, when given), with these ``tf.saved_model.SaveOptions``."""
    import tensorflow as tf

    class Served(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.random.stateless_normal((784, 10), seed=(1, 2)))

        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
        def serve(self, x):
            body(x)
            x = through(x) if through else x
            return tf.nn.softmax(tf.reshape(x, [-1, 784]) @ self.w)

    module = Served()
    tf.saved_model.save(module, str(path), {"serving_default": module.serve}, options)
    return path


@pytest.fixture(scope="module")
def writes_a_file(keras, tmp_path_factory) -> tuple[Path, Path]:
    """A real malicious SavedModel: its serving function writes a file. (model, target)."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("malicious")
    target = root / "written-by-the-model.txt"
    model = _module_savedmodel(
        root / "writer",
        lambda x: tf.io.write_file(str(target), tf.strings.as_string(tf.reduce_sum(x))),
    )
    return model, target


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "{model}", "{image}"],
        ["run", "happymap", "{model}", "--objective", "probability", "--classes", "0"],
    ],
    ids=["predict", "happymap"],
)
def test_a_savedmodel_that_writes_files_is_refused(runner, writes_a_file, tmp_path, args):
    from PIL import Image

    model, target = writes_a_file
    Image.new("L", (28, 28), 0).save(tmp_path / "blank.png")
    args = [a.format(model=model, image=tmp_path / "blank.png") for a in args]
    result = runner.invoke(app, [*_with_steps(args), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "WriteFile" in result.stderr and "--unsafe" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not target.exists()
    assert all_entries(tmp_path / "o") == []


def _with_steps(args: list[str]) -> list[str]:
    return [*args, "--steps", "2"] if args[0] == "run" else args


def test_unsafe_runs_it_with_the_loud_warning(runner, writes_a_file, tmp_path):
    from PIL import Image

    model, target = writes_a_file
    Image.new("L", (28, 28), 0).save(tmp_path / "blank.png")
    args = ["predict", str(model), str(tmp_path / "blank.png"), "--unsafe"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "WARNING: --unsafe" in result.stderr and "arbitrary code" in result.stderr
    assert target.exists()


def test_keras_exports_pass_the_scan(runner, tiny_savedmodel, tmp_path):
    assert unsafe_ops(read_saved_model(tiny_savedmodel).meta_graphs) == []
    result = runner.invoke(app, ["inspect", str(tiny_savedmodel), "--json"])
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.stderr


def test_exported_layers_use_only_allowed_ops(keras, tmp_path):
    """The ops of a range of exported Keras layers (what the allowlist was built from)."""
    layers = keras.layers
    models = [
        keras.Sequential(
            [
                keras.Input((28, 28, 3)),
                layers.Rescaling(1 / 255),
                layers.Conv2D(4, 3, activation="relu"),
                layers.BatchNormalization(),
                layers.SeparableConv2D(4, 3, padding="same"),
                layers.DepthwiseConv2D(3),
                layers.AveragePooling2D(2),
                layers.Dropout(0.2),
                layers.UpSampling2D(),
                layers.Conv2DTranspose(2, 3, strides=2),
                layers.GlobalMaxPooling2D(),
                layers.LayerNormalization(),
                layers.Dense(8, activation="gelu"),
                layers.Dense(10, activation="softmax"),
            ]
        ),
        keras.Sequential([keras.Input((28, 28)), layers.LSTM(4), layers.Dense(10)]),
    ]
    for index, model in enumerate(models):
        path = tmp_path / f"export{index}"
        model.export(str(path), verbose=False)
        assert unsafe_ops(read_saved_model(path).meta_graphs) == [], path


def test_checkpoint_ops_are_refused_inside_a_serving_function(keras, tmp_path):
    """SaveV2 is allowed in the saver every export carries, never where serving reaches it."""
    import tensorflow as tf

    def save_inputs(x):
        tf.raw_ops.SaveV2(
            prefix=str(tmp_path / "ckpt"),
            tensor_names=["x"],
            shape_and_slices=[""],
            tensors=[x],
        )

    model = _module_savedmodel(tmp_path / "saver", save_inputs)
    assert unsafe_ops(read_saved_model(model).meta_graphs) == ["SaveV2"]


def test_the_allowlist_holds_no_denylisted_op():
    from tensorflow.python.tools import saved_model_cli

    assert not (SERVING_OPS | CHECKPOINT_OPS) & saved_model_cli._OP_DENYLIST
    assert not SERVING_OPS & CHECKPOINT_OPS
