"""Datasets: the bundled mnist-5k split, npz, IDX and image-folder loaders, built-in specs."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kinterp.data.datasets import (
    BUILTIN_DATASETS,
    Dataset,
    DatasetSpec,
    dataset_from_path,
    load_idx,
    load_image_folder,
    load_mnist_5k,
    load_npz,
    read_idx,
    register_datasets,
)
from kinterp.errors import KinterpError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def spec(name: str) -> DatasetSpec:
    """The built-in dataset spec of that name."""
    return next(spec for spec in BUILTIN_DATASETS if spec.name == name)


def test_builtins_are_registered_through_the_hook() -> None:
    registered: list[DatasetSpec] = []
    register_datasets(registered.append)
    assert [spec.name for spec in registered] == ["mnist-5k", "fashion-mnist", "mnist-3v8", "mnist"]
    assert all(spec.summary for spec in registered)


def test_mnist_5k_has_a_fixed_stratified_split() -> None:
    data = spec("mnist-5k").load()
    assert data is load_mnist_5k()  # cached in-process
    assert data.name == "mnist-5k" and data.class_names == tuple("0123456789")
    x_train, y_train = data.train()
    x_test, y_test = data.test()
    assert x_train.shape == (4000, 28, 28, 1) and x_test.shape == (1000, 28, 28, 1)
    assert x_train.dtype == np.float32 and y_test.dtype == np.int64
    assert x_test.min() == 0.0 and x_test.max() == 1.0
    assert np.bincount(y_train).tolist() == [400] * 10
    assert np.bincount(y_test).tolist() == [100] * 10
    assert "1,000" in data.split


def test_mnist_5k_split_indices_are_sorted_disjoint_and_complete() -> None:
    import importlib.resources

    resource = importlib.resources.files("kinterp.data") / "mnist_5k_split.npz"
    with resource.open("rb") as handle, np.load(handle) as split:
        train_idx, test_idx = split["train_idx"], split["test_idx"]
    assert np.all(np.diff(train_idx) > 0) and np.all(np.diff(test_idx) > 0)
    assert not np.intersect1d(train_idx, test_idx).size
    assert np.array_equal(np.union1d(train_idx, test_idx), np.arange(5000))


def test_npz_with_x_and_y(tmp_path: Path) -> None:
    path = tmp_path / "digits.npz"
    x = np.arange(5 * 8 * 6, dtype=np.uint8).reshape(5, 8, 6)
    np.savez(path, x=x, y=np.array([0, 1, 2, 1, 0], dtype=np.uint8))
    data = load_npz(path)
    assert data.x_test.shape == (5, 8, 6, 1) and data.x_train.shape == (0, 8, 6, 1)
    np.testing.assert_allclose(data.x_test[..., 0], x / 255.0)
    assert data.y_test.tolist() == [0, 1, 2, 1, 0] and data.y_test.dtype == np.int64
    assert data.class_names == ("0", "1", "2")


def test_npz_in_keras_mnist_layout_with_float_rgb(tmp_path: Path) -> None:
    path = tmp_path / "mnist.npz"
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.random((6, 4, 4, 3), dtype=np.float32),
        y_train=np.arange(6),
        x_test=rng.random((3, 4, 4, 3), dtype=np.float32),
        y_test=np.array([5, 0, 1]),
    )
    data = dataset_from_path(path)
    assert data.x_train.shape == (6, 4, 4, 3) and data.x_test.shape == (3, 4, 4, 3)
    assert data.y_test.tolist() == [5, 0, 1] and len(data.class_names) == 6


def test_npz_without_labels_is_unlabelled(tmp_path: Path) -> None:
    path = tmp_path / "unlabelled.npz"
    np.savez(path, x=np.zeros((2, 28, 28), dtype=np.uint8))
    data = load_npz(path)
    assert data.y_test is None and data.class_names == ()


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((2, 3, 3), np.uint8)}, "no image array"),
        ({"x": np.zeros((2, 3), np.uint8)}, "(N, H, W)"),
        ({"x": np.full((2, 3, 3), 2.0)}, "float pixels outside [0, 1]"),
        ({"x": np.zeros((2, 3, 3), np.uint8), "y": np.zeros(3, int)}, "labels must be 2"),
    ],
)
def test_bad_npz_raises_kinterp_error(tmp_path: Path, arrays, message) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(KinterpError) as raised:
        load_npz(path)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_files_raw_and_gzipped(tmp_path: Path, gzipped: bool) -> None:
    images = np.random.default_rng(1).integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1], dtype=np.uint8)
    write = gzip.compress if gzipped else bytes
    suffix = ".gz" if gzipped else ""
    images_path = tmp_path / f"train-images-idx3-ubyte{suffix}"
    labels_path = tmp_path / f"train-labels-idx1-ubyte{suffix}"
    images_path.write_bytes(write(idx_bytes(images)))
    labels_path.write_bytes(write(idx_bytes(labels)))
    assert np.array_equal(read_idx(images_path), images)
    x, y = load_idx(images_path, labels_path)
    np.testing.assert_allclose(x[..., 0], images / 255.0)
    assert y.tolist() == [3, 1, 4, 1]
    assert load_idx(images_path)[1] is None
    data = dataset_from_path(tmp_path)
    assert data.x_test.shape == (4, 28, 28, 1) and data.y_test.tolist() == [3, 1, 4, 1]


def test_idx_folder_with_train_and_test_parts(tmp_path: Path) -> None:
    for part, count in (("train", 6), ("t10k", 2)):
        images = np.zeros((count, 5, 5), dtype=np.uint8)
        (tmp_path / f"{part}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (tmp_path / f"{part}-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(count)))
    data = dataset_from_path(tmp_path)
    assert len(data.x_train) == 6 and len(data.x_test) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x00\x0d\x03" + b"\x00" * 12, "bad magic number"),
        (b"GIF89a not idx at all", "bad magic number"),
        (struct.pack(">BBBBIII", 0, 0, 8, 3, 10, 28, 28) + b"\x00" * 100, "truncated"),
    ],
)
def test_bad_idx_raises_kinterp_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(KinterpError, match=message):
        load_idx(path)


def test_idx_labels_passed_as_images_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.arange(3)))
    with pytest.raises(KinterpError, match="not an IDX image file"):
        load_idx(path)


def test_labelled_image_folder_mixed_formats(tmp_path: Path) -> None:
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog").mkdir()
    (tmp_path / "empty").mkdir()
    Image.new("RGBA", (20, 10), (255, 0, 0, 0)).save(tmp_path / "cat" / "a.png")
    Image.new("RGB", (40, 30), (0, 200, 0)).save(tmp_path / "cat" / "b.JPG")
    Image.new("L", (15, 15), 30).save(tmp_path / "dog" / "c.bmp")
    (tmp_path / "dog" / "notes.txt").write_text("ignored")
    data = load_image_folder(tmp_path, size=(8, 12))
    assert data.class_names == ("cat", "dog")
    assert data.x_test.shape == (3, 8, 12, 3) and data.x_test.dtype == np.float32
    assert data.y_test.tolist() == [0, 0, 1]
    np.testing.assert_allclose(data.x_test[0, 0, 0], [1.0, 1.0, 1.0])  # transparent -> white
    assert data.x_test[1, 4, 6, 1] > 0.7 and data.x_test[1, 4, 6, 0] < 0.1
    np.testing.assert_allclose(data.x_test[2, 0, 0], [30 / 255] * 3)
    assert len(data.x_train) == 0


def test_unlabelled_grey_folder(tmp_path: Path) -> None:
    for index in range(3):
        Image.new("L", (28, 28), index * 100).save(tmp_path / f"{index}.png")
    data = dataset_from_path(tmp_path)
    assert data.x_test.shape == (3, 28, 28, 1) and data.y_test is None
    assert data.class_names == () and "unlabelled" in data.split
    assert data.x_test[2].max() == pytest.approx(200 / 255)


def test_image_folder_errors(tmp_path: Path) -> None:
    Image.new("L", (28, 28)).save(tmp_path / "a.png")
    Image.new("L", (14, 14)).save(tmp_path / "b.png")
    with pytest.raises(KinterpError, match="differ in size"):
        load_image_folder(tmp_path)
    (tmp_path / "c.png").write_text("not an image")
    with pytest.raises(KinterpError, match=r"c\.png: not an image"):
        load_image_folder(tmp_path, size=(28, 28))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(KinterpError, match="no .png"):
        load_image_folder(empty)
    with pytest.raises(KinterpError, match="no such file or folder"):
        dataset_from_path(tmp_path / "missing.npz")


def test_fashion_mnist_loads_from_the_debian_package() -> None:
    if not FASHION_DIR.is_dir():
        pytest.skip("Debian package dataset-fashion-mnist not installed")
    data = spec("fashion-mnist").load()
    assert isinstance(data, Dataset)
    assert data.x_train.shape == (60000, 28, 28, 1) and data.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(data.y_test).tolist() == [1000] * 10
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"


def test_mnist_without_keras_cache_points_to_mnist_5k(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / ".keras"))
    with pytest.raises(KinterpError) as raised:
        spec("mnist").load()
    assert "mnist-5k" in str(raised.value) and "\n" not in str(raised.value)


def test_importing_loaders_does_not_import_tensorflow() -> None:
    code = (
        "import sys, kinterp.data.datasets, kinterp.data.preprocess; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_label_of_a_trillion_names_no_classes_until_asked(tmp_path: Path) -> None:
    """#20: an 80 KB npz with one label of 10**12 loaded 15 GB of class names. Names are made
    when asked for; ModelData refuses the label against the model (tests/test_run_data.py)."""
    path = tmp_path / "huge.npz"
    np.savez(path, x=np.zeros((2, 28, 28), dtype=np.uint8), y=np.array([3, 10**12]))
    data = load_npz(path)
    assert len(data.class_names) == 10**12 + 1 and data.class_names[-1] == str(10**12)
    assert data.class_names[2:4] == ("2", "3") and data.class_names != ("0", "1")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_refused(tmp_path: Path, value: float) -> None:
    x = np.zeros((4, 8, 8), dtype=np.float32)
    x[2, 3, 3] = value
    np.savez(tmp_path / "bad.npz", x_test=x, y_test=np.arange(4))
    with pytest.raises(KinterpError, match="image 2 has NaN or infinite pixels"):
        load_npz(tmp_path / "bad.npz")


def test_labels_beyond_int64_are_refused_not_wrapped(tmp_path: Path) -> None:
    """A uint64 label of 2**64 - 1 would become -1 as int64."""
    path = tmp_path / "wrap.npz"
    np.savez(path, x=np.zeros((2, 4, 4), dtype=np.uint8), y=np.array([0, 2**64 - 1], "uint64"))
    with pytest.raises(KinterpError, match="label 18,446,744,073,709,551,615 is not a class index"):
        load_npz(path)


@pytest.mark.parametrize("name", ["9" * 30, "9" * 250])
def test_a_class_folder_beyond_any_model_is_refused(tmp_path: Path, name: str) -> None:
    for folder in ("0", name):
        (tmp_path / folder).mkdir()
        Image.new("L", (8, 8)).save(tmp_path / folder / "a.png")
    with pytest.raises(KinterpError, match="class folder 9{24}... is not a class index"):
        load_image_folder(tmp_path)


def test_numbered_folders_need_ascii_digits(tmp_path: Path) -> None:
    """'²' passes str.isdigit but not int(): such folders are names, sorted."""
    for folder in ("1", "²"):
        (tmp_path / folder).mkdir()
        Image.new("L", (8, 8)).save(tmp_path / folder / "a.png")
    data = load_image_folder(tmp_path)
    assert data.class_names == ("1", "²") and data.y_test.tolist() == [0, 1]
