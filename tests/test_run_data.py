"""--data: registered names, dataset files and folders, and their errors, through `run`."""

from __future__ import annotations

import numpy as np
from PIL import Image

from kinterp.cli import app
from tests.conftest import assert_valid_report, run_dirs


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
