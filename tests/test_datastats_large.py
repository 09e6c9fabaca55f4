"""datastats on RGB images with more pixels than images (#27): the PCA of the N x D data.

A 64x64x3 conv model and a folder of 40 RGB images in four class sub-folders: the PCA the
run reports is checked against numpy's SVD of the centred images; a --memory-limit too small
for the PCA is refused with the numbers; and the PCA of 60 images of 96x96x3 values fits
under a data-segment limit far below the 6 GB a D x D scatter matrix would take.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kinterp.cli import app
from tests.conftest import all_entries, assert_valid_report, run_dirs

SIDE, CLASSES, PER_CLASS = 64, 4, 10
KS = "3,5,10"
EIGEN = 8


def class_images(rng: np.random.Generator, label: int) -> np.ndarray:
    """(PER_CLASS, SIDE, SIDE, 3) uint8 images: a class colour, a gradient and noise."""
    colour = np.array([[1.0, 0.2, 0.2], [0.2, 1.0, 0.2], [0.2, 0.2, 1.0], [0.9, 0.9, 0.2]])[label]
    ramp = np.linspace(0.0, 1.0, SIDE)[None, :, None, None] * (label + 1) / CLASSES
    noise = rng.random((PER_CLASS, SIDE, SIDE, 3))
    images = 0.5 * colour * (0.5 + ramp) + 0.5 * noise
    return np.clip(np.round(255 * images), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """An image folder of 40 RGB 64x64 PNGs in sub-folders 0/..3/, and the images in the
    order the folder lists them (class, then file name), as floats in [0, 1]."""
    root = tmp_path_factory.mktemp("rgb64") / "shapes"
    rng = np.random.default_rng(27)
    everything = []
    for label in range(CLASSES):
        (root / str(label)).mkdir(parents=True)
        images = class_images(rng, label)
        for index, image in enumerate(images):
            Image.fromarray(image, "RGB").save(root / str(label) / f"{index:02d}.png")
        everything.append(images)
    return root, np.concatenate(everything).astype(np.float64) / 255.0


@pytest.fixture(scope="module")
def rgb_model(keras, model_dir) -> Path:
    """An untrained 64x64x3 conv net with a softmax over four classes, saved as .keras."""
    model = keras.Sequential(
        [
            keras.Input((SIDE, SIDE, 3)),
            keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(name="pool"),
            keras.layers.Dense(CLASSES, activation="softmax", name="predictions"),
        ]
    )
    path = model_dir / "rgb64.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def run(rgb_model, folder, tmp_path_factory) -> tuple[Path, dict]:
    """The datastats run on the RGB model and folder: its directory and validated report."""
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("datastats-rgb")
    args = ["run", "datastats", str(rgb_model), "--data", str(folder[0]), "--out", str(out)]
    args += ["--components", KS, "--eigen-images", str(EIGEN), "--max-lag", "8", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(out)
    return run_dir, assert_valid_report(run_dir)


def artifact(run_dir: Path, report: dict, name: str) -> np.ndarray:
    """The array the report lists as ``arrays/<name>.npy``."""
    (path,) = [a["path"] for a in report["artifacts"] if a["path"].endswith(f"/{name}.npy")]
    return np.load(run_dir / path)


def test_the_reported_pca_is_numpys_svd_of_the_centred_images(run, folder) -> None:
    run_dir, report = run
    flat = folder[1].reshape(CLASSES * PER_CLASS, -1)
    _, s, vt = np.linalg.svd(flat - flat.mean(axis=0), full_matrices=False)
    ratios = (s**2 / (s**2).sum())[: len(flat) - 1]  # the centred data has rank N - 1
    np.testing.assert_allclose(artifact(run_dir, report, "pca-explained"), ratios, atol=1e-6)
    components = artifact(run_dir, report, "pca-components")
    assert components.shape == (EIGEN, SIDE * SIDE * 3)
    signs = np.sign(np.sum(components * vt[:EIGEN], axis=1))  # each one's sign is arbitrary
    np.testing.assert_allclose(components * signs[:, None], vt[:EIGEN], atol=1e-4)
    cumulative = np.cumsum(ratios)
    for k in map(int, KS.split(",")):
        assert report["metrics"]["explained_variance"][str(k)] == pytest.approx(
            cumulative[k - 1], abs=1e-6
        )


def test_the_run_reports_every_section(run) -> None:
    _, report = run
    titles = [s["title"] for s in report["sections"]]
    for title in ("Class means", "Eigen-images", "PCA baselines", "Neighbour differences"):
        assert title in titles
    table = next(s for s in report["sections"] if s["title"] == "PCA baselines")["tables"][0]
    assert [row[0] for row in table["rows"]] == [3, 5, 10]
    assert all(0.0 <= value <= 1.0 for row in table["rows"] for value in row[2:])


def test_a_pca_over_the_memory_limit_is_refused_with_the_numbers(
    runner, rgb_model, folder, tmp_path
) -> None:
    out = tmp_path / "out"
    args = ["run", "datastats", str(rgb_model), "--data", str(folder[0]), "--out", str(out)]
    result = runner.invoke(app, [*args, "--components", KS, "--memory-limit", "1"])
    assert result.exit_code == 2, result.output
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert "--memory-limit 1" in message and "1.0 MiB" in message, message
    need = re.search(r"would need about ([\d.]+) MiB", message)
    assert need, message
    centred = CLASSES * PER_CLASS * SIDE * SIDE * 3 * 8  # the centred data alone, float64
    assert float(need.group(1)) * 2**20 >= centred, message
    assert all_entries(out) == []


FIT_UNDER_LIMIT = """
import resource, sys
import numpy as np
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
from kinterp_plugins.datastats import fit_pca
x = np.random.default_rng(0).random((60, 96 * 96 * 3), dtype=np.float32)
pca = fit_pca(x, 16)
_, s, _ = np.linalg.svd(x - x.mean(axis=0, dtype="float64"), full_matrices=False)
np.testing.assert_allclose(pca.explained, s**2 / (s**2).sum(), atol=1e-9)
print(pca.components.shape, pca.rank)
"""


def test_the_pca_of_few_large_images_never_forms_the_d_by_d_matrix() -> None:
    """60 images of 96x96x3 (the model of #27): the D x D scatter matrix alone is 6.1 GB;
    the PCA fits in a child whose data segment is capped at 400 MB."""
    limit = 400 * 2**20
    result = subprocess.run(
        [sys.executable, "-c", FIT_UNDER_LIMIT, str(limit)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(16,", "27648)", "59"]
