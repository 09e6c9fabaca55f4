"""robustness: perturbation families on whole batches, curves, strips, breaking points."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinterp.cli import app
from kinterp.data.datasets import load_mnist_5k
from kinterp.loading.zoo import zoo_models
from kinterp.toolkit.perturb import FAMILIES, Digits, fit_factor
from tests.conftest import assert_refused, assert_valid_report, run_dirs


@pytest.fixture(scope="module")
def digits() -> Digits:
    x, _ = load_mnist_5k().test()
    return Digits.of(x[:64], seed=0)


def run(runner, model: str, out: Path, *extra: str) -> tuple[dict, Path]:
    args = ["run", "robustness", model, "--out", str(out), "--quiet", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(out)
    return assert_valid_report(run_dir), run_dir


def test_identity_levels_leave_images_alone(digits):
    for family in FAMILIES.values():
        assert np.array_equal(family.apply(digits, family.identity), digits.images), family.name


def test_geometry_matches_numpy(digits):
    assert np.allclose(FAMILIES["rotate"].apply(digits, 90), np.rot90(digits.images, 1, (1, 2)))
    shifted = FAMILIES["shift"].apply(digits, 3)
    dy, dx = np.round(digits.direction[0] * 3).astype(int)
    assert np.allclose(shifted[0], np.roll(digits.images[0], (dy, dx), axis=(0, 1)))
    masked = FAMILIES["edge"].apply(digits, 2)
    assert np.all(masked[:, :2] == 0) and np.all(masked[:, :, -2:] == 0)
    assert np.array_equal(masked[:, 2:-2, 2:-2], digits.images[:, 2:-2, 2:-2])


def test_enlarging_stops_where_the_digit_touches_the_frame(digits):
    fitted = Digits.of(FAMILIES["scale"].apply(digits, 10.0), seed=0)
    assert np.allclose(fit_factor(fitted), 1.0, atol=0.15)
    assert np.array_equal(
        FAMILIES["scale"].apply(digits, 10.0), FAMILIES["scale"].apply(digits, 50)
    )


def test_a_batch_gives_what_each_image_gives_alone(digits):
    for family, level in (("rotate", 30), ("scale", 1.3), ("occlude", 6), ("noise", 0.3)):
        batch = FAMILIES[family].apply(digits, level)
        for i in (0, 17):
            alone = FAMILIES[family].apply(digits.take(np.array([i])), level)
            assert np.allclose(batch[i], alone[0], atol=1e-6), family


@settings(max_examples=40, deadline=None)
@given(
    family=st.sampled_from(sorted(FAMILIES)),
    fraction=st.floats(min_value=0, max_value=1),
)
def test_every_level_keeps_images_in_range(digits, family, fraction):
    low, high = {"edge": (0, 14), "scale": (0.05, 8), "shift": (0, 28), "rotate": (-360, 360),
                 "noise": (0, 10), "saltpepper": (0, 1), "occlude": (0, 28), "blur": (0, 64),
                 "invert": (0, 1)}[family]  # fmt: skip
    out = FAMILIES[family].apply(digits.take(np.arange(4)), low + fraction * (high - low))
    assert out.shape == (4, 28, 28, 1) and np.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_mnist_cnn_edge_reproduces_the_card_and_shrugs_off_two_pixels(runner, tmp_path):
    report, run_dir = run(
        runner,
        "mnist-cnn",
        tmp_path,
        "--family",
        "edge,rotate",
        "--edge",
        "0,1,2,8",
        "--rotate",
        "0,45,90",
        "--sensitivity-images",
        "40",
        "--stride",
        "4",
    )
    metrics = report["metrics"]
    card = zoo_models()["mnist-cnn"].card
    assert metrics["edge_accuracy"]["0 px"] == card["heldout_accuracy"]
    assert report["data"]["count"] == card["heldout_count"]
    clean = metrics["clean_accuracy"]
    assert metrics["edge_accuracy"]["2 px"] >= clean - 0.01
    assert metrics["rotate_accuracy"]["90 degrees"] < 0.5
    assert metrics["breaking_point"]["rotate"] in (45, 90)
    titles = [s["title"] for s in report["sections"]]
    assert titles[0] == "Summary" and "Border sensitivity" in titles
    edge = next(s for s in report["sections"] if s["title"].startswith("edge"))
    assert edge["plots"][0]["kind"] == "line"
    strips = [b for b in edge["images"] if b["kind"] == "strip"]
    assert strips and strips[0]["levels"] == ["0", "1", "2", "8"]
    sensitivity = next(s for s in report["sections"] if s["title"] == "Border sensitivity")
    drop = np.load(run_dir / sensitivity["images"][0]["array"])
    assert drop.shape == (1, 28, 28)
    assert metrics["sensitivity_centre"] > metrics["sensitivity_border"]


@pytest.fixture(scope="module")
def border_reader(keras, tmp_path_factory) -> tuple[Path, Path]:
    """A hand-built model that reads only the outer pixel ring, and data it reads perfectly."""
    root = tmp_path_factory.mktemp("border")
    ring = np.zeros((28, 28), dtype=bool)
    ring[0], ring[-1], ring[:, 0], ring[:, -1] = True, True, True, True
    positions = np.flatnonzero(ring.ravel())
    segments = np.array_split(positions, 10)
    weights = np.zeros((784, 10), dtype="float32")
    for c, segment in enumerate(segments):
        weights[segment, c] = 1.0
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.layers[-1].set_weights([weights * 5.0, np.zeros(10, dtype="float32")])
    rng = np.random.default_rng(0)
    y = np.arange(200) % 10
    x = np.zeros((200, 784), dtype="float32")
    centre = ~ring
    x[:, centre.ravel()] = rng.uniform(0, 0.3, size=(200, int(centre.sum())))
    for i, label in enumerate(y):
        x[i, segments[label]] = 0.25  # faint: a blob of ink on the ring changes its mind
    model.save(root / "border.keras")
    np.savez(root / "border.npz", x=x.reshape(200, 28, 28), y=y)
    return root / "border.keras", root / "border.npz"


def test_a_model_that_reads_the_border_has_a_steep_edge_curve(runner, border_reader, tmp_path):
    model, data = border_reader
    report, _ = run(
        runner,
        str(model),
        tmp_path,
        "--data",
        str(data),
        "--family",
        "edge",
        "--edge",
        "0,1,2",
        "--sensitivity-images",
        "50",
        "--stride",
        "3",
    )
    accuracy = report["metrics"]["edge_accuracy"]
    assert accuracy["0 px"] == 1.0 and accuracy["1 px"] <= 0.2
    assert report["metrics"]["breaking_point"]["edge"] == 1
    assert report["metrics"]["sensitivity_border"] > report["metrics"]["sensitivity_centre"]


def test_compare_puts_two_models_on_one_curve(runner, tmp_path):
    report, _ = run(
        runner,
        "mnist-cnn",
        tmp_path,
        "--family",
        "noise",
        "--noise",
        "0,0.4",
        "--compare",
        "mnist-mlp",
        "--limit",
        "200",
        "--sensitivity-images",
        "0",
    )
    noise = next(s for s in report["sections"] if s["title"].startswith("noise"))
    models = {row[0] for row in noise["tables"][0]["rows"]}
    assert models == {"mnist-cnn", "mnist-mlp"}
    assert set(report["metrics"]["clean_accuracy_by_model"]) == {"mnist-cnn", "mnist-mlp"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--edge", "-1"], "--edge must be at least 0"),
        (["--rotate", "left"], "--rotate expects"),
        (["--edge", "20"], "--edge 20 is too large for 28x28 images"),
        (["--family", "melt"], "--family"),
        (["--compare", "no-such-model"], "no-such-model"),
        (["--scale", "0"], "--scale must be at least 0.05"),
    ],
)
def test_bad_levels_are_one_line_errors(runner, tmp_path, extra, message):
    assert_refused(runner, ["run", "robustness", "mnist-cnn", *extra], message, tmp_path / "o")


def test_unlabelled_data_is_refused(runner, tmp_path):
    np.savez(tmp_path / "plain.npz", x=np.zeros((5, 28, 28), dtype="float32"))
    result = runner.invoke(
        app,
        [
            "run",
            "robustness",
            "mnist-cnn",
            "--data",
            str(tmp_path / "plain.npz"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2 and "needs labelled images" in result.stderr


def test_json_summary(runner, tmp_path):
    result = runner.invoke(
        app,
        [
            "run",
            "robustness",
            "mnist-mlp",
            "--family",
            "invert",
            "--invert",
            "0,1",
            "--limit",
            "100",
            "--sensitivity-images",
            "0",
            "--json",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["metrics"]
    assert metrics["invert_accuracy"]["1 fraction"] < metrics["invert_accuracy"]["0 fraction"]
