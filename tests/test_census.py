"""The featurevis census (#23 item 3) and its restart measure's name (#23 item 4): labels on
synthetic maps, on planted filters and on the zoo's conv1, each checked against the rule
recomputed here with numpy from the saved maps and the model, not only against ranges."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kinterp.toolkit.optimize.census import (
    DEAD_LEVEL,
    FLAT_GAIN,
    FLAT_STD,
    NOISE_FLATNESS,
    UnitStats,
    pixel_std,
    spectral_flatness,
    spectrum_correlation,
)
from tests.test_featurevis import run

# --- the rule, written again independently of kinterp ---------------------------------------


def our_std(maps: np.ndarray) -> np.ndarray:
    """Spatial pixel std per map: per channel np.std over space, root mean square."""
    maps = np.asarray(maps, "float64").reshape(len(maps), maps.shape[1], maps.shape[2], -1)
    return np.sqrt(np.mean(np.std(maps, axis=(1, 2)) ** 2, axis=1))


def our_flatness(maps: np.ndarray) -> np.ndarray:
    """Spectral flatness per map from an explicit DFT matrix product (no np.fft)."""
    maps = np.asarray(maps, "float64").reshape(len(maps), maps.shape[1], maps.shape[2], -1)
    h, w = maps.shape[1:3]
    dft_h = np.exp(-2j * np.pi * np.outer(np.arange(h), np.arange(h)) / h)
    dft_w = np.exp(-2j * np.pi * np.outer(np.arange(w), np.arange(w)) / w)
    out = []
    for m in maps:
        power = sum(
            np.abs(dft_h @ (c - c.mean()) @ dft_w.T) ** 2 for c in np.moveaxis(m, -1, 0)
        ).ravel()[1:]  # zero frequency left out
        if power.mean() == 0:
            out.append(np.nan)
            continue
        power = np.maximum(power, 1e-12 * power.mean())
        out.append(np.exp(np.mean(np.log(power))) / power.mean())
    return np.array(out)


def our_label(reached, reached_all, start, std, flatness) -> str:
    """The census rule of the report's text, applied to numbers measured here."""
    if np.max(np.abs(reached_all)) <= DEAD_LEVEL:
        return "dead"
    if std < FLAT_STD:
        return "flat" if abs(reached) > DEAD_LEVEL else "dead"
    best = np.max(reached_all)
    if best - start <= FLAT_GAIN * max(abs(best), DEAD_LEVEL):
        return "flat"
    return "noise" if flatness > NOISE_FLATNESS else "structured"


def stripes(period: int, axis: int, size: int = 28) -> np.ndarray:
    line = (np.arange(size) // (period // 2)) % 2 == 0
    img = np.broadcast_to(line[:, None] if axis == 0 else line[None, :], (size, size))
    return img.astype("float64")


SYNTHETIC = {
    "uniform grey": (np.full((28, 28), 0.5), "flat"),
    "all white": (np.ones((28, 28)), "flat"),
    "white, one pixel at 0.99": (1.0 - 0.01 * (np.arange(784).reshape(28, 28) == 0), "flat"),
    "horizontal stripes, period 4": (stripes(4, 0), "structured"),
    "vertical stripes, period 10": (stripes(10, 1), "structured"),
    "diagonal stripes": (((np.indices((28, 28)).sum(0) // 3) % 2).astype(float), "structured"),
    "checkerboard": ((np.indices((28, 28)).sum(0) % 2).astype(float), "structured"),
    "uniform white noise": (np.random.default_rng(0).uniform(size=(28, 28)), "noise"),
    "binary white noise": ((np.random.default_rng(1).uniform(size=(28, 28)) > 0.5) * 1.0, "noise"),
    "gaussian noise 40x30": (np.random.default_rng(2).normal(0.5, 0.2, (40, 30)), "noise"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(SYNTHETIC))
def test_synthetic_maps_get_the_label_of_their_picture(name):
    """Uniform grey and all-white are flat (the unit is on), stripes and checkerboards are
    structured, white noise is noise, and each measure equals the numpy recomputation."""
    image, expected = SYNTHETIC[name]
    maps = np.stack([image, image])[..., None]  # two restarts of the same map
    std, flatness = pixel_std(maps), spectral_flatness(maps)
    np.testing.assert_allclose(std, our_std(maps), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(flatness, our_flatness(maps), rtol=1e-6)
    on = dict(reached=2.0, reached_min=0.5, reached_max=2.0, start=0.5)
    stats = UnitStats(**on, pixel_std=float(std.mean()), flatness=float(np.mean(flatness)))
    assert stats.label == expected
    ours = our_label(2.0, [0.5, 2.0], 0.5, our_std(maps).mean(), our_flatness(maps).mean())
    assert stats.label == ours


def test_a_near_constant_map_is_flat_or_dead_by_its_activation_and_colour_counts_as_constant():
    red = np.zeros((1, 16, 16, 3))
    red[..., 0] = 1.0  # a uniform colour: the channels differ, space does not
    assert pixel_std(red)[0] == 0.0 and our_std(red)[0] == 0.0
    base = dict(reached_min=0.0, start=0.0, pixel_std=0.0, flatness=np.nan)
    assert UnitStats(reached=3.0, reached_max=3.0, **base).label == "flat"
    assert UnitStats(reached=0.0, reached_max=2.0, **base).label == "dead"
    assert UnitStats(reached=0.0, reached_max=0.0, **base).label == "dead"
    # A linear unit driven to -1 everywhere is not dead: its activation is far from 0.
    negative = dict(reached=-1.0, reached_min=-3.0, reached_max=-1.0, start=-3.0)
    assert UnitStats(**negative, pixel_std=0.3, flatness=0.1).label == "structured"
    # An input-independent unit: the optimum is no better than the start, whatever the map.
    assert UnitStats(reached=1.0, reached_min=1.0, reached_max=1.0, start=0.99,
                     pixel_std=0.3, flatness=0.6).label == "flat"  # fmt: skip


def test_spectrum_correlation_is_the_correlation_of_amplitude_spectra():
    rng = np.random.default_rng(4)
    maps = rng.uniform(size=(3, 20, 20, 1))
    spectra = [np.abs(np.fft.fft2(m[..., 0] - m.mean())).ravel() for m in maps]
    pairs = [np.corrcoef(spectra[i], spectra[j])[0, 1] for i, j in ((0, 1), (0, 2), (1, 2))]
    assert spectrum_correlation(maps) == pytest.approx(np.mean(pairs), abs=1e-12)
    shifted = np.stack([stripes(6, 1), np.roll(stripes(6, 1), 2, axis=1)])
    assert spectrum_correlation(shifted) == pytest.approx(1.0)  # blind to where it sits


# --- runs ------------------------------------------------------------------------------------


def unit_rows(report: dict, layer: str) -> list[dict]:
    """The unit table of ``layer``, in its folded "every TV weight and the measures" section."""
    section = next(
        s
        for s in report["sections"]
        if s["title"].startswith(f"Layer {layer} ") and s["title"].endswith("the measures")
    )
    table = section["tables"][0]
    return [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]


def shown_tv(report: dict, layer: str) -> float:
    table = next(s for s in report["sections"] if s["title"] == "Census")["tables"][0]
    row = next(r for r in table["rows"] if r[0] == layer)
    return row[table["columns"].index("shown TV")]


def recompute(report, run_dir, model_path, layer, tvs, per_cell, neuron="mean"):
    """(labels by the rule recomputed here, the activations of the shown maps, the shown
    maps) from the saved maps array and the Keras model."""
    import keras

    rows = unit_rows(report, layer)
    maps = np.load(run_dir / "arrays" / f"{layer}-maps.npy")
    maps = maps.reshape(len(rows), len(tvs), per_cell, *maps.shape[1:])
    model = keras.models.load_model(model_path) if not isinstance(model_path, str) else None
    if model is None:
        import kinterp

        model = kinterp.load_model(model_path).keras_model
    features = keras.Model(model.inputs, model.get_layer(layer).output)
    out = np.asarray(features(maps.reshape(-1, *maps.shape[3:]).astype("float32")))
    if out.ndim == 4:
        centre = out[:, out.shape[1] // 2, out.shape[2] // 2]
        out = centre if neuron == "centre" else out.mean(axis=(1, 2))
    units = [r[next(iter(r))] for r in rows]
    act = out.reshape(len(rows), len(tvs), per_cell, -1)[:, :, :, units]
    act = np.stack([act[i, :, :, i] for i in range(len(rows))])  # (units, tv, maps)
    t = tvs.index(shown_tv(report, layer))
    labels = []
    for i, row in enumerate(rows):
        shown = maps[i, t]
        labels.append(
            our_label(
                act[i, t].mean(),
                act[i],
                row["start activation"],
                our_std(shown).mean(),
                np.nanmean(our_flatness(shown)) if our_std(shown).mean() > 0 else np.nan,
            )
        )
    return labels, act[:, t], maps[:, t]


@pytest.fixture(scope="module")
def planted(keras, model_dir) -> Path:
    """Hand-set units: conv filters (horizontal edges; no weights and a positive bias: on
    whatever the input; no weights and a large negative bias: dead; all-positive weights:
    happiest on a uniform white field) and dense units on the pixels (random signs: the
    optimum is white noise; alternating bands of 3 rows: stripes)."""
    image = keras.Input((28, 28, 1))
    conv = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(image)
    probe = keras.layers.Dense(2, activation="relu", name="probe")(keras.layers.Flatten()(image))
    joined = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(conv), probe])
    model = keras.Model(image, keras.layers.Dense(10, activation="softmax", name="out")(joined))
    kernel, bias = np.zeros((3, 3, 1, 4), "float32"), np.zeros(4, "float32")
    kernel[:, :, 0, 0] = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]  # horizontal edges
    bias[1] = 1.0
    bias[2] = -10.0
    kernel[:, :, 0, 3] = 1.0
    model.get_layer("conv").set_weights([kernel, bias])
    dense = np.zeros((784, 2), "float32")
    dense[:, 0] = np.sign(np.random.default_rng(5).normal(size=784))
    dense[:, 1] = np.where((np.arange(784) // 28 // 3) % 2 == 0, 1.0, -1.0)
    model.get_layer("probe").set_weights([dense, np.zeros(2, "float32")])
    path = model_dir / "planted-census.keras"
    model.save(path)
    return path


PLANTED = {"conv": ["structured", "flat", "dead", "flat"], "probe": ["noise", "structured"]}


def test_planted_units_get_their_labels_with_or_without_examples(runner, planted, tmp_path):
    """The census of hand-set units, the same whether real images were scored or not; the
    labels also follow from the rule recomputed from the saved maps and the model; without
    examples the "on data" columns are empty, not the maps' own activations."""
    tvs = [0.001, 0.01]
    # No jitter: its random shifts average each pixel's gradient with its neighbours', which
    # low-passes the random-sign optimum (spectral flatness about 0.35 instead of 0.56).
    common = ["--layer", "conv,probe", "--tv", "0.001,0.01", "--restarts", "2", "--steps", "64",
              "--jitter", "0"]  # fmt: skip
    with_data, data_dir = run(runner, str(planted), tmp_path / "a", *common, "--examples", "64")
    without, bare_dir = run(runner, str(planted), tmp_path / "b", *common, "--examples", "0")
    for report, run_dir in ((with_data, data_dir), (without, bare_dir)):
        for layer, expected in PLANTED.items():
            assert [r["census"] for r in unit_rows(report, layer)] == expected, layer
            labels, act, _ = recompute(report, run_dir, planted, layer, tvs, 2)
            assert labels == expected, layer
            reached = [r["activation reached"] for r in unit_rows(report, layer)]
            np.testing.assert_allclose(reached, act.mean(axis=1), rtol=1e-4, atol=1e-6)
    counts = {"structured": 1, "noise": 0, "flat": 2, "dead": 1}
    assert with_data["metrics"]["conv_census"] == counts
    assert without["metrics"]["census"] == with_data["metrics"]["census"]
    assert all(r["on data (mean)"] is None for r in unit_rows(without, "conv"))
    assert all(r["on data (max)"] is not None for r in unit_rows(with_data, "conv"))
    text = next(s for s in without["sections"] if s["title"] == "Census")["text"]
    for label in ("dead:", "flat:", "noise:", "structured:"):
        assert label in text  # each label's rule is written in the report
    assert f"{FLAT_STD:g}" in text and f"{NOISE_FLATNESS:g}" in text


def test_zoo_conv1_census_follows_the_rule_recomputed_from_its_maps(runner, tmp_path):
    """mnist-cnn conv1: every label equals the rule recomputed from arrays/conv1-maps.npy and
    the model; no near-white map (pixel std < 0.002) is structured or noise; the restart
    measure is named spectrum correlation and equals the correlation of amplitude spectra."""
    tvs = [0.01, 0.1, 1.0]
    report, run_dir = run(
        runner, "mnist-cnn", tmp_path, "--layer", "conv1", "--tv", "0.01,0.1,1",
        "--restarts", "2", "--steps", "64", "--examples", "0",
    )  # fmt: skip
    rows = unit_rows(report, "conv1")
    labels, act, shown = recompute(report, run_dir, "mnist-cnn", "conv1", tvs, 2)
    assert [r["census"] for r in rows] == labels
    np.testing.assert_allclose([r["activation reached"] for r in rows], act.mean(1), rtol=1e-4)
    blank = our_std(shown.reshape(-1, *shown.shape[2:])).reshape(len(rows), -1).max(1) < 0.002
    assert blank.any()  # the maps the issue names: all white
    assert all(r["census"] in ("flat", "dead") for r, b in zip(rows, blank, strict=True) if b)
    assert {"structured", "flat"} <= set(labels)
    for r, pair in zip(rows, shown, strict=True):
        grey = pair[..., 0].astype("float64")
        spectra = [np.abs(np.fft.fft2(m - m.mean())).ravel() for m in grey]
        constant = [np.ptp(s) == 0 for s in spectra]
        ours = float(all(constant)) if any(constant) else np.corrcoef(*spectra)[0, 1]
        assert r["spectrum correlation"] == pytest.approx(ours, abs=1e-9)
    assert "spectrum_correlated_tv" in report["metrics"]
    text = json.dumps(report).lower()
    assert "consisten" not in text


def test_centre_neuron_census_scores_the_centre_neuron(runner, tmp_path):
    """With --neuron centre the activation reached is the centre neuron's, recomputed here
    from the maps with the model, not the spatial mean."""
    tvs = [0.1]
    report, run_dir = run(
        runner, "mnist-cnn", tmp_path, "--layer", "conv2", "--units", "0,1,2", "--tv", "0.1",
        "--restarts", "2", "--steps", "16", "--examples", "0", "--neuron", "centre",
    )  # fmt: skip
    rows = unit_rows(report, "conv2")
    _, centre, _ = recompute(report, run_dir, "mnist-cnn", "conv2", tvs, 2, neuron="centre")
    _, mean, _ = recompute(report, run_dir, "mnist-cnn", "conv2", tvs, 2, neuron="mean")
    np.testing.assert_allclose([r["activation reached"] for r in rows], centre.mean(1), rtol=1e-4)
    assert not np.allclose(centre.mean(1), mean.mean(1), rtol=1e-2)
    assert "centre neuron" in next(s for s in report["sections"] if s["title"] == "Census")["text"]
