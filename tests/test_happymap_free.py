"""happymap --range free: unclipped maps bounded by an L2 penalty, checked against closed forms
and a numpy evaluation of the penalised objective."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kinterp
from tests.conftest import assert_valid_report

SIDE = 4  # the hand-built linear model reads 4x4x1 images
PIXELS = SIDE * SIDE


@pytest.fixture(scope="module")
def linear_model(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A 4x4 -> 2 linear model (logit c = w_c . x + b_c, input range [0, 1]) and its kernel."""
    import keras

    model = keras.Sequential(
        [
            keras.Input((SIDE, SIDE, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(2, name="predictions"),
        ]
    )
    kernel = np.random.default_rng(7).uniform(-1, 1, (PIXELS, 2)).astype("float32")
    model.layers[-1].set_weights([kernel, np.asarray([0.3, -0.2], "float32")])
    path = tmp_path_factory.mktemp("linear") / "linear.keras"
    model.save(path)
    return path, kernel


def run(model: str | Path, out: Path, **params) -> tuple[dict, Path]:
    result = kinterp.run("happymap", str(model), out=out, **params)
    return assert_valid_report(result.path), Path(result.path)


def maps_input(run_dir: Path) -> np.ndarray:
    return np.load(run_dir / "arrays" / "maps-input.npy")


@pytest.mark.parametrize("range_", ["free", "clip"])
def test_linear_model_reaches_the_closed_form_optimum(linear_model, tmp_path, range_) -> None:
    """Maximising w.x - l2 * mean(x^2) (the L2 penalty is a mean over the D pixels) has the
    optimum x* = D w / (2 l2); clipped to [0, 1] every step, the optimum of this separable
    concave objective is x* clipped to [0, 1]."""
    path, kernel = linear_model
    l2 = 4.0
    report, run_dir = run(
        path, tmp_path, range=range_, l2=l2, init=["zeros"], optimizer="sgd", lr=1.0, steps=96
    )
    maps = maps_input(run_dir).reshape(2, PIXELS)
    optimum = PIXELS * kernel.T / (2 * l2)
    if range_ == "clip":
        optimum = np.clip(optimum, 0.0, 1.0)
    np.testing.assert_allclose(maps, optimum, atol=1e-4)
    assert report["metrics"]["value_min"] == pytest.approx(float(optimum.min()), abs=1e-4)
    assert report["metrics"]["value_max"] == pytest.approx(float(optimum.max()), abs=1e-4)


def test_free_range_leaves_the_input_range_on_mnist_mlp_and_clip_never(tmp_path) -> None:
    low, high = 0.01, 1.0  # mnist-mlp's input range (its card)
    common = {"classes": [0, 1, 7], "init": ["zeros", "uniform"], "steps": 48}
    free, free_dir = run("mnist-mlp", tmp_path / "free", range="free", **common)
    clip, clip_dir = run("mnist-mlp", tmp_path / "clip", **common)
    free_maps, clip_maps = maps_input(free_dir), maps_input(clip_dir)
    assert free_maps.min() < low - 0.1 and free_maps.max() > high + 0.1
    assert clip_maps.min() >= low - 1e-6 and clip_maps.max() <= high + 1e-6
    for report, maps in ((free, free_maps), (clip, clip_maps)):
        assert report["metrics"]["value_min"] == pytest.approx(float(maps.min()), abs=1e-6)
        assert report["metrics"]["value_max"] == pytest.approx(float(maps.max()), abs=1e-6)
    assert free["metrics"]["classified_as_target"] == 1.0
    section = next(s for s in free["sections"] if s["title"] == "Maps")
    text = " ".join(section["texts"]) if "texts" in section else str(section)
    assert "never clipped" in text and "diverging colour map" in text
    assert f"{free_maps.min():.4g} to {free_maps.max():.4g}" in text
    assert section["images"][0]["cmap"] == "diverging"
    assert next(s for s in clip["sections"] if s["title"] == "Maps")["images"][0]["cmap"] == "gray"


def penalised(keras_model, maps: np.ndarray, target: int, l2: float) -> np.ndarray:
    """logit_target(x) - l2 * mean(((x - low) / (high - low))^2), in numpy from mnist-mlp's
    weights (784 -> 200 sigmoid -> 10 sigmoid; the logit is before the last sigmoid): the
    objective HappyMap --range free ascends (its pixels are in [0, 1] image units)."""
    low, high = 0.01, 1.0
    (w1, b1), (w2, b2) = (layer.get_weights() for layer in keras_model.layers[-2:])
    x = maps.reshape(len(maps), 784).astype("float64")
    hidden = 1 / (1 + np.exp(-(x @ w1 + b1)))
    logit = hidden @ w2[:, target] + b2[target]
    image = (x - low) / (high - low)
    return logit - l2 * np.mean(image**2, axis=1)


def test_the_map_maximises_the_penalised_objective_computed_in_numpy(tmp_path) -> None:
    """The free map of class 3 beats, on logit - l2 * mean(x^2) recomputed here, the same map
    scaled by 0.8 and 1.25 and randomly nudged; and a larger l2 gives a smaller map."""
    model = kinterp.load_model("mnist-mlp").keras_model
    norms = {}
    for l2 in (5.0, 50.0):
        _, run_dir = run(
            "mnist-mlp",
            tmp_path / str(l2),
            classes=[3],
            range="free",
            l2=l2,
            init=["zeros"],
            optimizer="sgd",
            lr=1.0,
            steps=300,
        )
        found = maps_input(run_dir)
        low = 0.01
        image = found - low
        rng = np.random.default_rng(0)
        others = np.concatenate(
            [
                low + image * np.asarray([0.8, 1.25])[:, None, None, None],
                found + rng.normal(0, 0.05, (8, *found.shape[1:])),
            ]
        )
        values = penalised(model, np.concatenate([found, others]), 3, l2)
        assert np.all(values[0] > values[1:]), values
        norms[l2] = float(np.sqrt(np.mean(image**2)))
    assert norms[50.0] < 0.8 * norms[5.0]


def tiles(run_dir: Path, report: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """(drawn pixels, optimised image in [0, 1] image units) of every map of the Maps grid."""
    from PIL import Image

    block = next(s for s in report["sections"] if s["title"] == "Maps")["images"][0]
    images = np.load(run_dir / block["array"])
    with Image.open(run_dir / block["tiles"][0]["path"]) as sheet:
        pixels = np.asarray(sheet.convert("RGB")).astype("int64")
    out = []
    for tile, image in zip(block["tiles"], images, strict=True):
        x, y, width, height = tile["box"]
        out.append((pixels[y : y + height, x : x + width], image))
    return out


def test_free_grey_maps_are_red_above_and_blue_below_the_background(tmp_path) -> None:
    """The diverging map: white at the background (0 in image units), red above it, blue
    below it, the most distant pixel of each map at the end of matplotlib's RdBu_r."""
    from matplotlib import colormaps

    report, run_dir = run("mnist-mlp", tmp_path, classes=[0, 1], range="free", steps=32)
    for drawn, image in tiles(run_dir, report):
        value = image[..., 0]
        red, blue = drawn[..., 0], drawn[..., 2]
        strong = np.abs(value) > 0.3 * np.abs(value).max()
        assert np.all(red[strong & (value > 0)] > blue[strong & (value > 0)])
        assert np.all(blue[strong & (value < 0)] > red[strong & (value < 0)])
        extreme = np.unravel_index(np.argmax(np.abs(value)), value.shape)
        end = colormaps["RdBu_r"](1.0 if value[extreme] > 0 else 0.0)[:3]
        np.testing.assert_allclose(drawn[extreme], np.asarray(end) * 255, atol=1)


def test_free_colour_maps_are_stretched_from_the_lowest_to_the_highest_value(tmp_path) -> None:
    report, run_dir = run("mnist-rgb-cnn", tmp_path, classes=[4], range="free", steps=8)
    ((drawn, image),) = tiles(run_dir, report)
    low, high = float(image.min()), float(image.max())
    assert low < 0.0 or high > 1.0
    expected = (np.clip((image - low) / (high - low), 0, 1) * 255 + 0.5).astype("int64")
    assert np.abs(drawn - expected).max() <= 1
    text = next(s for s in report["sections"] if s["title"] == "Maps")["text"]
    assert f"{255 * low:.4g} (the lowest value of any map) is black" in text


def test_an_unknown_range_is_refused_in_one_line(runner, tmp_path) -> None:
    from tests.conftest import assert_refused

    assert_refused(runner, ["run", "happymap", "mnist-mlp", "--range", "wide"], "--range", tmp_path)
