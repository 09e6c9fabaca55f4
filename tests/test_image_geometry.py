"""#22, images of any size: an image folder is read at the model's geometry (aspect kept,
letterboxed with each image's border colour, grey<->RGB), the choice recorded in the report;
an array dataset of another geometry stays a one-line refusal.

Expected pixels are computed here independently, with numpy and Pillow, from the PNG files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kinterp.cli import app
from kinterp.data.datasets import DatasetFormat, dataset_from_path, load_image_folder, load_npz
from kinterp.errors import KinterpError
from tests.conftest import assert_refused, assert_valid_report, run_dirs

BACKGROUND = (20, 40, 200)
SQUARE = (230, 30, 10)
TOP, LEFT, SIDE = 12, 22, 16  # the square in the 40x60 (height x width) image
LUMA = np.array([0.299, 0.587, 0.114])
RESIZED_3 = (
    "resized 3 images from 40x60 to 32x32 keeping aspect, "
    "letterboxed with each image's border colour"
)
TO_GREY_3 = "converted 3 RGB images to grey (ITU-R BT.601 luma 0.299R+0.587G+0.114B)"


def _square_image() -> np.ndarray:
    """40x60 RGB: a 16-pixel square of SQUARE on BACKGROUND."""
    pixels = np.empty((40, 60, 3), dtype=np.uint8)
    pixels[:] = BACKGROUND
    pixels[TOP : TOP + SIDE, LEFT : LEFT + SIDE] = SQUARE
    return pixels


def _save(folder: Path, name: str, pixels: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(folder / name)
    return folder / name


def _labelled_squares(root: Path) -> Path:
    """Three 40x60 RGB square images in class folders 0 and 1."""
    for label, name in (("0", "a.png"), ("0", "b.png"), ("1", "c.png")):
        _save(root / label, name, _square_image())
    return root


def _mask(image: np.ndarray, colour: tuple[int, ...]) -> np.ndarray:
    """Pixels nearer ``colour`` than BACKGROUND (floats in [0, 1])."""
    to_colour = np.linalg.norm(image - np.array(colour) / 255, axis=-1)
    to_background = np.linalg.norm(image - np.array(BACKGROUND) / 255, axis=-1)
    return to_colour < to_background


def test_rgb_image_keeps_its_aspect_and_is_letterboxed_with_its_background(tmp_path):
    _save(tmp_path / "imgs", "a.png", _square_image())
    data = load_image_folder(tmp_path / "imgs", size=(32, 32), channels=3)
    (image,) = data.x_test
    assert image.shape == (32, 32, 3)
    # Independently: scale by 32/60 to 21x32 (40 * 32/60 = 21.3), centred: 5 rows above.
    inner_h = round(40 * 32 / 60)
    top = (32 - inner_h) // 2
    assert (inner_h, top) == (21, 5)
    background = np.array(BACKGROUND) / 255
    padding = np.concatenate([image[:top], image[top + inner_h :]])
    assert len(padding) == 11
    np.testing.assert_allclose(padding, np.broadcast_to(background, padding.shape), atol=1e-7)
    expected = Image.fromarray(_square_image()).resize((32, inner_h), Image.Resampling.BILINEAR)
    np.testing.assert_allclose(image[top : top + inner_h], np.asarray(expected) / 255, atol=1e-6)
    rows, cols = np.nonzero(_mask(image, SQUARE))
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert abs(height - width) <= 1, (height, width)  # still square (the old stretch: 12 x 8)
    assert abs(height - SIDE * 32 / 60) <= 1
    centre_row = top + (TOP + SIDE / 2) * inner_h / 40
    centre_col = (LEFT + SIDE / 2) * 32 / 60
    assert abs((rows.min() + rows.max() + 1) / 2 - centre_row) <= 1
    assert abs((cols.min() + cols.max() + 1) / 2 - centre_col) <= 1
    assert data.conversion == RESIZED_3.replace("3 images", "1 image")


def test_the_background_is_the_median_of_the_outermost_border(tmp_path):
    """A few pixels of another colour on the border do not change the padding."""
    pixels = _square_image()
    pixels[0, :5] = (255, 255, 0)
    pixels[-1, -3:] = (0, 0, 0)
    _save(tmp_path / "imgs", "a.png", pixels)
    (image,) = load_image_folder(tmp_path / "imgs", size=(32, 32), channels=3).x_test
    border = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    median = np.median(border, axis=0) / 255
    np.testing.assert_allclose(median, np.array(BACKGROUND) / 255)
    np.testing.assert_allclose(image[0, 0], median, atol=1e-7)
    np.testing.assert_allclose(image[-1, -1], median, atol=1e-7)


def test_tall_images_are_pillarboxed_and_same_aspect_ones_not_padded(tmp_path):
    _save(tmp_path / "tall", "a.png", np.transpose(_square_image(), (1, 0, 2)))  # 60x40
    (image,) = load_image_folder(tmp_path / "tall", size=(32, 32), channels=3).x_test
    np.testing.assert_allclose(
        image[:, :5], np.broadcast_to(np.array(BACKGROUND) / 255, (32, 5, 3))
    )
    square = np.zeros((64, 64), dtype=np.uint8)
    square[16:48, 16:48] = 255
    _save(tmp_path / "same", "a.png", square)
    data = load_image_folder(tmp_path / "same", size=(32, 32), channels=1)
    expected = np.asarray(Image.fromarray(square).resize((32, 32), Image.Resampling.BILINEAR))
    np.testing.assert_allclose(data.x_test[0, ..., 0], expected / 255, atol=1e-7)
    assert data.conversion == "resized 1 image from 64x64 to 32x32 keeping aspect"


def test_grey_images_for_an_rgb_model_repeat_the_channel(tmp_path):
    rng = np.random.default_rng(0)
    grey = [rng.integers(0, 256, (32, 32), dtype=np.uint8) for _ in range(2)]
    for index, pixels in enumerate(grey):
        _save(tmp_path / "imgs", f"{index}.png", pixels)
    data = load_image_folder(tmp_path / "imgs", size=(32, 32), channels=3)
    assert data.x_test.shape == (2, 32, 32, 3)
    expected = np.repeat(np.stack(grey)[..., None], 3, axis=-1) / 255
    np.testing.assert_allclose(data.x_test, expected, atol=1e-7)
    assert data.conversion == "converted 2 grey images to RGB (channel repeated)"


def test_rgb_images_for_a_grey_model_use_bt601_luma(tmp_path):
    rng = np.random.default_rng(1)
    colour = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    _save(tmp_path / "imgs", "0.png", colour)
    _save(tmp_path / "imgs", "1.png", grey)
    data = load_image_folder(tmp_path / "imgs", size=(32, 32), channels=1)
    assert data.x_test.shape == (2, 32, 32, 1)
    np.testing.assert_allclose(data.x_test[0, ..., 0], colour @ LUMA / 255, atol=1e-6)
    np.testing.assert_array_equal(data.x_test[1, ..., 0], (grey / 255).astype(np.float32))
    assert data.conversion == TO_GREY_3.replace("3 RGB images", "1 RGB image")


def test_nothing_done_is_recorded_as_none(tmp_path):
    _save(tmp_path / "imgs", "a.png", np.zeros((32, 32, 3), dtype=np.uint8) + 7)
    assert load_image_folder(tmp_path / "imgs", size=(32, 32), channels=1).conversion is None
    assert load_image_folder(tmp_path / "imgs").x_test.shape == (1, 32, 32, 1)


def test_resize_and_channels_are_recorded_together(tmp_path):
    data = load_image_folder(_labelled_squares(tmp_path / "imgs"), size=(32, 32), channels=1)
    assert data.conversion == f"{RESIZED_3}; {TO_GREY_3}"


def test_a_folder_for_a_model_of_four_channels_is_one_line(tmp_path):
    _save(tmp_path / "imgs", "a.png", _square_image())
    with pytest.raises(KinterpError, match="not 4 channels") as raised:
        load_image_folder(tmp_path / "imgs", size=(32, 32), channels=4)
    assert "\n" not in str(raised.value)


def test_channels_go_only_to_formats_that_convert(tmp_path):
    """A third-party format with the old ``load(path, size=None)`` still loads."""
    path = tmp_path / "digits.npz"
    np.savez(path, x=np.zeros((2, 8, 8), dtype=np.uint8))

    def load(path: Path, size: tuple[int, int] | None = None):
        return load_npz(path)

    old = DatasetFormat("old", "an npz", lambda p: p.suffix == ".npz", load, resizes=True)
    data = dataset_from_path(path, size=(8, 8), formats=[old], channels=3)
    assert data.x_test.shape == (2, 8, 8, 1) and data.conversion is None


@pytest.fixture(scope="module")
def models(keras, tmp_path_factory) -> dict[int, Path]:
    """Tiny two-class 32x32 models, grey (1) and RGB (3), saved to .keras files."""
    folder = tmp_path_factory.mktemp("geometry-models")
    paths = {}
    for channels in (1, 3):
        model = keras.Sequential(
            [
                keras.Input((32, 32, channels)),
                keras.layers.Flatten(),
                keras.layers.Dense(2, activation="softmax"),
            ]
        )
        paths[channels] = folder / f"rgb{channels}.keras"
        model.save(paths[channels])
    return paths


@pytest.mark.parametrize(
    ("channels", "conversion"), [(3, RESIZED_3), (1, f"{RESIZED_3}; {TO_GREY_3}")]
)
def test_a_run_records_what_was_done_in_its_report(
    runner, occlusion_plugin, models, tmp_path, channels, conversion
):
    folder = _labelled_squares(tmp_path / "imgs")
    out = tmp_path / "out"
    args = ["run", "occlusion", str(models[channels]), "--count", "3", "--data", str(folder)]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(out)
    report = assert_valid_report(run_dir)
    assert report["data"]["count"] == 3 and report["data"]["conversion"] == conversion
    html = (run_dir / "report.html").read_text()
    assert conversion.replace("'", "&#39;") in html


def test_a_run_on_data_of_the_model_geometry_records_none(
    runner, occlusion_plugin, models, tmp_path
):
    path = tmp_path / "rgb.npz"
    np.savez(path, x=np.zeros((2, 32, 32, 3), dtype=np.uint8), y=np.array([0, 1]))
    args = ["run", "occlusion", str(models[3]), "--count", "2", "--data", str(path)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (run_dir,) = run_dirs(tmp_path / "out")
    assert assert_valid_report(run_dir)["data"]["conversion"] is None
    assert "fitted to the model" not in (run_dir / "report.html").read_text()


@pytest.mark.parametrize(("shape", "have"), [((4, 40, 60, 3), "40x60x3"), ((4, 32, 32), "32x32x1")])
def test_an_array_dataset_of_another_geometry_is_refused_in_one_line(
    runner, occlusion_plugin, models, tmp_path, shape, have
):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(shape, dtype=np.uint8), y=np.arange(4) % 2)
    args = ["run", "occlusion", str(models[3]), "--data", str(path)]
    message = f"dataset {path} has {have} images but the model wants 32x32x3"
    assert_refused(runner, args, message, tmp_path / "out")
