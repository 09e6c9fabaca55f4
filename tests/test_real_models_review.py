"""Real model shapes found by review (#22): each model is built here, saved, loaded as a user
would and checked against the original Keras model called directly."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from kinterp.loading.models import load_model

RNG = np.random.default_rng(22)


def _saved(model: keras.Model, path) -> str:
    model.save(path)
    return str(path)


@pytest.fixture(scope="module")
def adapted_base(tmp_path_factory) -> str:
    """A nested base whose Normalization was adapted to 0-255 data (as a pretrained
    EfficientNet's is): its statistics live in weights, not in its config."""
    keras.utils.set_random_seed(5)
    norm = layers.Normalization(name="norm")
    norm.adapt(RNG.uniform(0, 255, (64, 12, 12, 3)).astype("float32"))
    inputs = keras.Input((12, 12, 3))
    base = keras.Model(inputs, layers.Conv2D(4, 3, name="conv")(norm(inputs)), name="base")
    model = keras.Sequential(
        [keras.Input((12, 12, 3)), base, layers.Flatten(), layers.Dense(3, activation="softmax")]
    )
    return _saved(model, tmp_path_factory.mktemp("adapted") / "adapted.keras")


def test_adapted_normalization_in_a_nested_base_keeps_its_statistics(adapted_base):
    original = keras.saving.load_model(adapted_base)
    loaded = load_model(adapted_base)
    x = RNG.uniform(0, 255, (4, 12, 12, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x), np.asarray(original(x)), rtol=1e-5, atol=1e-6)
    assert loaded.info.input_range == (0.0, 255.0)


def _head_in_nested_model(units: int, activation: str) -> keras.Model:
    """A whole classifier (conv base and head) wrapped as one layer of an outer model, as
    ``keras.Sequential([augment, classifier])`` or an exported wrapper builds it."""
    inner = keras.Sequential(
        [
            keras.Input((10, 10, 1)),
            layers.Conv2D(3, 3, name="conv"),
            layers.Flatten(name="flat"),
            layers.Dense(units, activation=activation, name="head"),
        ],
        name="classifier",
    )
    inputs = keras.Input((10, 10, 1))
    return keras.Model(inputs, inner(inputs), name="wrapped")


@pytest.mark.parametrize(("units", "activation"), [(4, "softmax"), (1, "sigmoid")])
def test_a_head_inside_a_nested_model_keeps_its_activation(units, activation, tmp_path):
    path = _saved(_head_in_nested_model(units, activation), tmp_path / "wrapped.keras")
    loaded = load_model(path)
    x = RNG.uniform(0, 1, (5, 10, 10, 1)).astype("float32")
    p = np.asarray(keras.saving.load_model(path)(x))
    if units == 1:
        assert loaded.info.binary_head and loaded.info.num_outputs == 2
        p = np.concatenate([1 - p, p], axis=1)
    assert loaded.info.output_activation == "softmax"
    assert loaded.info.outputs[0].activation == activation
    np.testing.assert_allclose(loaded.predict(x), p, rtol=1e-5, atol=1e-6)


def test_augmentation_in_front_of_the_rescaling_does_not_hide_it(tmp_path):
    """Keras' transfer-learning guide: input -> augmentation (identity at inference) ->
    Rescaling(1/127.5, offset=-1) -> base(training=False) -> head."""
    augment = keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)], name="augment"
    )
    base_in = keras.Input((16, 16, 3))
    base = keras.Model(base_in, layers.Conv2D(4, 3, name="conv")(base_in), name="base")
    inputs = keras.Input((16, 16, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1, name="scale")(augment(inputs))
    x = layers.GlobalAveragePooling2D()(base(x, training=False))
    model = keras.Model(inputs, layers.Dense(3, activation="softmax")(x))
    loaded = load_model(_saved(model, tmp_path / "guide.keras"))
    assert loaded.info.input_range == (0.0, 255.0), loaded.info.input_range_source
    # independently: the range's ends reach the base as -1 and 1
    ends = np.array([0.0, 255.0], "float32").reshape(2, 1, 1, 1) * np.ones((2, 16, 16, 3))
    seen = keras.Model(inputs, model.get_layer("scale").output)(ends.astype("float32"))
    np.testing.assert_allclose(np.asarray(seen)[:, 0, 0, 0], [-1.0, 1.0], rtol=1e-6)


@pytest.fixture(scope="module")
def siamese(tmp_path_factory) -> str:
    """One nested base applied to two image inputs, compared by a sigmoid unit."""
    keras.utils.set_random_seed(7)
    base_in = keras.Input((12, 12, 1))
    x = layers.Flatten()(layers.Conv2D(3, 3, activation="relu", name="conv")(base_in))
    base = keras.Model(base_in, x, name="twin")
    left, right = keras.Input((12, 12, 1), name="left"), keras.Input((12, 12, 1), name="right")
    same = layers.Dense(1, activation="sigmoid", name="same")(
        layers.Subtract()([base(left), base(right)])
    )
    model = keras.Model([left, right], same, name="siamese")
    return _saved(model, tmp_path_factory.mktemp("siamese") / "siamese.keras")


@pytest.mark.parametrize("image", ["left", "right"])
def test_a_base_shared_by_the_image_and_a_held_input_shows_the_image(siamese, image):
    from kinterp.loading.models import LoadOptions

    original = keras.saving.load_model(siamese)
    loaded = load_model(siamese, LoadOptions(input=image))
    x = RNG.uniform(0, 1, (4, 12, 12, 1)).astype("float32")
    conv = original.get_layer("twin").get_layer("conv")
    np.testing.assert_allclose(loaded.features("twin/conv", x), np.asarray(conv(x)), atol=1e-6)
    held = np.zeros_like(x)
    p = np.asarray(original({"left": x, "right": held} if image == "left" else [held, x]))
    np.testing.assert_allclose(loaded.predict(x), np.concatenate([1 - p, p], 1), atol=1e-6)
    # the layer is reached from the image (Grad-CAM differentiates the score through it)
    assert len(loaded.layer("twin/conv")._inbound_nodes) == 1
