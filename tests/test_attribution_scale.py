"""attribution's cost scales with the model (#22, #27): a bounded sanity cascade, Score-CAM's
faster variant above a channel count, Score-CAM batches from the memory estimate.

The model: 12 small weighted layers (seven 4-filter convs, a 160-filter conv ``wide`` that
the CAM methods read, three dense layers and the output), 28x28x1 so mnist-5k feeds it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kinterp_plugins.attribution import (
    MASK_COPIES,
    SANITY_STAGES,
    SCORE_CAM_FAST_ABOVE,
    AttributionParams,
    attribution_maps,
    cam_layer,
    cascade_stages,
    method_options,
    plan_score_cam,
    sanity_cascade,
    score_cam_variant,
    weighted_layers,
    working_copy,
)

import kinterp
from tests.test_attribution import run_cli, section

WIDE = 160  # channels of the CAM layer: above the default --score-cam-fast-above
SEED = 7


@pytest.fixture(scope="module")
def deep(keras, model_dir) -> Path:
    """12 weighted layers, random weights from their own seed, biases set away from zero."""
    keras.utils.set_random_seed(123)
    convs = [
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", name=f"conv_{i}")
        for i in range(7)
    ]
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            *convs,
            keras.layers.Conv2D(WIDE, 3, strides=2, activation="relu", name="wide"),
            keras.layers.GlobalAveragePooling2D(name="pool"),
            *(keras.layers.Dense(8, activation="relu", name=f"dense_{i}") for i in range(3)),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    for layer in model.layers:
        if layer.weights:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, np.full_like(bias, 0.05)])
    path = model_dir / "deep12.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def loaded(deep) -> kinterp.LoadedModel:
    return kinterp.load_model(str(deep))


@pytest.fixture(scope="module")
def inputs(loaded, digits) -> tuple[np.ndarray, np.ndarray]:
    """Six mnist-5k digits as model inputs, and the model's predicted classes."""
    x = loaded.to_input(digits[0][:6])
    return x, loaded.classify(x).top1


# ------------------------------------------------------------------------- the cascade's stages


def test_twelve_layers_in_at_most_eight_evenly_spaced_stages() -> None:
    assert SANITY_STAGES == 8
    assert cascade_stages(12) == [0, 2, 3, 5, 6, 8, 9, 11]
    assert cascade_stages(12, 5) == [0, 3, 6, 8, 11]
    assert cascade_stages(105) == [0, 15, 30, 45, 59, 74, 89, 104]  # MobileNetV2 0.35
    assert cascade_stages(4) == [0, 1, 2, 3]  # few layers: every one, as before
    assert cascade_stages(0) == []


@settings(max_examples=200, deadline=None)
@given(count=st.integers(1, 2000), most=st.integers(2, 64))
def test_stages_are_bounded_evenly_spaced_top_to_bottom(count, most) -> None:
    stages = cascade_stages(count, most)
    assert len(stages) == min(count, most)
    assert stages[0] == 0 and stages[-1] == count - 1  # the top layer, and every layer at last
    gaps = np.diff(stages)
    assert (gaps >= 1).all()
    if len(gaps):
        assert gaps.max() - gaps.min() <= 1  # evenly spaced, up to rounding


def differs(layer, trained: list[np.ndarray]) -> bool:
    return any(not np.array_equal(a, b) for a, b in zip(layer.get_weights(), trained, strict=True))


@pytest.mark.filterwarnings("ignore:The structure of `inputs`")
def test_each_stage_reinitialises_down_to_its_layer_and_the_last_stage_all(
    keras, loaded, inputs
) -> None:
    """Stage s re-initialises the weighted layers from the top down to the s-th chosen one;
    the last equals a fully re-initialised model built here by the same seed rule."""
    work = working_copy(loaded.logits_model)
    layers = weighted_layers(work)
    assert len(layers) == 12
    trained = {layer.name: layer.get_weights() for layer in layers}
    stages = cascade_stages(len(layers))
    seen: list[list[bool]] = []

    def explain(method: str) -> np.ndarray:
        seen.append([differs(layer, trained[layer.name]) for layer in layers])
        return np.random.default_rng(len(seen)).random((4, 5, 5))

    maps = {"saliency": np.random.default_rng(0).random((4, 5, 5))}
    cascade = sanity_cascade(work, layers, stages, ["saliency"], maps, explain, SEED)
    assert cascade["saliency"].shape == (len(stages), 4)
    assert seen == [[i <= end for i in range(len(layers))] for end in stages]

    original = working_copy(loaded.logits_model)  # trained weights, as the run's copy
    keras.utils.set_random_seed(SEED)
    expected = keras.models.clone_model(original)  # every layer re-initialised, seed SEED
    for layer in layers:
        for ours, theirs in zip(
            layer.get_weights(), expected.get_layer(layer.name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(ours, theirs)
        assert differs(layer, trained[layer.name])


def test_a_deep_model_reports_the_sampled_stages(runner, deep, loaded, tmp_path) -> None:
    """Through the CLI: 8 stages of 12 layers in the table, the text and the JSON; the last
    stage is every layer, where the pass mark is judged."""
    extra = ["--methods", "saliency,gradcam", "--per-class", "1", "--smooth-samples", "2"]
    report, _ = run_cli(runner, str(deep), tmp_path, *extra, "--deletion-steps", "4")
    names = [layer.name for layer in weighted_layers(working_copy(loaded.logits_model))]
    chosen = [0, 2, 3, 5, 6, 8, 9, 11]
    metrics = report["metrics"]
    assert metrics["sanity_weighted_layers"] == 12
    assert metrics["sanity_stages"] == {names[i]: i + 1 for i in chosen}
    assert list(metrics["sanity_stages"]) == [names[i] for i in chosen]  # top first
    sanity = section(report, "Sanity check")
    table = sanity["tables"][0]
    assert table["columns"][1] == f"+ {names[0]}"
    assert table["columns"][2] == f"+ 2 layers to {names[2]}"
    assert table["columns"][-2] == f"+ 2 layers to {names[11]}"
    assert len(table["columns"]) == 1 + 8 + 1
    assert "12 weighted layers" in sanity["text"] and "8 stages" in sanity["text"]
    assert all(names[i] in sanity["text"] for i in chosen)
    last = {row[0]: row[-2] for row in table["rows"]}
    correlations = metrics["sanity_rank_correlation"]
    assert last["Saliency"] == pytest.approx(correlations["saliency"])  # judged at every layer
    assert last["Grad-CAM"] == pytest.approx(correlations["gradcam"])
    assert metrics["score_cam"] is None


def test_fewer_stages_on_request_and_no_stages_without_the_check(runner, deep, tmp_path) -> None:
    extra = ["--methods", "saliency", "--per-class", "1", "--deletion-steps", "2"]
    report, _ = run_cli(runner, str(deep), tmp_path / "a", *extra, "--sanity-stages", "3")
    assert list(report["metrics"]["sanity_stages"].values()) == [1, 7, 12]
    report, _ = run_cli(runner, str(deep), tmp_path / "b", *extra, "--no-sanity")
    assert report["metrics"]["sanity_stages"] is None


# ----------------------------------------------------------------------------------- Score-CAM


def test_score_cam_switches_to_its_faster_variant_above_the_channel_count(loaded) -> None:
    cam = cam_layer(loaded, "wide")
    assert cam.channels == WIDE > SCORE_CAM_FAST_ABOVE
    plan = score_cam_variant(cam, AttributionParams())
    assert (plan.variant, plan.switched, plan.keep) == ("faster", "auto", 16)
    assert "switched on by itself" in plan.why and "160" in plan.why
    full = score_cam_variant(cam, AttributionParams(score_cam_fast_above=WIDE))
    assert (full.variant, full.switched, full.keep) == ("full", "", None)
    asked = score_cam_variant(
        cam, AttributionParams(score_cam_fast=True, score_cam_fast_above=WIDE)
    )
    assert (asked.variant, asked.switched) == ("faster", "--score-cam-fast")
    assert method_options("scorecam", cam, AttributionParams(), None)["max_N"] == 16
    assert "max_N" not in method_options("scorecam", cam, full_params(), None)


def full_params() -> AttributionParams:
    return AttributionParams(score_cam_fast_above=4096)


@pytest.mark.filterwarnings("ignore:The structure of `inputs`")
def test_the_faster_variant_is_tf_keras_vis_with_max_n_one_image_at_a_time(loaded, inputs) -> None:
    """The maps by default are tf-keras-vis' Faster Score-CAM (max_N 16) on the same layer,
    one image per call: each image masked with its own 16 most varied channels, not the
    union over a batch, so an image's map does not depend on the others."""
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    x, predicted = inputs
    work = working_copy(loaded.logits_model)
    cam = cam_layer(loaded, "wide")
    fast = attribution_maps(work, "scorecam", x, predicted, cam, AttributionParams())
    full = attribution_maps(work, "scorecam", x, predicted, cam, full_params())
    explainer = Scorecam(work, model_modifier=None)
    options = {"penultimate_layer": "wide", "seek_penultimate_conv_layer": False}
    for i in range(len(x)):
        one = explainer(CategoricalScore([int(predicted[i])]), x[i : i + 1], max_N=16, **options)
        np.testing.assert_allclose(fast[i : i + 1], one, atol=1e-6)
    reordered = attribution_maps(
        work, "scorecam", x[::-1], predicted[::-1], cam, AttributionParams()
    )
    np.testing.assert_allclose(reordered[::-1], fast, atol=1e-6)
    everything = explainer(CategoricalScore([int(c) for c in predicted]), x, **options)
    np.testing.assert_allclose(full, everything, atol=1e-6)


def test_the_report_json_records_the_variant(runner, deep, tmp_path) -> None:
    extra = ["--methods", "scorecam", "--per-class", "1", "--no-sanity", "--deletion-steps", "2"]
    report, _ = run_cli(runner, str(deep), tmp_path / "auto", *extra)
    recorded = report["metrics"]["score_cam"]
    assert {k: recorded[k] for k in ("variant", "switched_on_by", "channels_kept")} == {
        "variant": "faster",
        "switched_on_by": "auto",
        "channels_kept": 16,
    }
    assert (recorded["layer"], recorded["layer_channels"]) == ("wide", WIDE)
    assert recorded["images_per_call"] == 1 and 1 <= recorded["predict_batch"] <= 256
    assert "Faster Score-CAM, switched on by itself" in section(report, "Attribution maps")["text"]
    report, _ = run_cli(
        runner, str(deep), tmp_path / "full", *extra, "--score-cam-fast-above", "160"
    )
    recorded = report["metrics"]["score_cam"]
    assert (recorded["variant"], recorded["channels_kept"]) == ("full", WIDE)
    assert recorded["images_per_call"] == 10  # all of them: they fit the memory budget


@pytest.mark.filterwarnings("ignore:The structure of `inputs`")
def test_score_cam_images_per_call_come_from_the_memory_estimate(
    loaded, inputs, monkeypatch
) -> None:
    """Under a budget that holds three images' masked copies, full Score-CAM runs three
    images per call and gives the maps of one call over all six; one image too many for
    the budget is refused with the numbers."""
    import kinterp.toolkit.optimize.memory as memory

    x, predicted = inputs
    cam = cam_layer(loaded, "wide")
    one = MASK_COPIES * 4 * 28 * 28 * WIDE  # float32 copies of one image under every channel
    monkeypatch.setattr(memory, "available_bytes", lambda: 4 * 3 * one + 4 * one // 2)
    plan = plan_score_cam(loaded, cam, full_params(), len(x))
    assert (plan.variant, plan.images_per_call) == ("full", 3)
    work = working_copy(loaded.logits_model)
    split = attribution_maps(work, "scorecam", x, predicted, cam, full_params(), plan)
    monkeypatch.undo()
    whole = attribution_maps(work, "scorecam", x, predicted, cam, full_params())
    np.testing.assert_allclose(split, whole, atol=1e-5)
    monkeypatch.setattr(memory, "available_bytes", lambda: 3 * one)
    with pytest.raises(kinterp.KinterpError, match="Score-CAM of one image on wide would need"):
        plan_score_cam(loaded, cam, full_params(), len(x))


# ------------------------------------------------------------------------------- layer names


def test_layer_names_reach_tf_keras_vis_through_loaded_model_layer(loaded, monkeypatch) -> None:
    """A name users give (soon a path inside nested sub-models) becomes the Keras name of the
    flattened model in one place: LoadedModel.layer, then the layer's .name."""
    real = loaded.layer
    monkeypatch.setattr(loaded, "layer", lambda name: real(name.rsplit("/", 1)[-1]))
    cam = cam_layer(loaded, "base/wide")
    assert (cam.name, cam.keras_name, cam.channels) == ("base/wide", "wide", WIDE)
    for method in ("gradcam", "gradcam++", "layercam", "scorecam"):
        assert method_options(method, cam, AttributionParams(), None)["penultimate_layer"] == "wide"
