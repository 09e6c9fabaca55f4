"""Preparing a user's own image files: inversion, MNIST-style centring, and bad files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from kinterp.data.preprocess import BadImage, PreparedImage, prepare_image


def draw_digit(size: tuple[int, int], background, ink, mode: str = "RGB") -> Image.Image:
    """A thick "7"-like stroke off-centre on a plain background."""
    image = Image.new(mode, size, background)
    width, height = size
    draw = ImageDraw.Draw(image)
    points = [
        (width * 0.15, height * 0.2),
        (width * 0.45, height * 0.2),
        (width * 0.3, height * 0.8),
    ]
    draw.line(points, fill=ink, width=max(2, width // 25))
    return image


def centre_of_mass(pixels: np.ndarray) -> tuple[float, float]:
    """(row, column) centre of mass of a (H, W, C) image."""
    weight = pixels.mean(axis=-1)
    total = weight.sum()
    rows = (weight.sum(axis=1) * np.arange(weight.shape[0])).sum() / total
    cols = (weight.sum(axis=0) * np.arange(weight.shape[1])).sum() / total
    return float(rows), float(cols)


def ink_box(pixels: np.ndarray) -> tuple[int, int]:
    """Height and width of the bounding box of visible ink."""
    rows, cols = np.nonzero(pixels.max(axis=-1) > 0.05)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def assert_mnist_like(prepared: PreparedImage) -> None:
    """Light ink on black, fitted into 20x20 and centred by centre of mass in 28x28."""
    pixels = prepared.pixels
    assert pixels.shape == (28, 28, 1) and pixels.dtype == np.float32
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0 and pixels.max() > 0.9
    assert pixels[0].max() == 0.0 and pixels[:, 0].max() == 0.0  # black border
    height, width = ink_box(pixels)
    assert max(height, width) == 20 and min(height, width) <= 20
    rows, cols = centre_of_mass(pixels)
    assert abs(rows - 13.5) <= 1.0 and abs(cols - 13.5) <= 1.0


def test_dark_ink_on_large_light_photo_is_inverted_and_mnistified(tmp_path: Path) -> None:
    path = tmp_path / "seven.png"
    draw_digit((1200, 900), (230, 228, 220), (30, 30, 40)).save(path)
    prepared = prepare_image(path, 28, 28, 1, mnistify=True)
    assert prepared.steps == (
        "converted to grey",
        "inverted (light background)",
        "background set to black",
        "cropped to ink",
        "fitted into 20x20",
        "centred by centre of mass in 28x28",
    )
    assert prepared.original.shape == (900, 1200, 3) and prepared.original.dtype == np.uint8
    assert_mnist_like(prepared)


def test_transparent_background_is_composited_onto_white(tmp_path: Path) -> None:
    path = tmp_path / "transparent.png"
    draw_digit((300, 300), (0, 0, 0, 0), (0, 0, 0, 255), mode="RGBA").save(path)
    prepared = prepare_image(path, 28, 28, 1, mnistify=True)
    assert prepared.steps[:3] == (
        "alpha composited onto white",
        "converted to grey",
        "inverted (light background)",
    )
    assert tuple(prepared.original[0, 0]) == (255, 255, 255)
    assert_mnist_like(prepared)


def test_coloured_ink_in_a_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "blue.jpg"
    draw_digit((400, 500), (250, 250, 250), (20, 40, 200)).save(path, quality=85)
    prepared = prepare_image(path, 28, 28, 1, mnistify=True)
    assert "inverted (light background)" in prepared.steps
    assert_mnist_like(prepared)


def test_dark_background_is_not_inverted_and_plain_resize(tmp_path: Path) -> None:
    path = tmp_path / "dark.bmp"
    draw_digit((56, 56), 0, 255, mode="L").save(path)
    prepared = prepare_image(path, 28, 28, 1, mnistify=False)
    assert prepared.steps == ("converted to grey", "resized to 28x28")
    assert prepared.pixels.shape == (28, 28, 1)
    assert prepared.pixels[0, 0, 0] == 0.0 and prepared.pixels.max() > 0.9


def test_rgb_is_kept_for_three_channels(tmp_path: Path) -> None:
    path = tmp_path / "red.png"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(path)
    prepared = prepare_image(path, 32, 32, 3, mnistify=False)
    assert prepared.steps == ("resized to 32x32",)
    assert prepared.pixels.shape == (32, 32, 3)
    np.testing.assert_allclose(prepared.pixels[5, 5], [200 / 255, 10 / 255, 10 / 255], atol=1e-6)


def test_blank_image_gives_a_blank_frame(tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    Image.new("L", (100, 100), 255).save(path)
    prepared = prepare_image(path, 28, 28, 1, mnistify=True)
    assert prepared.steps[-1] == "no ink found"
    assert prepared.pixels.shape == (28, 28, 1) and prepared.pixels.max() == 0.0


def png_header_only(path: Path, width: int, height: int) -> None:
    """Write a PNG whose header claims ``width`` x ``height`` pixels (no real pixel data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 16)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def truncated_png(path: Path) -> None:
    """A real PNG cut off halfway through its pixel data."""
    noise = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("notes.png", lambda p: p.write_text("this is not a picture\n"), "not an image"),
        ("empty.png", lambda p: p.write_bytes(b""), "empty file"),
        ("cut.png", truncated_png, "truncated image"),
        ("huge.png", lambda p: png_header_only(p, 8000, 7000), "over 50 megapixels (8000 x 7000)"),
        ("bomb.png", lambda p: png_header_only(p, 20000, 10000), "over 50 megapixels"),
    ],
)
def test_bad_files_raise_bad_image_with_the_reason(tmp_path: Path, name, make, reason) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(BadImage) as raised:
        prepare_image(path, 28, 28, 1, mnistify=True)
    assert str(raised.value) == reason


def test_missing_file_raises_bad_image(tmp_path: Path) -> None:
    with pytest.raises(BadImage, match="no such file"):
        prepare_image(tmp_path / "absent.png", 28, 28, 1, mnistify=False)
