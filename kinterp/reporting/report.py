"""The report a technique writes: sections of images, tables and plots, metrics, arrays.

A technique only calls the builder; the core adds what was run on what and writes
``report.json`` (it follows the shipped JSON Schema: :func:`validate_report`) and
``report.html`` (:mod:`kinterp.reporting.html`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from kinterp.reporting import blocks as report_blocks
from kinterp.reporting import charts, imaging
from kinterp.reporting.blocks import BLOCKS, Blocks
from kinterp.reporting.builtin_blocks import builtin_blocks
from kinterp.reporting.formatting import FORMATS, format_number
from kinterp.reporting.rundir import slug

SCHEMA_VERSION = "1.5"
TONES = ("good", "warn", "bad", "neutral")
Number = int | float


def report_schema(blocks: Blocks | None = None) -> dict[str, Any]:
    """The JSON Schema of a report.json holding ``blocks`` (by default the built-in ones)."""
    return report_blocks.report_schema(builtin_blocks() if blocks is None else blocks)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _plain(value: Any) -> Any:
    """numpy scalars and tuples -> JSON-ready values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return _plain(value.tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


class ReportBuilder:
    """Collects a run's sections, metrics and files inside its run directory."""

    def __init__(self, directory: Path, blocks: Blocks | None = None):
        self.directory = Path(directory)
        self.blocks = builtin_blocks() if blocks is None else blocks
        self.sections: list[dict[str, Any]] = []
        self.metrics: dict[str, Any] = {}
        self.artifacts: list[dict[str, str]] = []
        self.summary: dict[str, Any] = {"verdict": "", "tone": "neutral", "key": None}
        self._names: set[str] = set()

    def _section(self, title: str) -> dict[str, Any]:
        for section in self.sections:
            if section["title"] == title:
                return section
        section = {"title": title, "text": "", "images": [], "tables": [], "plots": []}
        self.sections.append(section)
        return section

    def _file(self, subdir: str, stem: str, suffix: str) -> Path:
        base = f"{subdir}/{slug(stem)}"
        name, n = f"{base}{suffix}", 1
        while name in self._names:
            n += 1
            name = f"{base}-{n}{suffix}"
        self._names.add(name)
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _artifact(self, path: Path, kind: str) -> str:
        relative = path.relative_to(self.directory).as_posix()
        self.artifacts.append({"path": relative, "kind": kind, "sha256": _sha256(path)})
        return relative

    def text(self, title: str, text: str) -> None:
        """Add a paragraph of explanation to a section."""
        section = self._section(title)
        section["text"] = f"{section['text']}\n\n{text}".strip()

    def block(self, title: str, kind: str, **data: Any) -> None:
        """Add a registered report block of ``kind`` to a section; ``data`` is its content.

        Raises:
            ValueError: ``kind`` is not registered, or ``data`` does not fit its schema.
        """
        if kind not in self.blocks:
            known = ", ".join(sorted(self.blocks))
            raise ValueError(f"unknown report block kind {kind!r}; registered: {known}")
        block, record = self.blocks[kind], _plain(data)
        block.check(record)
        section = self._section(title)
        if block.own_list:
            section[kind].append(record)
        else:
            section.setdefault(BLOCKS, []).append({"kind": kind, "data": record})

    def verdict(self, text: str, tone: str = "neutral") -> None:
        """Set the report's one-line finding, shown first (``tone``: good, warn, bad, neutral)."""
        if tone not in TONES:
            raise ValueError(f"unknown tone {tone!r}; use one of {', '.join(TONES)}")
        self.summary.update(verdict=" ".join(str(text).split()), tone=tone)

    @staticmethod
    def colour_bar(colours: str, low: str, high: str, label: str) -> dict[str, Any]:
        """A colour bar for :meth:`images` / :meth:`grid` (see :func:`colour_bar`)."""
        return colour_bar(colours, low, high, label)

    def collapse(self, title: str) -> None:
        """Show a section folded (its title only) until the reader opens it: for the
        secondary views of a long report, so the page stays scannable."""
        self._section(title)["collapsed"] = True

    def key(self, title: str) -> None:
        """Name the section holding the key picture: report.html shows it under the verdict."""
        self._section(title)
        self.summary["key"] = title

    def metric(self, name: str, value: Any) -> None:
        """Record a metric: a number, a string, or a dict of them (e.g. per class)."""
        self.metrics[name] = _plain(value)

    def array(self, name: str, array: np.ndarray) -> str:
        """Save a raw result as ``arrays/<name>.npy``; returns its relative path."""
        path = self._file("arrays", name, ".npy")
        np.save(path, np.asarray(array))
        return self._artifact(path, "array")

    def _tiles(
        self,
        stem: str,
        batch: np.ndarray,
        captions: list[str],
        cmap: str,
        vrange,
        wrong: list[bool] | None = None,
        bars: list[dict[str, float]] | None = None,
    ):
        """Save the images as one PNG sprite sheet (and the batch as .npy): the tile records
        (each the sheet's path and its ``box`` in it, ``[x, y, width, height]``) and the
        array path.

        ``wrong[i]`` marks tile i (a red border); ``bars[i]`` gives it a small bar chart of
        named scores in [0, 1] (e.g. its top-k confidences).
        """
        for name, given in (("captions", captions), ("wrong", wrong), ("bars", bars)):
            if given is not None and len(given) != len(batch):
                raise ValueError(f"{len(given)} {name} for {len(batch)} images")
        array_path = self.array(stem, batch)
        if len(batch) == 0:
            return [], array_path
        path = self._file("images", stem, ".png")
        boxes = imaging.save_sheet(batch, path, cmap=cmap, vrange=vrange)
        sheet = self._artifact(path, "image")
        tiles = []
        for i, (box, caption) in enumerate(zip(boxes, captions, strict=True)):
            tile: dict[str, Any] = {"path": sheet, "box": list(box), "caption": caption}
            if wrong is not None:
                tile["wrong"] = bool(wrong[i])
            if bars is not None:
                tile["bars"] = [{"label": str(k), "value": float(v)} for k, v in bars[i].items()]
            tiles.append(tile)
        return tiles, array_path

    def images(
        self,
        title: str,
        batch: np.ndarray,
        captions: list[str] | None = None,
        cmap: str = "gray",
        vrange: tuple[float, float] = (0.0, 1.0),
        columns: int | None = None,
        name: str | None = None,
        wrong: list[bool] | None = None,
        bars: list[dict[str, float]] | None = None,
        colourbar: dict[str, Any] | None = None,
    ) -> None:
        """Add images (N, H, W[, C]) to a section as tiles; the batch is also saved as .npy.

        Args:
            title: the section.
            batch: the images; values in ``vrange`` (``gray``, RGB) or signed (``diverging``).
                Three-channel batches are shown in colour and recorded as ``rgb``.
            captions: one per image.
            cmap: ``gray`` or ``diverging``.
            columns: the batch's natural width (e.g. methods side by side); pages fill the
                width with tiles of 140-200 px.
            name: file stem; defaults to the title.
            wrong: per image, whether it is a mistake (a red border).
            bars: per image, named scores in [0, 1] drawn as small bars (e.g. top-k).
            colourbar: a :func:`colour_bar` for heat images drawn in colour beforehand;
                ``diverging`` blocks get one of their own.
        """
        batch = np.asarray(batch)
        cmap = _colour_map(batch, cmap)
        captions = list(captions or [""] * len(batch))
        tiles, array_path = self._tiles(
            name or title, batch, captions, cmap, vrange, wrong=wrong, bars=bars
        )
        record = {
            "kind": "tiles",
            "tiles": tiles,
            "columns": columns,
            "array": array_path,
            "cmap": cmap,
        }
        self._section(title)["images"].append(_with_bar(record, batch, cmap, colourbar))

    def grid(
        self,
        title: str,
        batch: np.ndarray,
        rows: list[str],
        columns: list[str],
        captions: list[str] | None = None,
        cmap: str = "gray",
        vrange: tuple[float, float] = (0.0, 1.0),
        name: str | None = None,
        colourbar: dict[str, Any] | None = None,
    ) -> None:
        """Add a labelled matrix of images: ``rows`` x ``columns`` (e.g. targets x settings).

        ``batch`` holds ``len(rows) * len(columns)`` images in row-major order; ``colourbar``
        as for :meth:`images`.
        """
        batch = np.asarray(batch)
        if len(batch) != len(rows) * len(columns):
            raise ValueError(f"{len(batch)} images for a {len(rows)} x {len(columns)} grid")
        cmap = _colour_map(batch, cmap)
        captions = list(captions or [""] * len(batch))
        tiles, array_path = self._tiles(name or title, batch, captions, cmap, vrange)
        record = {
            "kind": "grid",
            "tiles": tiles,
            "columns": len(columns),
            "array": array_path,
            "cmap": cmap,
            "row_labels": list(rows),
            "column_labels": list(columns),
        }
        self._section(title)["images"].append(_with_bar(record, batch, cmap, colourbar))

    def strip(
        self,
        title: str,
        batch: np.ndarray,
        levels: list[Any],
        predictions: list[str] | None = None,
        wrong: list[bool] | None = None,
        cmap: str = "gray",
        vrange: tuple[float, float] = (0.0, 1.0),
        name: str | None = None,
    ) -> None:
        """Add an example strip: one image at every level of a sweep, with its prediction.

        Args:
            levels: the sweep's level of each image (numbers are formatted, text kept).
            predictions: what the model said at each level, e.g. ``"7 (0.98)"``.
            wrong: per level, whether the prediction is wrong (those tiles are marked).
        """
        batch = np.asarray(batch)
        labels = [format_number(level) for level in levels]
        said = list(predictions or [""] * len(batch))
        marks = list(wrong or [False] * len(batch))
        if not len(labels) == len(said) == len(marks) == len(batch):
            raise ValueError(f"{len(batch)} images need as many levels, predictions and marks")
        captions = [f"{lv}\n{p}".strip() for lv, p in zip(labels, said, strict=True)]
        cmap = _colour_map(batch, cmap)
        tiles, array_path = self._tiles(name or title, batch, captions, cmap, vrange, wrong=marks)
        self._section(title)["images"].append(
            {
                "kind": "strip",
                "tiles": tiles,
                "columns": len(tiles),
                "array": array_path,
                "cmap": cmap,
                "levels": labels,
            }
        )

    def table(
        self,
        title: str,
        columns: list[str],
        rows: list[list[Any]],
        formats: list[str | None] | None = None,
    ) -> None:
        """Add a table to a section; ``formats`` names each column's number format.

        Formats are those of :func:`kinterp.reporting.formatting.format_number` (``int``, ``float``,
        ``pct``, ``prob``, ``sci``, ``text``, or None to pick by type). report.json keeps the
        raw values; report.html shows them formatted.
        """
        formats = list(formats) if formats is not None else [None] * len(columns)
        if len(formats) != len(columns):
            raise ValueError(f"{len(formats)} formats for {len(columns)} columns")
        unknown = sorted({f for f in formats if f is not None and f not in FORMATS})
        if unknown:
            raise ValueError(f"unknown table format {unknown}; use one of {', '.join(FORMATS)}")
        self._section(title)["tables"].append(
            {"columns": list(columns), "rows": _plain(rows), "formats": formats}
        )

    def _plot(self, title: str, kind: str, caption: str, draw, narrow=None) -> None:
        """Draw a plot with ``draw(path)``; ``narrow(path)``, if given, draws the same plot
        laid out for a phone (the page shows it on screens up to 600 px wide)."""
        path = self._file("plots", title, ".svg")
        draw(path)
        record = {"kind": kind, "path": self._artifact(path, "plot"), "caption": caption}
        if narrow is not None:
            narrow_path = self._file("plots", f"{title}-narrow", ".svg")
            narrow(narrow_path)
            record["narrow"] = self._artifact(narrow_path, "plot")
        self._section(title)["plots"].append(record)

    def line_plot(
        self,
        title: str,
        series: dict[str, list[float]],
        xlabel: str,
        ylabel: str,
        caption: str = "",
        x: list[float] | None = None,
        logx: bool = False,
        logy: bool = False,
    ) -> None:
        """Add a line plot of named series; each has its own colour and style in the legend.

        ``x`` gives the shared x values (e.g. sweep levels); by default it is the index.
        """
        if x is not None and any(len(v) != len(x) for v in series.values()):
            raise ValueError(f"every series needs {len(x)} values, one per x")
        self._plot(
            title,
            "line",
            caption,
            lambda path: charts.save_line_plot(series, path, xlabel, ylabel, x, logx, logy),
        )

    def panels(
        self,
        title: str,
        panels: dict[str, tuple[list[float], dict[str, list[float]], str]],
        ylabel: str,
        caption: str = "",
        ylim: tuple[float, float] | None = None,
    ) -> None:
        """Add small multiples: one line plot per panel title, each ``(x, series, xlabel)``;
        a series name keeps its colour in every panel (one legend for all). Four panels a
        row, and on a phone two (a second file, ``narrow`` in the record)."""
        for name, (x, series, _) in panels.items():
            if any(len(v) != len(x) for v in series.values()):
                raise ValueError(f"panel {name!r}: every series needs {len(x)} values")
        columns = charts.PANEL_COLUMNS
        self._plot(
            title,
            "line",
            caption,
            lambda path: charts.save_panels(panels, path, ylabel, ylim, columns),
            narrow=(
                (lambda path: charts.save_panels(panels, path, ylabel, ylim, columns // 2))
                if len(panels) > columns // 2
                else None
            ),
        )

    def bar_plot(
        self,
        title: str,
        series: dict[str, list[float]],
        labels: list[str],
        xlabel: str,
        ylabel: str,
        caption: str = "",
    ) -> None:
        """Add grouped bars: a group per label (e.g. a corruption), a bar per named series
        (e.g. a model), each series giving one value per label."""
        if any(len(v) != len(labels) for v in series.values()):
            raise ValueError(f"every series needs {len(labels)} values, one per label")
        self._plot(
            title,
            "bar",
            caption,
            lambda path: charts.save_bar_plot(series, list(labels), path, xlabel, ylabel),
        )

    def histogram(
        self,
        title: str,
        values: np.ndarray | dict[str, np.ndarray],
        xlabel: str,
        caption: str = "",
        bins: int = 30,
        logy: bool = False,
    ) -> None:
        """Add a histogram of values, or overlaid histograms of named groups of them."""
        groups = values if isinstance(values, dict) else {"": values}
        self._plot(
            title,
            "histogram",
            caption,
            lambda path: charts.save_histogram(groups, path, xlabel, bins, logy),
        )

    def scatter(
        self,
        title: str,
        x: np.ndarray,
        y: np.ndarray,
        xlabel: str,
        ylabel: str,
        groups: list[str] | None = None,
        caption: str = "",
        logx: bool = False,
        logy: bool = False,
    ) -> None:
        """Add a scatter plot of (x, y); ``groups`` names each point's group (one colour each)."""
        xs, ys = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
        if xs.shape != ys.shape or xs.ndim != 1:
            raise ValueError(f"x and y must be 1-D of one length, got {xs.shape} and {ys.shape}")
        names = np.asarray(groups if groups is not None else [""] * len(xs))
        points = {str(g): (xs[names == g], ys[names == g]) for g in dict.fromkeys(names)}
        self._plot(
            title,
            "scatter",
            caption,
            lambda path: charts.save_scatter(points, path, xlabel, ylabel, logx, logy),
        )

    def gif(self, title: str, frames: list[np.ndarray], caption: str = "", vrange=(0.0, 1.0)):
        """Add an animated GIF (e.g. an optimisation as it runs) to a section."""
        path = self._file("images", title, ".gif")
        imaging.save_gif(frames, path, vrange=vrange)
        self._section(title)["plots"].append(
            {"kind": "animation", "path": self._artifact(path, "animation"), "caption": caption}
        )

    def json(self, name: str, value: Any) -> str:
        """Save structured results as ``data/<name>.json``; returns its relative path."""
        path = self._file("data", name, ".json")
        path.write_text(json.dumps(_plain(value), allow_nan=False, separators=(",", ":")))
        return self._artifact(path, "json")

    def as_dict(self) -> dict[str, Any]:
        """Sections, metrics and artifacts as they go into report.json."""
        return {
            "summary": self.summary,
            "metrics": self.metrics,
            "sections": self.sections,
            "artifacts": self.artifacts,
        }


def colour_bar(colours: str, low: str, high: str, label: str) -> dict[str, Any]:
    """A colour bar for a block of images: matplotlib colour map ``colours`` from ``low``
    to ``high`` (the texts at its ends), and what its colour measures (``label``)."""
    return {"colours": imaging.colour_stops(colours), "low": low, "high": high, "label": label}


def _signed_bar(batch: np.ndarray) -> dict[str, Any]:
    """The colour bar of a diverging block: blue -m, white 0, red +m, where m is each map's
    largest |value| (one number when every map shares it)."""
    array = np.asarray(batch, dtype="float64")
    if array.ndim == 4:
        array = array.mean(axis=-1)
    limits = [imaging.signed_limit(image) for image in array]
    if max(limits) - min(limits) <= 1e-9 * max(limits):
        m = format_number(limits[0], "float")
        return colour_bar("RdBu_r", f"−{m}", f"+{m}", "value: blue below 0, white 0, red above")
    return colour_bar(
        "RdBu_r",
        "−max |value|",
        "+max |value|",
        "value: blue below 0, white 0, red above; each map scaled to its own largest |value|",
    )


def _with_bar(
    record: dict[str, Any], batch: np.ndarray, cmap: str, given: dict[str, Any] | None
) -> dict[str, Any]:
    """An images record with its colour bar: the one given, else a diverging block's own."""
    bar = given if given is not None else _signed_bar(batch) if cmap == "diverging" else None
    return record if bar is None else {**record, "colourbar": bar}


def _colour_map(batch: np.ndarray, cmap: str) -> str:
    """``rgb`` for a three-channel batch shown as it is; otherwise ``cmap``."""
    if cmap not in ("gray", "diverging"):
        raise ValueError(f"unknown cmap {cmap!r}; use gray or diverging")
    is_rgb = batch.ndim == 4 and batch.shape[-1] == 3
    return "rgb" if is_rgb and cmap == "gray" else cmap


def report_json(report: dict[str, Any]) -> str:
    """A report as the JSON text written to report.json (NaN and inf become null).

    Compact, so that Python's C encoder writes it (``indent`` would take the slow pure-Python
    one, which dominated writing large reports); ``python -m json.tool`` shows it indented.
    """
    return json.dumps(_plain(report), allow_nan=False, separators=(",", ":"))


def validate_report(report: dict[str, Any], blocks: Blocks | None = None) -> None:
    """Check a report against the schema of ``blocks`` (by default the built-in ones).

    Raises:
        jsonschema.ValidationError: the report does not fit, or holds a block of a kind
            that is not in ``blocks``.
    """
    import jsonschema

    blocks = builtin_blocks() if blocks is None else blocks
    unknown = report_blocks.unknown_kinds(report, blocks)
    if unknown:
        raise jsonschema.ValidationError(
            f"unknown report block kind in section {unknown[0]}; "
            f"registered: {', '.join(sorted(blocks))}"
        )
    jsonschema.validate(report, report_schema(blocks))


def read_report(directory: Path) -> dict[str, Any]:
    """Load a run directory's report.json."""
    return json.loads((Path(directory) / "report.json").read_text())
