"""The sweep SPEC: a TOML file (or a dict) read, checked and resolved, before anything runs.

Every problem — TOML syntax, an unknown key, technique or dataset, a missing model, a bad
parameter — is a one-line :class:`KinterpError` naming the SPEC line. Models are resolved to
a zoo name or an absolute path plus the file's sha256; relative paths and globs are relative
to the SPEC file's folder (to the working directory for a dict). See docs/sweep.md.
"""

from __future__ import annotations

import difflib
import glob
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kinterp.errors import KinterpError
from kinterp.loading.modelfile import classify, sha256_of
from kinterp.loading.models import LoadOptions
from kinterp.loading.zoo import zoo_models
from kinterp.plugins import registry
from kinterp.registry import find_technique
from kinterp.settings.filerefs import map_file_refs
from kinterp.settings.loadspec import checked_load
from kinterp.settings.nesting import check_depth
from kinterp.settings.params import ParamSpec, parse_params
from kinterp.settings.runspec import SEED_LIMIT
from kinterp.sweeps import transport
from kinterp.sweeps.locate import Locator
from kinterp.sweeps.size import DEFAULT_MAX_RUNS, block_runs, check_max_runs, check_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TOP_KEYS = ("out", "seeds", "models", "data", "runs")
RUN_KEYS = ("technique", "models", "params", "grid", "seeds", "data")
GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class ModelRef:
    """One model of the sweep: what a RunSpec names, its display name and its file's sha256."""

    model: str  # a zoo name or an absolute path
    name: str
    sha256: str
    load: LoadOptions = field(default_factory=LoadOptions)


@dataclass(frozen=True)
class RunBlock:
    """One ``[[runs]]`` table, resolved: a technique over models x grid x seeds."""

    index: int
    technique: str
    models: tuple[ModelRef, ...]
    params: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    data: str | None = None


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep: its run blocks, its out folder (if the SPEC names one) and its source."""

    runs: tuple[RunBlock, ...]
    out: Path | None
    base: Path
    locator: Locator


def load_spec(
    source: str | os.PathLike | Mapping[str, Any],
    max_runs: int = DEFAULT_MAX_RUNS,
    unsafe: bool = False,
) -> SweepSpec:
    """Read and check a SPEC file path or a dict of the same shape.

    The runs are counted (see :mod:`kinterp.sweeps.size`) before any grid value is checked
    or any run is expanded, so a SPEC of 10^12 runs is refused at once.

    Args:
        source: a .toml path, or a dict (relative paths are relative to the cwd).
        max_runs: refuse a SPEC that expands to more runs than this.
        unsafe: the command line's ``--unsafe``: load every model with code allowed, and let
            model tables name ``custom_objects``.

    Raises:
        KinterpError: anything wrong in the SPEC (naming its line), nesting over 32 levels
            deep, or more than ``max_runs`` runs.
    """
    max_runs = check_max_runs(max_runs)
    if isinstance(source, Mapping):
        raw, locator, base = dict(source), Locator("sweep spec"), Path.cwd()
    elif isinstance(source, (str, os.PathLike)):
        raw, locator, base = _read_toml(Path(source))
    else:
        raise KinterpError(
            f"a sweep spec is a .toml path or a dict, got {type(source).__name__} {source!r}"
        )
    check_depth(raw, locator.name)
    _check_keys(raw, TOP_KEYS, locator, None)
    runs = raw.get("runs")
    if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) for r in runs):
        raise locator.error(
            "no [[runs]] tables; add one with technique = NAME (see docs/sweep.md)", key="runs"
        )
    defaults = {
        "seeds": _seeds(raw.get("seeds", [0]), locator, None),
        "models": raw.get("models"),
        "data": raw.get("data"),
    }
    resolver = _ModelResolver(base, locator, unsafe)
    blocks = tuple(
        _run_block(i, run, defaults, resolver, base, locator) for i, run in enumerate(runs)
    )
    counts = [
        (b.index, block_runs(b.grid, len(b.models), len(b.seeds)), bool(b.grid)) for b in blocks
    ]
    check_size(counts, max_runs, locator)
    for block in blocks:
        _check_grid_values(block, locator)
    out = raw.get("out")
    if out is not None and (not isinstance(out, str) or not out.strip()):
        raise locator.error(f"out must be a folder name, got {out!r}", key="out")
    return SweepSpec(blocks, None if out is None else base / Path(out).expanduser(), base, locator)


def _read_toml(path: Path) -> tuple[dict[str, Any], Locator, Path]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise KinterpError(
            f"cannot read sweep SPEC {path}: {exc.__class__.__name__}; pass a .toml file"
        ) from None
    locator = Locator(str(path), text)
    try:
        raw = tomllib.loads(text)
    except RecursionError:
        raise KinterpError(
            f"{path}: nested too deeply to read; no sweep SPEC needs that, flatten it"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = re.search(r"\(at line (\d+), column (\d+)\)", message)
        problem = re.sub(r"\s*\(at .*\)$", "", message)
        line = f", line {where.group(1)}" if where else ""
        raise KinterpError(
            f"{path}{line}: invalid TOML: {problem}; fix the syntax (see docs/sweep.md)"
        ) from None
    return raw, locator, path.resolve().parent


def _check_keys(raw: dict, known: tuple[str, ...], locator: Locator, run: int | None) -> None:
    """Refuse a key the SPEC does not know, suggesting the closest known one.

    ``load`` gets its own message: a SPEC cannot ask for unsafe loading (or any other load
    option); sweep workers load every model safely.
    """
    if "load" in raw:
        raise locator.error(
            "a sweep SPEC cannot set load options: kinterp takes unsafe loading only from the "
            "command line, and sweep runs load models safely",
            run=run,
            key="load",
        )
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(known)}"
            raise locator.error(f"unknown key {key!r}; {hint}", run=run, key=key)


def _run_block(
    index: int,
    run: dict[str, Any],
    defaults: dict[str, Any],
    resolver: _ModelResolver,
    base: Path,
    locator: Locator,
) -> RunBlock:
    _check_keys(run, RUN_KEYS, locator, index)
    name = run.get("technique")
    if not isinstance(name, str):
        raise locator.error("technique = NAME is missing (see: kinterp plugins)", run=index)
    try:
        technique, _ = find_technique(name)
    except KinterpError as exc:
        raise locator.error(str(exc), run=index, key="technique") from None
    params = run.get("params", {})
    grid = run.get("grid", {})
    for key, value in (("params", params), ("grid", grid)):
        if not isinstance(value, dict):
            raise locator.error(f"{key} must be a table such as {{ steps = 16 }}", index, key)
    _check_params(technique.Params, params, index, locator)
    _check_grid_shape(params, grid, index, locator)
    params = _absolute_files(technique.Params, params, base, locator, index)
    grid = {
        key: [
            _absolute_files(technique.Params, {key: value}, base, locator, index)[key]
            for value in values
        ]
        for key, values in grid.items()
    }
    models = run.get("models", defaults["models"])
    seeds = _seeds(run["seeds"], locator, index) if "seeds" in run else defaults["seeds"]
    if "data" in run and not technique.reads_data:
        raise locator.error(
            f"{technique.name} reads no data; remove data from this [[runs]] table", index, "data"
        )
    # A sweep-wide data applies to the techniques that read data.
    data = run.get("data", defaults["data"] if technique.reads_data else None)
    return RunBlock(
        index=index,
        technique=technique.name,
        models=resolver.resolve(models, index if "models" in run or models is None else None),
        params=dict(params),
        grid={k: list(v) for k, v in grid.items()},
        seeds=seeds,
        data=_data(data, base, locator, index if "data" in run else None),
    )


def _check_params(params_cls: type, params: dict, run: int, locator: Locator) -> None:
    """Parse the params, blaming the first one that fails on its own (else the table)."""
    try:
        parse_params(params_cls, dict(params))
    except KinterpError as exc:
        for key, value in params.items():
            try:
                parse_params(params_cls, {key: value})
            except KinterpError as single:
                raise locator.error(str(single), run, key, within="params") from None
        raise locator.error(str(exc), run, "params") from None


def _absolute_files(
    params_cls: type, params: dict, base: Path, locator: Locator, run: int
) -> dict[str, Any]:
    """``params`` with each file a file param names (``--compare``, ``--init image:``) as an
    absolute path, relative ones taken from the SPEC's folder; zoo models stay names.

    Raises:
        KinterpError: a file that does not exist, naming its SPEC line.
    """

    def absolute(spec: ParamSpec, ref: str) -> str | None:
        if spec.file == "model" and ref in zoo_models():
            return None
        path = base / Path(ref).expanduser()
        if not path.exists():
            raise locator.error(
                f"{spec.option}: no such file {path}; give a path relative to the SPEC file's "
                "folder or an absolute one",
                run,
                spec.name,
            )
        return str(path.resolve())

    return map_file_refs(params_cls, params, absolute)


def _check_grid_shape(params: dict, grid: dict, run: int, locator: Locator) -> None:
    """Each grid entry: a non-empty list of distinct values, not also in the params."""
    for key, values in grid.items():
        if key in params:
            raise locator.error(f"{key!r} is in both params and grid; keep one", run, key, "grid")
        if not isinstance(values, list) or not values:
            raise locator.error(
                f"grid {key} must be a non-empty list such as [0.05, 0.1]", run, key, "grid"
            )
        if len({repr(v) for v in values}) != len(values):
            raise locator.error(f"grid {key} lists a value twice", run, key, "grid")


def _check_grid_values(block: RunBlock, locator: Locator) -> None:
    """Each grid value valid with the table's params (checked once the size is known)."""
    technique, _ = find_technique(block.technique)
    for key, values in block.grid.items():
        for value in values:
            try:
                parse_params(technique.Params, {**block.params, key: value})
            except KinterpError as exc:
                raise locator.error(str(exc), block.index, key, within="grid") from None


def _seeds(value: Any, locator: Locator, run: int | None) -> tuple[int, ...]:
    ok = (
        isinstance(value, list)
        and value
        and all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < SEED_LIMIT for s in value
        )
    )
    if not ok:
        raise locator.error(
            f"seeds must be a non-empty list of integers 0 to {SEED_LIMIT - 1}, got {value!r}",
            run=run,
            key="seeds",
        )
    if len(set(value)) != len(value):
        raise locator.error("seeds lists a seed twice", run=run, key="seeds")
    return tuple(value)


def _data(value: Any, base: Path, locator: Locator, run: int | None) -> str | None:
    """A registered dataset name as it is, or a path made absolute (relative to the SPEC)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise locator.error(f"data must be a dataset name or path, got {value!r}", run, "data")
    datasets = registry().datasets
    if value in datasets:
        return value
    path = base / Path(value).expanduser()
    if path.exists():
        problem = transport.over_cap(path, transport.DATA_CAP, "dataset")
        if problem:
            raise locator.error(problem, run=run, value=value)
        return str(path.resolve())
    raise locator.error(
        f"unknown dataset {value!r} and no such path {path}; known: {', '.join(datasets)}",
        run=run,
        value=value,
    )


class _ModelResolver:
    """Model entries (zoo names, paths, globs) to :class:`ModelRef` s, each file hashed once."""

    def __init__(self, base: Path, locator: Locator, unsafe: bool = False):
        self.base = base
        self.locator = locator
        self.unsafe = unsafe
        self.hashes: dict[Path, str] = {}

    def resolve(self, entries: Any, run: int | None) -> tuple[ModelRef, ...]:
        if not isinstance(entries, list) or not entries:
            raise self.locator.error(
                'models must be a non-empty list such as ["mnist-cnn", "checkpoints/*.keras"] '
                "(at the top or in the [[runs]] table)",
                run=run,
                key="models",
            )
        refs: dict[tuple[str, LoadOptions], ModelRef] = {}
        for entry in entries:
            if isinstance(entry, Mapping):
                name, load = self._load(entry, run)
                found = [replace(ref, load=load) for ref in self._entry(name, run)]
            else:
                found = self._entry(entry, run)
            for ref in found:
                refs.setdefault((ref.model, ref.load), ref)
        return tuple(refs.values())

    def _load(self, entry: Mapping, run: int | None) -> tuple[Any, LoadOptions]:
        """A ``{ model = ..., input_range = [0, 255], ... }`` entry: its model and load options.

        Raises:
            KinterpError: no model, ``unsafe`` (a command-line choice only), custom objects
                without ``--unsafe``, or a bad load option, naming the SPEC line.
        """
        options = {k: v for k, v in entry.items() if k != "model"}
        where = entry.get("model") if isinstance(entry.get("model"), str) else None
        if "model" not in entry:
            raise self.locator.error(
                'a model table needs model = NAME_OR_PATH, e.g. { model = "m.keras", '
                "input_range = [0, 255] }",
                run,
                "models",
            )
        if "unsafe" in options:
            raise self.locator.error(
                "a SPEC cannot ask for unsafe loading; pass --unsafe to kinterp sweep if you "
                "trust its models",
                run,
                "models",
                where,
            )
        try:
            load = checked_load({**options, "unsafe": self.unsafe})
        except KinterpError as exc:
            problem = str(exc).removeprefix("run spec: ")
            raise self.locator.error(
                f"{problem} (SPEC model options)", run, "models", where
            ) from None
        if load.custom_objects and not self.unsafe:
            raise self.locator.error(
                "custom_objects imports code; pass --unsafe to kinterp sweep if you trust it",
                run,
                "models",
                where,
            )
        return entry["model"], load

    def _entry(self, entry: Any, run: int | None) -> list[ModelRef]:
        if not isinstance(entry, str) or not entry.strip():
            raise self.locator.error(
                f"a model must be a name, a path or a table such as "
                f'{{ model = "m.keras", input_range = [0, 255] }}, got {entry!r}',
                run,
                "models",
            )
        zoo = zoo_models()
        plain = LoadOptions(unsafe=self.unsafe)
        if entry in zoo:
            return [ModelRef(entry, entry, self._sha256(zoo[entry].path, entry, run), plain)]
        pattern = self.base / Path(entry).expanduser()
        if GLOB_CHARS.search(entry):
            paths = [Path(p) for p in sorted(glob.glob(str(pattern)))]
            if not paths:
                raise self.locator.error(
                    f"models: {entry!r} matches no file (looked in {pattern.parent}); "
                    "check the pattern",
                    run=run,
                    value=entry,
                )
        elif pattern.exists():
            paths = [pattern]
        else:
            close = difflib.get_close_matches(entry, list(zoo), n=1)
            hint = f"did you mean {close[0]}?" if close else f"zoo: {', '.join(zoo)}"
            raise self.locator.error(
                f"model {entry!r} is not a zoo name and {pattern} does not exist; {hint}",
                run=run,
                value=entry,
            )
        return [
            ModelRef(str(p.resolve()), p.name, self._sha256(p, entry, run), plain) for p in paths
        ]

    @staticmethod
    def _zoo(path: Path) -> bool:
        """True for a zoo model's file (it travels by name)."""
        return any(path == Path(zoo.path).resolve() for zoo in zoo_models().values())

    def _sha256(self, path: Path, entry: str, run: int | None) -> str:
        path = path.resolve()
        if path not in self.hashes:
            try:
                classify(path)
            except KinterpError as exc:
                raise self.locator.error(str(exc), run=run, value=entry) from None
            problem = transport.over_cap(path, transport.MODEL_CAP, "model")
            if problem and not self._zoo(path):
                raise self.locator.error(problem, run=run, value=entry)
            self.hashes[path] = sha256_of(path)
        return self.hashes[path]
