"""``kinterp predict``: top-k classes for a user's own image files, with a contact sheet."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kinterp._version import __version__
from kinterp.datasets import IMAGE_SUFFIXES
from kinterp.errors import KinterpError
from kinterp.models import LoadedModel
from kinterp.preprocess import BadImage, prepare_image
from kinterp.progress import progress_bar
from kinterp.report import ReportBuilder
from kinterp.rundir import DEFAULT_ROOT, RunDirectory

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
        if path.is_file():
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


def predict_files(
    loaded: LoadedModel,
    paths: list[Path],
    top: int,
    mnistify: bool | None,
    out: Path | None,
    quiet: bool = True,
) -> tuple[list[Prediction], float | None, Path]:
    """Predict every image; returns the predictions, the accuracy (labelled only), the run dir."""
    from kinterp.runner import build_report, finish, now

    height, width, channels = loaded.require_image()
    if channels not in (1, 3):
        raise KinterpError(f"predict supports grey or RGB models, not {channels} channels")
    if top < 1:
        raise KinterpError("--top must be at least 1")
    info = loaded.info
    files = collect_files(paths, info.class_names)
    mnistify = (height, width, channels) == (28, 28, 1) if mnistify is None else mnistify
    started, clock = now(), time.perf_counter()
    predictions, pixels, thumbs = [], [], []
    with progress_bar(len(files), "preparing images", quiet) as bar:
        for path, label in files:
            prediction = Prediction(str(path), label)
            try:
                prepared = prepare_image(path, height, width, channels, mnistify)
            except BadImage as exc:
                prediction.skipped = str(exc)
            else:
                prediction.preprocessing = list(prepared.steps) + [
                    f"scaled to {info.input_range[0]:g}..{info.input_range[1]:g}"
                ]
                pixels.append(prepared.pixels)
                thumbs.append(_tile(prepared.original, fill=(255, 255, 255)))
            predictions.append(prediction)
            bar.advance()
    kept = [p for p in predictions if not p.skipped]
    if kept:
        probs = loaded.confidences(loaded.predict(loaded.to_input(np.stack(pixels))))
        for prediction, row in zip(kept, probs, strict=True):
            order = np.argsort(row)[::-1][: min(top, len(row))]
            prediction.top = [
                {
                    "class_index": int(i),
                    "class_name": info.class_names[i],
                    "confidence": float(row[i]),
                }
                for i in order
            ]
    labelled = [p for p in kept if p.label is not None]
    accuracy = (
        float(np.mean([p.top[0]["class_index"] == p.label for p in labelled])) if labelled else None
    )
    run_dir = RunDirectory(out or DEFAULT_ROOT, "predict", info.name)
    builder = ReportBuilder(run_dir.path)
    _write_sections(builder, predictions, kept, pixels, thumbs, accuracy)
    technique = {
        "name": "predict",
        "summary": "Top-k classes for your own images",
        "distribution": "kinterp",
        "version": __version__,
        "key_metric": "accuracy" if accuracy is not None else "images",
    }
    params = {"top": top, "mnistify": mnistify, "inputs": [str(p) for p in paths]}
    data = {"name": "files", "split": "user images", "count": len(kept)}
    report = build_report(technique, loaded, builder, data, params, 0, started, clock, None)
    return predictions, accuracy, finish(run_dir, report)


def _write_sections(builder, predictions, kept, pixels, thumbs, accuracy) -> None:
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
