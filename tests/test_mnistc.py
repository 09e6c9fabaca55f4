"""The MNIST-C suite (#26): 15 corruptions as families, ``--suite mnist-c`` and its mCE.

Each corruption is checked against a computation written here (scipy's own warps, colorsys'
HSV, Poisson expectations, hand-built images whose answer is known), batch against per-image
application, identity levels, RGB frames of odd size, and the suite's report through the CLI
with its mCE and a corruption's accuracy recomputed here.
"""

from __future__ import annotations

import colorsys
import json
import subprocess
import sys

import numpy as np
import pytest
from kinterp_plugins.robustness import Curve, RobustnessParams, chosen_families
from kinterp_plugins.robustness_suite import SuiteSection, corruption_error, mean_ce
from scipy import ndimage, stats

import kinterp
from kinterp.registry import load_dataset
from kinterp.reporting.report import ReportBuilder
from kinterp.toolkit import SUITES
from kinterp.toolkit.corrupt_base import draws
from kinterp.toolkit.mnistc import CORRUPTIONS
from kinterp.toolkit.perturb import Digits
from tests.conftest import limited

FAMILY = {f.name: f for f in CORRUPTIONS}
PAPER = {f.name: f.levels[-1] for f in CORRUPTIONS}


@pytest.fixture(scope="module")
def mnist() -> np.ndarray:
    images, _ = load_dataset("mnist-5k").test()
    return np.asarray(images[:40], dtype="float32")


@pytest.fixture(scope="module")
def digits(mnist) -> Digits:
    return Digits.of(mnist, seed=3)


@pytest.fixture(scope="module")
def colour() -> Digits:
    """32x48 RGB digits: a coloured background and a lighter stroke per image."""
    rng = np.random.default_rng(0)
    images = np.empty((6, 32, 48, 3), dtype="float32")
    images[:] = rng.uniform(0.1, 0.4, (6, 1, 1, 3))
    images[:, 8:24, 18:22] = rng.uniform(0.7, 1.0, (6, 1, 1, 3))
    images[:, 8:11, 14:26] = images[:, 8:9, 18:19]
    return Digits.of(images, seed=1)


def apply(d: Digits, name: str, level: float | None = None) -> np.ndarray:
    return FAMILY[name].apply(d, PAPER[name] if level is None else level)


def test_the_suite_is_the_papers_fifteen_registered_but_not_swept_by_default():
    names = SUITES["mnist-c"]
    assert len(names) == 15 and set(names) <= set(kinterp.perturbation_families())
    assert not set(names) & set(RobustnessParams().family)
    assert "edge" in RobustnessParams().family
    alone = RobustnessParams(suite="mnist-c")
    assert chosen_families(alone) == list(names)
    both = RobustnessParams(suite="mnist-c", family=["edge", "c-fog"])
    assert chosen_families(both) == [*names, "edge", "c-fog"]


@pytest.mark.parametrize("name", list(FAMILY))
def test_identity_level_leaves_images_unchanged(name, digits, colour):
    for d in (digits, colour):
        assert np.array_equal(FAMILY[name].apply(d, FAMILY[name].identity), d.images)


@pytest.mark.parametrize("name", list(FAMILY))
def test_batch_equals_each_image_alone_and_rgb_odd_sizes_run(name, digits, colour):
    for d in (digits, colour):
        whole = apply(d, name)
        assert whole.shape == d.images.shape and whole.dtype == np.float32
        assert whole.min() >= 0 and whole.max() <= 1
        assert not np.array_equal(whole, d.images)
        for i in (0, len(d.images) - 1):
            alone = apply(d.take(np.array([i])), name)
            np.testing.assert_allclose(alone[0], whole[i], atol=1e-5)


def test_shot_noise_mean_is_the_clipped_poisson_expectation(digits):
    c = 3.0
    out = apply(digits, "c-shot-noise", 1 / c)
    assert np.allclose(out * c, np.round(out * c), atol=1e-5)  # whole photon counts
    lam = digits.images.astype("float64") * c
    k = np.arange(60)
    expected = (stats.poisson.pmf(k[:, None], lam.reshape(-1)) * np.minimum(k / c, 1)[:, None]).sum(
        0
    )
    spread = np.sqrt(np.sum(lam.reshape(-1) / c**2)) / lam.size
    assert abs(out.mean() - expected.mean()) < 4 * spread + 1e-4


def test_impulse_noise_changes_about_that_fraction_half_each_way():
    grey = Digits.of(np.full((50, 28, 28, 1), 0.5, dtype="float32"), seed=0)
    out = apply(grey, "c-impulse-noise")
    assert abs(np.mean(out == 0) - 0.085) < 0.01 and abs(np.mean(out == 1) - 0.085) < 0.01
    assert np.all((out == 0) | (out == 1) | (out == 0.5))


def test_glass_blur_keeps_a_flat_image_and_the_mass_of_a_digit(digits):
    flat = Digits.of(np.full((3, 28, 28, 1), 0.6, dtype="float32"), seed=0)
    np.testing.assert_allclose(apply(flat, "c-glass-blur"), np.floor(0.6 * 255) / 255, atol=1e-6)
    out = apply(digits, "c-glass-blur")
    mass = digits.images.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), mass, rtol=0.15)


def test_motion_blur_smears_a_dot_backwards_with_imagemagicks_kernel():
    dot = np.zeros((8, 28, 28, 1), dtype="float32")
    dot[:, 14, 20] = 1.0
    out = apply(Digits.of(dot, seed=2), "c-motion-blur")[..., 0]
    taps = np.arange(21)
    kernel = np.exp(-(taps**2) / 18.0)
    kept = kernel / kernel.sum()
    kept = kept[kept >= 1e-4]
    np.testing.assert_allclose(out[:, 14, 20], kept[0] / kept.sum(), rtol=1e-5)
    np.testing.assert_allclose(out.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    rows, cols = np.nonzero(out.max(axis=0) > 0)
    assert np.all(cols <= 20) and np.all(np.abs(rows - 14) <= 20 - cols + 1)


def _either_sign(out: np.ndarray, made: list[np.ndarray]) -> None:
    """Each image matches one of the ``made`` versions (a sign per image) inside the frame."""
    for i, image in enumerate(out):
        errors = [np.abs(image - m[i])[3:-3, 3:-3].max() for m in made]
        assert min(errors) < 0.02, errors


def _about_centre(images: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    centre = (np.array(images.shape[1:3]) - 1) / 2
    offset = centre - matrix @ centre
    return np.stack(
        [ndimage.affine_transform(im[..., 0], matrix, offset, order=1)[..., None] for im in images]
    )


def test_shear_rotate_and_scale_are_scipys_warps_about_the_centre(digits):
    x = digits.images
    shear = [_about_centre(x, np.array([[np.cos(a), 0], [-np.sin(a), 1]])) for a in (0.4, -0.4)]
    _either_sign(apply(digits, "c-shear"), shear)
    degrees = np.rad2deg(0.4)
    rotated = [
        ndimage.rotate(x, a, axes=(1, 2), reshape=False, order=1) for a in (degrees, -degrees)
    ]
    _either_sign(apply(digits, "c-rotate"), rotated)
    _either_sign(apply(digits, "c-scale"), [_about_centre(x, np.eye(2) / 0.7)])


def test_brightness_is_colorsys_hsv_value_raised(colour):
    out = apply(colour, "c-brightness")
    for i, r, c in [(0, 0, 0), (1, 10, 19), (2, 9, 15), (5, 31, 47)]:
        h, s, v = colorsys.rgb_to_hsv(*colour.images[i, r, c])
        np.testing.assert_allclose(
            out[i, r, c], colorsys.hsv_to_rgb(h, s, min(v + 0.5, 1)), atol=1e-5
        )


def test_translate_moves_the_ink_centroid_three_pixels_each_way(digits):
    out = apply(digits, "c-translate")

    def centroid(images):
        mass = images[..., 0]
        rows, cols = np.indices(mass.shape[1:])
        total = mass.sum(axis=(1, 2))
        return np.stack([(mass * rows).sum((1, 2)) / total, (mass * cols).sum((1, 2)) / total], 1)

    moved = centroid(out) - centroid(digits.images)
    np.testing.assert_allclose(np.abs(moved), 3.0, atol=1e-3)


def test_stripe_inverts_a_quarter_on_each_side(colour, digits):
    out = apply(digits, "c-stripe")
    x = digits.images
    np.testing.assert_allclose(out[:, :, :7], 1 - x[:, :, :7])
    np.testing.assert_allclose(out[:, :, 21:], 1 - x[:, :, 21:])
    np.testing.assert_array_equal(out[:, :, 7:21], x[:, :, 7:21])
    wide = apply(colour, "c-stripe")
    np.testing.assert_allclose(wide[:, :, :12], 1 - colour.images[:, :, :12])


def test_fog_is_the_image_plus_a_haze_in_zero_one_rescaled(digits):
    t = 3.0
    out = apply(digits, "c-fog")
    x = digits.images
    top = x.max(axis=(1, 2, 3), keepdims=True)
    haze = (out * (top + t) / top - x) / t
    assert haze.min() > -1e-4 and haze.max() < 1 + 1e-4
    assert np.all(haze.std(axis=(1, 2, 3)) > 0.05)
    assert not np.allclose(haze[0], haze[1])


def test_spatter_blends_only_towards_mud_grey_by_at_least_point_eight(digits):
    out, x = apply(digits, "c-spatter"), digits.images
    changed = np.abs(out - x) > 1e-6
    assert changed.any()
    share = (x - out)[changed] / (x - 63 / 255)[changed]
    assert share.min() > 0.8 - 1e-4 and share.max() < 1 + 1e-4


def test_dotted_line_adds_ink_only_in_dashes_along_one_straight_line(digits):
    out, x = apply(digits, "c-dotted-line"), digits.images
    assert np.all(out >= x - 1e-6)
    added = (out - x)[..., 0] > 1e-6
    cols = np.nonzero(added.any(axis=(0, 1)))[0]
    assert np.all((cols // 2) % 2 == 1) and cols.max() < 27
    blank = digits.images[..., 0] < 1e-6
    for i in range(len(x)):
        rows, columns = np.nonzero(added[i] & blank[i])
        slope, intercept = np.polyfit(columns, rows, 1)
        assert np.abs(rows - (slope * columns + intercept)).max() < 2.5


def test_zigzag_adds_ink_only_in_a_band_across_the_middle_columns(digits):
    out, x = apply(digits, "c-zigzag"), digits.images
    assert np.all(out >= x - 1e-6)
    blank = Digits.of(np.zeros((20, 28, 28, 1), dtype="float32"), seed=4)
    added = apply(blank, "c-zigzag")[..., 0] > 1e-6
    for i in range(len(added)):
        rows, cols = np.nonzero(added[i])
        assert cols.min() >= 2 and cols.max() <= 26
        assert rows.max() - rows.min() <= 5 + 2 * (2 + 2.3) + 1
        assert len(np.unique(cols)) >= 20  # it crosses the frame


def test_canny_edges_are_the_binary_outline_of_a_square():
    square = np.zeros((2, 28, 28, 1), dtype="float32")
    square[:, 9:19, 9:19] = 1.0
    out = apply(Digits.of(square, seed=0), "c-canny-edges")[..., 0]
    assert set(np.unique(out)) == {0.0, 1.0}
    rows, cols = np.nonzero(out[0])
    near_side = np.minimum(
        np.minimum(np.abs(rows - 8.5), np.abs(rows - 18.5)),
        np.minimum(np.abs(cols - 8.5), np.abs(cols - 18.5)),
    )
    assert near_side.max() <= 1.5
    inside = (rows >= 9) & (rows <= 18) & (cols >= 9) & (cols <= 18)
    for side in (rows == rows.min(), rows == rows.max(), cols == cols.min(), cols == cols.max()):
        assert side.sum() >= 8 and inside.any()


def test_corruption_error_and_its_mean_skip_a_baseline_that_never_errs():
    assert corruption_error(np.array([0.2, 0.1]), np.array([0.4, 0.2])) == pytest.approx(0.5)
    assert corruption_error(np.array([0.2]), np.array([0.0])) is None
    assert mean_ce({"a": 0.5, "b": None, "c": 1.5}) == pytest.approx(1.0)
    assert mean_ce({"a": None}) is None


def _run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "kinterp", "run", "robustness", "mnist-cnn", *args]
    return subprocess.run(
        [*command, "--out", str(tmp_path), "--quiet"], capture_output=True, text=True
    )


def test_suite_through_the_cli_reports_accuracy_bars_and_mce(tmp_path, mnist):
    done = _run(
        tmp_path, "--suite", "mnist-c", "--compare", "mnist-mlp", "--limit", "50",
        "--sensitivity-images", "0",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (run,) = tmp_path.iterdir()
    report = json.loads((run / "report.json").read_text())
    titles = [s["title"] for s in report["sections"]]
    title = "mnist-c: accuracy per corruption"
    assert title in titles and report["summary"]["key"] == title
    assert titles[:3] == ["Summary", "Accuracy by level", title]  # the key, shown first
    section = report["sections"][2]
    assert [p["kind"] for p in section["plots"]] == ["bar"]
    assert "mnist-mlp" in " ".join(
        section["text"] if isinstance(section["text"], list) else [section["text"]]
    )
    assert all(any(t.startswith(f"{name}:") for t in titles) for name in SUITES["mnist-c"])
    m = report["metrics"]
    data = json.loads((run / "data" / "mnist-c.json").read_text())
    assert data["baseline"] == "mnist-mlp"
    levels = data["level_accuracy"]
    ce = []
    for name in SUITES["mnist-c"]:
        paper = FAMILY[name].level_text(PAPER[name])
        mine, base = 1 - levels["mnist-cnn"][name][paper], 1 - levels["mnist-mlp"][name][paper]
        if base > 0:
            ce.append(mine / base)
        assert m["suite_accuracy"][name] == pytest.approx(1 - mine)
    assert m["mce"] == pytest.approx(np.mean(ce))
    # a corruption's accuracy recomputed here: the stripe inverted by numpy, classified by Keras
    model = kinterp.load_model("mnist-cnn")
    images, labels = load_dataset("mnist-5k").test()
    keep = limited(labels, 50)  # --limit 50 takes the classes in turn
    images, labels = images[keep], labels[keep]
    x = np.asarray(images, dtype="float32").copy()
    x[:, :, :7], x[:, :, 21:] = 1 - x[:, :, :7], 1 - x[:, :, 21:]
    lo, hi = model.info.input_range
    top1 = model.keras_model.predict(lo + (hi - lo) * x, verbose=0).argmax(axis=1)
    stripe = levels["mnist-cnn"]["c-stripe"][FAMILY["c-stripe"].level_text(0.25)]
    assert stripe == pytest.approx(np.mean(top1 == labels))


def test_an_unknown_suite_is_one_line_naming_the_choices(tmp_path):
    done = _run(tmp_path, "--suite", "imagenet-c")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "mnist-c" in done.stderr
    assert not list(tmp_path.iterdir())


def line_from_points(c0, r0, c1, r1):
    """The reference's helper, as written there (one 28x28 image)."""
    if c1 == c0:
        return np.zeros((28, 28))
    cc, rr = np.meshgrid(np.linspace(0, 27, 28), np.linspace(0, 27, 28), sparse=True)
    m = (r1 - r0) / (c1 - c0)
    dist = np.clip(np.abs(rr - (m * (cc - c0) + r0)), 0, 2.3 - 1e-10)
    corruption = np.clip(np.log(1 - dist / 2.3) + 1, 0, 1)
    corruption[:, : int(np.floor(c0))] = 0
    corruption[:, int(np.ceil(c1)) :] = 0
    return np.clip(corruption, 0, 1)


def test_dotted_line_and_zigzag_are_the_reference_code_at_the_drawn_rows(digits):
    x = digits.images[..., 0]
    ends = np.floor(draws(digits, 40, (2,)) * 27)
    u = draws(digits, 50, (2,))
    dotted, zigzag = apply(digits, "c-dotted-line")[..., 0], apply(digits, "c-zigzag")[..., 0]
    for i in range(len(x)):
        line = line_from_points(0, ends[i, 0], 27, ends[i, 1])
        for k in range(0, 28, 4):
            line[:, k : k + 2] = 0
        np.testing.assert_allclose(dotted[i], np.clip(x[i] + line, 0, 1), atol=1e-5)
        a = b = 2.0
        c0, c1, r0 = 2, 25, np.floor(u[i, 0] * 27)
        r1 = r0 + np.floor(u[i, 1] * 10) - 5
        theta = np.arctan((r1 - r0) / (c1 - c0))
        d = (c1 - c0) / np.cos(theta)
        points = [(0, 0)]
        for j in range(int((d - a) // (2 * a)) + 1):
            r_j = (-1) ** j * b
            points.append(((2 * j + 1) * a, r_j))
        whole = (2 * a) * (d // (2 * a))
        if d != whole:
            points.append((d, r_j / (2 * (d - whole))))
        rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        cs, rs = rotation @ np.array(points).T
        cs, rs = cs + c0, rs + r0
        drawn = x[i].astype("float64")
        for j in range(1, len(cs)):
            drawn = np.clip(drawn + line_from_points(cs[j - 1], rs[j - 1], cs[j], rs[j]), 0, 1)
        np.testing.assert_allclose(zigzag[i], drawn, atol=1e-5)


def _curve(model: str, levels: list[float], accuracy: list[float]) -> Curve:
    values = np.asarray(accuracy)
    zeros = np.zeros_like(values)
    return Curve(model, levels, values, values, values, zeros, zeros, np.zeros((len(levels), 1)))


def test_suite_section_gives_ce_by_hand_and_na_where_the_baseline_never_errs(tmp_path):
    """Three models on two corruptions with accuracies chosen by hand: CE and mCE are known."""
    shot, fog = FAMILY["c-shot-noise"], FAMILY["c-fog"]
    curves = {
        shot.name: [
            _curve("a", [0, 0.5, 1], [1.0, 0.8, 0.6]),  # errors 0.2 + 0.4
            _curve("base", [0, 0.5, 1], [1.0, 0.7, 0.5]),  # errors 0.3 + 0.5
            _curve("c", [0, 0.5, 1], [1.0, 0.9, 0.9]),  # errors 0.1 + 0.1
        ],
        fog.name: [
            _curve("a", [0, 5], [1.0, 0.5]),
            _curve("base", [0, 5], [1.0, 1.0]),  # never wrong: CE undefined
            _curve("c", [0, 5], [1.0, 0.9]),
        ],
    }
    builder = ReportBuilder(tmp_path)
    families = {shot.name: shot, fog.name: fog}
    SuiteSection(builder, "mnist-c", families, curves, "a").write()
    assert builder.metrics["mce"] == pytest.approx(0.6 / 0.8)
    assert builder.metrics["mce_by_model"] == pytest.approx({"a": 0.75, "c": 0.2 / 0.8})
    assert builder.metrics["suite_accuracy"] == pytest.approx({shot.name: 0.7, fog.name: 0.5})
    section, numbers = builder.sections  # the chart's section, then its table folded
    assert numbers["collapsed"] and not section.get("collapsed")
    rows = numbers["tables"][0]["rows"]
    assert rows[1] == [fog.name, 0.5, 1.0, 0.9, "n/a", "n/a"]
    assert "base" in section["text"] and "n/a" in section["text"]
    data = json.loads((tmp_path / "data" / "mnist-c.json").read_text())
    assert data["baseline"] == "base" and data["ce"]["a"][fog.name] is None


def test_suite_section_without_compare_has_no_mce(tmp_path):
    shot = FAMILY["c-shot-noise"]
    builder = ReportBuilder(tmp_path)
    curves = {shot.name: [_curve("a", [0, 0.5], [1.0, 0.8])]}
    SuiteSection(builder, "mnist-c", {shot.name: shot}, curves, "a").write()
    assert "mce" not in builder.metrics and "--compare" in builder.sections[0]["text"]
    assert builder.metrics["suite_accuracy"] == pytest.approx({shot.name: 0.8})
