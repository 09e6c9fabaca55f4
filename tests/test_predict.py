"""kinterp predict on image files saved the way users save them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kinterp.cli import app
from tests.conftest import assert_valid_report


def _styled(digit: np.ndarray, style: str, rng: np.random.Generator) -> Image.Image:
    """A 28x28 MNIST digit (ink=1) re-drawn as a user would save it."""
    ink = (digit[..., 0] * 255).astype("uint8")
    big = Image.fromarray(ink).resize((240, 240), Image.Resampling.BICUBIC)
    alpha = np.asarray(big, dtype="float32") / 255.0
    if style == "dark-on-light":
        return Image.fromarray((255 - alpha * 230).astype("uint8"))
    if style == "coloured":
        colour = rng.integers(0, 120, 3)
        paper = np.array([250, 245, 230], "float32")
        rgb = paper * (1 - alpha[..., None]) + colour * alpha[..., None]
        return Image.fromarray(rgb.astype("uint8"), "RGB")
    if style == "transparent":
        rgba = np.zeros((240, 240, 4), "uint8")
        rgba[..., 3] = (alpha * 255).astype("uint8")
        return Image.fromarray(rgba, "RGBA")
    return Image.fromarray((255 - alpha * 255).astype("uint8")).convert("RGB")  # jpeg


STYLES = {"dark-on-light": "png", "coloured": "png", "transparent": "png", "jpeg": "jpg"}


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory) -> Path:
    """100 held-out digits (10 per class) in four user styles, in sub-folders named by class."""
    from kinterp.data.datasets import load_mnist_5k

    x, y = load_mnist_5k().test()
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("user-digits")
    for label in range(10):
        (root / str(label)).mkdir()
        for n, index in enumerate(np.where(y == label)[0][:10]):
            style = list(STYLES)[n % len(STYLES)]
            path = root / str(label) / f"{style}-{n}.{STYLES[style]}"
            _styled(x[index], style, rng).save(path, quality=90)
    return root


def test_predict_labels_user_style_digits(runner, user_folder, tmp_path):
    result = runner.invoke(
        app, ["predict", "mnist-cnn", str(user_folder), "--json", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["images"]) == 100
    assert data["accuracy"] >= 0.90, data["accuracy"]
    record = data["images"][0]
    assert len(record["top"]) == 3
    assert {"class_index", "class_name", "confidence"} <= set(record["top"][0])
    assert "inverted (light background)" in record["preprocessing"]
    report = assert_valid_report(Path(data["report"]).parent)
    assert report["metrics"]["accuracy"] == data["accuracy"]
    assert any(s["title"] == "Contact sheet" for s in report["sections"])


def test_transparent_png_is_composited_onto_white(runner, user_folder, tmp_path):
    files = sorted(user_folder.glob("*/transparent-*.png"))[:3]
    result = runner.invoke(
        app, ["predict", "mnist-cnn", *map(str, files), "--json", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    for record in json.loads(result.stdout)["images"]:
        assert record["preprocessing"][0] == "alpha composited onto white"


def test_bad_files_are_skipped_and_the_rest_run(runner, user_folder, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.png").write_bytes(b"")
    (bad / "text.png").write_text("not an image")
    good = next(user_folder.glob("3/*.png"))
    (bad / "truncated.png").write_bytes(good.read_bytes()[:200])
    Image.new("1", (8000, 7000)).save(bad / "huge.png")
    (bad / "fine.png").write_bytes(good.read_bytes())
    result = runner.invoke(
        app, ["predict", "mnist-cnn", str(bad), "--json", "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    records = {Path(r["file"]).name: r for r in json.loads(result.stdout)["images"]}
    assert records["empty.png"]["skipped"] == "empty file"
    assert records["text.png"]["skipped"] == "not an image"
    assert records["truncated.png"]["skipped"] == "truncated image"
    assert records["huge.png"]["skipped"].startswith("over 50 megapixels")
    assert records["fine.png"]["top"][0]["class_index"] == 3


def test_plain_text_output_and_no_mnistify(runner, user_folder, tmp_path):
    files = [str(p) for p in sorted(user_folder.glob("7/*"))[:2]]
    result = runner.invoke(
        app, ["predict", "mnist-cnn", *files, "--no-mnistify", "--top", "1", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "report:" in result.stdout and "resized to 28x28" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/image.png"], "no such file or folder"),
        (["--top", "0", "."], "--top must be at least 1"),
    ],
)
def test_predict_bad_input(runner, args, message, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["predict", "mnist-cnn", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    none = runner.invoke(app, ["predict", "mnist-cnn", str(empty)])
    assert none.exit_code == 2 and "holds no images" in none.stderr


def test_report_opens_with_the_score_and_shows_errors_first(runner, user_folder, tmp_path):
    import shutil

    folder = tmp_path / "digits"
    shutil.copytree(user_folder, folder)
    for n, path in enumerate(sorted((folder / "3").glob("*"))[:2]):
        path.rename(folder / "5" / f"filed-wrongly-{n}{path.suffix}")  # true 3, labelled 5
    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", "mnist-cnn", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (run_dir,) = out.iterdir()
    report = assert_valid_report(run_dir)
    summary = report["summary"]
    assert summary["key"] == "Contact sheet" and summary["verdict"].endswith("%)")
    right, total = summary["verdict"].split(" ")[0].split("/")
    assert int(total) == 100 and int(right) <= 98
    sheet = next(s for s in report["sections"] if s["title"] == "Contact sheet")
    tiles = sheet["images"][0]["tiles"]
    wrong = [t["wrong"] for t in tiles]
    assert wrong == sorted(wrong, reverse=True) and sum(wrong) == 100 - int(right)
    assert "true 5 → 3" in " ".join(t["caption"] for t in tiles[: sum(wrong)])
    assert all(len(t["bars"]) == 3 for t in tiles)
    assert np.load(run_dir / sheet["images"][0]["array"]).dtype == np.uint8
    matrix = next(s for s in report["sections"] if s["title"] == "Confusion matrix")
    assert sum(sum(row[1:]) for row in matrix["tables"][0]["rows"]) == 100
    assert len([s for s in report["sections"] if s["images"]]) == 1  # each image shown once


def _run_dir(out: Path) -> Path:
    """The one run folder under ``out``."""
    (run_dir,) = out.iterdir()
    return run_dir


def test_inputs_npy_is_what_the_mlp_received(runner, user_folder, tmp_path):
    """mnist-mlp reads 0.01..1: inputs.npy holds those values, recomputed here from the file."""
    import kinterp
    from kinterp.data.preprocess import prepare_image

    files = [sorted(user_folder.glob(f"{d}/*.png"))[0] for d in (1, 4, 7)]
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["predict", "mnist-mlp", *map(str, files), "--json", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    saved = np.load(_run_dir(out) / "arrays" / "inputs.npy")
    model = kinterp.load_model("mnist-mlp")
    low, high = model.info.input_range
    assert (low, high) != (0.0, 1.0)
    pixels = np.stack([prepare_image(f, 28, 28, 1, True).pixels for f in files])
    expected = (low + (high - low) * pixels.astype("float64")).reshape(len(files), -1)
    np.testing.assert_allclose(saved.reshape(len(files), -1), expected, atol=1e-6)
    assert saved.min() >= low - 1e-6 and saved.min() < low + 1e-3
    outputs = model.keras_model(saved.astype("float32"), training=False).numpy()
    tops = [r["top"][0]["class_index"] for r in json.loads(result.stdout)["images"]]
    assert outputs.argmax(axis=1).tolist() == tops


def test_confusion_matrix_has_rows_only_for_classes_present(runner, user_folder, tmp_path):
    """Images of 2 and 5 only: the matrix's classes are those and any predicted class."""
    import shutil

    folder = tmp_path / "digits"
    for label in ("2", "5"):
        shutil.copytree(user_folder / label, folder / label)
    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", "mnist-mlp", str(folder), "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)["images"]
    present = sorted({r["label"] for r in records} | {r["top"][0]["class_index"] for r in records})
    run_dir = _run_dir(out)
    report = assert_valid_report(run_dir)
    table = next(s for s in report["sections"] if s["title"] == "Confusion matrix")["tables"][0]
    assert [row[0] for row in table["rows"]] == [str(c) for c in present]
    matrix = np.load(run_dir / "arrays" / "confusion.npy")
    classes = np.load(run_dir / "arrays" / "confusion-classes.npy")
    assert classes.tolist() == present and matrix.shape == (len(present), len(present))
    for r in records:
        i, j = present.index(r["label"]), present.index(r["top"][0]["class_index"])
        matrix[i, j] -= 1
    assert not matrix.any()
