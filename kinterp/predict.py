"""``kinterp predict``: top-k classes for a user's own image files, with a contact sheet."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kinterp.data.datasets import IMAGE_SUFFIXES
from kinterp.data.preprocess import BadImage, prepare_image
from kinterp.errors import KinterpError
from kinterp.hookspecs import hookimpl
from kinterp.loading.models import LoadedModel
from kinterp.reporting.formatting import format_number
from kinterp.reporting.report import ReportBuilder
from kinterp.technique import Technique
from kinterp.technique.context import RunContext

THUMB = 28  # side of each half of a contact-sheet tile (pages scale it up, pixelated)


@dataclass
class Prediction:
    """One image's result (or why it was skipped)."""

    file: str
    label: int | None = None
    top: list[dict[str, Any]] = field(default_factory=list)
    preprocessing: list[str] = field(default_factory=list)
    skipped: str | None = None
    true_name: str = ""

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


def _thumbnail(original: np.ndarray) -> np.ndarray:
    """A file's RGB uint8 pixels fitted into a THUMB x THUMB tile (aspect kept, white fill)."""
    from PIL import Image, ImageOps

    tile = ImageOps.pad(
        Image.fromarray(original), (THUMB, THUMB), Image.Resampling.BOX, color=(255,) * 3
    )
    return np.asarray(tile, dtype=np.uint8)


def _seen(pixels: np.ndarray) -> np.ndarray:
    """What the network saw, (H, W, C) in [0, 1], as RGB uint8 upscaled (nearest) to THUMB."""
    from PIL import Image, ImageOps

    scaled = np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5
    rgb = np.broadcast_to(scaled, (*scaled.shape[:2], 3)).astype(np.uint8)
    picture = ImageOps.pad(Image.fromarray(rgb), (THUMB, THUMB), Image.Resampling.NEAREST)
    return np.asarray(picture, dtype=np.uint8)


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
        inputs = loaded.to_input(np.stack(pixels))  # what the model sees, in its input range
        result = loaded.classify(inputs)
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
        _write_sections(
            ctx.report, predictions, kept, pixels, thumbs, accuracy, loaded.info.class_names
        )
        ctx.report.array("inputs", inputs)


def _prepare(
    files: list[tuple[Path, int | None]], loaded: LoadedModel, mnistify: bool, ctx: RunContext
) -> tuple[list[Prediction], list[np.ndarray], list[np.ndarray]]:
    """Each file's prediction record, and the network input and thumbnail of the usable ones.

    One thread: the work per file is many small numpy calls, and threads measured slower.
    """
    height, width, channels = loaded.require_image()
    low, high = loaded.info.input_range
    predictions, pixels, thumbs = [], [], []
    with ctx.progress(len(files), "preparing images") as bar:
        for path, label in files:
            name = "" if label is None else loaded.info.class_name(label)
            prediction = Prediction(str(path), label, true_name=name)
            try:
                prepared = prepare_image(path, height, width, channels, mnistify)
            except BadImage as exc:
                prediction.skipped = str(exc)
            else:
                prediction.preprocessing = [*prepared.steps, f"scaled to {low:g}..{high:g}"]
                pixels.append(prepared.pixels)
                thumbs.append(_thumbnail(prepared.original))
            predictions.append(prediction)
            bar.advance()
    return predictions, pixels, thumbs


@hookimpl
def register_techniques(register: Any) -> None:
    """Register predict (a core technique, registered like any plugin's)."""
    register(Predict())


def _caption(p: Prediction) -> str:
    """``name.png`` over ``true 1 → 2 (0.9200)`` (wrong) or ``→ 3 (0.9900)``."""
    top = p.top[0]
    said = f"→ {top['class_name']} ({format_number(top['confidence'], 'prob')})"
    wrong = p.label is not None and top["class_index"] != p.label
    return f"{Path(p.file).name}\n" + (f"true {p.true_name} {said}" if wrong else said)


def _verdict(kept: list[Prediction], skipped: int, accuracy: float | None) -> tuple[str, str]:
    """The report's first line and its tone."""
    tail = f"; {skipped} file(s) skipped" if skipped else ""
    labelled = [p for p in kept if p.label is not None]
    if accuracy is None:
        counts: dict[str, int] = {}
        for p in kept:
            counts[p.top[0]["class_name"]] = counts.get(p.top[0]["class_name"], 0) + 1
        common = max(counts, key=counts.__getitem__)
        return f"{len(kept)} images classified, most often as {common} ({counts[common]}){tail}", (
            "neutral"
        )
    right = sum(p.top[0]["class_index"] == p.label for p in labelled)
    tone = "good" if accuracy >= 0.9 else "warn" if accuracy >= 0.5 else "bad"
    text = f"{right}/{len(labelled)} correct ({format_number(accuracy, 'pct')}){tail}"
    return text, tone


def _write_sections(
    builder: ReportBuilder,
    predictions: list[Prediction],
    kept: list[Prediction],
    pixels: list[np.ndarray],
    thumbs: list[np.ndarray],
    accuracy: float | None,
    class_names: tuple[str, ...],
) -> None:
    """The verdict, the contact sheet (errors first), the confusion matrix and the table."""
    skipped = len(predictions) - len(kept)
    builder.metric("images", len(kept))
    builder.metric("skipped", skipped)
    if accuracy is not None:
        builder.metric("accuracy", accuracy)
    builder.verdict(*_verdict(kept, skipped, accuracy))
    wrong = [p.label is not None and p.top[0]["class_index"] != p.label for p in kept]
    order = sorted(range(len(kept)), key=lambda i: not wrong[i])  # errors first, else as given
    title = "Contact sheet"
    builder.text(
        title,
        "Each file as given (left half) and what the network saw after preprocessing (right "
        "half), with its top classes; wrong predictions first, with a red border.",
    )
    sheet = np.stack([np.concatenate([thumbs[i], _seen(pixels[i])], axis=1) for i in order])
    builder.images(
        title,
        sheet,
        captions=[_caption(kept[i]) for i in order],
        wrong=[wrong[i] for i in order],
        bars=[{t["class_name"]: t["confidence"] for t in kept[i].top} for i in order],
        name="contact-sheet",
    )
    builder.key(title)
    labelled = [p for p in kept if p.label is not None]
    if labelled:
        _confusion(builder, labelled, class_names)
    rows = [
        [
            Path(p.file).name,
            "" if p.label is None else p.true_name,
            ", ".join(f"{t['class_name']} {format_number(t['confidence'], 'prob')}" for t in p.top),
            p.skipped or "; ".join(p.preprocessing),
        ]
        for p in predictions
    ]
    builder.table("Predictions", ["file", "label", "top classes", "preprocessing / skipped"], rows)


def confusion_matrix(labelled: list[Prediction]) -> tuple[list[int], np.ndarray]:
    """The classes that occur (as truth or top class), sorted, and their confusion counts.

    Row i, column j counts images of true class ``used[i]`` whose top class is ``used[j]``;
    classes with no image and no prediction get no row or column.
    """
    used = sorted({p.label for p in labelled} | {p.top[0]["class_index"] for p in labelled})
    position = {c: i for i, c in enumerate(used)}
    matrix = np.zeros((len(used), len(used)), dtype=np.int64)
    for p in labelled:
        matrix[position[p.label], position[p.top[0]["class_index"]]] += 1
    return used, matrix


def _confusion(
    builder: ReportBuilder, labelled: list[Prediction], class_names: tuple[str, ...]
) -> None:
    """The confusion table and arrays, over the classes that occur only."""
    used, matrix = confusion_matrix(labelled)
    builder.text(
        "Confusion matrix",
        "Rows: the true class (sub-folder); columns: top class. Only classes that occur as a "
        "true class or a top class are shown (arrays/confusion-classes.npy names them).",
    )
    builder.table(
        "Confusion matrix",
        ["true \\ predicted", *(class_names[c] for c in used)],
        [[class_names[r], *(int(v) for v in row)] for r, row in zip(used, matrix, strict=True)],
        formats=["text", *(["int"] * len(used))],
    )
    builder.array("confusion", matrix)
    builder.array("confusion-classes", np.asarray(used, dtype=np.int64))
