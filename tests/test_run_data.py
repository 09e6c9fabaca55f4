"""--data: registered names, dataset files and folders, and their errors, through `run`,
including hostile ones: labels far beyond the model's classes, NaN and infinite pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kinterp.cli import app
from tests.conftest import all_entries, assert_refused, assert_valid_report, run_dirs
from tests.measured import run_measured

MODEL_LOADED_MB = 1200  # TensorFlow with a zoo model loaded, and headroom


def _run(runner, model, out, *extra):
    return runner.invoke(
        app, ["run", "occlusion", str(model), "--count", "2", "--out", str(out), *extra]
    )


def test_data_from_an_npz_file(runner, occlusion_plugin, tiny_conv, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, x=rng.integers(0, 255, (6, 28, 28), dtype=np.uint8), y=np.arange(6) % 3)
    result = _run(runner, tiny_conv, tmp_path / "out", "--data", str(path))
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(tmp_path / "out")
    assert assert_valid_report(run_dir)["data"]["count"] == 2


def test_image_folder_of_mixed_sizes_is_resized_to_the_model(
    runner, occlusion_plugin, tiny_conv, tmp_path
):
    for label, size in (("0", 40), ("1", 64)):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for n in range(2):
            Image.new("L", (size, size), 30 * n).save(tmp_path / "imgs" / label / f"{n}.png")
    result = _run(runner, tiny_conv, tmp_path / "out", "--data", str(tmp_path / "imgs"))
    assert result.exit_code == 0, result.output


def test_unknown_dataset_name(runner, occlusion_plugin, tiny_conv, tmp_path):
    result = _run(runner, tiny_conv, tmp_path / "out", "--data", "mnist-6k")
    assert result.exit_code == 2
    assert "unknown dataset 'mnist-6k'" in result.stderr and "mnist-5k" in result.stderr
    assert not (tmp_path / "out").exists()


def test_dataset_geometry_must_match_the_model(runner, occlusion_plugin, keras, tmp_path):
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    path = tmp_path / "rgb32.keras"
    model.save(path)
    result = _run(runner, path, tmp_path / "out")
    assert result.exit_code == 2
    assert "mnist-5k has 28x28x1 images but the model wants 32x32x3" in result.stderr


def _npz(path, x, y):
    np.savez(path, x=x, y=y)
    return path


def _hostile_data(tmp_path, case: str):
    """The data files of #20: a label of 10**12 (80 KB), a class folder 99999999999, NaN and
    infinite pixels."""
    digits = np.zeros((3, 28, 28), dtype=np.uint8)
    if case == "label":
        return _npz(tmp_path / "label.npz", digits, np.array([0, 1, 10**12]))
    if case in ("folder", "signed"):
        for name in ("1", "99999999999") if case == "folder" else ("-1", "0"):
            (tmp_path / "imgs" / name).mkdir(parents=True)
            Image.new("L", (28, 28), 200).save(tmp_path / "imgs" / name / "a.png")
        return tmp_path / "imgs"
    pixels = np.zeros((3, 28, 28), dtype=np.float32)
    pixels[1, 4, 5] = np.nan if case == "nan" else np.inf
    return _npz(tmp_path / f"{case}.npz", pixels, np.array([0, 1, 2]))


HOSTILE = {
    "label": "test label 1,000,000,000,000 (image 2) is not a class of",
    "folder": "test label 99,999,999,999 (image 1) is not a class of",
    "signed": "-1: a class folder must be a class index 0, 1, 2, ...",
    "nan": "image 1 has NaN or infinite pixels",
    "inf": "image 1 has NaN or infinite pixels",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_labels_beyond_the_model_and_non_finite_pixels_are_refused(
    runner, occlusion_plugin, tiny_conv, tmp_path, case
):
    data = _hostile_data(tmp_path, case)
    args = ["run", "occlusion", str(tiny_conv), "--data", str(data)]
    assert_refused(runner, args, HOSTILE[case], tmp_path / "out")
    if case in ("label", "folder"):
        assert_refused(runner, args, "which has 10 classes (0..9)", tmp_path / "out")


@pytest.mark.parametrize("case", ["label", "folder"])
def test_huge_labels_are_refused_before_anything_is_sized_by_them(tmp_path, case):
    """Through the real CLI in a child: the refusal costs no more than loading the model
    (TensorFlow and mnist-mlp take about 700 MB), where #20 saw 14-15 GB."""
    out = tmp_path / "out"
    data = _hostile_data(tmp_path, case)
    args = ["run", "robustness", "mnist-mlp", "--data", str(data), "--out", str(out)]
    run = run_measured(args, tmp_path)
    assert run.code == 2, run.stderr
    assert HOSTILE[case] in run.stderr and "which has 10 classes" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.peak_mb < MODEL_LOADED_MB, f"peak resident memory {run.peak_mb:.0f} MB"
    assert all_entries(out) == []


@pytest.mark.parametrize("count", [1, 10, 35, 300, 999, 1000, 5000])
def test_a_limit_takes_the_classes_in_turn(count):
    """Review of #26: mnist-5k's held-out digits are sorted by class, so --limit 300 was the
    digits 0-2 only. Now every class comes in turn (checked against plain Python)."""
    from kinterp.data.datasets import load_mnist_5k
    from kinterp.data.modeldata import first_of_each_class
    from tests.conftest import limited

    _, y = load_mnist_5k().test()
    keep = np.arange(len(y))[first_of_each_class(y, count)]
    assert keep.tolist() == limited(y, count)
    if count >= 10:
        assert set(y[keep].tolist()) == set(range(10))
    shuffled = np.random.default_rng(count).integers(0, 3, size=50)
    assert np.arange(50)[first_of_each_class(shuffled, 7)].tolist() == limited(shuffled, 7)
    assert first_of_each_class(None, 5) == slice(0, 5)
