"""``kinterp demo``: every installed technique's preset on the zoo, then an index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kinterp.errors import KinterpError
from kinterp.html import write_index
from kinterp.plugins import registry
from kinterp.runner import run_technique


def run_demo(out: Path, quick: bool, quiet: bool, echo: Callable[[str], None]) -> Path:
    """Run each demo preset; returns the index page. A failing preset is reported, not fatal."""
    presets = [
        (technique, preset)
        for _, (technique, _) in sorted(registry().techniques.items())
        for preset in technique.demo
    ]
    if not presets:
        raise KinterpError("no installed technique has a demo preset; see: kinterp plugins")
    for technique, preset in presets:
        params = {**preset.params, **(preset.quick if quick else {})}
        echo(f"{technique.name} on {preset.model} ...")
        result = run_technique(technique.name, preset.model, params, out=out, quiet=quiet)
        echo(f"  {result.status}: {result.path / 'report.html'}")
    return write_index(out)
