"""``OUT/comparison.html``: each model x technique's key metric, in sortable tables.

Two tables: the mean key metric of every model (rows) under every technique (columns) over
its ok runs, and every run with its grid point, seed, status and seconds (a run an earlier
sweep did shows the seconds its report measured). A click on a column
header sorts by it; the few lines of JavaScript are inline, so the page needs no network.
"""

from __future__ import annotations

import json
from collections import defaultdict
from html import escape
from pathlib import Path
from statistics import mean
from typing import Any

from kinterp.reporting.formatting import format_number

COMPARISON = "comparison.html"

_SORT_JS = """
document.querySelectorAll("table.sortable th").forEach((th, col) => th.onclick = () => {
  const body = th.closest("table").tBodies[0], up = th.dataset.dir !== "up";
  th.dataset.dir = up ? "up" : "down";
  const value = r => r.cells[col].dataset.v ?? r.cells[col].textContent;
  const cmp = (a, b) => isNaN(a) || isNaN(b) || a === "" || b === "" ?
    String(a).localeCompare(String(b)) : a - b;
  [...body.rows].sort((a, b) => (up ? 1 : -1) * cmp(value(a), value(b)))
    .forEach(r => body.appendChild(r));
});
"""

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
.scroll{overflow-x:auto;margin-bottom:2em}table{border-collapse:collapse}
@media (max-width:640px){body{margin:.8em}}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{cursor:pointer;background:#f4f4f4} .ok{color:#080} .failed,.refused{color:#b00}
"""


def write_comparison(out: Path, runs: list[dict[str, Any]]) -> Path:
    """Write ``out/comparison.html`` from the manifest's run entries."""
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>kinterp sweep</title><style>{_STYLE}</style></head><body>"
        f"<h1>kinterp sweep</h1><p>{len(runs)} run(s) &middot; "
        '<a href="index.html">all reports</a> &middot; <a href="sweep.json">sweep.json</a></p>'
        f"<h2>Key metric by model and technique (mean over ok runs)</h2>{_pivot(runs)}"
        f"<h2>Every run</h2>{_runs_table(runs)}<script>{_SORT_JS}</script></body></html>"
    )
    path = Path(out) / COMPARISON
    path.write_text(page)
    return path


def _cell(value: Any, text: str | None = None, css: str = "") -> str:
    v = "" if value is None else escape(str(value), quote=True)
    cls = f' class="{css}"' if css else ""
    return f'<td data-v="{v}"{cls}>{escape(text if text is not None else str(value or ""))}</td>'


def _table(headers: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(rows)
    table = f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f'<div class="scroll">{table}</div>'


def _pivot(runs: list[dict[str, Any]]) -> str:
    techniques = sorted({r["technique"] for r in runs})
    metrics = {r["technique"]: r["metric"] for r in runs if r.get("metric")}
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in runs:
        if r.get("value") is not None and "ok" in (r["status"], r.get("report_status")):
            values[(r["model"], r["technique"])].append(r["value"])
    rows = []
    for model in sorted({r["model"] for r in runs}):
        cells = [_cell(model)]
        for technique in techniques:
            found = values.get((model, technique))
            m = mean(found) if found else None
            cells.append(_cell(m, f"{format_number(m)} (n={len(found)})" if found else "-"))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    headers = ["model"] + [f"{t}: {metrics.get(t, '?')}" for t in techniques]
    return _table(headers, rows)


def _runs_table(runs: list[dict[str, Any]]) -> str:
    rows = []
    for r in runs:
        status = r["status"] if r["status"] != "skipped" else f"{r.get('report_status')} (earlier)"
        seconds = r.get("seconds") if r.get("seconds") is not None else r.get("run_seconds")
        link = (
            f'<td><a href="{escape(r["report"])}/report.html">report</a></td>'
            if r.get("report")
            else f"<td>{escape(r.get('error') or '')}</td>"
        )
        rows.append(
            "<tr>"
            + _cell(r["model"])
            + _cell(r["technique"])
            + _cell(" ".join(f"{k}={json.dumps(v)}" for k, v in sorted(r["grid"].items())))
            + _cell(r["seed"], str(r["seed"]))
            + _cell(r["status"], status, css=r.get("report_status") or r["status"])
            + _cell(r.get("metric") or "")
            + _cell(r.get("value"), format_number(r["value"]) if r.get("value") is not None else "")
            + _cell(seconds, "" if seconds is None else f"{seconds:.1f}")
            + link
            + "</tr>"
        )
    headers = ["model", "technique", "grid", "seed", "status", "metric", "value", "seconds"]
    return _table([*headers, "report"], rows)
