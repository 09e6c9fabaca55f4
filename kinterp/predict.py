"""``kinterp predict``: top-k classes for a user's own image files, with a contact sheet."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kinterp.context import RunContext
from kinterp.datasets import IMAGE_SUFFIXES
from kinterp.errors import KinterpError
from kinterp.hookspecs import hookimpl
from kinterp.models import LoadedModel
from kinterp.preprocess import BadImage, prepare_image
from kinterp.report import ReportBuilder
from kinterp.technique import Technique

THUMB = 56  # side of the "original" thumbnails in the contact sheet


@dataclass
class Prediction:
    """One image's result (or why it was skipped)."""

    file: str
    label: int | None = None
    top: list[dict[str, Any]] = field(default_factory=list)
    preprocessing: list[str] = field(default_factory=list)
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The --json record."""
        record: dict[str, Any] = {"file": self.file}
        if self.skipped:
            record["skipped"] = self.skipped
            return record
        record.update(top=self.top, preprocessing=self.preprocessing)
        if self.label is not None:
            record["label"] = self.label
            record["correct"] = self.top[0]["class_index"] == self.label
        return record


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def collect_files(paths: list[Path], class_names: tuple[str, ...]) -> list[tuple[Path, int | None]]:
    """Files to predict, with a label when they sit in a sub-folder named after a class.

    A folder's images are taken as they are (unlabelled); its sub-folders whose names are a
    class name or index label their images. Any other file given by name is tried as an image
    (and skipped with a reason if it is not one).

    Raises:
        KinterpError: a path does not exist, or a folder holds no images.
    """
    lookup = {name.lower(): i for i, name in enumerate(class_names)}
    lookup.update({str(i): i for i in range(len(class_names))})
    found: list[tuple[Path, int | None]] = []
    for path in paths:
        if not path.exists():
            raise KinterpError(f"no such file or folder: {path}; pass image files or folders")
        if not path.is_dir():  # a file, or a pipe or device that is skipped with a reason
            found.append((path, None))
            continue
        before = len(found)
        found += [(p, None) for p in sorted(path.iterdir()) if _is_image(p)]
        for sub in sorted(p for p in path.iterdir() if p.is_dir()):
            label = lookup.get(sub.name.lower())
            found += [(p, label) for p in sorted(sub.iterdir()) if _is_image(p)]
        if len(found) == before:
            raise KinterpError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return found


def _tile(image: np.ndarray, fill: tuple[int, int, int]) -> np.ndarray:
    """An image (uint8 RGB, or float (H, W, C) in [0, 1]) as a THUMB x THUMB RGB tile in [0, 1],
    scaled to fit with its aspect kept and the rest filled with ``fill``."""
    from PIL import Image, ImageOps

    resample = Image.Resampling.LANCZOS  # a photo: smooth
    if image.dtype != np.uint8:
        resample = Image.Resampling.NEAREST  # the network's pixel grid: keep it visible
        image = (np.clip(image, 0.0, 1.0) * 255).astype("uint8")
    if image.shape[-1] == 1:
        image = image[..., 0]
    picture = Image.fromarray(image).convert("RGB")
    tile = ImageOps.pad(picture, (THUMB, THUMB), resample, color=fill)
    return np.asarray(tile, dtype="float32") / 255.0


@dataclass
class PredictParams:
    inputs: list[str] | None = field(
        default=None,
        metadata={
            "help": "Image files or folders (sub-folders named by class).",
            "max_items": 100_000,
        },
    )
    top: int = field(
        default=3, metadata={"help": "How many classes to show.", "min": 1, "max": 1000}
    )
    mnistify: bool | None = field(
        default=None,
        metadata={"help": "Crop, fit 20x20 and centre by mass (default for 28x28x1 models)."},
    )


class Predict(Technique):
    """``kinterp predict`` as a technique, so it runs through the one run path."""

    name = "predict"
    summary = "Top-k classes for your own images"
    Params = PredictParams
    key_metric = "accuracy"
    reads_data = False

    def run(self, ctx: RunContext, params: PredictParams) -> None:
        """Prepare every file, classify the batch and write the contact sheet and table."""
        loaded = ctx.model
        height, width, channels = loaded.require_image()
        if channels not in (1, 3):
            raise KinterpError(f"predict supports grey or RGB models, not {channels} channels")
        if not params.inputs:
            raise KinterpError("predict needs image files or folders; pass them after MODEL")
        files = collect_files([Path(p) for p in params.inputs], loaded.info.class_names)
        mnistify = params.mnistify
        if mnistify is None:
            mnistify = (height, width, channels) == (28, 28, 1)
        predictions, pixels, thumbs = _prepare(files, loaded, mnistify, ctx)
        kept = [p for p in predictions if not p.skipped]
        if not kept:
            reasons = "; ".join(f"{Path(p.file).name}: {p.skipped}" for p in predictions[:3])
            raise KinterpError(
                f"none of the {len(predictions)} files is a usable image ({reasons})"
            )
        result = loaded.classify_images(np.stack(pixels))
        indices, confidences = result.topk(params.top)
        for prediction, row, probs in zip(kept, indices, confidences, strict=True):
            prediction.top = [
                {"class_index": int(i), "class_name": result.name(i), "confidence": float(p)}
                for i, p in zip(row, probs, strict=True)
            ]
        labelled = [p for p in kept if p.label is not None]
        accuracy = (
            float(np.mean([p.top[0]["class_index"] == p.label for p in labelled]))
            if labelled
            else None
        )
        ctx.note_data("files", "user images", len(kept))
        ctx.report.json("predictions", [p.as_dict() for p in predictions])
        _write_sections(ctx.report, predictions, kept, pixels, thumbs, accuracy)


def _prepare(
    files: list[tuple[Path, int | None]], loaded: LoadedModel, mnistify: bool, ctx: RunContext
) -> tuple[list[Prediction], list[np.ndarray], list[np.ndarray]]:
    """Each file's prediction record, and the network input and thumbnail of the usable ones."""
    height, width, channels = loaded.require_image()
    low, high = loaded.info.input_range
    predictions, pixels, thumbs = [], [], []
    with ctx.progress(len(files), "preparing images") as bar:
        for path, label in files:
            prediction = Prediction(str(path), label)
            try:
                prepared = prepare_image(path, height, width, channels, mnistify)
            except BadImage as exc:
                prediction.skipped = str(exc)
            else:
                prediction.preprocessing = [*prepared.steps, f"scaled to {low:g}..{high:g}"]
                pixels.append(prepared.pixels)
                thumbs.append(_tile(prepared.original, fill=(255, 255, 255)))
            predictions.append(prediction)
            bar.advance()
    return predictions, pixels, thumbs


@hookimpl
def register_techniques(register: Any) -> None:
    """Register predict (a core technique, registered like any plugin's)."""
    register(Predict())


def _write_sections(
    builder: ReportBuilder,
    predictions: list[Prediction],
    kept: list[Prediction],
    pixels: list[np.ndarray],
    thumbs: list[np.ndarray],
    accuracy: float | None,
) -> None:
    """The metrics, the contact sheet, the network inputs and the predictions table."""
    builder.metric("images", len(kept))
    builder.metric("skipped", len(predictions) - len(kept))
    if accuracy is not None:
        builder.metric("accuracy", accuracy)
    if kept:
        captions = [
            f"{Path(p.file).name}\n→ {p.top[0]['class_name']} ({p.top[0]['confidence']:.2f})"
            for p in kept
        ]
        seen = [_tile(p, fill=(0, 0, 0)) for p in pixels]
        sheet = np.stack([tile for pair in zip(thumbs, seen, strict=True) for tile in pair])
        sheet_captions = [c for caption in captions for c in (caption.split("\n")[0], caption)]
        builder.text(
            "Contact sheet",
            "Each file as given (left) and what the network actually saw after preprocessing "
            "(right), with its top class.",
        )
        builder.images(
            "Contact sheet",
            sheet,
            captions=sheet_captions,
            columns=8,
            name="contact-sheet",
        )
        builder.images("Network input", np.stack(pixels), captions=captions, name="inputs")
    rows = [
        [
            Path(p.file).name,
            "" if p.label is None else p.label,
            ", ".join(f"{t['class_name']} {t['confidence']:.3f}" for t in p.top),
            p.skipped or "; ".join(p.preprocessing),
        ]
        for p in predictions
    ]
    builder.table("Predictions", ["file", "label", "top classes", "preprocessing / skipped"], rows)
