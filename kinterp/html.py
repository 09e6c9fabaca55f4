"""report.html and the run index, rendered with Jinja2 from the package's templates.

Everything is relative links to files beside the page: it opens from disk with no network.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from kinterp.report import read_report


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kinterp", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["fmt"] = format_value
    return env


def format_value(value: Any) -> str:
    """Numbers to a readable precision; everything else as text."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def render_report(report: dict[str, Any]) -> str:
    """The HTML page of one run."""
    return _environment().get_template("report.html").render(r=report)


def _key_metric(report: dict[str, Any]) -> str:
    metrics = report.get("metrics") or {}
    name = report["technique"].get("key_metric") or next(
        (k for k, v in metrics.items() if not isinstance(v, dict)), None
    )
    return f"{name} = {format_value(metrics[name])}" if name in metrics else ""


def _thumbnail(report: dict[str, Any]) -> str | None:
    for section in report.get("sections", []):
        for block in section["images"]:
            if block["tiles"]:
                return block["tiles"][0]["path"]
    return None


def write_index(root: Path) -> Path:
    """Write ``root/index.html`` over every run directory found below ``root``."""
    root = Path(root)
    runs = []
    for report_path in sorted(root.rglob("report.json")):
        run_dir = report_path.parent
        if any(part.startswith(".") for part in run_dir.relative_to(root).parts):
            continue
        try:
            report = read_report(run_dir)
        except (OSError, ValueError):
            continue
        prefix = run_dir.relative_to(root).as_posix()
        thumb = _thumbnail(report)
        runs.append(
            {
                "name": run_dir.name,
                "link": f"{prefix}/report.html",
                "technique": report["technique"]["name"],
                "model": report["model"]["name"],
                "status": report["status"],
                "key_metric": _key_metric(report),
                "thumbnail": f"{prefix}/{thumb}" if thumb else None,
            }
        )
    index = root / "index.html"
    page = _environment().get_template("index.html").render(runs=runs, root=root)
    index.write_text(page)
    return index
