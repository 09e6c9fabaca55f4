"""report.html and the run index, rendered with Jinja2 from the package's templates.

Everything is relative links to files beside the page: it opens from disk with no network.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from kinterp.formatting import format_number
from kinterp.report import read_report, report_json


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kinterp", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["fmt"] = format_number
    return env


def render_report(report: dict[str, Any]) -> str:
    """The HTML page of one run."""
    return _environment().get_template("report.html").render(r=report)


def write_report(directory: Path, report: dict[str, Any]) -> None:
    """Write report.json and report.html into ``directory``."""
    text = report_json(report)
    (directory / "report.json").write_text(text)
    (directory / "report.html").write_text(render_report(json.loads(text)))


def _key_metric(report: dict[str, Any]) -> str:
    metrics = report.get("metrics") or {}
    name = report["technique"].get("key_metric") or next(
        (k for k, v in metrics.items() if not isinstance(v, dict)), None
    )
    return f"{name} = {format_number(metrics[name])}" if name in metrics else ""


def _thumbnail(report: dict[str, Any]) -> str | None:
    for section in report.get("sections", []):
        for block in section["images"]:
            if block["tiles"]:
                return block["tiles"][0]["path"]
    return None


def _report_dirs(root: Path):
    """Directories below ``root`` holding a report.json, skipping hidden (temporary) ones."""
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if "report.json" in files:
            yield Path(current)


def _index_row(root: Path, run_dir: Path) -> dict[str, Any] | None:
    try:
        report = read_report(run_dir)
        prefix = run_dir.relative_to(root).as_posix()
        thumb = _thumbnail(report)
        return {
            "name": run_dir.name,
            "link": f"{prefix}/report.html",
            "technique": report["technique"]["name"],
            "model": report["model"]["name"],
            "status": report["status"],
            "key_metric": _key_metric(report),
            "thumbnail": f"{prefix}/{thumb}" if thumb else None,
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not a kinterp report (or a damaged one): leave it out of the index


def write_index(root: Path) -> Path:
    """Write ``root/index.html`` over every run directory found below ``root``."""
    root = Path(root)
    rows = (_index_row(root, run_dir) for run_dir in _report_dirs(root))
    runs = [row for row in rows if row is not None]
    index = root / "index.html"
    page = _environment().get_template("index.html").render(runs=runs, root=root)
    index.write_text(page)
    return index
