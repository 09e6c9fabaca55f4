"""datastats: class images, PCA baselines checked against numpy SVD, pixel statistics, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kinterp_plugins.datastats import DatastatsParams, fit_pca, logistic_regression

import kinterp
from kinterp.cli import app
from kinterp.data.datasets import BUILTIN_DATASETS
from kinterp.settings.params import parse_params
from kinterp.toolkit.pixelstats import pixel_histogram, variogram
from tests.conftest import all_entries, assert_valid_report, run_dirs

KS = [5, 10, 20, 50]


def load(name: str) -> kinterp.Dataset:
    return next(d for d in BUILTIN_DATASETS if d.name == name).load()


def run_cli(runner, model: str, out: Path, *extra: str) -> dict:
    """Run datastats through the CLI; the validated report."""
    result = runner.invoke(app, ["run", "datastats", model, "--out", str(out), "--quiet", *extra])
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(out)
    return assert_valid_report(run_dir)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    """The default run on mnist-cnn."""
    from typer.testing import CliRunner

    return run_cli(CliRunner(), "mnist-cnn", tmp_path_factory.mktemp("datastats"))


def section(report: dict, title: str) -> dict:
    return next(s for s in report["sections"] if s["title"] == title)


def test_class_images_eigen_digits_and_std_maps(report) -> None:
    means = section(report, "Class means")["images"][0]["tiles"]
    assert [t["caption"].split()[0] for t in means] == [str(c) for c in range(10)]
    variability = section(report, "Variability")
    assert len(variability["images"][0]["tiles"]) == 10
    ranking = variability["tables"][0]["rows"]
    assert [row[0] for row in ranking] == list(range(1, 11))
    spreads = [row[2] for row in ranking]
    assert spreads == sorted(spreads, reverse=True)
    assert report["metrics"]["most_variable_class"] == ranking[0][1]
    eigen = section(report, "Eigen-images")["images"][0]["tiles"]
    assert len(eigen) == 16 and eigen[0]["caption"].startswith("PC1 (")
    plots = [p["kind"] for s in report["sections"] for p in s["plots"]]
    assert plots.count("line") == 4 and plots.count("histogram") == 1


def test_pca_baselines_sit_beside_the_model(report) -> None:
    card = json.loads(
        Path(kinterp.load_model("mnist-cnn").info.path).with_suffix(".json").read_text()
    )
    table = section(report, "PCA baselines")["tables"][0]
    assert table["columns"][-1] == "mnist-cnn"
    assert [row[0] for row in table["rows"]] == KS
    assert all(row[-1] == pytest.approx(card["heldout_accuracy"]) for row in table["rows"])
    metrics = report["metrics"]
    assert metrics["model_accuracy"] == pytest.approx(card["heldout_accuracy"])
    for name in ("pca_centroid_accuracy", "pca_logistic_accuracy", "explained_variance"):
        assert set(metrics[name]) == {str(k) for k in KS}
    explained = [metrics["explained_variance"][str(k)] for k in KS]
    assert explained == sorted(explained) and 0 < explained[0] < explained[-1] < 1
    assert 0.5 < metrics["pca_logistic_accuracy"]["50"] < metrics["model_accuracy"]
    assert metrics["margin_over_pca"] == pytest.approx(
        metrics["model_accuracy"] - metrics["best_pca_accuracy"]
    )


def test_pca_and_centroid_baseline_match_a_direct_svd(report) -> None:
    data = load("mnist-5k")
    x_train = data.x_train.reshape(len(data.x_train), -1).astype("float64")
    x_test = data.x_test.reshape(len(data.x_test), -1).astype("float64")
    mean = x_train.mean(axis=0)
    _, s, vt = np.linalg.svd(x_train - mean, full_matrices=False)
    pca = fit_pca(x_train)
    np.testing.assert_allclose(pca.explained, s**2 / (s**2).sum(), atol=1e-10)
    for k in KS:
        expected = (x_test - mean) @ vt[:k].T
        got = pca.project(x_test, k)
        signs = np.sign(np.sum(got * expected, axis=0))  # each component's sign is arbitrary
        np.testing.assert_allclose(got * signs, expected, atol=1e-7)
        z_train, z_test = (x_train - mean) @ vt[:k].T, expected
        centroids = np.stack([z_train[data.y_train == c].mean(axis=0) for c in range(10)])
        nearest = np.argmin(((z_test[:, None] - centroids[None]) ** 2).sum(axis=-1), axis=1)
        accuracy = float(np.mean(nearest == data.y_test))
        assert report["metrics"]["pca_centroid_accuracy"][str(k)] == pytest.approx(accuracy)


def test_logistic_regression_separates_separable_classes() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]])
    labels = rng.integers(0, 3, 300)
    points = centres[labels] + rng.normal(0.0, 0.5, (300, 2))
    guess = logistic_regression(points[:200], labels[:200], points[200:], 3, steps=200)
    assert np.mean(guess == labels[200:]) == 1.0


def test_variogram_matches_a_naive_loop() -> None:
    rng = np.random.default_rng(2)
    images = rng.random((4, 9, 7, 2))
    lags = [1, 2, 3, 6]
    rows, cols = variogram(images, lags, per_image=True)
    for n in range(4):
        for i, k in enumerate(lags):
            horizontal, vertical = [], []
            for r in range(9):
                for c in range(7):
                    for ch in range(2):
                        if c + k < 7:
                            horizontal.append(abs(images[n, r, c + k, ch] - images[n, r, c, ch]))
                        if r + k < 9:
                            vertical.append(abs(images[n, r + k, c, ch] - images[n, r, c, ch]))
            assert rows[n, i] == pytest.approx(np.mean(horizontal))
            assert cols[n, i] == pytest.approx(np.mean(vertical))
    mean_rows, mean_cols = variogram(images[..., 0], 6)
    np.testing.assert_allclose(mean_rows, variogram(images[..., :1], range(1, 7))[0])
    assert mean_rows.shape == mean_cols.shape == (6,)
    with pytest.raises(ValueError, match="lag 7"):
        variogram(images, [7])


def test_pixel_histogram_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    images = rng.random((5, 6, 6))
    images[0, 0, 0], images[1, 0, 0] = 0.0, 1.0  # both ends of the range
    per_image, edges = pixel_histogram(images, bins=8, per_image=True)
    for n in range(5):
        counts, _ = np.histogram(images[n], bins=8, range=(0.0, 1.0))
        np.testing.assert_allclose(per_image[n], counts / 36)
    pooled, _ = pixel_histogram(images, bins=[0.0, 0.5, 1.0])
    np.testing.assert_allclose(pooled, np.histogram(images, bins=[0.0, 0.5, 1.0])[0] / 180)
    assert edges.shape == (9,)


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--components", "0"], ["--components", "at least 1"]),
        (["--components=5,-3"], ["--components", "at least 1"]),
        (["--components", "5,785"], ["--components 785", "784 pixels"]),
        (["--max-lag", "28"], ["--max-lag 28", "27"]),
    ],
)
def test_bad_values_are_refused(runner, tmp_path, extra, words) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "datastats", "mnist-cnn", "--out", str(out), *extra])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and all(w in message for w in words), message
    assert all_entries(out) == []


# ------------------------------------------------------------------------------ params


BOUNDS = {
    "eigen_images": (1, 64),
    "logistic_steps": (1, 5000),
    "max_lag": (1, 512),
    "bins": (2, 256),
}


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(BOUNDS)),
    offset=st.integers(0, 10_000),
    ks=st.lists(st.integers(1, 4096), min_size=1, max_size=8),
)
def test_params_inside_the_bounds_parse(name, offset, ks) -> None:
    low, high = BOUNDS[name]
    value = low + offset % (high - low + 1)
    params = parse_params(DatastatsParams, {name: str(value), "components": ",".join(map(str, ks))})
    assert getattr(params, name) == value and params.components == ks


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(sorted(BOUNDS)),
    beyond=st.integers(1, 10**6),
    below=st.booleans(),
    k=st.one_of(st.integers(max_value=0), st.integers(min_value=4097)),
)
def test_params_outside_the_bounds_are_refused(name, beyond, below, k) -> None:
    low, high = BOUNDS[name]
    value = low - beyond if below else high + beyond
    with pytest.raises(kinterp.KinterpError, match=f"--{name.replace('_', '-')}"):
        parse_params(DatastatsParams, {name: str(value)})
    with pytest.raises(kinterp.KinterpError, match="--components"):
        parse_params(DatastatsParams, {"components": f"5,{k}"})
    with pytest.raises(kinterp.KinterpError, match="--components"):
        parse_params(DatastatsParams, {"components": ",".join(["5"] * 9)})
