"""featurevis: every unit of a layer across TV weights and restarts, and the filter census."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kinterp.cli import app
from kinterp.toolkit.optimize.census import UnitStats, high_frequency_energy, spectrum_correlation
from tests.conftest import all_entries, assert_refused, assert_valid_report, run_dirs
from tests.measured import run_measured


def run(runner, model: str, out: Path, *extra: str) -> tuple[dict, Path]:
    args = ["run", "featurevis", model, "--out", str(out), "--quiet", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(out)
    return assert_valid_report(run_dir), run_dir


DETAIL = "every TV weight and the measures"


def unit_table(report: dict, layer: str) -> list[list]:
    section = next(
        s
        for s in report["sections"]
        if s["title"].startswith(f"Layer {layer} ") and s["title"].endswith(DETAIL)
    )
    return section["tables"][0]["rows"]


def test_sweep_grid_spectrum_correlation_and_examples_are_reported(runner, tmp_path):
    report, run_dir = run(
        runner,
        "mnist-cnn",
        tmp_path,
        "--layer",
        "conv1,dense1",
        "--units",
        "0,1,2",
        "--tv",
        "0.01,1",
        "--steps",
        "24",
        "--examples",
        "64",
        "--top",
        "3",
    )
    sections = {s["title"]: s for s in report["sections"]}
    assert list(sections)[0] == "Census"
    census_rows = sections["Census"]["tables"][0]["rows"]
    assert [row[0] for row in census_rows] == ["conv1", "dense1"]
    assert sections["Spectrum correlation by TV weight"]["plots"][0]["kind"] == "line"
    conv = sections["Layer conv1 (3 filters)"]  # #24: one grid at the chosen TV, open
    assert [b["kind"] for b in conv["images"]] == ["tiles"] and not conv.get("collapsed")
    detail = sections[f"Layer conv1 (3 filters): {DETAIL}"]  # the rest folded
    sweep = next(b for b in detail["images"] if b["kind"] == "grid")
    assert sweep["column_labels"] == ["TV 0.01", "TV 1"] and len(sweep["tiles"]) == 6
    assert (
        detail["collapsed"] and sections["Layer conv1 (3 filters): top real examples"]["collapsed"]
    )
    page = (run_dir / "report.html").read_text()
    assert page.count('<details class="folded">') == 4  # two layers, two folded parts each
    rows = unit_table(report, "conv1")
    assert len(rows) == 3  # the spectrum correlation itself is recomputed in test_census.py
    examples = sections["Layer conv1 (3 filters): top real examples"]["images"][0]
    assert examples["column_labels"] == ["map", "top 1", "top 2", "top 3"]
    maps = np.load(run_dir / "arrays" / "conv1-maps.npy")
    assert maps.shape == (3 * 2 * 2, 28, 28, 1) and maps.min() >= 0 and maps.max() <= 1
    assert set(report["metrics"]["spectrum_correlated_tv"]) == {"conv1", "dense1"}


def test_batch_limit_chunks_and_fourier_rgb(runner, keras, model_dir, tmp_path):
    """A MobileNetV2 at 96x96x3 (random weights: nothing pretrained is available offline)
    runs in chunks under a small memory budget, with the Fourier parameterisation."""
    model = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), weights=None, classes=10, alpha=0.35
    )
    path = model_dir / "mobilenet.keras"
    model.save(path)
    report, run_dir = run(
        runner,
        str(path),
        tmp_path,
        "--layer",
        "block_1_expand",
        "--units",
        "0,1,2",
        "--tv",
        "0.01,0.1",
        "--restarts",
        "2",
        "--steps",
        "4",
        "--examples",
        "0",
        "--parameterisation",
        "fourier",
        "--batch-limit",
        "64",
        "--rotate",
        "10",
        "--scale",
        "0.1",
    )
    maps = np.load(run_dir / "arrays" / "block_1_expand-maps.npy")
    assert maps.shape == (12, 96, 96, 3) and maps.min() >= 0 and maps.max() <= 1
    assert report["status"] == "ok"


def test_rows_per_call_follows_the_budget(tmp_path):
    import kinterp
    from kinterp.toolkit.optimize.memory import Budget, bytes_per_row, rows_per_call

    model = kinterp.load_model("mnist-cnn")
    per_row = bytes_per_row(model, "dense1", 784)
    assert rows_per_call(model, "dense1", 784, Budget(10 * per_row + 1, "test"), "") == 10
    assert rows_per_call(model, "conv1", 784, Budget(10 * per_row, "test"), "") > 10
    with pytest.raises(kinterp.KinterpError, match="one map of dense1 would need about"):
        rows_per_call(model, "dense1", 784, Budget(per_row - 1, "allowed"), "raise it")


def test_a_huge_batch_limit_is_chunked_to_the_memory_there_is(tmp_path):
    """#20: --batch-limit 1000000 (inside its bounds) took one compiled call for every map and
    died (std::bad_alloc, SIGSEGV) leaving a hidden run directory. Here malloc fails past
    2 GiB of data segment, where the single call needs about 2.3 GB (4,096-row batches of
    dense1 measured 4 GB resident); the budget follows the room left, so the run is chunked
    and completes."""
    out = tmp_path / "out"
    every = ",".join(map(str, range(128)))  # all of dense1 (by default a wide layer is sampled)
    args = ["run", "featurevis", "mnist-cnn", "--layer", "dense1", "--tv", "0.01,0.1,1,10",
            "--restarts", "4", "--steps", "8", "--examples", "0", "--batch-limit", "1000000",
            "--units", every, "--quiet", "--out", str(out)]  # fmt: skip
    run = run_measured(args, tmp_path, data_limit_mb=2048)
    assert run.code == 0, run.stderr
    (run_dir,) = run_dirs(out)
    assert all_entries(out) == [run_dir, *all_entries(run_dir)]  # no hidden run directory
    assert assert_valid_report(run_dir)["status"] == "ok"


@pytest.fixture(scope="module")
def wide(keras, model_dir) -> Path:
    """Two 256-filter convolutions at 128x128: one map of conv2 needs about 92 MiB."""
    model = keras.Sequential(
        [
            keras.Input((128, 128, 1)),
            keras.layers.Conv2D(256, 3, name="conv1"),
            keras.layers.Conv2D(256, 3, name="conv2"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    path = model_dir / "wide.keras"
    model.save(path)
    return path


def test_not_even_one_map_fitting_is_refused_with_the_numbers(runner, wide, tmp_path):
    args = ["run", "featurevis", str(wide), "--layer", "conv2", "--units", "0",
            "--examples", "0", "--batch-limit", "16"]  # fmt: skip
    # 3 x (126^2 + 124^2) x 256 activation floats, 7 x 128^2 pixel floats: 4 bytes each
    message = "one map of conv2 would need about 92.0 MiB of memory, more than the 16.0 MiB"
    assert_refused(runner, args, message, tmp_path / "o")


def test_more_maps_than_memory_are_refused_before_any_is_made(runner, wide, tmp_path):
    """All 256 filters x 16 TV weights x 4 inits x 64 restarts: 1,048,576 maps of 128x128
    would need about 194 GiB just to keep."""
    tv = ",".join(str(w) for w in range(16))
    inits = "zeros,half,uniform,normal"
    every = ",".join(map(str, range(256)))
    args = ["run", "featurevis", str(wide), "--layer", "conv2", "--tv", tv, "--units", every,
            "--init", inits, "--restarts", "64", "--examples", "0"]  # fmt: skip
    message = "1,048,576 maps (units x TV weights x inits x restarts) would need about"
    assert_refused(runner, args, message, tmp_path / "o")


def test_a_wide_layer_shows_8_evenly_spaced_units_by_default(runner, keras, model_dir, tmp_path):
    """#27: without --units, a layer of more than 64 units is sampled (8, evenly spaced,
    first and last included) and the report says so; --units still picks any of them, and a
    layer of at most 64 is shown whole."""
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(80, 3, activation="relu", name="broad"),
            keras.layers.Conv2D(64, 3, activation="relu", name="narrow"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    path = model_dir / "broad.keras"
    model.save(path)
    cheap = ["--tv", "0.1", "--restarts", "1", "--steps", "2", "--examples", "0"]
    report, run_dir = run(runner, str(path), tmp_path / "a", "--layer", "broad,narrow", *cheap)
    expected = [0, 11, 23, 34, 45, 56, 68, 79]
    assert expected == [round(i * 79 / 7) for i in range(8)]  # evenly spaced, 0 and 79
    assert [row[0] for row in unit_table(report, "broad")] == expected
    assert [row[0] for row in unit_table(report, "narrow")] == list(range(64))
    assert np.load(run_dir / "arrays" / "broad-maps.npy").shape == (8, 12, 12, 3)
    assert report["metrics"]["units_sampled"] == {"broad": 80}
    sections = {s["title"]: s for s in report["sections"]}
    broad = sections["Layer broad (8 of 80 filters)"]
    assert "Showing 8 of 80 filters, evenly spaced" in broad["text"]
    assert "pass --units to choose" in broad["text"]
    assert "Layer narrow (64 filters)" in sections
    assert "broad 8 of 80 filters" in sections["Census"]["text"]
    assert "narrow" not in sections["Census"]["text"]
    chosen, _ = run(
        runner, str(path), tmp_path / "b", "--layer", "broad", "--units", "3,79", *cheap
    )
    assert [row[0] for row in unit_table(chosen, "broad")] == [3, 79]
    assert chosen["metrics"]["units_sampled"] is None
    assert "Layer broad (2 filters)" in {s["title"] for s in chosen["sections"]}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--layer", "conv9"], "conv9"),
        (["--layer", "conv1", "--units", "99"], "99 is out of range"),
        (["--tv", "-1"], "--tv must be at least 0"),
        (["--parameterisation", "wavelet"], "--parameterisation"),
    ],
)
def test_bad_input_is_one_line(runner, tmp_path, extra, message):
    assert_refused(runner, ["run", "featurevis", "mnist-cnn", *extra], message, tmp_path / "o")


def test_spectrum_correlation_ignores_where_a_pattern_sits():
    stripes = np.tile([0.0, 0.0, 1.0, 1.0], 7)[None, :].repeat(28, axis=0)
    shifted = np.roll(stripes, 1, axis=1)
    noise = np.random.default_rng(0).uniform(size=(2, 28, 28))
    assert spectrum_correlation(np.stack([stripes, shifted])) > 0.99
    assert spectrum_correlation(noise) < 0.3
    checker = (np.indices((28, 28)).sum(axis=0) % 2).astype(float)
    assert high_frequency_energy(np.stack([checker]))[0] > 0.99
    smooth = np.linspace(0, 1, 28)[None, :].repeat(28, axis=0)
    assert high_frequency_energy(np.stack([smooth]))[0] < 0.1


def test_census_rules():
    base = dict(
        reached=2.0, reached_min=1.0, reached_max=3.0, start=0.5, pixel_std=0.3, flatness=0.2
    )
    assert UnitStats(**base).label == "structured"
    assert UnitStats(**{**base, "flatness": 0.55}).label == "noise"
    # Restart disagreement and real-data activations are reported, never part of the label.
    assert UnitStats(**base, spectrum_correlation=0.1, data_max=0.0).label == "structured"
    assert UnitStats(**{**base, "pixel_std": 0.001}).label == "flat"
    assert UnitStats(**{**base, "start": 2.9}).label == "flat"
    dead = dict(reached=0.0, reached_min=0.0, reached_max=0.0)
    assert UnitStats(**{**base, **dead}).label == "dead"


@pytest.mark.parametrize("neuron", ["mean", "centre"])
def test_one_filter_per_row_equals_the_layer_output(keras, tmp_path, neuron):
    """The sliced Conv2D objective gives what the whole layer gives, with strides and padding."""
    import tensorflow as tf

    import kinterp
    from kinterp.toolkit.optimize.targets import unit_objective

    inputs = keras.Input((20, 18, 3))
    hidden = keras.layers.Conv2D(5, 3, activation="tanh", name="a")(inputs)
    out = keras.layers.Conv2D(7, 3, strides=2, padding="same", activation="relu", name="b")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Flatten()(out)))
    model.save(tmp_path / "strided.keras")
    loaded = kinterp.load_model(str(tmp_path / "strided.keras"))
    units = np.array([6, 0, 3, 3])
    x = tf.constant(np.random.default_rng(1).uniform(size=(4, 20, 18, 3)).astype("float32"))
    ours = unit_objective(loaded, "b", units, neuron)(x, x).numpy()
    maps = np.asarray(loaded.feature_model("b")(x))
    centre = maps[:, maps.shape[1] // 2, maps.shape[2] // 2]
    whole = maps.mean(axis=(1, 2)) if neuron == "mean" else centre
    assert np.allclose(ours, whole[np.arange(4), units], atol=1e-5)


def test_layer_all_on_a_deep_model_shows_three_layers_evenly_spaced(tmp_path, runner):
    import keras

    layers = [keras.layers.Dense(4, activation="relu", name=f"d{i}") for i in range(8)]
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), *layers])
    model.save(tmp_path / "deep.keras")
    args = ["run", "featurevis", str(tmp_path / "deep.keras"), "--steps", "2", "--units", "0"]
    args += ["--tv", "0.1", "--examples", "0", "--out", str(tmp_path / "out"), "--json", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(Path(json.loads(result.stdout)["report"]).read_text())
    expected = [f"d{i}" for i in (0, 4, 7)]  # 0, 3.5 rounded to even, 7: first, middle, last
    note = next(s for s in report["sections"] if s["title"] == "Layers")
    assert f"({', '.join(expected)})" in json.dumps(note) and "has 8 conv and dense" in json.dumps(
        note
    )
    shown = [s["title"] for s in report["sections"]]
    assert all(any(name in title for title in shown) for name in expected)
    assert not any(f"d{i}" in title for title in shown for i in (1, 2, 3, 5, 6))
