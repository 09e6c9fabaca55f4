"""Plugin host: entry points in the ``kinterp`` group, each loaded and called in isolation.

pluggy calls every implementation of a hook in one go and lets an exception escape, so a
single broken plugin would take the whole tool down (llm#1280). Here each plugin is imported
on its own and each of its hook implementations is called on its own; a failure becomes a
``broken`` entry in :func:`registry` and everything else keeps working.
``KINTERP_STRICT_PLUGINS=1`` re-raises instead, for plugin authors.

Collection has two stages over one set of plugin records: the perturbation families first
(:func:`families`), then everything else (:func:`registry`), because a technique's ``Params``
may list the families (robustness's ``--family`` choices) and is checked while techniques are
collected.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

from kinterp import hookspecs
from kinterp._version import __version__
from kinterp.data.datasets import DatasetFormat
from kinterp.errors import error_line
from kinterp.reporting.blocks import ReportBlock
from kinterp.settings.params import param_specs
from kinterp.technique import Technique
from kinterp.toolkit.perturb import Family

ENTRY_POINT_GROUP = "kinterp"
CORE_PLUGINS = (
    "kinterp.data.datasets",
    "kinterp.data.colourdigits",
    "kinterp.toolkit.perturb",
    "kinterp.toolkit.attacks",
    "kinterp.toolkit.mnistc",
    "kinterp.reporting.builtin_blocks",
    "kinterp.predict",
)
CORE_COMMANDS = frozenset(
    {"plugins", "models", "inspect", "predict", "report", "demo", "replay", "run", "sweep", "serve"}
)
"""The root commands of :mod:`kinterp.cli`; a plugin command may not take these names."""


@dataclass
class PluginRecord:
    """What ``kinterp plugins`` shows for one plugin."""

    name: str
    distribution: str
    version: str
    status: str = "ok"  # ok | broken
    reason: str = ""
    techniques: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    report_blocks: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dataclasses.asdict(self)


@dataclass
class Registry:
    """Everything the loaded plugins registered."""

    plugins: list[PluginRecord]
    techniques: dict[str, tuple[Technique, PluginRecord]]
    datasets: dict[str, tuple[Any, PluginRecord]]
    commands: dict[str, tuple[Any, PluginRecord]] = field(default_factory=dict)
    families: dict[str, tuple[Family, PluginRecord]] = field(default_factory=dict)
    formats: dict[str, tuple[DatasetFormat, PluginRecord]] = field(default_factory=dict)
    report_blocks: dict[str, tuple[ReportBlock, PluginRecord]] = field(default_factory=dict)


def strict() -> bool:
    """True when plugin errors should propagate (``KINTERP_STRICT_PLUGINS=1``)."""
    return os.environ.get("KINTERP_STRICT_PLUGINS", "") not in ("", "0")


def one_line(exc: BaseException) -> str:
    """An exception as ``Type: the line that says what went wrong`` (see :func:`error_line`)."""
    return error_line(exc)


@dataclass(frozen=True)
class PluginSource:
    """Where a plugin came from, and whether importing it failed."""

    name: str
    distribution: str
    version: str
    import_error: str = ""


_SOURCES: dict[str, PluginSource] = {}


@lru_cache(maxsize=1)
def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with core and entry-point plugins registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for module_name in CORE_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
        _SOURCES[module_name] = PluginSource(module_name, "kinterp", __version__)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        source = PluginSource(
            ep.name, ep.dist.name if ep.dist else "unknown", ep.dist.version if ep.dist else ""
        )
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:
            if strict():
                raise
            source = dataclasses.replace(source, import_error=f"import failed: {one_line(exc)}")
        _SOURCES[ep.name] = source
    return pm


def register_plugin(plugin: ModuleType | object, name: str | None = None) -> None:
    """Register a plugin object by hand (tests, notebooks) and refresh the registry."""
    name = name or getattr(plugin, "__name__", None) or repr(plugin)
    plugin_manager().register(plugin, name=name)
    _SOURCES[name] = PluginSource(name, "(registered in-process)", "")
    _forget()


def unregister_plugin(name: str) -> None:
    """Undo :func:`register_plugin`."""
    plugin_manager().unregister(name=name)
    _SOURCES.pop(name, None)
    _forget()


def _forget() -> None:
    """Drop what was collected, so the next lookup collects from the current plugins."""
    for stage in (registry, families, _records):
        stage.cache_clear()


def _check_technique(obj: Any) -> str | None:
    if not isinstance(obj, Technique):
        return f"{obj!r} is not a kinterp.Technique"
    if not obj.name or not obj.summary:
        return f"{type(obj).__name__} needs a name and a one-line summary"
    try:
        param_specs(obj.Params)
    except TypeError as exc:
        return f"{obj.name}: bad Params: {exc}"
    return None


def _instance_of(cls: type) -> Callable[[Any], str | None]:
    def check(obj: Any) -> str | None:
        return None if isinstance(obj, cls) else f"{obj!r} is not a {cls.__module__}.{cls.__name__}"

    return check


@dataclass(frozen=True)
class _Kind:
    """What one ``register_*`` hook registers: its word, its record list and its check."""

    word: str
    names: str  # the PluginRecord list of what a plugin registered
    check: Callable[[Any], str | None]


KINDS = {
    "register_techniques": _Kind("technique", "techniques", _check_technique),
    "register_datasets": _Kind("dataset", "datasets", lambda obj: None),
    "register_perturbation_families": _Kind("family", "families", _instance_of(Family)),
    "register_dataset_formats": _Kind("dataset format", "formats", _instance_of(DatasetFormat)),
    "register_report_blocks": _Kind("report block", "report_blocks", _instance_of(ReportBlock)),
}


def _collect(
    pm: pluggy.PluginManager, hook_name: str, records: dict[str, PluginRecord], found: dict
) -> None:
    """Call each implementation of one hook on its own; a failure marks only its plugin broken."""
    kind = KINDS[hook_name]
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        record = records.setdefault(impl.plugin_name, PluginRecord(impl.plugin_name, "?", ""))
        if record.status == "broken":
            continue
        names = getattr(record, kind.names)

        def register(obj: Any, record: PluginRecord = record, names: list = names) -> None:
            problem = kind.check(obj)
            if problem is None and obj.name in found:
                problem = (
                    f"{kind.word} {obj.name!r} is already registered by {found[obj.name][1].name}"
                )
            if problem:
                raise ValueError(problem)
            found[obj.name] = (obj, record)
            names.append(obj.name)

        _call_isolated(record, hook_name, lambda impl=impl, r=register: impl.function(register=r))


def _collect_commands(
    pm: pluggy.PluginManager, records: dict[str, PluginRecord], found: dict
) -> None:
    """Give each ``register_commands`` implementation its own Typer app; keep its commands."""
    import typer

    for impl in pm.hook.register_commands.get_hookimpls():
        record = records.setdefault(impl.plugin_name, PluginRecord(impl.plugin_name, "?", ""))
        if record.status == "broken":
            continue

        def add(impl: Any = impl, record: PluginRecord = record) -> None:
            app = typer.Typer(add_completion=False)
            impl.function(app=app)
            for info in app.registered_commands:
                single = typer.Typer(add_completion=False)
                single.registered_commands.append(info)
                command = typer.main.get_command(single)
                taken = command.name in CORE_COMMANDS or command.name in found
                if taken:
                    raise ValueError(f"command {command.name!r} is already taken")
                found[command.name] = (command, record)
                record.commands.append(command.name)

        _call_isolated(record, "register_commands", add)


def _call_isolated(record: PluginRecord, hook_name: str, call: Any) -> None:
    """Run one hook call; an exception marks the plugin broken (re-raised when strict)."""
    try:
        call()
    except Exception as exc:
        if strict():
            raise
        record.status, record.reason = "broken", f"{hook_name} failed: {one_line(exc)}"


def _drop_broken(found: dict[str, tuple[Any, PluginRecord]]) -> None:
    """Forget everything a plugin registered before one of its hooks failed."""
    for name in [n for n, (_, record) in found.items() if record.status == "broken"]:
        del found[name]


@lru_cache(maxsize=1)
def _records() -> dict[str, PluginRecord]:
    """One record per plugin, shared by both stages of collection."""
    plugin_manager()
    return {
        name: PluginRecord(
            source.name,
            source.distribution,
            source.version,
            status="broken" if source.import_error else "ok",
            reason=source.import_error,
        )
        for name, source in _SOURCES.items()
    }


@lru_cache(maxsize=1)
def families() -> dict[str, tuple[Family, PluginRecord]]:
    """Stage one: every registered perturbation family, built-ins first.

    A plugin that breaks in a later hook is marked broken in its record, so callers keep only
    the families whose record is ``ok`` (:func:`registry` does).
    """
    found: dict[str, tuple[Family, PluginRecord]] = {}
    _collect(plugin_manager(), "register_perturbation_families", _records(), found)
    _drop_broken(found)
    return found


@lru_cache(maxsize=1)
def registry() -> Registry:
    """Load every plugin once and collect what each registers."""
    pm, records = plugin_manager(), _records()
    families_found = dict(families())
    techniques: dict[str, tuple[Technique, PluginRecord]] = {}
    datasets: dict[str, tuple[Any, PluginRecord]] = {}
    formats: dict[str, tuple[DatasetFormat, PluginRecord]] = {}
    commands: dict[str, tuple[Any, PluginRecord]] = {}
    report_blocks: dict[str, tuple[ReportBlock, PluginRecord]] = {}
    _collect(pm, "register_techniques", records, techniques)
    _collect(pm, "register_datasets", records, datasets)
    _collect(pm, "register_dataset_formats", records, formats)
    _collect(pm, "register_report_blocks", records, report_blocks)
    _collect_commands(pm, records, commands)
    for found in (techniques, datasets, commands, families_found, formats, report_blocks):
        _drop_broken(found)
    return Registry(
        list(records.values()),
        techniques,
        datasets,
        commands,
        families_found,
        formats,
        report_blocks,
    )
