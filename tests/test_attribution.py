"""attribution: six tf-keras-vis methods on the zoo CNN, sanity check, deletion, refusals."""

from __future__ import annotations

import re
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kinterp_plugins.attribution import (
    METHODS,
    SANITY_PASS,
    AttributionParams,
    attribution_maps,
    cam_layer,
    choose_best,
    deleted,
    deletion_curves,
    deletion_positions,
    inserted,
    intensity_positions,
    rank_correlation,
    to_map_shape,
    working_copy,
)

import kinterp
from kinterp.cli import app
from kinterp.settings.params import parse_params
from tests.conftest import all_entries, assert_valid_report, run_dirs

QUICK = ["--per-class", "1", "--smooth-samples", "4", "--deletion-steps", "10"]


def run_cli(runner, model: str, out: Path, *extra: str) -> tuple[dict, Path]:
    """Run attribution through the CLI; the validated report and its run directory."""
    result = runner.invoke(app, ["run", "attribution", model, "--out", str(out), "--quiet", *extra])
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(out)
    return assert_valid_report(run_dir), run_dir


def refused(runner, model: str, out: Path, *extra: str) -> str:
    """Run attribution expecting a one-line error (exit 2) and nothing written; the message."""
    result = runner.invoke(app, ["run", "attribution", model, "--out", str(out), *extra])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert all_entries(out) == []
    return message


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory) -> tuple[dict, Path]:
    """One run of all six methods (and the sanity check) on mnist-cnn, one example per class."""
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("attribution")
    return run_cli(CliRunner(), "mnist-cnn", out, *QUICK)


def section(report: dict, title: str) -> dict:
    return next(s for s in report["sections"] if s["title"] == title)


def test_all_six_methods_on_mnist_cnn(cnn_run) -> None:
    report, run_dir = cnn_run
    grid = section(report, "Attribution maps")["images"][0]
    assert grid["kind"] == "grid" and grid["columns"] == 1 + len(METHODS)
    assert len(grid["tiles"]) == 10 * (1 + len(METHODS))
    assert all(re.search(r"\(p [<>]?[01]\.\d{4}\)", t["caption"]) for t in grid["tiles"])
    maps = np.load(run_dir / "arrays" / "maps.npy")
    assert maps.shape == (10, len(METHODS), 28, 28)
    assert maps.min() >= 0.0 and maps.max() <= 1.0 + 1e-6
    from matplotlib import colormaps  # #24: the overlay's colour bar is jet over [0, 1]

    jet = [
        "#" + "".join(f"{round(255 * c):02x}" for c in colormaps["jet"](v)[:3]) for v in (0.0, 1.0)
    ]
    bar = grid["colourbar"]
    assert [bar["colours"][0], bar["colours"][-1]] == jet and bar["low"].startswith("0")
    metrics = report["metrics"]
    assert set(metrics["deletion_auc"]) == set(METHODS)
    assert all(0.0 <= v <= 1.0 for v in metrics["deletion_auc"].values())
    assert metrics["best_deletion_auc"] == metrics["deletion_auc"][metrics["best_method"]]
    # every method finds evidence better than deleting pixels at random
    assert max(metrics["deletion_auc"].values()) < metrics["deletion_auc_random"]
    assert report["technique"]["key_metric"] == "best_deletion_auc"
    deletion = section(report, "Deletion")
    assert len(deletion["tables"][0]["rows"]) == len(METHODS) + 2  # + random and intensity
    assert "intensity order" in deletion["tables"][0]["columns"][2]
    assert deletion["plots"][0]["kind"] == "line"


def test_randomised_weights_change_the_maps(cnn_run) -> None:
    report, _ = cnn_run
    table = section(report, "Sanity check")["tables"][0]
    assert table["columns"][1:-1] == ["+ predictions_logits", "+ dense1", "+ conv2", "+ conv1"]
    correlations = report["metrics"]["sanity_rank_correlation"]
    assert set(correlations) == set(METHODS)
    assert correlations["saliency"] < 0.9  # a trained map's correlation with itself is 1


@pytest.mark.filterwarnings("ignore:The structure of `inputs`")
def test_saliency_maps_of_a_randomised_copy_differ(digits) -> None:
    """The sanity check's core, by hand: trained maps match themselves, not a random copy's."""
    import keras

    model = kinterp.load_model("mnist-cnn")
    x = model.to_input(digits[0][:8])
    predicted = model.classify(x).top1
    work = working_copy(model.logits_model)

    def saliency() -> np.ndarray:
        maps = attribution_maps(work, "saliency", x, predicted, None, AttributionParams())
        return to_map_shape(maps, (28, 28, 1))

    trained = saliency()
    np.testing.assert_allclose(rank_correlation(trained, saliency()), 1.0, atol=1e-9)
    keras.utils.set_random_seed(1)
    work.set_weights(keras.models.clone_model(work).get_weights())
    assert rank_correlation(trained, saliency()).mean() < 0.9


@pytest.mark.filterwarnings("ignore:The structure of `inputs`")
def test_calls_sized_to_memory_give_the_maps_of_one_call(digits) -> None:
    """Saliency and Grad-CAM over 10 images in calls of 3 equal tf-keras-vis's maps of all 10
    in one call (its maps are normalised image by image)."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.scores import CategoricalScore

    model = kinterp.load_model("mnist-cnn")
    x = model.to_input(digits[0][:10])
    predicted = model.classify(x).top1
    work = working_copy(model.logits_model)
    cam = cam_layer(model, "conv2")
    score = CategoricalScore([int(c) for c in predicted])
    whole = Saliency(work, model_modifier=None)(score, x, keepdims=True)
    chunked = attribution_maps(work, "saliency", x, predicted, None, AttributionParams(), rows=3)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
    whole = Gradcam(work, model_modifier=None)(
        score, x, penultimate_layer=cam.keras_name, seek_penultimate_conv_layer=False
    )
    chunked = attribution_maps(work, "gradcam", x, predicted, cam, AttributionParams(), rows=3)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


def test_a_memory_limit_splits_the_work_without_changing_the_answer(runner, tmp_path) -> None:
    """--memory-limit 2 fits two of mnist-cnn's backward passes (about 1.0 MB an image) a
    call: 10 images in 5 calls, with the deletion scores of one call of all 10."""
    extra = [*QUICK, "--methods", "saliency,gradcam", "--no-sanity"]
    whole, _ = run_cli(runner, "mnist-cnn", tmp_path / "whole", *extra)
    split, _ = run_cli(runner, "mnist-cnn", tmp_path / "split", *extra, "--memory-limit", "2")
    assert whole["metrics"]["gradient_batch"] == 10 and split["metrics"]["gradient_batch"] == 2
    for method, auc in whole["metrics"]["deletion_auc"].items():
        assert split["metrics"]["deletion_auc"][method] == pytest.approx(auc, abs=1e-6), method


def test_smoothgrad_is_never_split_its_maps_do_not_depend_on_the_memory(digits) -> None:
    """Review: tf-keras-vis draws SmoothGrad's noise for a whole call, so calls of 3 gave other
    maps than one call (and another deletion score and verdict under --memory-limit)."""
    model = kinterp.load_model("mnist-cnn")
    x = model.to_input(digits[0][:10])
    predicted = model.classify(x).top1
    work = working_copy(model.logits_model)
    params = AttributionParams(smooth_samples=4)
    maps = []
    for rows in (None, 3):
        np.random.seed(0)
        maps.append(attribution_maps(work, "smoothgrad", x, predicted, None, params, rows=rows))
    np.testing.assert_array_equal(maps[0], maps[1])


def test_a_memory_limit_too_small_for_one_image_is_refused(runner, tmp_path) -> None:
    message = refused(runner, "mnist-rgb-cnn", tmp_path / "out", "--memory-limit", "1")
    assert "input gradient of one image of mnist-rgb-cnn" in message
    assert "--memory-limit" in message


def test_the_verdict_names_only_a_method_that_passes_the_sanity_check(cnn_run) -> None:
    """The run's verdict, recomputed from its own recorded numbers (issue #23 item 5)."""
    report, _ = cnn_run
    metrics, summary = report["metrics"], report["summary"]
    correlations, aucs = metrics["sanity_rank_correlation"], metrics["deletion_auc"]
    passed = [m for m in METHODS if correlations[m] < SANITY_PASS]
    assert metrics["sanity_pass"] == {m: m in passed for m in METHODS}
    best = metrics["best_method"]
    if passed:
        assert best == min(passed, key=lambda m: aucs[m])
    else:
        assert summary["tone"] == "warn" and "No method passes" in summary["verdict"]
        assert best == min(METHODS, key=lambda m: correlations[m])
    assert correlations[best] < SANITY_PASS or summary["tone"] == "warn"
    rows = section(report, "Sanity check")["tables"][0]["rows"]
    assert [row[-1] for row in rows] == ["pass" if m in passed else "fail" for m in METHODS]
    assert "below 0.5" in section(report, "Sanity check")["text"]
    assert metrics["deletion_auc_intensity"] is not None


BASELINES = {"random": 0.5, "intensity": 0.3}


def test_the_best_deletion_score_failing_sanity_is_not_recommended() -> None:
    aucs = {"layercam": 0.05, "gradcam": 0.10, "saliency": 0.20} | BASELINES
    correlations = {"layercam": 0.81, "gradcam": 0.2, "saliency": 0.1}
    choice = choose_best(aucs, correlations)
    assert (choice.method, choice.tone) == ("gradcam", "good")
    assert "Grad-CAM" in choice.text and "LayerCAM" not in choice.text
    assert "2/3 methods pass" in choice.text


def test_no_method_passing_is_a_warning_naming_the_closest() -> None:
    aucs = {"layercam": 0.05, "gradcam": 0.10, "saliency": 0.20} | BASELINES
    correlations = {"layercam": 0.81, "gradcam": 0.6, "saliency": 0.7}
    choice = choose_best(aucs, correlations)
    assert (choice.method, choice.tone) == ("gradcam", "warn")
    assert "No method passes" in choice.text and "Grad-CAM" in choice.text
    assert "Best map" not in choice.text


def test_a_passing_map_no_better_than_intensity_is_a_warning() -> None:
    aucs = {"layercam": 0.05, "saliency": 0.35} | BASELINES
    choice = choose_best(aucs, {"layercam": 0.9, "saliency": 0.1})
    assert (choice.method, choice.tone) == ("saliency", "warn")
    assert "no better than deleting the brightest pixels first" in choice.text


def test_intensity_order_deletion_auc_matches_numpy(digits) -> None:
    """Delete the brightest pixels first by hand, run the model, integrate: the same AUC."""
    model = kinterp.load_model("mnist-cnn")
    images = digits[0][:6].astype("float32")
    predicted = model.classify_images(images).top1
    fractions = np.linspace(0.0, 1.0, 9)
    (curve,) = deletion_curves(
        model, images, predicted, {"i": intensity_positions(images)}, fractions
    ).values()
    expected = []
    for fraction in fractions:
        count = int(np.rint(fraction * 28 * 28))
        batch = images.reshape(len(images), -1).copy()
        for row in batch:
            row[np.argsort(-row, kind="stable")[:count]] = 0.0
        probs = model.classify_images(batch.reshape(images.shape)).probs
        expected.append(probs[np.arange(len(images)), predicted].mean())
    auc = sum((a + b) / 2 * (fractions[1] - fractions[0]) for a, b in pairwise(expected))
    np.testing.assert_allclose(curve, expected, atol=1e-6)
    np.testing.assert_allclose(np.trapezoid(curve, fractions), auc, atol=1e-6)
    assert expected[-1] < expected[0]


def test_insertion_curves_sit_beside_deletion(cnn_run) -> None:
    report, _ = cnn_run
    metrics = report["metrics"]
    assert set(metrics["insertion_auc"]) == set(METHODS)
    assert all(0.0 <= v <= 1.0 for v in metrics["insertion_auc"].values())
    insertion = section(report, "Insertion")
    assert len(insertion["tables"][0]["rows"]) == len(METHODS) + 2
    # showing the ink first brings back a digit sooner than showing pixels at random
    assert metrics["insertion_auc_intensity"] > metrics["insertion_auc_random"]


def test_insertion_shows_the_most_attributed_pixels_first() -> None:
    rng = np.random.default_rng(2)
    images = rng.random((3, 4, 5, 1)).astype("float32") + 0.5
    maps = rng.random((3, 4, 5))
    batch = inserted(images, deletion_positions(maps, rng), np.array([0.0, 0.25, 1.0]), 0.0)
    assert not batch[0].any()
    np.testing.assert_array_equal(batch[2], images)
    for i in range(3):
        shown = (batch[1, i, ..., 0] != 0.0).ravel()
        assert shown.sum() == 5
        assert maps[i].ravel()[shown].min() > maps[i].ravel()[~shown].max()


def test_rank_correlation_is_spearman() -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a = rng.random((5, 6, 6))
    b = np.round(a + rng.normal(0, 0.3, a.shape), 1)  # with ties
    expected = [spearmanr(a[i].ravel(), b[i].ravel()).statistic for i in range(5)]
    np.testing.assert_allclose(rank_correlation(a, b), expected, atol=1e-12)
    assert rank_correlation(a[:1], np.zeros((1, 6, 6)))[0] == 0.0  # a flat map ranks nothing


def test_deletion_removes_the_most_attributed_pixels_first() -> None:
    rng = np.random.default_rng(1)
    images = rng.random((3, 4, 5, 2)).astype("float32")
    maps = rng.random((3, 4, 5))
    positions = deletion_positions(maps, rng)
    batch = deleted(images, positions, np.array([0.0, 0.25, 1.0]), background=0.0)
    assert batch.shape == (3, 3, 4, 5, 2)
    np.testing.assert_array_equal(batch[0], images)
    assert not batch[2].any()
    for i in range(3):
        gone = np.all(batch[1, i] == 0.0, axis=-1).ravel()
        assert gone.sum() == 5  # 25% of 20 pixels
        assert maps[i].ravel()[gone].min() > maps[i].ravel()[~gone].max()


def test_cam_methods_on_a_dense_model_are_refused(runner, tiny_dense, tmp_path) -> None:
    message = refused(runner, str(tiny_dense), tmp_path / "out", "--methods", "saliency,gradcam")
    assert "gradcam" in message and "saliency, smoothgrad" in message


def test_a_dense_model_gets_the_gradient_methods(runner, tiny_dense, tmp_path) -> None:
    report, _ = run_cli(runner, str(tiny_dense), tmp_path, *QUICK)
    assert set(report["metrics"]["deletion_auc"]) == {"saliency", "smoothgrad"}
    assert section(report, "Sanity check")["tables"][0]["columns"][1:] == [
        "+ output_logits",
        "+ hidden",
        "sanity check",
    ]


def test_unknown_or_flat_layer_is_refused(runner, tmp_path) -> None:
    message = refused(runner, "mnist-cnn", tmp_path / "a", "--layer", "nosuch")
    assert "'nosuch'" in message
    message = refused(runner, "mnist-cnn", tmp_path / "b", "--layer", "dense1")
    assert "'dense1'" in message and "conv2" in message
    message = refused(
        runner, "mnist-cnn", tmp_path / "c", "--layer", "conv1", "--methods", "saliency"
    )
    assert "--layer" in message


def test_fast_score_cam_on_another_layer(runner, tmp_path) -> None:
    extra = ["--methods", "scorecam", "--layer", "conv1", "--score-cam-fast", "--no-sanity"]
    report, _ = run_cli(runner, "mnist-cnn", tmp_path, *QUICK, *extra)
    assert "layer conv1" in section(report, "Attribution maps")["text"]
    assert report["metrics"]["sanity_rank_correlation"] is None
    assert report["metrics"]["gradient_batch"] is None  # no gradient call was made


def test_fashion_cnn(runner, tmp_path) -> None:
    from kinterp.data.datasets import BUILTIN_DATASETS

    try:
        next(d for d in BUILTIN_DATASETS if d.name == "fashion-mnist").load()
    except kinterp.KinterpError:
        pytest.skip("Debian package dataset-fashion-mnist not installed")
    extra = ["--methods", "saliency,gradcam", "--no-sanity"]
    report, _ = run_cli(runner, "fashion-cnn", tmp_path, *QUICK, *extra)
    assert set(report["metrics"]["deletion_auc"]) == {"saliency", "gradcam"}
    assert report["metrics"]["deletion_auc"]["gradcam"] < report["metrics"]["deletion_auc_random"]


def test_module_import_stays_tensorflow_free() -> None:
    code = (
        "import sys, kinterp_plugins.attribution; "
        "assert not {'tensorflow', 'keras', 'tf_keras_vis'} & set(sys.modules), 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------ params


BOUNDS = {
    "memory_limit": (0, 10_000_000),
    "per_class": (1, 50),
    "smooth_samples": (1, 256),
    "score_cam_channels": (1, 4096),
    "deletion_steps": (2, 100),
}


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(BOUNDS)),
    offset=st.integers(0, 10_000),
    methods=st.lists(st.sampled_from(METHODS), min_size=1, max_size=len(METHODS)),
    noise=st.floats(0.0, 1.0),
    flag=st.booleans(),
)
def test_params_inside_the_bounds_parse(name, offset, methods, noise, flag) -> None:
    low, high = BOUNDS[name]
    value = low + offset % (high - low + 1)
    raw = {name: str(value), "methods": ",".join(methods), "smooth_noise": repr(noise)}
    params = parse_params(AttributionParams, raw | {"sanity": str(flag).lower()})
    assert getattr(params, name) == value and params.methods == methods
    assert params.smooth_noise == noise and params.sanity is flag


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(BOUNDS)),
    beyond=st.integers(1, 10**6),
    below=st.booleans(),
)
def test_params_outside_the_bounds_are_refused(name, beyond, below) -> None:
    low, high = BOUNDS[name]
    value = low - beyond if below else high + beyond
    with pytest.raises(kinterp.KinterpError, match=f"--{name.replace('_', '-')}"):
        parse_params(AttributionParams, {name: str(value)})


@settings(max_examples=20, deadline=None)
@given(
    noise=st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.000001)),
    word=st.text(alphabet="abcdefghijklmnopqrstuvwxyz+", min_size=1),
)
def test_bad_noise_and_unknown_methods_are_refused(noise, word) -> None:
    with pytest.raises(kinterp.KinterpError, match="--smooth-noise"):
        parse_params(AttributionParams, {"smooth_noise": noise})
    if word not in (*METHODS, "none", "all"):  # none / all: the default (every method)
        with pytest.raises(kinterp.KinterpError, match="--methods"):
            parse_params(AttributionParams, {"methods": word})
