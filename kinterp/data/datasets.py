"""Datasets and their loaders: the bundled mnist-5k, Fashion-MNIST, MNIST, and your own files.

Your own files come in a :class:`DatasetFormat`: an ``.npz`` file, a folder of IDX files or a
folder of images. This module is a core plugin: it registers the built-in datasets and formats
through the same hooks a third-party plugin uses. Numpy and Pillow only: nothing here imports
TensorFlow or Keras.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import math
import os
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from kinterp.data.preprocess import BadImage, flatten_alpha, open_image
from kinterp.errors import KinterpError
from kinterp.hookspecs import hookimpl
from kinterp.loading.limits import MAX_ARRAY_BYTES, check_declared, check_zip_member, read_capped

DIGITS = tuple(str(digit) for digit in range(10))
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
SMALLER = "split it into smaller files or pass fewer images"
LARGEST_LABEL = 2**62  # labels are int64; anything near that is no class index
DIGITS_ONLY = re.compile(r"[0-9]+")
SIGNED_NUMBER = re.compile(r"[+-][0-9]+")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images as float32 ``(N, H, W, C)`` in [0, 1] with int64 labels (or None), split in two.

    Either part may be empty (``N == 0``); ``split`` says in words what the test part is, and
    ``conversion`` what loading did to fit the images to the size and channels asked for
    (resizing, letterboxing, grey/RGB conversion), or None when nothing was done.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    class_names: Sequence[str]
    split: str
    conversion: str | None = None

    def test(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The held-out images and labels: the data to inspect a model on."""
        return self.x_test, self.y_test

    def train(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The training images and labels."""
        return self.x_train, self.y_train


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset that is loaded on demand; ``load`` may raise :class:`KinterpError`."""

    name: str
    summary: str
    load: Callable[[], Dataset]


def keras_home() -> Path:
    """Keras' cache directory: ``$KERAS_HOME`` or ``~/.keras``."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def _to_images(x: np.ndarray, source: str) -> np.ndarray:
    """Convert uint8 0..255 or float 0..1 pixels shaped (N,H,W) or (N,H,W,C) to float32 NHWC."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise KinterpError(
            f"{source}: images have shape {x.shape}; "
            "save them as (N, H, W) or (N, H, W, C) with C = 1 or 3"
        )
    if np.issubdtype(x.dtype, np.integer):
        if x.size and (x.min() < 0 or x.max() > 255):
            raise KinterpError(f"{source}: integer pixels outside 0..255; save them as uint8")
        return x.astype(np.float32) / 255.0
    if np.issubdtype(x.dtype, np.floating):
        finite = np.isfinite(x).reshape(len(x), -1).all(axis=1)
        if not finite.all():
            raise KinterpError(
                f"{source}: image {int(np.argmin(finite)):,} has NaN or infinite pixels; "
                "replace them with values in [0, 1]"
            )
        if x.size and (x.min() < 0 or x.max() > 1):
            raise KinterpError(
                f"{source}: float pixels outside [0, 1]; scale them to [0, 1] or save uint8 0..255"
            )
        return x.astype(np.float32)
    raise KinterpError(f"{source}: pixels of type {x.dtype}; save them as uint8 or float")


def _to_labels(y: np.ndarray | None, count: int, source: str) -> np.ndarray | None:
    """Check labels are one non-negative integer per image and return them as int64.

    Nothing is sized by their values here: whether they are below the model's class count is
    checked when a model reads them (:class:`kinterp.data.modeldata.ModelData`).
    """
    if y is None:
        return None
    y = np.asarray(y)
    if y.shape != (count,) or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
        raise KinterpError(
            f"{source}: labels must be {count} non-negative integers, "
            f"got {y.dtype} of shape {y.shape}; save one integer class index per image"
        )
    if y.size and int(y.max()) > LARGEST_LABEL:
        raise KinterpError(
            f"{source}: label {int(y.max()):,} is not a class index any model has; "
            "save one integer class index per image"
        )
    return y.astype(np.int64)


@dataclass(frozen=True)
class NumberedClasses(Sequence[str]):
    """The class names "0", "1", ... of ``count`` numbered classes, made when asked for: a
    label of 10**12 must not make a trillion names before any model sees it."""

    count: int

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return tuple(str(i) for i in range(self.count)[index])
        return str(range(self.count)[index])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or len(other) != self.count:
            return False
        return all(self[i] == other[i] for i in range(self.count))

    def __hash__(self) -> int:
        return hash(self.count)


def _class_names(*labels: np.ndarray | None) -> NumberedClasses:
    """Class names "0", "1", ... up to the largest label."""
    present = [y for y in labels if y is not None and y.size]
    return NumberedClasses(max(int(y.max()) for y in present) + 1 if present else 0)


def load_npz(path: str | os.PathLike[str]) -> Dataset:
    """Load images from an ``.npz`` file.

    Keys are either ``x`` (and optionally ``y``), all held out, or ``x_train``, ``y_train``,
    ``x_test``, ``y_test`` as in Keras' ``mnist.npz``. Pixels are uint8 0..255 or float 0..1,
    shaped (N, H, W) or (N, H, W, C).

    Raises:
        KinterpError: the file is unreadable or its arrays are not images and labels.
    """
    path = Path(path)
    try:
        check_npz(path)
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise KinterpError(
            f"{path}: not a readable .npz file ({type(exc).__name__}); save it with numpy.savez"
        ) from exc
    if "x" in arrays:
        x_test = _to_images(arrays["x"], str(path))
        y_test = _to_labels(arrays.get("y"), len(x_test), str(path))
        x_train, y_train = x_test[:0], None if y_test is None else y_test[:0]
        split = f"all {len(x_test):,} images of {path.name} (no training part)"
    elif "x_test" in arrays:
        x_test = _to_images(arrays["x_test"], str(path))
        y_test = _to_labels(arrays.get("y_test"), len(x_test), str(path))
        if "x_train" in arrays:
            x_train = _to_images(arrays["x_train"], str(path))
            y_train = _to_labels(arrays.get("y_train"), len(x_train), str(path))
        else:
            x_train, y_train = x_test[:0], None if y_test is None else y_test[:0]
        split = f"the {len(x_test):,} x_test images of {path.name}"
    else:
        raise KinterpError(
            f"{path}: no image array (keys: {', '.join(sorted(arrays)) or 'none'}); "
            "name it x (and labels y), or x_train/y_train/x_test/y_test"
        )
    if x_train.shape[1:] != x_test.shape[1:] and len(x_train):
        raise KinterpError(
            f"{path}: x_train images {x_train.shape[1:]} differ from x_test {x_test.shape[1:]}; "
            "save both parts at one size"
        )
    return Dataset(
        name=path.stem,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=_class_names(y_train, y_test),
        split=split,
    )


def check_npz(path: Path) -> None:
    """Refuse an ``.npz`` whose members declare more than ``MAX_ARRAY_BYTES``, before loading.

    Both the zip's sizes and each array's own header (shape and dtype) are checked.

    Raises:
        KinterpError: a member or an array is over the limit.
        zipfile.BadZipFile, ValueError, OSError: not a readable npz (the caller explains).
    """
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            check_zip_member(str(path), info, MAX_ARRAY_BYTES, SMALLER)
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(member)
            declared = math.prod(shape) * dtype.itemsize
            check_declared(
                str(path), f"array {info.filename[:-4]}", declared, MAX_ARRAY_BYTES, SMALLER
            )


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one unsigned-byte IDX file (the original MNIST format), raw or gzipped.

    The header's declared size is checked against ``MAX_ARRAY_BYTES`` before the data is
    read, and no more than that size is ever decompressed.

    Raises:
        KinterpError: the file is missing, not IDX, too large, or not the size its header says.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            gzipped = handle.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as handle:
            magic = handle.read(4)
            if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] != 0x08 or not 1 <= magic[3] <= 4:
                raise KinterpError(
                    f"{path}: not an unsigned-byte IDX file (bad magic number); "
                    "use the original MNIST-format files such as train-images-idx3-ubyte.gz"
                )
            dims = handle.read(4 * magic[3])
            if len(dims) < 4 * magic[3]:
                raise KinterpError(
                    f"{path}: IDX file ends inside its header; the file is truncated, "
                    "download it again"
                )
            shape = tuple(int(size) for size in np.frombuffer(dims, dtype=">u4"))
            size = math.prod(shape)
            check_declared(str(path), "its header", size, MAX_ARRAY_BYTES, SMALLER)
            data = read_capped(handle, size, str(path), "download it again")
    except (OSError, EOFError, zlib.error) as exc:
        raise KinterpError(f"{path}: cannot read IDX file ({exc}); check the path") from exc
    header = 4 + 4 * len(shape)
    if len(data) != size:
        raise KinterpError(
            f"{path}: IDX file is {header + len(data):,} bytes but its header says "
            f"{header + size:,}; the file is truncated or damaged, download it again"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def load_idx(
    images_path: str | os.PathLike[str], labels_path: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Load an IDX image file (and optionally its label file) as float32 NHWC and int64 labels.

    Raises:
        KinterpError: bad magic numbers, truncated files, or counts that do not match.
    """
    raw = read_idx(images_path)
    if raw.ndim != 3:
        raise KinterpError(
            f"{images_path}: not an IDX image file (expected 3 dimensions, got {raw.ndim}); "
            "pass an *-images-idx3-ubyte file"
        )
    x = _to_images(raw, str(images_path))
    if labels_path is None:
        return x, None
    labels = read_idx(labels_path)
    if labels.ndim != 1:
        raise KinterpError(
            f"{labels_path}: not an IDX label file (expected 1 dimension, got {labels.ndim}); "
            "pass an *-labels-idx1-ubyte file"
        )
    return x, _to_labels(labels, len(x), str(labels_path))


def _image_files(folder: Path) -> list[Path]:
    """The image files directly inside a folder, sorted by name."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    )


def _folder_label(folder: Path, name: str) -> int:
    """The class index a sub-folder named by digits stands for.

    Raises:
        KinterpError: a number too large to be any model's class index.
    """
    digits = name.lstrip("0") or "0"
    if len(digits) > len(str(LARGEST_LABEL)) or int(digits) > LARGEST_LABEL:
        raise KinterpError(
            f"{folder}: class folder {name[:24]}{'...' if len(name) > 24 else ''} is not a class "
            "index any model has; name class folders 0, 1, 2, ..."
        )
    return int(digits)


def load_image_folder(
    path: str | os.PathLike[str],
    size: tuple[int, int] | None = None,
    channels: int | None = None,
) -> Dataset:
    """Load a folder of PNG, JPEG or BMP images, all held out.

    With sub-folders, each sub-folder is a class and images directly in the folder are
    ignored. Sub-folders named by numbers (``3/``, ``7/``) label their images with that class
    index; otherwise sorted names give the indices, as in
    ``keras.utils.image_dataset_from_directory``. Without sub-folders the images are
    unlabelled. Transparency is composited onto white. Nothing is inverted.

    An image of another size is resized to ``size`` keeping its aspect ratio and letterboxed:
    centred on a canvas of its background colour, the per-channel median of its outermost
    one-pixel border (:func:`border_colour`). Without ``channels`` the images are grey (C = 1)
    when every one of them is (equal red, green and blue), RGB otherwise; with it, grey images
    are repeated to RGB and RGB images turned grey by ITU-R BT.601 luma (0.299R + 0.587G +
    0.114B). What was done is the dataset's ``conversion``.

    Args:
        path: the folder.
        size: ``(height, width)`` to fit every image to; needed when their sizes differ.
        channels: 1 (grey) or 3 (RGB) to convert every image to, or None.

    Raises:
        KinterpError: no images, an unreadable image, sizes that differ without ``size``, or
            ``channels`` neither 1 nor 3.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise KinterpError(f"{folder}: not a folder; pass a folder of images or an .npz file")
    if channels not in (None, 1, 3):
        raise KinterpError(
            f"{folder}: image folders give grey or RGB images, not {channels} channels; "
            "pass --data as an .npz file of the model's shape"
        )
    files, classes, numbered = _labelled_files(folder)
    rgb, resized = _read_images([file for file, _ in files], size)
    shapes = sorted({image.shape[:2] for image in rgb})
    if len(shapes) > 1:
        raise KinterpError(
            f"{folder}: images differ in size ({', '.join(f'{h}x{w}' for h, w in shapes[:3])}...); "
            "resize them to one size or pass the size to load at"
        )
    x, converted = to_channels(np.stack(rgb), channels)
    labels = np.array([index for _, index in files], dtype=np.int64) if classes else None
    done = [step for step in (resized, converted) if step]
    return Dataset(
        name=folder.name,
        x_train=np.zeros((0, *x.shape[1:]), dtype=np.float32),
        y_train=None if labels is None else labels[:0],
        x_test=x,
        y_test=labels,
        class_names=NumberedClasses(int(classes[-1]) + 1) if numbered else tuple(classes),
        split=f"all {len(x):,} images in {folder.name}/"
        + (f" ({len(classes)} class sub-folders)" if classes else " (unlabelled)"),
        conversion="; ".join(done) or None,
    )


def _labelled_files(folder: Path) -> tuple[list[tuple[Path, int]], list[str], bool]:
    """The folder's image files with their class index (-1: unlabelled), the class
    sub-folder names in index order, and whether they are numbers.

    Raises:
        KinterpError: no images, or class folders that are signed or huge numbers.
    """
    classes = sorted(sub.name for sub in folder.iterdir() if sub.is_dir() and _image_files(sub))
    numbered = bool(classes) and all(DIGITS_ONLY.fullmatch(name) for name in classes)
    signed = [name for name in classes if SIGNED_NUMBER.fullmatch(name)]
    if signed and all(DIGITS_ONLY.fullmatch(n) or SIGNED_NUMBER.fullmatch(n) for n in classes):
        raise KinterpError(
            f"{folder / signed[0]}: a class folder must be a class index 0, 1, 2, ...; "
            "rename it (sorted names would silently shift every label)"
        )
    if numbered:
        classes = sorted(classes, key=lambda name: _folder_label(folder, name))
    if classes:
        files = [
            (file, int(name) if numbered else index)
            for index, name in enumerate(classes)
            for file in _image_files(folder / name)
        ]
    else:
        files = [(file, -1) for file in _image_files(folder)]
    if not files:
        raise KinterpError(
            f"{folder}: no .png, .jpg or .bmp images in it or in its class sub-folders; "
            "check the path"
        )
    return files, classes, numbered


def _read_images(
    files: list[Path], size: tuple[int, int] | None
) -> tuple[list[np.ndarray], str | None]:
    """Each file as RGB uint8 ``(H, W, 3)``, letterboxed to ``size`` when it differs, and a
    description of the resizing (None if no image was resized).

    Raises:
        KinterpError: a file that is not a usable image.
    """
    images, sources, padded = [], [], 0
    for file in files:
        try:
            with open_image(file) as image:
                rgb, _ = flatten_alpha(image)
        except BadImage as exc:
            raise KinterpError(
                f"{file}: {exc}; remove it or replace it with a valid image"
            ) from exc
        if size is not None and rgb.size != (size[1], size[0]):
            sources.append((rgb.height, rgb.width))
            rgb, was_padded = letterbox(rgb, size)
            padded += was_padded
        images.append(np.asarray(rgb, dtype=np.uint8))
    if not sources or size is None:
        return images, None
    return images, _resize_text(sources, size, padded)


def border_colour(rgb: np.ndarray) -> tuple[int, ...]:
    """An image's background colour: the per-channel median of its outermost one-pixel border
    (top and bottom rows, left and right columns), rounded to integers.

    Args:
        rgb: ``(H, W, C)`` uint8 pixels.
    """
    border = np.concatenate([rgb[0], rgb[-1], rgb[1:-1, 0], rgb[1:-1, -1]])
    return tuple(int(v) for v in np.round(np.median(border, axis=0)))


def letterbox(image: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, bool]:
    """``image`` resized to fit ``size`` (height, width) with its aspect ratio kept (bilinear,
    antialiased when shrinking), centred on a canvas of its :func:`border_colour`.

    Returns:
        The RGB image of exactly ``size``, and whether any padding was added.
    """
    height, width = size
    image = image if image.mode == "RGB" else image.convert("RGB")
    scale = min(height / image.height, width / image.width)
    inner = (
        min(width, max(1, round(image.width * scale))),
        min(height, max(1, round(image.height * scale))),
    )
    resized = image.resize(inner, resample=Image.Resampling.BILINEAR)
    if inner == (width, height):
        return resized, False
    background = border_colour(np.asarray(image, dtype=np.uint8))
    canvas = Image.new("RGB", (width, height), background)
    canvas.paste(resized, ((width - inner[0]) // 2, (height - inner[1]) // 2))
    return canvas, True


def _resize_text(sources: list[tuple[int, int]], size: tuple[int, int], padded: int) -> str:
    """``resized 3 images from 40x60 to 32x32 keeping aspect, letterboxed with ...``."""
    counts = Counter(sources)
    distinct = sorted(counts, key=lambda hw: (-counts[hw], hw))
    named = [f"{h}x{w}" for h, w in distinct[:3]]
    if len(distinct) > 3:
        named.append(f"{len(distinct) - 3:,} other sizes")
    origin = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
    text = (
        f"resized {_count(len(sources), 'image')} from {origin} to {size[0]}x{size[1]} "
        "keeping aspect"
    )
    if padded:
        which = "" if padded == len(sources) else f"{padded:,} of them "
        text += f", letterboxed {which}with each image's border colour"
    return text


def _count(n: int, noun: str) -> str:
    """``1 image``, ``3 images``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


LUMA = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights of red, green and blue."""
LUMA_TEXT = "0.299R+0.587G+0.114B"


def to_channels(rgb: np.ndarray, channels: int | None) -> tuple[np.ndarray, str | None]:
    """RGB uint8 ``(N, H, W, 3)`` images as float32 in [0, 1] with ``channels`` channels.

    Grey images (equal red, green and blue) stay exact; RGB images become grey by
    :data:`LUMA`. Without ``channels``: 1 when every image is grey, else 3.

    Returns:
        The images and what was converted (None if nothing).
    """
    grey = (rgb == rgb[..., :1]).reshape(len(rgb), -1).all(axis=1)
    pixels = rgb.astype(np.float32) / 255.0
    if (channels or (1 if grey.all() else 3)) == 3:
        repeated = int(np.count_nonzero(grey))
        text = f"converted {_count(repeated, 'grey image')} to RGB (channel repeated)"
        return pixels, text if repeated else None
    luma = pixels @ np.asarray(LUMA, dtype=np.float32)
    luma[grey] = pixels[grey, ..., 0]
    coloured = len(rgb) - int(np.count_nonzero(grey))
    text = f"converted {_count(coloured, 'RGB image')} to grey (ITU-R BT.601 luma {LUMA_TEXT})"
    return luma[..., None], text if coloured else None


IDX_NAME = re.compile(r"^(?P<part>.+?)[-_.](?P<kind>images|labels)[-_.]idx(?P<dims>[13])")


def load_idx_folder(path: str | os.PathLike[str]) -> Dataset:
    """Load a folder of IDX files named like MNIST's (``train-images-idx3-ubyte.gz`` etc.).

    A part named ``t10k`` or ``test`` is held out and one named ``train`` is for training; a
    folder with a single part holds it out.

    Raises:
        KinterpError: no IDX image files in the folder, or a bad IDX file.
    """
    folder = Path(path)
    parts: dict[str, dict[str, Path]] = {}
    for file in sorted(folder.iterdir()):
        match = IDX_NAME.match(file.name)
        if match and file.is_file():
            parts.setdefault(match["part"], {}).setdefault(match["kind"], file)
    parts = {part: files for part, files in parts.items() if "images" in files}
    if not parts:
        raise KinterpError(
            f"{folder}: no IDX image files (such as train-images-idx3-ubyte.gz); check the path"
        )
    test_name = next((name for name in ("t10k", "test") if name in parts), None)
    train_name = "train" if "train" in parts else None
    if test_name is None:
        test_name, train_name = (train_name or sorted(parts)[0]), None
    x_test, y_test = load_idx(parts[test_name]["images"], parts[test_name].get("labels"))
    if train_name is None:
        x_train, y_train = x_test[:0], None if y_test is None else y_test[:0]
    else:
        x_train, y_train = load_idx(parts[train_name]["images"], parts[train_name].get("labels"))
    return Dataset(
        name=folder.name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=_class_names(y_train, y_test),
        split=f"the {len(x_test):,} {test_name} images in {folder.name}/",
    )


@dataclass(frozen=True)
class DatasetFormat:
    """A kind of dataset file or folder that ``--data PATH`` can name.

    Attributes:
        name: what errors and ``kinterp plugins`` call it.
        summary: what such a path is, in a phrase (listed when no format matches a path).
        detects: ``detects(path)`` -> True when ``path`` (which exists) is in this format; cheap
            (names and kinds, not contents) and never raising.
        load: ``load(path, size=None)`` -> the :class:`Dataset`; ``size`` is the ``(height,
            width)`` to resize images to, or None. May raise :class:`KinterpError`.
        resizes: ``load`` resizes the images to ``size``, so a run loads the data only once the
            model (and its image size) is known; a format that does not resize is loaded
            before the model, so a bad file fails first.
        converts: ``load`` also takes ``channels=`` (the model's channel count) and converts
            the images to it; only such a format is passed ``channels``.
    """

    name: str
    summary: str
    detects: Callable[[Path], bool]
    load: Callable[..., Dataset]
    resizes: bool = False
    converts: bool = False


def _is_npz(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".npz"


def _holds_idx_files(path: Path) -> bool:
    return path.is_dir() and any(IDX_NAME.match(file.name) for file in path.iterdir())


def _load_npz(path: Path, size: tuple[int, int] | None = None) -> Dataset:
    return load_npz(path)


def _load_idx_folder(path: Path, size: tuple[int, int] | None = None) -> Dataset:
    return load_idx_folder(path)


BUILTIN_FORMATS: tuple[DatasetFormat, ...] = (
    DatasetFormat(
        "npz", "an .npz file of x (and y), or x_train/y_train/x_test/y_test", _is_npz, _load_npz
    ),
    DatasetFormat(
        "idx-folder",
        "a folder of MNIST IDX files such as t10k-images-idx3-ubyte.gz",
        _holds_idx_files,
        _load_idx_folder,
    ),
    DatasetFormat(
        "image-folder",
        "any other folder: PNG, JPEG or BMP images, or class sub-folders of them",
        Path.is_dir,
        load_image_folder,
        resizes=True,
        converts=True,
    ),
)
"""The built-in formats, in the order they are tried (the image folder takes any folder, so it
comes last). They are registered through ``register_dataset_formats``."""


def find_format(path: Path, formats: Sequence[DatasetFormat]) -> DatasetFormat:
    """The first of ``formats`` that detects ``path``.

    Raises:
        KinterpError: the path is missing, or no format detects it (listing them all).
    """
    if not path.exists():
        raise KinterpError(f"{path}: no such file or folder; check the path")
    for fmt in formats:
        if fmt.detects(path):
            return fmt
    known = "; ".join(f"{fmt.name}: {fmt.summary}" for fmt in formats)
    raise KinterpError(f"{path}: not a dataset in a known format ({known}); pass one of those")


def dataset_from_path(
    path: str | os.PathLike[str],
    size: tuple[int, int] | None = None,
    formats: Sequence[DatasetFormat] = BUILTIN_FORMATS,
    channels: int | None = None,
) -> Dataset:
    """Load a dataset file or folder with the first of ``formats`` that detects it.

    Args:
        path: the file or folder.
        size: ``(height, width)`` to resize images to (image folders).
        formats: the formats to try, in order: the built-in ones unless given
            (``kinterp.registry`` passes every registered format).
        channels: the channel count to convert images to, passed only to a format that
            ``converts`` (image folders); others keep theirs.

    Raises:
        KinterpError: the path is missing or in no known format, or its loader refuses it.
    """
    path = Path(path)
    fmt = find_format(path, formats)
    if channels is not None and fmt.converts:
        return fmt.load(path, size=size, channels=channels)
    return fmt.load(path, size=size)


@functools.cache
def load_mnist_5k() -> Dataset:
    """The bundled 5,000 MNIST digits, split once: 4,000 to train, 100 per class held out."""
    data = importlib.resources.files("kinterp.data")
    with (data / "mnist_5k.npz").open("rb") as handle, np.load(handle) as archive:
        x, y = _to_images(archive["x"], "mnist_5k.npz"), archive["y"].astype(np.int64)
    with (data / "mnist_5k_split.npz").open("rb") as handle, np.load(handle) as archive:
        train_idx, test_idx = archive["train_idx"], archive["test_idx"]
    return Dataset(
        name="mnist-5k",
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_test=x[test_idx],
        y_test=y[test_idx],
        class_names=DIGITS,
        split=f"held-out {len(test_idx):,} of mnist-5k (fixed stratified split, 100 per class)",
    )


PAIR_3V8 = (3, 8)  # the digits of mnist-3v8, labelled 0 and 1 in this order


def load_mnist_3v8() -> Dataset:
    """The 3s and 8s of mnist-5k, on its split, labelled 0 ("3") and 1 ("8")."""
    digits = load_mnist_5k()
    parts = []
    for x, y in (digits.train(), digits.test()):
        keep = np.isin(y, PAIR_3V8)
        parts.append((x[keep], (y[keep] == PAIR_3V8[1]).astype(np.int64)))
    (x_train, y_train), (x_test, y_test) = parts
    return Dataset(
        name="mnist-3v8",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=tuple(map(str, PAIR_3V8)),
        split=f"the held-out {len(x_test):,} 3s and 8s of mnist-5k (100 of each)",
    )


def _fashion_dir() -> Path | None:
    """The first folder holding all four Fashion-MNIST IDX files, if any."""
    names = [
        f"{part}-{kind}-ubyte.gz"
        for part in ("train", "t10k")
        for kind in ("images-idx3", "labels-idx1")
    ]
    for folder in (FASHION_SYSTEM_DIR, keras_home() / "datasets" / "fashion-mnist"):
        if all((folder / name).is_file() for name in names):
            return folder
    return None


@functools.cache
def load_fashion_mnist() -> Dataset:
    """Fashion-MNIST, 60,000 training and 10,000 test images, from local IDX files."""
    folder = _fashion_dir()
    if folder is None:
        raise KinterpError(
            "Fashion-MNIST is not installed; "
            "install it with `apt-get install dataset-fashion-mnist`"
        )
    x_train, y_train = load_idx(
        folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    )
    x_test, y_test = load_idx(
        folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    )
    return Dataset(
        name="fashion-mnist",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=FASHION_CLASSES,
        split="the official 10,000 Fashion-MNIST test images",
    )


@functools.cache
def load_mnist() -> Dataset:
    """Full MNIST, 60,000 training and 10,000 test images, from Keras' cache (never downloaded)."""
    path = keras_home() / "datasets" / "mnist.npz"
    if not path.is_file():
        raise KinterpError(
            f"full MNIST is not in Keras' cache ({path}); "
            "use the bundled digits with --data mnist-5k"
        )
    dataset = load_npz(path)
    return Dataset(
        name="mnist",
        x_train=dataset.x_train,
        y_train=dataset.y_train,
        x_test=dataset.x_test,
        y_test=dataset.y_test,
        class_names=DIGITS,
        split="the official 10,000 MNIST test images",
    )


BUILTIN_DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec(
        "mnist-5k",
        "5,000 real MNIST digits shipped with kinterp (4,000 train / 1,000 held out)",
        load_mnist_5k,
    ),
    DatasetSpec(
        "fashion-mnist",
        "Fashion-MNIST 60,000 / 10,000 (Debian package dataset-fashion-mnist)",
        load_fashion_mnist,
    ),
    DatasetSpec(
        "mnist-3v8",
        "the 3s and 8s of mnist-5k as two classes, 0 = 3 and 1 = 8 (same split)",
        load_mnist_3v8,
    ),
    DatasetSpec("mnist", "full MNIST 60,000 / 10,000 from Keras' cache, if downloaded", load_mnist),
)


@hookimpl
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register the built-in datasets."""
    for spec in BUILTIN_DATASETS:
        register(spec)


@hookimpl
def register_dataset_formats(register: Callable[[DatasetFormat], None]) -> None:
    """Register the built-in dataset formats, in the order they are tried."""
    for fmt in BUILTIN_FORMATS:
        register(fmt)
