"""happymap and sadmap: the issue's done-when on the zoo, grids, restarts, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kinterp.cli import app
from tests.conftest import all_entries, assert_valid_report, run_dirs


def run_cli(runner, technique: str, model: str, out: Path, *extra: str) -> tuple[dict, Path]:
    """Run through the CLI; returns the validated report and the run directory."""
    args = ["run", technique, model, "--out", str(out), "--quiet", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(out)
    return assert_valid_report(run_dir), run_dir


def maps_of(run_dir: Path, report: dict) -> np.ndarray:
    block = next(s for s in report["sections"] if s["title"] == "Maps")["images"][0]
    return np.load(run_dir / block["array"])


def test_happymap_every_mnist_cnn_class_from_uniform(runner, tmp_path) -> None:
    report, run_dir = run_cli(
        runner, "happymap", "mnist-cnn", tmp_path, "--steps", "128", "--lr", "0.05"
    )
    metrics = report["metrics"]
    assert metrics["classified_as_target"] == 1.0
    assert min(metrics["confidence"].values()) >= 0.99, metrics["confidence"]
    assert set(metrics["confidence"]) == {f"class {c}" for c in range(10)}
    maps = maps_of(run_dir, report)
    assert maps.shape == (10, 28, 28, 1) and maps.min() >= 0.0 and maps.max() <= 1.0
    history = np.load(run_dir / "arrays" / "history.npy")
    assert history.shape == (128, 10) and np.all(history[-1] > history[0])
    assert metrics["steps"] == 128 and metrics["seconds"] > 0
    assert metrics["pixel_correlation"] is None  # one restart: nothing to compare
    for width in (1, 2):
        assert set(metrics[f"border{width}_passed"]) == set(metrics["confidence"])
    kinds = {a["kind"] for a in report["artifacts"]}
    assert {"image", "array", "plot", "animation"} <= kinds


def test_sadmap_drives_every_class_down(runner, tmp_path) -> None:
    report, _ = run_cli(runner, "sadmap", "mnist-cnn", tmp_path, "--steps", "24", "--lr", "0.1")
    assert max(report["metrics"]["confidence"].values()) <= 0.01
    assert report["technique"]["name"] == "sadmap"


def test_dense_model_with_inits_grid(runner, tmp_path) -> None:
    report, run_dir = run_cli(
        runner,
        "happymap",
        "mnist-mlp",
        tmp_path,
        "--classes",
        "3,7",
        "--init",
        "zeros,half,uniform",
        "--steps",
        "48",
        "--lr",
        "0.1",
    )
    maps = maps_of(run_dir, report)
    assert maps.shape == (6, 28, 28, 1)  # optimised flat, shown as images
    block = next(s for s in report["sections"] if s["title"] == "Maps")["images"][0]
    assert block["columns"] == 3
    captions = [tile["caption"] for tile in block["tiles"]]
    assert captions[0].startswith("class 3 · zeros") and captions[5].startswith("class 7 · uniform")
    inits = next(s for s in report["sections"] if s["title"] == "Starting images")
    assert [row[0] for row in inits["tables"][0]["rows"]] == ["zeros", "half", "uniform"]
    assert min(report["metrics"]["confidence"].values()) > 0.9


def test_restarts_give_pixel_correlation(runner, tmp_path) -> None:
    """#23 item 4: happymap's restart measure is named for what it is, pixel correlation, and
    equals the mean pairwise Pearson correlation of the restart maps' pixels."""
    report, run_dir = run_cli(
        runner,
        "happymap",
        "mnist-cnn",
        tmp_path,
        "--classes",
        "5",
        "--restarts",
        "3",
        "--init",
        "half",
        "--steps",
        "16",
        "--tv",
        "0.5",
    )
    maps = maps_of(run_dir, report).astype("float64")
    assert maps.shape == (3, 28, 28, 1)
    pairs = [
        np.corrcoef(maps[i].ravel(), maps[j].ravel())[0, 1] for i, j in ((0, 1), (0, 2), (1, 2))
    ]
    assert report["metrics"]["pixel_correlation"]["class 5"] == pytest.approx(
        np.mean(pairs), abs=1e-9
    )
    section = next(
        s for s in report["sections"] if s["title"] == "Pixel correlation across restarts"
    )
    assert section["tables"][0]["columns"] == ["target", "pixel correlation"]
    assert "consisten" not in json.dumps(report).lower()


def test_image_init(runner, tmp_path, digits) -> None:
    path = tmp_path / "digit.png"
    Image.fromarray((digits[0][0][..., 0] * 255).astype("uint8")).save(path)
    report, run_dir = run_cli(
        runner,
        "sadmap",
        "mnist-cnn",
        tmp_path / "out",
        "--classes",
        str(int(digits[1][0])),
        "--init",
        f"image:{path}",
        "--steps",
        "4",
    )
    frames = next(s for s in report["sections"] if s["title"] == "Optimisation")
    assert frames["plots"][0]["path"].endswith(".gif")
    assert maps_of(run_dir, report).shape == (1, 28, 28, 1)


@pytest.fixture(scope="module")
def rgb_conv(keras, model_dir) -> Path:
    """A tiny RGB conv net (20x24x3) with a linear head, saved as .keras."""
    model = keras.Sequential(
        [
            keras.Input((20, 24, 3)),
            keras.layers.Conv2D(6, 3, activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4, name="head"),
        ]
    )
    path = model_dir / "rgb_conv.keras"
    model.save(path)
    return path


def test_rgb_filter_target_with_every_regulariser(runner, tmp_path, rgb_conv) -> None:
    report, run_dir = run_cli(
        runner,
        "happymap",
        str(rgb_conv),
        tmp_path,
        "--layer",
        "conv",
        "--units",
        "0,4",
        "--init",
        "normal",
        "--restarts",
        "2",
        "--steps",
        "12",
        "--tv",
        "0.1",
        "--l2",
        "0.1",
        "--lp",
        "1:0.1",
        "--blur",
        "0.7",
        "--jitter",
        "1",
        "--optimizer",
        "sgd",
        "--lr",
        "0.5",
    )
    assert maps_of(run_dir, report).shape == (4, 20, 24, 3)
    assert set(report["metrics"]["activation"]) == {"conv filter 0", "conv filter 4"}
    assert "confidence" not in report["metrics"]


def test_mobilenetv2_filter(runner, tmp_path, keras, model_dir) -> None:
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35)
    path = model_dir / "mobilenetv2.keras"
    model.save(path)
    report, run_dir = run_cli(
        runner,
        "happymap",
        str(path),
        tmp_path,
        "--layer",
        "block_1_expand",
        "--units",
        "0",
        "--steps",
        "3",
    )
    assert maps_of(run_dir, report).shape == (1, 96, 96, 3)
    assert np.isfinite(report["metrics"]["activation"]["block_1_expand filter 0"])


def refused(runner, tmp_path: Path, model: str, *extra: str, technique="happymap") -> str:
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", technique, model, "--out", str(out), *extra])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert not [p for p in all_entries(out) if p != out], all_entries(out)
    return message


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--layer", "conv9"], "unknown layer 'conv9'"),
        (["--layer", "conv1", "--units", "0,32"], "32 is out of range: there are 32 filters"),
        (["--classes", "3,10"], "10 is out of range: there are 10 classes"),
        (["--units", "3"], "--units needs --layer"),
        (["--init", "zeros,stripes"], "unknown init 'stripes'"),
        (["--lp", "2"], "--lp expects P:W"),
        (["--steps", "0"], "--steps must be at least 1"),
        (["--layer", "dense1", "--objective", "probability"], "classes only"),
    ],
)
def test_bad_targets_and_options(runner, tmp_path, extra, expected) -> None:
    assert expected in refused(runner, tmp_path, "mnist-cnn", *extra)


def test_bad_init_images(runner, tmp_path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    assert "not an image" in refused(runner, tmp_path, "mnist-cnn", "--init", f"image:{text}")
    big = tmp_path / "big.png"
    Image.new("L", (32, 30)).save(big)
    message = refused(runner, tmp_path, "mnist-cnn", "--init", f"image:{big}", technique="sadmap")
    assert "32x30" in message and "28x28" in message


def test_layer_target_on_savedmodel(runner, tmp_path, tiny_savedmodel) -> None:
    message = refused(runner, tmp_path, str(tiny_savedmodel), "--layer", "dense", "--units", "0")
    assert "SavedModel" in message


def test_listed_with_demo_presets_and_import_is_tensorflow_free() -> None:
    code = (
        "import sys, json, kinterp_plugins.happymap as h, kinterp.toolkit.optimize; "
        "assert not {'tensorflow', 'keras'} & set(sys.modules), 'TF imported'; "
        "print(json.dumps([h.HappyMap.name, h.SadMap.name, len(h.HappyMap.demo)]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert json.loads(out.stdout) == ["happymap", "sadmap", 3]


@pytest.fixture(scope="module")
def border_reader(keras, model_dir) -> Path:
    """Class 0's logit is the ink on the outer 1 px ring minus the ink inside it; class 1's
    the ink in the central 10x10 square minus the rest (bias 0.5: a blank image is class 1)."""
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2, name="head")])  # fmt: skip
    ring = np.zeros((28, 28), bool)
    ring[[0, -1], :] = ring[:, [0, -1]] = True
    centre = np.zeros((28, 28), bool)
    centre[9:19, 9:19] = True
    kernel = np.stack([np.where(ring, 1.0, -1.0), np.where(centre, 1.0, -1.0)], -1)
    model.get_layer("head").set_weights([kernel.reshape(784, 2).astype("float32"),
                                         np.array([0.0, 0.5], "float32")])  # fmt: skip
    path = model_dir / "border-reader.keras"
    model.save(path)
    return path


def border_recomputed(run_dir: Path, model_path, targets: list[int]) -> dict[int, np.ndarray]:
    """Per width: whether each saved map (arrays/maps-input.npy, in the model's units) is still
    classified as its target with its outer rings set to 0, by the Keras model itself."""
    import keras

    model = keras.models.load_model(model_path) if isinstance(model_path, Path) else model_path
    maps = np.load(run_dir / "arrays" / "maps-input.npy")
    out = {}
    for width in (1, 2):
        zeroed = maps.copy()
        zeroed[:, :width] = zeroed[:, -width:] = 0
        zeroed[:, :, :width] = zeroed[:, :, -width:] = 0
        out[width] = np.argmax(np.asarray(model(zeroed)), axis=1) == np.asarray(targets)
    return out


def border_table(report: dict) -> tuple[list, list]:
    section = next(s for s in report["sections"] if s["title"] == "Border test")
    return section["tables"][0]["rows"], section["tables"][1]["rows"]


def test_border_test_is_per_map_and_counts_the_maps_that_pass(runner, tmp_path, border_reader):
    """#23 item 7: a model that reads class 0 from the border only: each of its maps fails,
    each of class 1's passes; the report says so map by map and counts them, as the model
    recomputes from the saved maps."""
    report, run_dir = run_cli(runner, "happymap", str(border_reader), tmp_path, "--init",
                              "uniform,zeros", "--restarts", "2", "--steps", "32")  # fmt: skip
    targets = [0] * 4 + [1] * 4  # target x init x restart
    ours = border_recomputed(run_dir, border_reader, targets)
    assert ours[1].tolist() == [False] * 4 + [True] * 4  # what the model was built to do
    counts, per_map = border_table(report)
    assert counts == [["class 0", 4, 0, 0], ["class 1", 4, 4, 4]]
    assert [row[-2:] for row in per_map] == [
        ["yes" if a else "no", "yes" if b else "no"] for a, b in zip(ours[1], ours[2], strict=True)
    ]
    metrics = report["metrics"]
    assert metrics["border1_passed"] == {"class 0": 0, "class 1": 4} and metrics["border_maps"] == 4
    assert metrics["border2_pass_rate"] == ours[2].mean()
    assert "4/8 pass the border test" in report["summary"]["verdict"]


def test_border_test_on_the_zoo_matches_the_model_map_by_map(runner, tmp_path):
    """Every digit from three starts and two restarts: each map's pass or fail, and each
    class's count, are what mnist-cnn says about the saved maps with their borders zeroed."""
    report, run_dir = run_cli(runner, "happymap", "mnist-cnn", tmp_path, "--init",
                              "uniform,zeros,half", "--restarts", "2", "--steps", "48")  # fmt: skip
    targets = np.repeat(np.arange(10), 6)
    import kinterp

    ours = border_recomputed(run_dir, kinterp.load_model("mnist-cnn").keras_model, targets)
    counts, per_map = border_table(report)
    assert [row[0] for row in per_map[:2]] == ["class 0 · uniform #0", "class 0 · uniform #1"]
    for width, column in ((1, -2), (2, -1)):
        assert [row[column] == "yes" for row in per_map] == ours[width].tolist()
        expected = ours[width].reshape(10, 6).sum(axis=1).tolist()
        assert [row[1 + width] for row in counts] == expected
        assert list(report["metrics"][f"border{width}_passed"].values()) == expected


def test_the_objective_plot_has_one_line_per_target_the_mean_of_its_maps(
    runner, tmp_path, monkeypatch
):
    """#24: 2 classes x 2 starts x 2 restarts draw 2 lines (was 4, one per class and start),
    each the mean of its class's 4 columns of the saved history (targets vary slowest)."""
    from kinterp.reporting import charts

    drawn = []
    original = charts.save_line_plot

    def spy(series, *args, **kwargs):
        drawn.append(series)
        return original(series, *args, **kwargs)

    monkeypatch.setattr(charts, "save_line_plot", spy)
    args = ["--classes", "3,5", "--init", "zeros,uniform", "--restarts", "2", "--steps", "6"]
    report, run_dir = run_cli(runner, "happymap", "mnist-cnn", tmp_path, *args)
    history = np.load(run_dir / "arrays" / "history.npy")
    assert history.shape == (6, 8)
    (series,) = drawn
    assert list(series) == ["class 3", "class 5"], list(series)
    for i, name in enumerate(series):
        np.testing.assert_allclose(series[name], history[:, 4 * i : 4 * i + 4].mean(axis=1))
    (plot,) = next(s for s in report["sections"] if s["title"] == "Objective by step")["plots"]
    assert "the mean of its 4 maps" in plot["caption"]
