"""LoadedModel.features: a layer's activations, compiled and batched like predict, and the
one conv-layer test (LayerRow.is_conv) the techniques share."""

from __future__ import annotations

import numpy as np
import pytest

from kinterp.errors import KinterpError
from kinterp.loading.models import load_model


@pytest.fixture(scope="module")
def conv(tiny_conv):
    return load_model(str(tiny_conv))


@pytest.mark.parametrize("layer", ["conv", "pool", "flatten", "predictions"])
def test_features_match_a_plain_keras_model_to_the_layer(keras, conv, digits, layer):
    images = digits[0]  # 50 digits
    x = conv.to_input(images)
    plain = keras.Model(conv.keras_model.inputs[0], conv.keras_model.get_layer(layer).output)
    expected = np.asarray(plain(x, training=False))
    got = conv.features(layer, x, batch_size=32)  # two calls, the second short
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_features_of_the_output_layer_are_predict(conv, digits):
    x = conv.to_input(digits[0][:10])
    np.testing.assert_allclose(conv.features("predictions", x), conv.predict(x), atol=1e-6)


def test_features_of_no_inputs_have_the_layer_shape(conv):
    assert conv.features("conv", np.zeros((0, 28, 28, 1), "float32")).shape == (0, 26, 26, 4)


def test_features_trace_once_per_layer(conv, digits):
    x = conv.to_input(digits[0][:5])
    conv.features("pool", x)
    call = conv._calls["pool"]
    conv.features("pool", x[:3])
    assert conv._calls["pool"] is call
    assert call.experimental_get_tracing_count() == 1


def test_features_of_an_unknown_layer_name_close_matches(conv):
    with pytest.raises(KinterpError, match="did you mean conv"):
        conv.features("cnv", np.zeros((1, 28, 28, 1), "float32"))


def test_is_conv_is_the_one_convolution_test(conv):
    kinds = {row.name: (row.is_conv, row.is_dense) for row in conv.info.layers}
    assert kinds == {
        "conv": (True, False),
        "pool": (False, False),
        "flatten": (False, False),
        "predictions": (False, True),
    }
    assert conv.info.kind == "conv"
