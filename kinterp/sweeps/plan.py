"""Expand a checked :class:`SweepSpec` into runs, each with a content key.

A run's key is the sha256 of the canonical JSON of what decides its result: technique, the
model file's sha256, the parsed params (defaults included), data, seed and kinterp version.
Each run writes under ``OUT/runs/<key[:16]>/``, so a re-run of the sweep finds it there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kinterp._version import __version__
from kinterp.errors import KinterpError
from kinterp.loading.models import LoadOptions
from kinterp.registry import find_technique
from kinterp.settings.params import params_to_dict, parse_params
from kinterp.settings.runspec import RunSpec
from kinterp.sweeps.spec import RunBlock, SweepSpec

KEY_DIGITS = 16  # the run folder's name: 64 bits of the key


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: its key, the RunSpec a worker executes, and labels for tables."""

    key: str
    spec: RunSpec
    model_name: str
    grid: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """Where the run's report directory goes (``spec.out``)."""
        return Path(self.spec.out or "")

    @property
    def grid_text(self) -> str:
        """Its grid point as ``lr=0.05 tv=0`` (empty without a grid)."""
        return " ".join(f"{k}={json.dumps(v)}" for k, v in self.grid.items())

    @property
    def label(self) -> str:
        """What progress lines call it: ``happymap mnist-cnn lr=0.1 seed=1``."""
        point = f" {self.grid_text}" if self.grid else ""
        return f"{self.spec.technique} {self.model_name}{point} seed={self.spec.seed}"


def run_key(
    technique: str,
    model_sha256: str,
    params: dict[str, Any],
    data: str | None,
    seed: int,
    load: LoadOptions | None = None,
) -> str:
    """The content key of a run (hex sha256 of canonical JSON); load options other than the
    defaults (``input_range``, ``image_shape`` ...) are part of it."""
    content: dict[str, Any] = {
        "technique": technique,
        "model_sha256": model_sha256,
        "params": params,
        "data": data,
        "seed": seed,
        "kinterp": __version__,
    }
    options = {
        name: value
        for name, value in dataclasses.asdict(load or LoadOptions()).items()
        if name != "unsafe" and value != getattr(LoadOptions(), name)
    }
    if options:  # runs of default options keep the keys they had before load options existed
        content["load"] = options
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def expand(spec: SweepSpec, out: Path) -> list[PlannedRun]:
    """Every run of the sweep, in SPEC order (block, grid point, model, seed), one per key.

    Raises:
        KinterpError: a grid point whose params do not parse together, naming its line.
    """
    planned: dict[str, PlannedRun] = {}
    for block in spec.runs:
        for grid_point, params in _grid_points(block, spec):
            for model in block.models:
                for seed in block.seeds:
                    key = run_key(
                        block.technique, model.sha256, params, block.data, seed, model.load
                    )
                    run_spec = RunSpec(
                        block.technique,
                        model.model,
                        params,
                        data=block.data,
                        seed=seed,
                        out=str(out / "runs" / key[:KEY_DIGITS]),
                        model_sha256=model.sha256,
                        load=model.load,
                    )
                    planned.setdefault(key, PlannedRun(key, run_spec, model.name, grid_point))
    return list(planned.values())


def _grid_points(block: RunBlock, spec: SweepSpec):
    """(grid values, full parsed params) for each point of the block's cartesian grid."""
    technique, _ = find_technique(block.technique)
    names = list(block.grid)
    for values in itertools.product(*(block.grid[name] for name in names)):
        point = dict(zip(names, values, strict=True))
        try:
            parsed = parse_params(technique.Params, {**block.params, **point})
        except KinterpError as exc:
            raise spec.locator.error(str(exc), run=block.index, key="grid") from None
        yield point, params_to_dict(parsed)
