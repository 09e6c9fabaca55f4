"""The report a technique writes: sections of images, tables and plots, metrics, arrays.

A technique only calls the builder; the core adds what was run on what, writes
``report.json`` (validated against the shipped JSON Schema) and ``report.html``.
"""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from kinterp import imaging
from kinterp.rundir import slug

SCHEMA_VERSION = "1.0"
Number = int | float


def report_schema() -> dict[str, Any]:
    """The JSON Schema every report.json follows."""
    return json.loads((files("kinterp") / "schema" / "report.schema.json").read_text())


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

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.sections: list[dict[str, Any]] = []
        self.metrics: dict[str, Any] = {}
        self.artifacts: list[dict[str, str]] = []
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

    def metric(self, name: str, value: Any) -> None:
        """Record a metric: a number, a string, or a dict of them (e.g. per class)."""
        self.metrics[name] = _plain(value)

    def array(self, name: str, array: np.ndarray) -> str:
        """Save a raw result as ``arrays/<name>.npy``; returns its relative path."""
        path = self._file("arrays", name, ".npy")
        np.save(path, np.asarray(array))
        return self._artifact(path, "array")

    def images(
        self,
        title: str,
        batch: np.ndarray,
        captions: list[str] | None = None,
        cmap: str = "gray",
        vrange: tuple[float, float] = (0.0, 1.0),
        columns: int | None = None,
        name: str | None = None,
    ) -> None:
        """Add a grid of images (N, H, W[, C]) to a section; the batch is also saved as .npy.

        Args:
            title: the section.
            batch: the images; values in ``vrange`` (``gray``) or signed (``diverging``).
            captions: one per image.
            cmap: ``gray`` or ``diverging``.
            columns: grid width (e.g. the number of inits in a target x init table).
            name: file stem; defaults to the title.
        """
        batch = np.asarray(batch)
        captions = list(captions or [""] * len(batch))
        if len(captions) != len(batch):
            raise ValueError(f"{len(captions)} captions for {len(batch)} images")
        stem = name or title
        array_path = self.array(stem, batch)
        tiles = []
        for i, (image, caption) in enumerate(zip(batch, captions, strict=True)):
            path = self._file("images", f"{stem}-{i:03d}", ".png")
            imaging.save_png(image, path, cmap=cmap, vrange=vrange)
            tiles.append({"path": self._artifact(path, "image"), "caption": caption})
        self._section(title)["images"].append(
            {"tiles": tiles, "columns": columns, "array": array_path, "cmap": cmap}
        )

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        """Add a table to a section."""
        self._section(title)["tables"].append({"columns": list(columns), "rows": _plain(rows)})

    def line_plot(
        self,
        title: str,
        series: dict[str, list[float]],
        xlabel: str,
        ylabel: str,
        caption: str = "",
    ) -> None:
        """Add a line plot (PNG) of named series to a section."""
        path = self._file("plots", title, ".png")
        imaging.save_line_plot(series, path, xlabel, ylabel)
        self._section(title)["plots"].append(
            {"path": self._artifact(path, "plot"), "caption": caption}
        )

    def gif(self, title: str, frames: list[np.ndarray], caption: str = "", vrange=(0.0, 1.0)):
        """Add an animated GIF (e.g. an optimisation as it runs) to a section."""
        path = self._file("images", title, ".gif")
        imaging.save_gif(frames, path, vrange=vrange)
        self._section(title)["plots"].append(
            {"path": self._artifact(path, "animation"), "caption": caption}
        )

    def as_dict(self) -> dict[str, Any]:
        """Sections, metrics and artifacts as they go into report.json."""
        return {"metrics": self.metrics, "sections": self.sections, "artifacts": self.artifacts}


def write_report(directory: Path, report: dict[str, Any]) -> None:
    """Write report.json and report.html into ``directory``."""
    from kinterp.html import render_report

    report = _plain(report)
    (directory / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False))
    (directory / "report.html").write_text(render_report(report))


def read_report(directory: Path) -> dict[str, Any]:
    """Load a run directory's report.json."""
    return json.loads((Path(directory) / "report.json").read_text())
