"""The optimisation building blocks in the core: batch grids, targets, per-row penalties."""

from __future__ import annotations

import numpy as np
import pytest

import kinterp
from kinterp.errors import KinterpError
from kinterp.toolkit.optimize import (
    BatchGrid,
    Engine,
    Settings,
    class_targets,
    layer_targets,
    load_starts,
    objective,
    penalty,
    restart_pixel_correlation,
    score_maps,
    tv,
)


@pytest.fixture(scope="module")
def cnn(keras):
    return kinterp.load_model("mnist-cnn")


def test_grid_rows_are_row_major_products():
    grid = BatchGrid.of(target=[3, 5], tv=[0.1, 1.0, 10.0], restart=range(2))
    assert len(grid) == 12 and grid.shape == (2, 3, 2)
    rows = list(grid.rows())
    assert rows[0] == {"target": 3, "tv": 0.1, "restart": 0}
    assert rows[1] == {"target": 3, "tv": 0.1, "restart": 1}
    assert rows[-1] == {"target": 5, "tv": 10.0, "restart": 1}
    assert grid.values("tv")[:4] == [0.1, 0.1, 1.0, 1.0]
    grouped = grid.group(np.arange(12), by="tv")
    assert grouped.shape == (3, 4) and grouped[1].tolist() == [2, 3, 8, 9]
    with pytest.raises(ValueError, match="no values"):
        BatchGrid.of(target=[])


def test_targets_are_checked_with_hints(cnn):
    assert class_targets(cnn, [3, 3, 1]).indices == [3, 1]
    conv = layer_targets(cnn, "conv2", [0, 5])
    assert conv.kind == "filter" and conv.labels == ["conv2 filter 0", "conv2 filter 5"]
    with pytest.raises(KinterpError, match="did you mean conv2"):
        layer_targets(cnn, "conv22", None)
    with pytest.raises(KinterpError, match="has 64 filters; pick some with --units"):
        layer_targets(cnn, "conv2", None, most=32)
    with pytest.raises(KinterpError, match="10 is out of range: there are 10 classes"):
        class_targets(cnn, [10])


def test_feature_model_is_cached_and_reads_the_layer(cnn):
    features = cnn.feature_model("conv2")
    assert features is cnn.feature_model("conv2")
    out = features(np.zeros((2, 28, 28, 1), "float32"))
    assert out.shape[0] == 2 and out.shape[-1] == 64


def test_a_tv_sweep_of_4_weights_by_10_classes_is_one_batch_in_one_trace(cnn):
    targets = class_targets(cnn, None)
    weights = [0.0, 0.1, 1.0, 10.0]
    grid = BatchGrid.of(target=targets.indices, tv=weights)
    goal = objective(cnn, targets, grid.values("target"))
    total, name = penalty(tv_weight=np.asarray(grid.values("tv")))
    assert "0.1" in name and "10" in name
    start = np.random.default_rng(0).uniform(size=(len(grid), 28, 28, 1)).astype("float32")
    engine = Engine(goal, Settings(steps=24, chunk=8, lr=0.05), total)
    result = engine.run(start)
    assert engine.traces == 1  # 3 chunks, 40 rows, 4 weights: one compiled graph
    assert result.images.shape == (40, 28, 28, 1)
    import tensorflow as tf

    final_tv = tv()(tf.constant(result.images), None).numpy()
    by_weight = grid.group(final_tv, by="tv").mean(axis=1)
    # Each row felt its own weight: the heavier the penalty, the smoother the maps.
    assert by_weight[0] > by_weight[2] > by_weight[3], by_weight


def test_per_row_weights_match_separate_runs(cnn):
    targets = class_targets(cnn, [2])
    start = np.full((2, 28, 28, 1), 0.5, "float32")
    start += np.random.default_rng(1).normal(0, 0.1, start.shape).astype("float32")
    settings = Settings(steps=6, chunk=6)
    goal = objective(cnn, targets, [2, 2])
    swept = Engine(goal, settings, penalty(tv_weight=np.array([0.0, 5.0]))[0]).run(start)
    alone = Engine(objective(cnn, targets, [2]), settings, 5.0 * tv()).run(start[1:])
    np.testing.assert_allclose(swept.images[1], alone.images[0], atol=1e-5)


def test_scores_and_restart_pixel_correlation(cnn):
    targets = class_targets(cnn, [0, 1])
    grid = BatchGrid.of(target=targets.indices, restart=range(3))
    maps = np.zeros((6, 28, 28, 1), "float32")
    maps[3:] = np.random.default_rng(2).uniform(size=(3, 28, 28, 1))
    scores = score_maps(cnn, targets, grid.values("target"), objective(cnn, targets, [0] * 6), maps)
    assert set(scores) >= {"value", "logit", "confidence", "top1", "top1_p", "score"}
    assert np.allclose(scores["confidence"], cnn.classify_images(maps).of(grid.values("target")))
    same, noise = restart_pixel_correlation(grid, maps)
    assert same == 1.0 and abs(noise) < 0.2


def test_start_images_load_and_refuse(cnn, tmp_path):
    starts = load_starts(cnn, ["zeros", "uniform", "zeros"])
    assert starts.names == ["zeros", "uniform"]
    batch = starts.batch(3, (28, 28, 1), np.random.default_rng(0))
    assert batch.shape == (2, 3, 28, 28, 1) and batch[0, 0].max() == 0.0
    with pytest.raises(KinterpError, match="unknown init 'stripes'"):
        load_starts(cnn, ["stripes"])
