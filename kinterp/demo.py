"""``kinterp demo``: every installed technique's preset on the zoo, then an index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kinterp.errors import KinterpError, RunFailed
from kinterp.registry import installed_techniques
from kinterp.reporting.html import write_index
from kinterp.runner import execute
from kinterp.settings.params import ParamSpec, param_specs
from kinterp.settings.runspec import RunSpec


def technique_param_specs(name: str) -> list[ParamSpec]:
    """The param specs of installed technique ``name`` (none if it is not installed), for
    :func:`write_index` to show each run's params as they ran."""
    found = [t for t in installed_techniques() if t.name == name]
    return param_specs(found[0].Params) if found else []


def run_demo(out: Path, quick: bool, quiet: bool, echo: Callable[[str], None]) -> Path:
    """Run each demo preset and return the index page.

    A preset that cannot run here (say, its dataset is not installed) is reported and skipped.

    Raises:
        KinterpError: no installed technique has a preset.
        RunFailed: a preset's run failed (raised after the index is written).
    """
    presets = [
        (technique, preset) for technique in installed_techniques() for preset in technique.demo
    ]
    if not presets:
        raise KinterpError("no installed technique has a demo preset; see: kinterp plugins")
    failed = []
    for technique, preset in presets:
        params = {**preset.params, **(preset.quick if quick else {})}
        echo(f"{technique.name} on {preset.model} ...")
        try:
            spec = RunSpec(technique.name, preset.model, params, out=str(out))
            result = execute(spec, quiet=quiet)
        except KinterpError as exc:
            echo(f"  skipped: {exc}")
            continue
        echo(f"  {result.status}: {result.path / 'report.html'}")
        if result.status != "ok":
            failed.append(f"{technique.name} on {preset.model}")
    Path(out).mkdir(parents=True, exist_ok=True)
    index = write_index(out, technique_param_specs)
    if failed:
        raise RunFailed(f"demo runs failed: {', '.join(failed)}; see {index}")
    return index
