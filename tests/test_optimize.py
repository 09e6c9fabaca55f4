"""The optimisation engine on tiny problems whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from kinterp.loading.models import quiet_tensorflow
from kinterp.toolkit.optimize import (
    Objective,
    Settings,
    blur,
    channel,
    init_batch,
    jitter,
    l2,
    lp,
    optimize,
    parse_init,
    tv,
)

quiet_tensorflow()
import tensorflow as tf  # noqa: E402


def linear_objective(weights: np.ndarray) -> Objective:
    """Row i: sum(w_i * x_i), a linear model whose optimum is a corner of the box."""
    w = tf.constant(weights, tf.float32)
    return Objective(lambda image, view: tf.reduce_sum(view * w, axis=[1, 2, 3]), "linear")


def test_ascent_is_monotonic_and_reaches_the_corner() -> None:
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((3, 5, 5, 1)).astype("float32")
    init = np.full((3, 5, 5, 1), 0.5, "float32")
    result = optimize(linear_objective(weights), init, Settings(steps=40, lr=0.05, chunk=7))
    assert result.history.shape == (40, 3)
    assert np.all(np.diff(result.history, axis=0) >= -1e-5)
    np.testing.assert_array_equal(result.images, (weights > 0).astype("float32"))
    assert len(result.frames) == 1 + 6  # the start and one per chunk (ceil(40 / 7))


@pytest.mark.parametrize(
    ("call_seconds", "calls"),
    [
        (0.0, [8, 1, 1] + [1] * 10),  # slow steps: one step a call after the first 8
        (1e9, [8, 2, 10]),  # fast steps: as many as reach the next frame
    ],
)
def test_calls_size_themselves_and_frames_stay_put(monkeypatch, call_seconds, calls) -> None:
    """#24: a call takes about CALL_SECONDS of work (progress at least that often, whatever
    the step count), never crossing a frame boundary: the frames and history are the same."""
    from kinterp.toolkit.optimize import engine

    monkeypatch.setattr(engine, "CALL_SECONDS", call_seconds)
    weights = np.random.default_rng(1).standard_normal((2, 4, 4, 1)).astype("float32")
    init = np.full((2, 4, 4, 1), 0.5, "float32")
    seen: list[int] = []
    settings = Settings(steps=20, lr=0.05, chunk=10)
    result = optimize(linear_objective(weights), init, settings, on_chunk=seen.append)
    assert seen == calls and sum(seen) == 20
    assert len(result.frames) == 3 and result.history.shape == (20, 2)
    reference = optimize(linear_objective(weights), init, settings)  # default call sizes
    np.testing.assert_allclose(result.images, reference.images, atol=1e-6)
    np.testing.assert_allclose(result.frames[1], reference.frames[1], atol=1e-6)


def test_descent_and_sgd_stay_in_range() -> None:
    weights = np.ones((2, 4, 4, 1), "float32")
    init = np.random.default_rng(1).uniform(0, 1, (2, 4, 4, 1)).astype("float32")
    settings = Settings(steps=5, lr=10.0, optimizer="sgd", maximize=False, chunk=2)
    result = optimize(linear_objective(weights), init, settings)
    assert result.images.min() == 0.0 and result.images.max() == 0.0
    assert result.history[0].mean() > result.history[-1].mean()


def test_rows_are_independent_targets() -> None:
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, use_bias=False, name="d")(inputs))
    kernel = np.array([[1, -1, 0], [1, -1, 0], [0, 0, 1], [0, 0, 1]], "float32")
    model.get_layer("d").set_weights([kernel])
    objective = channel(model, [0, 1, 2], lambda view: tf.reshape(view, (-1, 4)))
    init = np.full((3, 2, 2, 1), 0.5, "float32")
    result = optimize(objective, init, Settings(steps=30, lr=0.1))
    flat = result.images.reshape(3, 4)
    np.testing.assert_array_equal(flat, [[1, 1, 0.5, 0.5], [0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]])


def test_tv_penalty_smooths() -> None:
    zero = Objective(lambda image, view: tf.zeros(tf.shape(image)[:1]), "zero")
    init = np.random.default_rng(2).uniform(0, 1, (2, 8, 8, 1)).astype("float32")
    result = optimize(zero, init, Settings(steps=30, lr=0.02), penalty=tv())
    before = tv()(tf.constant(init), None).numpy()
    after = tv()(tf.constant(result.images), None).numpy()
    assert np.all(after < 0.5 * before)


def test_objectives_compose_and_regularisers_measure() -> None:
    image = tf.constant(np.full((1, 4, 4, 1), 0.5, "float32"))
    total = 2.0 * l2() - lp(1) + 1.0
    assert total(image, image).numpy() == pytest.approx([2 * 0.25 - 0.5 + 1.0])
    assert tv()(image, image).numpy() == pytest.approx([0.0])
    assert "l2" in total.name and "l1" in total.name


def test_transforms_keep_shape_and_mass() -> None:
    images = tf.constant(np.random.default_rng(3).uniform(0, 1, (2, 9, 7, 3)), tf.float32)
    array = images.numpy()
    rolls = {
        (dy, dx): np.roll(array, (dy, dx), axis=(1, 2))
        for dy in range(-2, 3)
        for dx in range(-2, 3)
    }
    moved = 0
    for step in range(10):
        shifted = jitter(2, seed=1)(images, tf.constant(step, tf.int64)).numpy()
        offsets = [o for o, rolled in rolls.items() if np.array_equal(shifted, rolled)]
        assert offsets, "jitter must be a roll of at most 2 pixels"
        moved += offsets != [(0, 0)]
    assert moved >= 5, "jitter should move the image on most steps"
    blurred = blur(1.0, 3)(images, tf.constant(0, tf.int64))
    assert blurred.shape == images.shape
    assert float(tf.math.reduce_std(blurred)) < float(tf.math.reduce_std(images))


def test_inits() -> None:
    rng = np.random.default_rng(0)
    assert parse_init("image:a.png") == ("image", "a.png")
    with pytest.raises(ValueError, match="unknown init"):
        parse_init("stripes")
    ones = init_batch("ones", 3, (2, 2, 1), rng)
    assert ones[0].min() == 1.0 and not np.array_equal(ones[1], ones[0])  # restarts differ
    picture = np.full((2, 2, 1), 0.25, "float32")
    assert np.array_equal(init_batch("image", 1, (2, 2, 1), rng, picture)[0], picture)
    uniform = init_batch("uniform", 4, (5, 5, 3), rng)
    assert uniform.shape == (4, 5, 5, 3) and uniform.min() >= 0 and uniform.max() <= 1
