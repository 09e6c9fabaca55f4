"""report.html and the run index, rendered with Jinja2 from the package's templates.

A report page embeds its images as ``data:`` URIs: it opens from disk with no network, and a
copy of report.html alone (mailed, say) still shows every picture. The PNG and .npy files stay
beside it for scripts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from kinterp.reporting.blocks import Blocks
from kinterp.reporting.builtin_blocks import builtin_blocks
from kinterp.reporting.embed import data_uri, image_uri, picture_size
from kinterp.reporting.formatting import format_number, metric_text
from kinterp.reporting.report import read_report, report_json
from kinterp.reporting.verdict import final_summary, key_metric_name

THUMBNAILS = 4  # tiles of a run's key picture shown in the index
INDEX_PARAMS = 4  # params shown per run in the index


def param_text(value: Any) -> str:
    """A param value as people write it: ``0, 1, 2`` for a list, formatted numbers."""
    if isinstance(value, (list, tuple)):
        return ", ".join(format_number(v) for v in value)
    return format_number(value)


def shown_params(params: dict[str, Any]) -> dict[str, str]:
    """Params worth showing: those with a value (None, empty strings and lists left out)."""
    return {k: param_text(v) for k, v in params.items() if v not in (None, "", [], ())}


def ran_params(params: dict[str, Any], specs: Sequence[Any] = ()) -> dict[str, Any]:
    """``params`` as the run used them, the ones set away from their defaults first.

    ``specs`` are the technique's param specs (``name``, ``default``, ``choices``), when
    known: a param named after a choice of a list param that was not chosen is left out
    (robustness' ``edge`` levels when ``family`` is ``noise``), and the defaults order them.
    """
    specs = {spec.name: spec for spec in specs}
    unchosen = {
        choice
        for name, spec in specs.items()
        if isinstance(params.get(name), list)
        for choice in spec.choices
        if choice not in params[name]
    }
    used = {k: v for k, v in params.items() if k not in unchosen}
    changed = {k: v for k, v in used.items() if k in specs and v != specs[k].default}
    return {**changed, **used}


def when(stamp: str) -> str:
    """An ISO 8601 UTC time as ``2026-11-23 14:05 UTC``."""
    return f"{stamp[:10]} {stamp[11:16]} UTC" if len(stamp) >= 16 else stamp


def _environment(blocks: Blocks | None = None) -> jinja2.Environment:
    """The templates, with the macros of ``blocks`` (by default the built-in ones)."""
    blocks = builtin_blocks() if blocks is None else blocks
    return _block_environment(tuple((b.name, b.own_list, b.macro) for b in blocks.values()))


@lru_cache(maxsize=8)
def _block_environment(blocks: tuple[tuple[str, bool, str], ...]) -> jinja2.Environment:
    """The package's templates, and each block's macro source as ``blocks/<kind>.html``.

    ``block(kind)`` is that block's ``render`` macro; ``own_lists`` names the section lists
    of the blocks that have one, in their order.
    """
    macros = jinja2.DictLoader({f"blocks/{kind}.html": macro for kind, _, macro in blocks})
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [macros, jinja2.PackageLoader("kinterp.reporting", "templates")]
        ),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["fmt"] = format_number
    env.globals["block"] = lambda kind: env.get_template(f"blocks/{kind}.html").module.render
    env.globals["own_lists"] = [kind for kind, own_list, _ in blocks if own_list]
    env.filters["when"] = when
    env.filters["shown_params"] = shown_params
    return env


def template(name: str) -> jinja2.Template:
    """One of the package's templates (autoescaped), with the report filters and ``fmt``."""
    return _environment().get_template(name)


def _with_summary(report: dict[str, Any]) -> dict[str, Any]:
    """Reports older than schema 1.2 have no summary: make one from their metrics."""
    if "summary" in report:
        return report
    empty = {"verdict": "", "tone": "neutral", "key": None}
    summary = final_summary(empty, report["technique"], report["metrics"], report.get("error"))
    return {**report, "summary": summary}


def _ordered_sections(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The key section first (the picture under the verdict), then the rest in order."""
    key = (report.get("summary") or {}).get("key")
    sections = report.get("sections", [])
    return sorted(sections, key=lambda s: s["title"] != key)


class Sheets:
    """A report's sprite sheets, each embedded once; tiles are CSS windows onto them.

    A block's tiles share one sheet (schema 1.2): its ``data:`` URI is set once on the block
    as ``--sheet`` and every tile shows its box of it, scaled crisply. Tiles of older reports
    are whole files, each its own one-tile sheet.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._sheets: dict[str, tuple[str, int, int]] = {}

    def _sheet(self, path: str) -> tuple[str, int, int]:
        if path not in self._sheets:
            file = self.directory / path
            self._sheets[path] = (data_uri(file), *picture_size(file))
        return self._sheets[path]

    def block_style(self, block: dict[str, Any]) -> str:
        """``--sheet: url(...)`` when the block's tiles share one sheet, else nothing."""
        paths = {t["path"] for t in block["tiles"]}
        return f"--sheet:url({self._sheet(paths.pop())[0]})" if len(paths) == 1 else ""

    def tile_style(self, tile: dict[str, Any], shared: bool) -> str:
        """The CSS that shows ``tile``'s box of its sheet at the tile's width."""
        src, sheet_w, sheet_h = self._sheet(tile["path"])
        x, y, w, h = tile.get("box") or (0, 0, sheet_w, sheet_h)
        columns, rows = max(sheet_w // max(w, 1), 1), max(sheet_h // max(h, 1), 1)
        left = 100 * (x // max(w, 1)) / (columns - 1) if columns > 1 else 0
        top = 100 * (y // max(h, 1)) / (rows - 1) if rows > 1 else 0
        style = (
            f"aspect-ratio:{w}/{h};background-size:{columns * 100}% {rows * 100}%;"
            f"background-position:{left:.4f}% {top:.4f}%"
        )
        return style if shared else f"{style};--sheet:url({src})"

    def wide(self, tile: dict[str, Any]) -> bool:
        """True for a tile at least twice as wide as high (it spans two grid cells)."""
        _, sheet_w, sheet_h = self._sheet(tile["path"])
        _, _, w, h = tile.get("box") or (0, 0, sheet_w, sheet_h)
        return w >= 2 * h

    def plot(self, record: dict[str, Any]) -> dict[str, Any]:
        """A plot or animation file as an embedded image."""
        return image_uri(self.directory, record)


def render_report(report: dict[str, Any], directory: Path, blocks: Blocks | None = None) -> str:
    """The HTML page of one run, its images embedded from ``directory``; each block is
    rendered by the macro of its kind in ``blocks`` (by default the built-in ones)."""
    report = _with_summary(report)
    return (
        _environment(blocks)
        .get_template("report.html")
        .render(r=report, sections=_ordered_sections(report), sheets=Sheets(directory))
    )


def write_report(directory: Path, report: dict[str, Any], blocks: Blocks | None = None) -> None:
    """Write report.json and report.html (rendered with ``blocks``) into ``directory``."""
    text = report_json(report)
    (directory / "report.json").write_text(text)
    (directory / "report.html").write_text(render_report(json.loads(text), directory, blocks))


def _key_metric(report: dict[str, Any]) -> tuple[str, Any]:
    metrics = report.get("metrics") or {}
    name = key_metric_name(report["technique"], metrics)
    return (name, metrics[name]) if name else ("", None)


def key_tiles(report: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The first ``count`` tiles of the key section (else of the first images)."""
    for section in _ordered_sections(report):
        for block in section["images"]:
            if block["tiles"]:
                return block["tiles"][:count]
    return []


def _clip(text: str, most: int = 32) -> str:
    """``text`` cut to ``most`` characters (with an ellipsis) for an index cell."""
    return text if len(text) <= most else f"{text[: most - 1]}…"


def _report_dirs(root: Path):
    """Directories below ``root`` holding a report.json, skipping hidden (temporary) ones."""
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if "report.json" in files:
            yield Path(current)


def _same_run_key(report: dict[str, Any]) -> str:
    """What makes two runs the same experiment: technique, model (and its file), data, seed,
    params and load options; runs that share it are one index row."""
    spec = report.get("spec") or {}
    return json.dumps(
        [
            report["technique"]["name"],
            report["model"]["name"],
            spec.get("model_sha256"),
            (report.get("data") or {}).get("name"),
            report.get("seed"),
            report.get("params"),
            spec.get("load"),
        ],
        sort_keys=True,
        default=str,
    )


def _index_row(
    root: Path, run_dir: Path, specs: Callable[[str], Sequence[Any]]
) -> dict[str, Any] | None:
    try:
        report = _with_summary(read_report(run_dir))
        prefix = run_dir.relative_to(root).as_posix()
        name, value = _key_metric(report)
        technique = report["technique"]["name"]
        params = shown_params(ran_params(report.get("params") or {}, specs(technique)))
        data = report.get("data") or {}
        return {
            "key": _same_run_key(report),
            "name": run_dir.name,
            "link": f"{prefix}/report.html",
            "started": report["started"],
            "technique": technique,
            "model": report["model"]["name"],
            "data": data.get("name", ""),
            "params": " · ".join(f"{k} {_clip(v)}" for k, v in list(params.items())[:INDEX_PARAMS]),
            "all_params": " · ".join(f"{k} {v}" for k, v in params.items()),
            "status": report["status"],
            "verdict": report["summary"]["verdict"],
            "metric_name": name,
            "metric_value": value if isinstance(value, (int, float)) else None,
            "metric_text": metric_text(name, value) if name else "",
            "thumbnails": [image_uri(run_dir, t)["src"] for t in key_tiles(report, THUMBNAILS)],
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not a kinterp report (or a damaged one): leave it out of the index


def _latest_of_each(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per experiment (:func:`_same_run_key`), newest first: the latest run, with
    its earlier runs (newest first) as ``earlier``."""
    latest: dict[str, dict[str, Any]] = {}
    # runs started in the same second share a folder name but for the -2, -3... suffix their
    # directory gets: the longer name is the later run
    order = sorted(rows, key=lambda r: (r["started"], len(r["link"]), r["link"]), reverse=True)
    for row in order:
        if row["key"] in latest:
            latest[row["key"]]["earlier"].append(row)
        else:
            latest[row["key"]] = {**row, "earlier": []}
    return list(latest.values())


def write_index(root: Path, specs: Callable[[str], Sequence[Any]] | None = None) -> Path:
    """Write ``root/index.html``: a sortable, filterable table of the runs below ``root``,
    one row per experiment (its latest run, linking the earlier ones).

    ``specs(technique)`` gives a technique's param specs, when the caller can look them up
    (the key params then show the ones set first, and no levels of an option not chosen).
    Thumbnails are embedded; links go to the runs' report.html files (and to a sweep's
    comparison.html when ``root`` has one).
    """
    root = Path(root)
    specs = specs or (lambda _technique: ())
    rows = (_index_row(root, run_dir, specs) for run_dir in _report_dirs(root))
    runs = _latest_of_each([row for row in rows if row is not None])
    index = root / "index.html"
    page = (
        _environment()
        .get_template("index.html")
        .render(
            runs=runs,
            earlier=sum(len(r["earlier"]) for r in runs),
            root=root,
            techniques=sorted({r["technique"] for r in runs}),
            models=sorted({r["model"] for r in runs}),
            comparison=(root / "comparison.html").is_file(),
        )
    )
    index.write_text(page)
    return index
